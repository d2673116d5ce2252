//! A light, forgiving XML text extractor for the parts of Office documents. Text runs are
//! concatenated with nothing between them, so a key that Word split across `<w:r><w:t>`
//! runs (spell-check marks, formatting changes, revisions) comes out whole; paragraphs,
//! cells, rows and breaks become line breaks so neighbouring words never glue onto a key.
//! Attribute values (hyperlink targets, alt text) are extracted too, one per line after the
//! text, so they never come between two runs.
//! Malformed XML never fails: whatever text is there is returned.

/// Elements whose end separates text (paragraphs, table cells and rows, spreadsheet cells,
/// shared strings, line breaks, tabs), by local name, across WordprocessingML,
/// SpreadsheetML, PresentationML and OpenDocument.
const SEPARATING: &[&[u8]] = &[
    b"p",
    b"h",
    b"tc",
    b"tr",
    b"c",
    b"v",
    b"f",
    b"si",
    b"is",
    b"row",
    b"br",
    b"cr",
    b"tab",
    b"s",
    b"line-break",
    b"table-cell",
    b"table-row",
    b"list-item",
    b"txBody",
    b"comment",
    b"footnote",
    b"endnote",
    // Comments and their anchors: spreadsheet comments and threaded comments (`text`,
    // `threadedComment`, `author`), drawing anchors (`from`, `to`, `col`, `colOff`,
    // `rowOff`), VML notes (`div`, `textbox`, `ClientData`, `Anchor`, `Row`, `Column`) and
    // PowerPoint comments (`cm`, `pos`, `text`), so a key is never glued to the numbers
    // that follow it.
    b"text",
    b"threadedComment",
    b"mention",
    b"author",
    b"person",
    b"from",
    b"to",
    b"col",
    b"colOff",
    b"rowOff",
    b"div",
    b"textbox",
    b"ClientData",
    b"Anchor",
    b"Row",
    b"Column",
    b"cm",
    b"pos",
];

/// The text of an XML document (given as UTF-8 or another ASCII-compatible encoding).
pub(crate) fn extract_text(xml: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xml.len() / 2);
    let mut attrs = Vec::new();
    let mut i = 0;
    while i < xml.len() {
        let Some(lt) = memchr::memchr(b'<', &xml[i..]).map(|p| p + i) else {
            push_text(&mut out, &xml[i..]);
            break;
        };
        push_text(&mut out, &xml[i..lt]);
        let rest = &xml[lt..];
        if rest.starts_with(b"<![CDATA[") {
            let end = find(rest, b"]]>").unwrap_or(rest.len());
            out.extend_from_slice(&rest[9.min(end)..end]);
            i = lt + end + 3;
        } else if rest.starts_with(b"<!--") {
            let end = find(rest, b"-->").unwrap_or(rest.len());
            out.push(b'\n');
            out.extend_from_slice(&rest[4.min(end)..end]);
            out.push(b'\n');
            i = lt + end + 3;
        } else if rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            i = lt + memchr::memchr(b'>', rest).map_or(rest.len(), |p| p + 1);
        } else {
            let end = tag_end(rest);
            tag(&mut out, &mut attrs, &rest[1..end.saturating_sub(1).max(1)]);
            i = lt + end;
        }
    }
    out.push(b'\n');
    out.extend_from_slice(&attrs);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Length of the tag at the start of `rest` (through its `>`), skipping `>` inside quotes.
fn tag_end(rest: &[u8]) -> usize {
    let mut quote = None;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    rest.len()
}

/// Handles the inside of a tag (between `<` and `>`): attribute values, and a line break at
/// the end of a separating element.
fn tag(out: &mut Vec<u8>, attrs: &mut Vec<u8>, inner: &[u8]) {
    let closing = inner.first() == Some(&b'/');
    let self_closing = inner.last() == Some(&b'/');
    let body = inner.strip_prefix(b"/").unwrap_or(inner);
    let name_len = body
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .unwrap_or(body.len());
    let name = &body[..name_len];
    let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    if !closing {
        attribute_values(attrs, &body[name_len..]);
    }
    if (closing || self_closing) && SEPARATING.contains(&local) {
        out.push(b'\n');
    }
}

fn attribute_values(out: &mut Vec<u8>, attrs: &[u8]) {
    let mut i = 0;
    while i < attrs.len() {
        let b = attrs[i];
        if b == b'"' || b == b'\'' {
            let end = memchr::memchr(b, &attrs[i + 1..]).map_or(attrs.len(), |p| i + 1 + p);
            out.push(b'\n');
            push_text(out, &attrs[i + 1..end]);
            out.push(b'\n');
            i = end + 1;
        } else {
            i += 1;
        }
    }
}

/// Appends character data, resolving the predefined and numeric entity references.
fn push_text(out: &mut Vec<u8>, text: &[u8]) {
    let mut i = 0;
    while i < text.len() {
        let Some(amp) = memchr::memchr(b'&', &text[i..]).map(|p| p + i) else {
            out.extend_from_slice(&text[i..]);
            return;
        };
        out.extend_from_slice(&text[i..amp]);
        let semi = text[amp..]
            .iter()
            .take(12)
            .position(|&b| b == b';')
            .map(|p| p + amp);
        let Some(semi) = semi else {
            out.push(b'&');
            i = amp + 1;
            continue;
        };
        match resolve(&text[amp + 1..semi]) {
            Some(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            None => out.extend_from_slice(&text[amp..=semi]),
        }
        i = semi + 1;
    }
}

fn resolve(entity: &[u8]) -> Option<char> {
    match entity {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => {
            let digits = entity.strip_prefix(b"#")?;
            let text = std::str::from_utf8(digits).ok()?;
            let value = match text.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => text.parse().ok()?,
            };
            char::from_u32(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(xml: &str) -> String {
        String::from_utf8(extract_text(xml.as_bytes())).unwrap()
    }

    #[test]
    fn word_runs_are_joined_and_paragraphs_separated() {
        let xml = r#"<?xml version="1.0"?><w:document><w:body><w:p><w:r><w:rPr><w:b/></w:rPr><w:t>ab</w:t></w:r><w:proofErr w:type="spellStart"/><w:r><w:t xml:space="preserve">cd</w:t></w:r></w:p><w:p><w:r><w:t>next</w:t></w:r></w:p></w:body></w:document>"#;
        let t = text(xml);
        assert!(t.contains("abcd\n"), "{t:?}");
        assert!(t.contains("next"), "{t:?}");
        assert!(!t.contains("abcdnext"));
    }

    #[test]
    fn entities_cdata_and_attributes() {
        let t = text(r#"<a href="x&amp;y">1 &lt; 2 &#65;&#x42; &bogus; <![CDATA[raw<>]]></a>"#);
        assert!(t.contains("x&y"), "{t:?}");
        assert!(t.contains("1 < 2 AB &bogus; raw<>"), "{t:?}");
    }

    #[test]
    fn comment_text_is_separated_from_its_anchor() {
        let anchor = text(
            r#"<xdr:sp><xdr:txBody><a:p><a:r><a:t>k1</a:t></a:r></a:p></xdr:txBody></xdr:sp><xdr:from><xdr:col>1</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>2</xdr:row><xdr:rowOff>5</xdr:rowOff></xdr:from>"#,
        );
        assert!(
            anchor.contains(
                "k1
"
            ),
            "{anchor:?}"
        );
        assert!(!anchor.contains("10"), "{anchor:?}");
        let threaded = text(
            r#"<threadedComment ref="A1"><text>k2</text><mentions/></threadedComment><threadedComment ref="B1"><text>next</text></threadedComment>"#,
        );
        assert!(
            threaded.contains(
                "k2
"
            ),
            "{threaded:?}"
        );
        let vml = text(
            r#"<v:textbox><div><font>k3</font></div></v:textbox><x:ClientData ObjectType="Note"><x:Anchor>1, 15, 0, 2</x:Anchor><x:Row>0</x:Row><x:Column>0</x:Column></x:ClientData>"#,
        );
        assert!(
            vml.contains(
                "k3
"
            ),
            "{vml:?}"
        );
        let slide = text(
            r#"<p:cm authorId="0" idx="1"><p:pos x="10" y="10"/><p:text>k4</p:text></p:cm><p:cm><p:text>k5</p:text></p:cm>"#,
        );
        assert!(
            slide.contains(
                "k4
"
            ),
            "{slide:?}"
        );
    }

    #[test]
    fn malformed_xml_does_not_fail() {
        for xml in [
            "<",
            "<a",
            "<a b=\"",
            "&",
            "&#xZZ;",
            "<![CDATA[x",
            "<!--",
            "</>",
            "<//>",
        ] {
            let _ = extract_text(xml.as_bytes());
        }
    }
}
