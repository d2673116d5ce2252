//! The route table: method + path pattern → what the route asks of a request. Patterns use
//! `matchit`'s syntax (the router axum uses): `/invoices/{id}` matches one segment,
//! `/files/{*rest}` the rest of the path. A route of one method wins over a route of any
//! method (no `method`) with the same pattern; no route matched is `404`, and nothing is
//! forwarded.

use crate::config::Access;
use http::Method;
use std::collections::HashMap;

/// Why a route could not be added (a bad method, or a pattern that is malformed or overlaps
/// another in a way the router cannot order).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("route {path:?}: method {method:?} is not an HTTP method")]
    Method { method: String, path: String },
    #[error("route {path:?}: {reason}")]
    Pattern { path: String, reason: String },
}

/// Every route of the configuration.
#[derive(Default)]
pub struct RouteTable {
    by_method: HashMap<Method, matchit::Router<Access>>,
    any_method: matchit::Router<Access>,
    count: usize,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouteTable({} routes)", self.count)
    }
}

impl RouteTable {
    /// Adds a route; `method` `None` (or `"*"`) matches every method.
    pub fn add(
        &mut self,
        method: Option<&str>,
        path: &str,
        access: Access,
    ) -> Result<(), RouteError> {
        let router = match method {
            None | Some("*") => &mut self.any_method,
            Some(text) => {
                let method =
                    Method::from_bytes(text.to_ascii_uppercase().as_bytes()).map_err(|_| {
                        RouteError::Method {
                            method: text.to_owned(),
                            path: path.to_owned(),
                        }
                    })?;
                self.by_method.entry(method).or_default()
            }
        };
        if !path.starts_with('/') {
            return Err(RouteError::Pattern {
                path: path.to_owned(),
                reason: "a path pattern starts with /".into(),
            });
        }
        router
            .insert(path, access)
            .map_err(|e| RouteError::Pattern {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        self.count += 1;
        Ok(())
    }

    /// What the route matching `method` and `path` asks, if any route matches.
    pub fn find(&self, method: &Method, path: &str) -> Option<&Access> {
        self.by_method
            .get(method)
            .and_then(|router| router.at(path).ok())
            .or_else(|| self.any_method.at(path).ok())
            .map(|matched| matched.value)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::PermissionQuery;

    fn needs(permission: &str) -> Access {
        Access::Key(Some(PermissionQuery::parse(permission).unwrap()))
    }

    fn permission_of(table: &RouteTable, method: Method, path: &str) -> Option<String> {
        match table.find(&method, path)? {
            Access::Public => Some("public".into()),
            Access::Key(None) => Some("any key".into()),
            Access::Key(Some(query)) => Some(format!("{query:?}")),
        }
    }

    #[test]
    fn a_method_route_wins_over_an_any_method_route_and_unknown_paths_match_nothing() {
        let mut table = RouteTable::default();
        table
            .add(Some("get"), "/invoices", needs("invoices:read"))
            .unwrap();
        table
            .add(Some("DELETE"), "/invoices/{id}", needs("invoices:delete"))
            .unwrap();
        table
            .add(None, "/invoices/{id}", Access::Key(None))
            .unwrap();
        table
            .add(Some("*"), "/files/{*rest}", Access::Public)
            .unwrap();
        assert!(permission_of(&table, Method::GET, "/invoices")
            .unwrap()
            .contains("invoices:read"));
        assert!(permission_of(&table, Method::DELETE, "/invoices/9")
            .unwrap()
            .contains("invoices:delete"));
        assert_eq!(
            permission_of(&table, Method::GET, "/invoices/9").unwrap(),
            "any key"
        );
        assert_eq!(
            permission_of(&table, Method::PUT, "/files/a/b/c").unwrap(),
            "public"
        );
        assert_eq!(permission_of(&table, Method::POST, "/invoices"), None);
        assert_eq!(
            permission_of(&table, Method::GET, "/invoices/9/lines"),
            None
        );
        assert_eq!(permission_of(&table, Method::GET, "/"), None);
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn bad_methods_and_patterns_are_refused() {
        let mut table = RouteTable::default();
        assert!(matches!(
            table.add(Some("GE T"), "/a", Access::Public),
            Err(RouteError::Method { .. })
        ));
        assert!(table.add(None, "a", Access::Public).is_err());
        table.add(None, "/a/{id}", Access::Public).unwrap();
        assert!(table.add(None, "/a/{other}", Access::Public).is_err());
    }
}
