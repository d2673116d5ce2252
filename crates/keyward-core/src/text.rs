//! Characters that make text lie about itself: bidirectional controls reorder what a reader
//! sees (a log line or an audit detail can be made to read backwards), and invisible
//! characters make two different names look the same.

/// Unicode's bidirectional formatting characters: the embeddings, overrides and isolates
/// and the implicit marks (ALM, LRM, RLM).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that render as nothing: Unicode's `Default_Ignorable_Code_Point` set (zero-width
/// spaces and joiners, the word joiner, variation selectors, the byte-order mark, soft hyphen,
/// Hangul fillers, tags, …), which includes the bidirectional controls.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether `text` is one line a reader sees as it is: no control characters (newlines,
/// tabs, escapes) and no bidirectional controls.
///
/// Printable ASCII, the common case on verification's hot path, is recognised in one
/// branch-free pass over the bytes (which the compiler vectorises); only text with other
/// bytes is decoded.
pub fn is_plain_line(text: &str) -> bool {
    let printable_ascii = text
        .bytes()
        .fold(true, |ok, b| ok & (0x20..0x7F).contains(&b));
    printable_ascii || !text.chars().any(|c| c.is_control() || is_bidi_control(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_are_invisible_too() {
        for c in ('\u{0}'..='\u{10FFFF}').filter(|&c| is_bidi_control(c)) {
            assert!(is_invisible(c), "{:X}", u32::from(c));
        }
    }

    #[test]
    fn plain_lines() {
        assert!(is_plain_line("invoices/INV-42 café 請求書"));
        assert!(is_plain_line(""));
        for bad in [
            "a\nb",
            "a\rb",
            "a\tb",
            "\u{1b}[31m",
            "\u{85}",
            "abc\u{202E}fdp.exe",
            "\u{2066}x\u{2069}",
            "\u{200F}",
        ] {
            assert!(!is_plain_line(bad), "{bad:?}");
        }
        // A zero-width space is invisible but does not reorder anything.
        assert!(is_plain_line("a\u{200B}b"));
    }
}
