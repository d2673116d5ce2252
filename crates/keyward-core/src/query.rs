//! What a verify request may ask for: one permission, or an expression of permissions with
//! `AND`, `OR` and parentheses (`AND` binds tighter). A malformed expression is an error that
//! says at which character it broke.

use crate::permission::Permission;

pub const MAX_QUERY_LEN: usize = 1024;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission expression: {message} at character {position}")]
pub struct QueryError {
    /// 1-based character position where parsing failed.
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionQuery {
    One(Permission),
    And(Box<PermissionQuery>, Box<PermissionQuery>),
    Or(Box<PermissionQuery>, Box<PermissionQuery>),
}

impl PermissionQuery {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        if text.len() > MAX_QUERY_LEN {
            // The first character that does not fit (a character position, like every other
            // error's, so it lies within the text whatever its encoding).
            let fitting = text
                .char_indices()
                .take_while(|(at, c)| at + c.len_utf8() <= MAX_QUERY_LEN)
                .count();
            return Err(QueryError {
                position: fitting + 1,
                message: format!("expression longer than {MAX_QUERY_LEN} bytes"),
            });
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            end: text.chars().count() + 1,
        };
        let query = parser.or(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(query),
            Some((pos, tok)) => Err(QueryError {
                position: *pos,
                message: format!("unexpected {}", tok.describe()),
            }),
        }
    }

    /// Whether a key holding `granted` satisfies this query.
    pub fn is_satisfied_by(&self, granted: &[Permission]) -> bool {
        match self {
            Self::One(p) => Permission::any_grants(granted, p),
            Self::And(a, b) => a.is_satisfied_by(granted) && b.is_satisfied_by(granted),
            Self::Or(a, b) => a.is_satisfied_by(granted) || b.is_satisfied_by(granted),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Word(String),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::And => "AND".into(),
            Token::Or => "OR".into(),
            Token::Word(w) => format!("{w:?}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let position = i + 1;
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push((position, Token::Open)),
            ')' => tokens.push((position, Token::Close)),
            _ => {
                let mut word = String::from(c);
                while let Some(&(_, next)) = chars.peek() {
                    if next.is_whitespace() || next == '(' || next == ')' {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                let token = match word.as_str() {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    _ => {
                        Permission::parse(&word).map_err(|e| QueryError {
                            position,
                            message: e.to_string(),
                        })?;
                        Token::Word(word)
                    }
                };
                tokens.push((position, token));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn or(&mut self, depth: usize) -> Result<PermissionQuery, QueryError> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            let right = self.and(depth)?;
            left = PermissionQuery::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<PermissionQuery, QueryError> {
        let mut left = self.atom(depth)?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            let right = self.atom(depth)?;
            left = PermissionQuery::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self, depth: usize) -> Result<PermissionQuery, QueryError> {
        let position = self.position();
        let fail = |message: String| QueryError { position, message };
        match self.tokens.get(self.at).map(|(_, t)| t.clone()) {
            Some(Token::Word(w)) => {
                self.at += 1;
                Permission::parse(&w)
                    .map(PermissionQuery::One)
                    .map_err(|e| fail(e.to_string()))
            }
            Some(Token::Open) => {
                if depth >= MAX_DEPTH {
                    return Err(fail(format!("parentheses nested deeper than {MAX_DEPTH}")));
                }
                self.at += 1;
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return Err(QueryError {
                        position: self.position(),
                        message: "expected ')'".into(),
                    });
                }
                self.at += 1;
                Ok(inner)
            }
            Some(other) => Err(fail(format!(
                "expected a permission or '(', found {}",
                other.describe()
            ))),
            None => Err(fail("expected a permission or '(', found the end".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn granted(list: &[&str]) -> Vec<Permission> {
        list.iter().map(|s| Permission::parse(s).unwrap()).collect()
    }

    fn q(s: &str) -> PermissionQuery {
        PermissionQuery::parse(s).unwrap()
    }

    #[test]
    fn evaluates_expressions() {
        let g = granted(&["invoices:read", "payroll:admin"]);
        assert!(q("invoices:read").is_satisfied_by(&g));
        assert!(q("invoices:read AND (payroll:read OR payroll:admin)").is_satisfied_by(&g));
        assert!(!q("invoices:read AND payroll:read").is_satisfied_by(&g));
        assert!(q("payroll:read OR invoices:read").is_satisfied_by(&g));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // a OR b AND c  ==  a OR (b AND c)
        let only_a = granted(&["a:x"]);
        assert!(q("a:x OR b:x AND c:x").is_satisfied_by(&only_a));
        assert!(!q("(a:x OR b:x) AND c:x").is_satisfied_by(&only_a));
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("invoices:read AND", 18),
            ("(invoices:read", 15),
            ("invoices:read OR OR a:b", 18),
            ("invoices:read a:b", 15),
            ("Bad", 1),
            ("", 1),
            ("a:b )", 5),
        ];
        for (text, position) in cases {
            let err = PermissionQuery::parse(text).unwrap_err();
            assert_eq!(err.position, position, "{text}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = format!("{}a:b{}", "(".repeat(200), ")".repeat(200));
        assert!(PermissionQuery::parse(&text).is_err());
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "[a-z:*() ANDOR]{0,60}") {
            let _ = PermissionQuery::parse(&s);
        }

        #[test]
        fn or_is_commutative_and_and_needs_both(a in "[a-z]{1,4}:[a-z]{1,4}", b in "[a-z]{1,4}:[a-z]{1,4}", holds_a: bool, holds_b: bool) {
            let mut held = Vec::new();
            if holds_a { held.push(a.as_str()); }
            if holds_b { held.push(b.as_str()); }
            let g = granted(&held);
            prop_assert_eq!(q(&format!("{a} OR {b}")).is_satisfied_by(&g), q(&format!("{b} OR {a}")).is_satisfied_by(&g));
            prop_assert_eq!(q(&format!("{a} AND {b}")).is_satisfied_by(&g), (holds_a || a == b && holds_b) && (holds_b || a == b && holds_a));
        }
    }
}
