//! Unit tests of the scanner: Office documents, encodings, limits and look-alikes.

use super::*;
use keyward_core::KeyPrefix;
use proptest::prelude::*;

fn key(prefix: &str) -> ApiKey {
    ApiKey::generate(&KeyPrefix::parse(prefix).unwrap()).unwrap()
}

fn scanner() -> Scanner {
    Scanner::new(Limits::default()).unwrap()
}

fn scan(bytes: &[u8]) -> ScanReport {
    scan_with(&scanner(), bytes)
}

fn scan_with(scanner: &Scanner, bytes: &[u8]) -> ScanReport {
    let mut report = ScanReport::default();
    scanner.scan_bytes("input", bytes, &mut report);
    report
}

fn found(report: &ScanReport) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| f.key.expose().to_owned())
        .collect()
}

#[test]
fn plain_text_with_line_and_column() {
    let k = key("bos_live");
    let text = format!("first line\nexport BOS_KEY=\"{}\"\n", k.expose());
    let report = scan(text.as_bytes());
    assert_eq!(found(&report), vec![k.expose().to_owned()]);
    let f = &report.findings[0];
    assert_eq!((f.line, f.column), (Some(2), Some(17)));
    assert_eq!(f.location(), "2:17");
    assert!(report.notes.is_empty());
}

#[test]
fn key_split_across_word_runs_is_found() {
    let k = key("bos");
    let (a, b) = k.expose().split_at(12);
    let doc = fixtures::docx(&[
        vec!["Handover notes"],
        vec!["Stripe key: ", a, b],
        vec!["Next paragraph"],
    ])
    .unwrap();
    let report = scan(&doc);
    assert_eq!(found(&report), vec![k.expose().to_owned()]);
    assert_eq!(report.findings[0].location(), "word/document.xml");
    assert!(!report.has_errors(), "{:?}", report.notes);
}

#[test]
fn xlsx_shared_strings_are_found() {
    let k = key("acme");
    let sheet = fixtures::xlsx(&["Integration", k.expose(), "Owner"]).unwrap();
    let report = scan(&sheet);
    assert_eq!(found(&report), vec![k.expose().to_owned()]);
    assert_eq!(
        report.findings[0].part.as_deref(),
        Some("xl/sharedStrings.xml")
    );
}

#[test]
fn corrupt_zip_is_reported_not_fatal() {
    let mut doc = fixtures::docx(&[vec!["hello"]]).unwrap();
    doc.truncate(doc.len() / 2);
    let report = scan(&doc);
    assert!(report.has_errors());
    assert!(
        report.notes[0].message.contains("corrupt"),
        "{:?}",
        report.notes
    );
    // Garbage after the magic bytes too.
    let report = scan(b"PK\x03\x04 this is not really a zip file");
    assert!(report.has_errors());
}

#[test]
fn corrupt_entry_is_reported_and_the_rest_scanned() {
    let k = key("bos");
    let mut archive = fixtures::zip(&[
        ("a.txt", "x".repeat(5000).as_bytes()),
        ("b.txt", k.expose().as_bytes()),
    ])
    .unwrap();
    // Flip bytes inside a.txt's deflated data: its CRC (or inflate) fails.
    for byte in archive.iter_mut().skip(40).take(8) {
        *byte ^= 0x5A;
    }
    let report = scan(&archive);
    assert!(report.has_errors(), "{:?}", report.notes);
    assert_eq!(found(&report), vec![k.expose().to_owned()]);
}

#[test]
fn nesting_deeper_than_the_limit_is_not_opened() {
    let k = key("bos");
    let mut blob = fixtures::zip(&[("key.txt", k.expose().as_bytes())]).unwrap();
    for level in 0..5 {
        blob = fixtures::zip(&[(&format!("level{level}.zip"), &blob)]).unwrap();
    }
    // Six archives deep: the default limit (4) stops it.
    let report = scan(&blob);
    assert!(found(&report).is_empty());
    assert!(report.notes.iter().any(|n| n.message.contains("nested")));
    // A generous limit finds it, with the path through the archives.
    let deep = Scanner::new(Limits {
        max_depth: 10,
        ..Limits::default()
    })
    .unwrap();
    let report = scan_with(&deep, &blob);
    assert_eq!(found(&report), vec![k.expose().to_owned()]);
    assert_eq!(
        report.findings[0].part.as_deref(),
        Some("level4.zip!level3.zip!level2.zip!level1.zip!level0.zip!key.txt")
    );
}

#[test]
fn zip_bomb_is_cut_short() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let bomb = fixtures::zip(&[("a.bin", &zeros), ("b.bin", &zeros), ("c.bin", &zeros)]).unwrap();
    assert!(bomb.len() < 200 * 1024, "compressed to {}", bomb.len());
    let small = Scanner::new(Limits {
        max_unpacked_bytes: 10 * 1024 * 1024,
        ..Limits::default()
    })
    .unwrap();
    let report = scan_with(&small, &bomb);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.kind == NoteKind::Error && n.message.contains("zip bomb")),
        "{:?}",
        report.notes
    );
}

#[test]
fn utf16_text_is_decoded() {
    let k = key("bos_test");
    let text = format!("Schlüssel: {}\r\n", k.expose());
    for bom in [true, false] {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let report = scan(&bytes);
        assert_eq!(found(&report), vec![k.expose().to_owned()], "bom: {bom}");
        assert_eq!(report.findings[0].column, Some(12));
    }
}

#[test]
fn keys_glued_to_url_encoding_or_letters_are_found() {
    let k = key("bos_live");
    let r = key("kw_root");
    let text = format!(
        "GET /x?api_key%3D{} HTTP/1.1\ntoken=x{}\nbearer {}abc\n",
        k.expose(),
        r.expose(),
        k.expose()
    );
    let report = scan(text.as_bytes());
    assert_eq!(
        found(&report),
        vec![
            k.expose().to_owned(),
            r.expose().to_owned(),
            k.expose().to_owned()
        ]
    );
    let places: Vec<_> = report.findings.iter().map(|f| (f.line, f.column)).collect();
    assert_eq!(
        places,
        vec![(Some(1), Some(18)), (Some(2), Some(8)), (Some(3), Some(8))]
    );
    // The published pattern, checksum-checked, misses all three (its matches are whole
    // words, which hold more than the key); the checksum alone finds them.
    let pattern = regex::Regex::new(keyward_core::key_format::KEY_REGEX).unwrap();
    let by_pattern = pattern
        .find_iter(&text)
        .filter(|m| ApiKey::parse(m.as_str()).is_ok())
        .count();
    assert_eq!(by_pattern, 0);
}

#[test]
fn keys_after_escapes_or_with_escaped_characters_are_found_once_each() {
    let keys: Vec<ApiKey> = (0..8).map(|_| key("bos_live")).collect();
    let k: Vec<&str> = keys.iter().map(|k| k.expose()).collect();
    let underscores = |key: &str, escape: &str| key.replace('_', escape);
    let text = format!(
        "{{\"a\":\"\\n{}\",\"b\":\"\\u0022{}\",\"c\":\"{}\"}}\n\
         GET /?t={} HTTP/1.1\n\
         Subject: =?UTF-8?Q?key=3D{}?=\n\
         body: {}=\r\n{}\n\
         <a href=\"x?k={}\">\n",
        k[0],
        k[1],
        underscores(k[2], "\\u005f"),
        underscores(k[3], "%5F"),
        underscores(k[4], "=5F"),
        &k[5][..20],
        &k[5][20..],
        underscores(k[6], "&#95;"),
    );
    let report = scan(text.as_bytes());
    let expected: Vec<String> = k[..7].iter().map(|s| s.to_string()).collect();
    assert_eq!(found(&report), expected, "{text}");
    let places: Vec<_> = report.findings.iter().map(|f| f.location()).collect();
    assert_eq!(places[3], "2:9");
    assert_eq!(places[5], "4:7");
    // A name with an escaped key shows it by its start, escapes and all.
    let name = format!("backup-{}.json", underscores(k[7], "%5F"));
    let shown = scanner().redact_name(&name);
    assert_eq!(shown, format!("backup-{}….json", keys[7].start()));
}

#[test]
fn look_alikes_with_bad_checksums_are_rejected() {
    let k = key("bos");
    let text = k.expose();
    let mut changed = text.as_bytes().to_vec();
    let last = changed.len() - 1;
    changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
    let fake = String::from_utf8(changed).unwrap();
    let fakes = format!(
        "{fake}\nbos_{}\nbos_short123\nsome_identifier_like_this_one_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        "A".repeat(40)
    );
    assert!(found(&scan(fakes.as_bytes())).is_empty());
}

#[test]
fn binaries_are_skipped_with_a_note() {
    let k = key("bos");
    let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    bytes.extend_from_slice(k.expose().as_bytes());
    let report = scan(&bytes);
    assert!(report.findings.is_empty());
    assert_eq!(report.notes[0].kind, NoteKind::Skipped);
    assert_eq!(report.notes[0].message, "binary");
    assert!(!report.has_errors());
}

/// `len` bytes of log lines with each key of `keys` written at its offset, a line break
/// after it.
fn log_with_keys_at(len: usize, keys: &[(usize, String)]) -> Vec<u8> {
    let line = b"2026-12-03T12:00:00Z GET /invoices?id=12345&page=2 200 0.003 \xc3\xa9\n";
    let mut bytes: Vec<u8> = line.iter().copied().cycle().take(len).collect();
    for (at, key) in keys {
        bytes[*at..*at + key.len()].copy_from_slice(key.as_bytes());
    }
    bytes
}

/// (key, line, column) of every finding.
fn places(report: &ScanReport) -> Vec<(String, Option<usize>, Option<usize>)> {
    report
        .findings
        .iter()
        .map(|f| (f.key.expose().to_owned(), f.line, f.column))
        .collect()
}

/// A scanner that streams everything over 1 KiB.
fn streaming() -> Scanner {
    Scanner::new(Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    })
    .unwrap()
}

#[test]
fn text_over_the_size_limit_is_streamed_and_a_key_across_a_window_boundary_found_once() {
    use crate::stream::{OVERLAP, WINDOW};
    let keys: Vec<ApiKey> = (0..5).map(|_| key("bos_live")).collect();
    let len = 2 * WINDOW + 5000;
    let escaped = keys[3].expose().replace('_', "%5F");
    let data = log_with_keys_at(
        len,
        &[
            (100, keys[0].expose().to_owned()),
            // Across the first window's end.
            (WINDOW - 20, keys[1].expose().to_owned()),
            // Across the start of the overlap carried into the third window.
            (2 * WINDOW - OVERLAP - 10, keys[2].expose().to_owned()),
            // Escaped, across the second window's end.
            (2 * WINDOW - 7, escaped.clone()),
            // The very end.
            (len - keys[4].expose().len(), keys[4].expose().to_owned()),
        ],
    );
    let whole = scan(&data);
    assert_eq!(whole.findings.len(), 5, "{}", printed(&whole));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    std::fs::write(&path, &data).unwrap();
    let mut streamed = ScanReport::default();
    streaming().scan_path(&path, &mut streamed);
    assert_eq!(places(&streamed), places(&whole));
    assert_eq!(streamed.bytes_scanned, len as u64);
    assert_eq!((streamed.files_scanned, streamed.notes.len()), (1, 0));
    // Standard input over the limit is streamed too.
    let mut piped = ScanReport::default();
    streaming().scan_reader("-", &data[..], &mut piped);
    assert_eq!(places(&piped), places(&whole));
}

#[test]
fn utf16_over_the_size_limit_is_transcoded_as_it_streams() {
    use crate::stream::WINDOW;
    let keys: Vec<ApiKey> = (0..2).map(|_| key("acme")).collect();
    // Characters, so the UTF-16 text is a little over one window of bytes.
    let len = WINDOW / 2 + 3000;
    let text = log_with_keys_at(
        len,
        &[
            (WINDOW / 2 - 15, keys[0].expose().to_owned()),
            (len - 50, keys[1].expose().to_owned()),
        ],
    );
    let text = String::from_utf8_lossy(&text);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let whole = scan(&utf16);
    assert_eq!(whole.findings.len(), 2);
    let mut streamed = ScanReport::default();
    streaming().scan_reader("log.txt", &utf16[..], &mut streamed);
    assert_eq!(places(&streamed), places(&whole));
}

#[test]
fn binaries_and_archives_over_the_size_limit_are_not_read_and_say_so() {
    let mut archive = fixtures::docx(&[vec![key("bos").expose()]]).unwrap();
    archive.resize(4096, 0);
    for content in [vec![0u8; 4096], archive] {
        let mut report = ScanReport::default();
        streaming().scan_reader("big.bin", &content[..], &mut report);
        assert!(report.findings.is_empty());
        assert_eq!(report.notes.len(), 1);
        assert_eq!(report.notes[0].kind, NoteKind::Skipped);
        assert_eq!(
            report.notes[0].message,
            "larger than 0 MiB and not plain text: not read"
        );
        assert!(report.has_unread() && !report.has_errors());
        assert_eq!(report.unread_paths(), vec!["big.bin"]);
    }
}

#[test]
fn folders_are_walked_and_oversized_binaries_and_git_folders_noted() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("bos");
    std::fs::create_dir_all(dir.path().join("sub/.git")).unwrap();
    std::fs::write(dir.path().join("sub/notes.txt"), k.expose()).unwrap();
    std::fs::write(dir.path().join("sub/.git/config"), key("bos").expose()).unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![0u8; 2048]).unwrap();
    let small = Scanner::new(Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    })
    .unwrap();
    let mut report = ScanReport::default();
    small.scan_path(dir.path(), &mut report);
    small.scan_path(&dir.path().join("missing"), &mut report);
    assert_eq!(found(&report), vec![k.expose().to_owned()]);
    assert!(report.findings[0].file.ends_with("notes.txt"));
    assert!(report
        .notes
        .iter()
        .any(|n| n.kind == NoteKind::Skipped && n.path.ends_with("big.bin")));
    assert_eq!(report.git_folders.len(), 1);
    assert!(report.git_folders[0].ends_with(".git"));
    assert!(report
        .notes
        .iter()
        .any(|n| n.kind == NoteKind::Error && n.path.ends_with("missing")));
}

#[test]
fn display_and_debug_never_show_the_whole_key() {
    let k = key("bos");
    let report = scan(format!("k={}", k.expose()).as_bytes());
    let f = &report.findings[0];
    let shown = format!("{f} {f:?} {report:?}");
    assert!(!shown.contains(k.expose()), "{shown}");
    assert!(shown.contains(&k.start()));
}

/// Everything a report would print: findings (as shown, with their location) and notes.
fn printed(report: &ScanReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!("{f} | {} | {:?}\n", f.location(), f.part));
    }
    for n in &report.notes {
        out.push_str(&format!("{} {} {}\n", n.path, n.kind.as_str(), n.message));
    }
    out
}

#[test]
fn keys_in_file_folder_and_entry_names_are_findings_never_printed_whole() {
    let (in_folder, in_file, in_entry_folder, in_entry, in_content, in_top) = (
        key("bos"),
        key("bos"),
        key("acme"),
        key("bos_live"),
        key("bos"),
        key("bos"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(format!("share-{}", in_top.expose()));
    let folder = root.join(in_folder.expose());
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), "nothing here").unwrap();
    std::fs::write(root.join(format!("{}.txt", in_file.expose())), "nothing").unwrap();
    // A name that would break a line of output or read backwards is shown escaped.
    let odd = root.join("line\nbreak \u{202E}txt.exe");
    let in_odd = key("bos");
    std::fs::write(&odd, format!("k={}", in_odd.expose())).unwrap();
    let archive = fixtures::zip(&[
        (
            &format!("creds/{}/readme.txt", in_entry_folder.expose()),
            b"x",
        ),
        (
            &format!("creds/{}/other.txt", in_entry_folder.expose()),
            b"y",
        ),
        (
            &format!("{}.env", in_entry.expose()),
            format!("K={}", in_content.expose()).as_bytes(),
        ),
    ])
    .unwrap();
    std::fs::write(root.join("backup.zip"), archive).unwrap();
    let mut report = ScanReport::default();
    let scanner = scanner();
    scanner.scan_path(&root, &mut report);
    scanner.scan_path(
        &root.join(format!("gone-{}", in_file.expose())),
        &mut report,
    );

    let all = [
        &in_folder,
        &in_file,
        &in_entry_folder,
        &in_entry,
        &in_content,
        &in_top,
        &in_odd,
    ];
    let mut found = found(&report);
    found.sort();
    let mut expected: Vec<String> = all.iter().map(|k| k.expose().to_owned()).collect();
    expected.sort();
    assert_eq!(found, expected, "each key once: {}", printed(&report));
    let shown = printed(&report);
    for k in all {
        assert!(!shown.contains(k.expose()), "{shown}");
    }
    assert!(shown.contains(&format!("{}…", in_entry.start())), "{shown}");
    let name_finding = report
        .findings
        .iter()
        .find(|f| f.key.expose() == in_entry.expose())
        .unwrap();
    assert_eq!(
        name_finding.location(),
        format!("{}….env (name)", in_entry.start())
    );
    assert!(
        report.notes.iter().any(|n| n.path.contains("gone-")),
        "{shown}"
    );
    let odd = report
        .findings
        .iter()
        .find(|f| f.file.contains("break"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        odd.file.ends_with("line\\nbreak \\u{202e}txt.exe"),
        "{}",
        odd.file
    );
}

#[test]
fn entries_left_when_the_budget_runs_out_are_named_and_a_cut_entry_is_scanned() {
    let early = key("bos");
    let mut cut = early.expose().as_bytes().to_vec();
    cut.push(b'\n');
    cut.extend(vec![0x20u8; 8 * 1024 * 1024]);
    let zeros = vec![b' '; 8 * 1024 * 1024];
    let bomb = fixtures::zip(&[
        ("a.txt", &zeros),
        ("b.txt", &cut),
        ("c.txt", b"after"),
        ("d/e.txt", b"after"),
    ])
    .unwrap();
    let small = Scanner::new(Limits {
        max_unpacked_bytes: 10 * 1024 * 1024,
        ..Limits::default()
    })
    .unwrap();
    let report = scan_with(&small, &bomb);
    assert_eq!(
        found(&report),
        vec![early.expose().to_owned()],
        "{}",
        printed(&report)
    );
    let skipped = report
        .notes
        .iter()
        .find(|n| n.message.contains("not scanned"))
        .unwrap_or_else(|| panic!("no note names the skipped entries: {}", printed(&report)));
    assert_eq!(skipped.kind, NoteKind::Error);
    assert!(
        skipped
            .message
            .contains("2 entries not scanned: c.txt, d/e.txt"),
        "{}",
        skipped.message
    );
    assert!(report.has_errors());
}

#[test]
fn one_bomb_entry_does_not_spend_the_budget_of_the_entries_after_it() {
    let k = key("bos");
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let archive =
        fixtures::zip(&[("bomb.bin", &zeros), ("notes.txt", k.expose().as_bytes())]).unwrap();
    let limits = Limits {
        max_unpacked_bytes: 4 * 1024 * 1024,
        max_entry_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let report = scan_with(&Scanner::new(limits).unwrap(), &archive);
    assert_eq!(
        found(&report),
        vec![k.expose().to_owned()],
        "{}",
        printed(&report)
    );
    let cut = &report.notes[0];
    assert!(cut.path.ends_with("!bomb.bin"), "{cut:?}");
    assert!(cut.message.contains("the limit for one entry"), "{cut:?}");
    assert_eq!(report.notes.len(), 1, "{}", printed(&report));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every generated key embedded in random text is found, exactly once, whatever the
    /// prefix and whatever separates it from its neighbours.
    #[test]
    fn every_embedded_key_is_found(
        issuer in "[a-z0-9]{2,16}",
        env in proptest::option::of("[a-z0-9]{2,16}"),
        before in "[ -~\n\t]{0,200}",
        after in "[ -~\n\t]{0,200}",
        left in "[ \n\t\"'=:,;(<>\\[{]",
        right in "[ \n\t\"'=:,;)<>\\]}.]",
    ) {
        let prefix = match env { Some(e) => format!("{issuer}_{e}"), None => issuer };
        let k = key(&prefix);
        let text = format!("{before}{left}{}{right}{after}", k.expose());
        let keys = scanner().keys_in(text.as_bytes());
        let texts: Vec<&str> = keys.iter().map(|(_, k)| k.expose()).collect();
        prop_assert!(texts.contains(&k.expose()), "missed in {:?}", text);
    }
}

/// A document with a key in it, for the mutation fuzzers.
fn docx_with_key() -> Vec<u8> {
    let k = key("bos");
    fixtures::docx(&[vec!["The key is ", k.expose(), " — keep it."]]).unwrap()
}

// Fuzzing on the stable toolchain: arbitrary and mutated documents must never panic the
// scanner (a panic in `keyward scan` aborts a whole scan; in a server it would be a crash).
// Default case count, so `PROPTEST_CASES=1000000 cargo test -p keyward-scan fuzz_` runs longer.
proptest! {
    #[test]
    fn fuzz_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = scan(&bytes);
    }

    #[test]
    fn fuzz_bytes_behind_a_zip_header(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut input = ZIP_MAGIC.to_vec();
        input.extend_from_slice(&bytes);
        let _ = scan(&input);
        let mut input = EMPTY_ZIP_MAGIC.to_vec();
        input.extend_from_slice(&bytes);
        let _ = scan(&input);
    }

    #[test]
    fn fuzz_mutated_docx(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut doc = docx_with_key();
        for (at, byte) in flips {
            let i = at.index(doc.len());
            doc[i] = byte;
        }
        let _ = scan(&doc);
    }

    #[test]
    fn fuzz_truncated_docx(cut in any::<prop::sample::Index>()) {
        let doc = docx_with_key();
        let _ = scan(&doc[..cut.index(doc.len())]);
    }

    #[test]
    fn fuzz_xml_text_extraction(bytes in proptest::collection::vec(any::<u8>(), 0..2048), text in "[<>/a-z:=\"' &;#x0-9]{0,512}") {
        let _ = xml::extract_text(&bytes);
        let _ = xml::extract_text(text.as_bytes());
    }

    #[test]
    fn fuzz_text_decoding(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode::text_bytes(&bytes);
    }
}
