//! The scanner's XML text extraction on arbitrary XML, as the `word/document.xml` part of a
//! Word document after a paragraph that holds a key split across two runs: never panics,
//! and when the rest is plain ASCII text the key is still found.
#![no_main]

use keyward_core::key_format::checksum;
use keyward_scan::fixtures::zip;
use keyward_scan::{Limits, ScanReport, Scanner};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| Scanner::new(Limits::default()).expect("the key pattern compiles"))
}

fn key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let signed = "bos_FuzzedDocumentKeyBodyOfThirtyTwoChars";
        let sum = checksum(signed);
        format!("{signed}{}", String::from_utf8_lossy(&sum))
    })
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    let (head, tail) = key.split_at(12);
    let mut part =
        format!("<w:p><w:r><w:t>{head}</w:t></w:r><w:r><w:t>{tail}</w:t></w:r></w:p>").into_bytes();
    part.extend_from_slice(data);
    let Ok(document) = zip(&[("word/document.xml", &part)]) else {
        return;
    };
    let mut report = ScanReport::default();
    scanner().scan_bytes("fuzzed.docx", &document, &mut report);
    assert_eq!(report.files_scanned, 1);
    if data
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n')
    {
        assert!(
            report.findings.iter().any(|f| f.key.expose() == key),
            "the key before {:?} was not found",
            String::from_utf8_lossy(data)
        );
    }
});
