//! Unit tests of the readers of legacy Office, PDF, email, gzip and tar: keys found where
//! they really end up, look-alikes not reported, and every reader bounded by the budgets.

use super::*;
use crate::fixtures::formats::{self, Attachment, PdfPage};
use keyward_core::KeyPrefix;
use proptest::prelude::*;

fn key(prefix: &str) -> ApiKey {
    ApiKey::generate(&KeyPrefix::parse(prefix).unwrap()).unwrap()
}

/// `key` with its last checksum character changed: right shape, wrong checksum.
fn look_alike(key: &ApiKey) -> String {
    let mut text = key.expose().to_owned();
    let last = text.pop().unwrap();
    text.push(if last == 'A' { 'B' } else { 'A' });
    text
}

fn scan_named(scanner: &Scanner, name: &str, bytes: &[u8]) -> ScanReport {
    let mut report = ScanReport::default();
    scanner.scan_bytes(name, bytes, &mut report);
    report
}

fn scan(name: &str, bytes: &[u8]) -> ScanReport {
    scan_named(&Scanner::new(Limits::default()).unwrap(), name, bytes)
}

/// Each finding as (key, location).
fn found(report: &ScanReport) -> Vec<(String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.key.expose().to_owned(), f.location()))
        .collect()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// Fails, showing every note, unless one of them contains `text`.
fn assert_noted(report: &ScanReport, text: &str) {
    assert!(
        notes(report).contains(text),
        "no note contains {text:?}: {}",
        notes(report)
    );
}

/// The findings as (key, location), sorted.
fn found_sorted(report: &ScanReport) -> Vec<(String, String)> {
    sorted(found(report))
}

/// The keys found, sorted.
fn keys_found(report: &ScanReport) -> Vec<String> {
    sorted(found(report).into_iter().map(|(k, _)| k).collect())
}

fn notes(report: &ScanReport) -> String {
    report
        .notes
        .iter()
        .map(|n| format!("{} {} {}\n", n.path, n.kind.as_str(), n.message))
        .collect()
}

const MIB: u64 = 1024 * 1024;

fn small_limits() -> Scanner {
    Scanner::new(Limits {
        max_unpacked_bytes: 8 * MIB,
        max_entry_bytes: 2 * MIB,
        ..Limits::default()
    })
    .unwrap()
}

// ---- legacy Office (OLE) ----

/// A `.doc`-like body: binary record bytes around UTF-16LE text, as Word stores it.
fn word_stream(text: &str) -> Vec<u8> {
    let mut stream = vec![0xEC, 0xA5, 0xC1, 0x00, 0x41, 0x00, 0x09, 0x04];
    stream.extend(std::iter::repeat_n(0u8, 504));
    stream.extend(formats::utf16le(text));
    stream.extend([0x0D, 0x00, 0x07, 0x00, 0xFF, 0xFF]);
    stream
}

#[test]
fn legacy_office_streams_are_searched_as_single_bytes_and_utf16() {
    let (in_doc, in_xls, in_ppt_comment, odd_aligned) =
        (key("bos"), key("bos_live"), key("acme"), key("bos"));
    // Excel's shared strings: a "compressed" (single-byte) string after its record header.
    let mut workbook = vec![0xFC, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00];
    workbook.extend_from_slice(in_xls.expose().as_bytes());
    // PowerPoint comment atom: UTF-16LE after a one-byte-odd record header.
    let mut slides = vec![0x0F, 0x00, 0xE0, 0x2E, 0x07];
    slides.extend(formats::utf16le(&format!(
        "rotate {} soon",
        in_ppt_comment.expose()
    )));
    let mut odd = vec![0x01];
    odd.extend(formats::utf16le(odd_aligned.expose()));
    let doc = formats::ole(&[
        (
            "WordDocument",
            &word_stream(&format!("Stripe key: {}\r", in_doc.expose())),
        ),
        ("Workbook", &workbook),
        ("PowerPoint Document", &slides),
        ("ObjectPool/_1/Data", &odd),
        ("\u{5}SummaryInformation", &[0u8; 64]),
    ])
    .unwrap();
    let report = scan("handover.doc", &doc);
    assert_eq!(
        found_sorted(&report),
        sorted(vec![
            (in_doc.expose().to_owned(), "WordDocument".to_owned()),
            (in_xls.expose().to_owned(), "Workbook".to_owned()),
            (
                in_ppt_comment.expose().to_owned(),
                "PowerPoint Document".to_owned(),
            ),
            (
                odd_aligned.expose().to_owned(),
                "ObjectPool/_1/Data".to_owned(),
            ),
        ]),
        "{}",
        notes(&report)
    );
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn a_key_repeated_in_one_stream_is_one_finding() {
    let k = key("bos");
    let text = format!("{} and again {}", k.expose(), k.expose());
    let doc = formats::ole(&[("WordDocument", &word_stream(&text))]).unwrap();
    assert_eq!(found(&scan("a.doc", &doc)).len(), 1);
}

#[test]
fn a_document_embedded_in_a_legacy_file_is_opened() {
    let k = key("bos");
    let docx = fixtures::docx(&[vec!["embedded: ", k.expose()]]).unwrap();
    let doc = formats::ole(&[
        ("WordDocument", &word_stream("see the attached object")),
        ("ObjectPool/_1234/Package", &docx),
    ])
    .unwrap();
    let report = scan("outer.doc", &doc);
    assert_eq!(
        found(&report),
        vec![(
            k.expose().to_owned(),
            "ObjectPool/_1234/Package!word/document.xml".to_owned()
        )]
    );
}

#[test]
fn an_outlook_message_body_and_attachment_are_read() {
    let (in_body, in_attachment) = (key("bos"), key("bos"));
    let docx = fixtures::docx(&[vec![in_attachment.expose()]]).unwrap();
    // Outlook's .msg: properties as streams, the body UTF-16LE, attachments in storages.
    let msg = formats::ole(&[
        ("__substg1.0_0037001F", &formats::utf16le("Handover")),
        (
            "__substg1.0_1000001F",
            &formats::utf16le(&format!("Hi,\r\nthe key is {}\r\n", in_body.expose())),
        ),
        (
            "__attach_version1.0_#00000000/__substg1.0_3707001F",
            &formats::utf16le("notes.docx"),
        ),
        ("__attach_version1.0_#00000000/__substg1.0_37010102", &docx),
    ])
    .unwrap();
    let report = scan("handover.msg", &msg);
    assert_eq!(
        found_sorted(&report),
        sorted(vec![
            (
                in_body.expose().to_owned(),
                "__substg1.0_1000001F".to_owned()
            ),
            (
                in_attachment.expose().to_owned(),
                "__attach_version1.0_#00000000/__substg1.0_37010102!word/document.xml".to_owned()
            ),
        ]),
        "{}",
        notes(&report)
    );
}

#[test]
fn legacy_office_look_alikes_and_plain_documents_report_nothing() {
    let k = key("bos");
    let fake = look_alike(&k);
    let doc = formats::ole(&[
        ("WordDocument", &word_stream(&format!("old key: {fake}\r"))),
        ("Workbook", fake.as_bytes()),
        (
            "1Table",
            &(0..=255u8).cycle().take(64 * 1024).collect::<Vec<_>>(),
        ),
    ])
    .unwrap();
    let report = scan("fakes.xls", &doc);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn a_corrupt_compound_file_is_noted_and_still_searched() {
    let k = key("bos");
    let mut doc = formats::ole(&[("WordDocument", &word_stream(k.expose()))]).unwrap();
    // Break the header's sector size: the container no longer opens.
    doc[30] = 0x7F;
    let report = scan("broken.doc", &doc);
    assert_eq!(found(&report), vec![(k.expose().to_owned(), String::new())]);
    assert!(report.has_errors());
    assert_noted(&report, "corrupt compound file");
}

#[test]
fn a_huge_ole_stream_is_cut_at_the_entry_limit_and_the_rest_still_scanned() {
    let (early, after) = (key("bos"), key("bos"));
    let mut huge = formats::utf16le(early.expose());
    huge.extend(std::iter::repeat_n(0u8, 3 * MIB as usize));
    let doc = formats::ole(&[
        ("A Huge Stream", &huge),
        ("WordDocument", &word_stream(after.expose())),
    ])
    .unwrap();
    let report = scan_named(&small_limits(), "big.doc", &doc);
    assert_eq!(
        keys_found(&report),
        sorted(vec![early.expose().to_owned(), after.expose().to_owned()]),
        "{}",
        notes(&report)
    );
    assert_noted(
        &report,
        "big.doc!A Huge Stream error unpacks to more than 2 MiB",
    );
}

// ---- PDF ----

#[test]
fn pdf_text_split_by_kerning_and_link_targets_are_found() {
    let (in_text, in_link) = (key("bos"), key("bos_live"));
    let (a, b) = in_text.expose().split_at(10);
    let url = format!(
        "https://api.example.com/v1/export?api_key={}",
        in_link.expose()
    );
    let pdf = formats::pdf(&[
        PdfPage {
            lines: vec![vec!["Nothing on page one"]],
            links: vec![],
        },
        PdfPage {
            lines: vec![vec!["Handover"], vec!["Stripe key: ", a, b]],
            links: vec![&url],
        },
    ])
    .unwrap();
    // The content streams are compressed: the key is not in the file's bytes.
    assert!(memchr::memmem::find(&pdf, in_text.expose().as_bytes()).is_none());
    let report = scan("handover.pdf", &pdf);
    assert_eq!(
        found_sorted(&report),
        sorted(vec![
            (in_text.expose().to_owned(), "page 2".to_owned()),
            (in_link.expose().to_owned(), "strings".to_owned()),
        ]),
        "{}",
        notes(&report)
    );
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn pdf_look_alikes_report_nothing() {
    let k = key("bos");
    let fake = look_alike(&k);
    let pdf = formats::pdf(&[PdfPage {
        lines: vec![vec!["old key: ", &fake]],
        links: vec![&fake],
    }])
    .unwrap();
    let report = scan("fake.pdf", &pdf);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn a_pdf_decompression_bomb_stops_at_the_entry_limit() {
    let k = key("bos");
    let filler = " ".repeat(3 * MIB as usize);
    let pdf = formats::pdf(&[
        PdfPage {
            lines: vec![vec![&filler]],
            links: vec![],
        },
        PdfPage {
            lines: vec![vec![k.expose()]],
            links: vec![],
        },
    ])
    .unwrap();
    assert!(pdf.len() < 64 * 1024, "compressed to {}", pdf.len());
    let report = scan_named(&small_limits(), "bomb.pdf", &pdf);
    assert_eq!(
        found(&report),
        vec![(k.expose().to_owned(), "page 2".to_owned())]
    );
    assert_noted(
        &report,
        "bomb.pdf!page 1 error content unpacks to more than 2 MiB",
    );
}

#[test]
fn a_huge_page_tree_stops_at_the_files_budget() {
    let filler = " ".repeat(MIB as usize);
    let lines = vec![vec![filler.as_str()]];
    let pages: Vec<PdfPage> = (0..40)
        .map(|_| PdfPage {
            lines: lines.clone(),
            links: vec![],
        })
        .collect();
    let pdf = formats::pdf(&pages).unwrap();
    let report = scan_named(&small_limits(), "pages.pdf", &pdf);
    assert_noted(
        &report,
        "more than 8 MiB unpacked from this file (a decompression bomb?): pages from",
    );
    assert_eq!(report.notes.len(), 1, "{}", notes(&report));
}

#[test]
fn an_unreadable_pdf_is_noted_and_searched_as_bytes() {
    let k = key("bos");
    let text = format!(
        "%PDF-1.4\n1 0 obj << /URI ({}) >> endobj\ngarbage",
        k.expose()
    );
    let report = scan("broken.pdf", text.as_bytes());
    assert_eq!(found(&report).len(), 1, "{}", notes(&report));
}

#[test]
fn text_that_mentions_the_pdf_magic_stays_text() {
    let k = key("bos");
    let text = format!(
        "if head.starts_with(b\"%PDF-\") {{ open() }}\nkey = {}\n",
        k.expose()
    );
    let report = scan("sniff.rs", text.as_bytes());
    assert_eq!(
        found(&report),
        vec![(k.expose().to_owned(), "2:7".to_owned())]
    );
    assert!(report.notes.is_empty(), "{}", notes(&report));
    // With junk before the header and the end marker, it is a PDF.
    let mut pdf = b"junk\n".to_vec();
    pdf.extend(
        formats::pdf(&[PdfPage {
            lines: vec![vec![k.expose()]],
            links: vec![],
        }])
        .unwrap(),
    );
    assert_eq!(
        found(&scan("x.pdf", &pdf)),
        vec![(k.expose().to_owned(), "page 1".to_owned())]
    );
}

// ---- email ----

#[test]
fn quoted_printable_bodies_and_attached_documents_are_decoded() {
    let (in_body, in_docx, in_log) = (key("bos"), key("bos_live"), key("acme"));
    // A long line: the soft line break falls inside the key; `=` is written `=3D`.
    let body = format!(
        "Hi Bob,\n\nthe export runs with https://api.example.com/v1/export?api_key={} as agreed.\n",
        in_body.expose()
    );
    let docx = fixtures::docx(&[vec!["Integration key: ", in_docx.expose()]]).unwrap();
    let log = formats::gzip("app.log", format!("token={}\n", in_log.expose()).as_bytes()).unwrap();
    let mail = formats::email(
        "handover",
        &body,
        &[
            Attachment {
                name: "report.docx",
                mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                content: &docx,
            },
            Attachment {
                name: "app.log.gz",
                mime: "application/gzip",
                content: &log,
            },
        ],
    );
    let raw = String::from_utf8_lossy(&mail);
    assert!(raw.contains("api_key=3D"), "{raw}");
    assert!(
        !raw.contains(in_body.expose()),
        "the fixture must split the key"
    );
    let report = scan("mail.eml", &mail);
    assert_eq!(
        found_sorted(&report),
        sorted(vec![
            (in_body.expose().to_owned(), "body.txt:3:64".to_owned()),
            (
                in_docx.expose().to_owned(),
                "report.docx!word/document.xml".to_owned(),
            ),
            (in_log.expose().to_owned(), "app.log.gz:1:7".to_owned()),
        ]),
        "{}",
        notes(&report)
    );
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn keys_in_encoded_headers_are_found_once() {
    let k = key("bos");
    let encoded = formats::base64_lines(format!("key {}", k.expose()).as_bytes());
    let mail = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?B?{encoded}?=\r\n\r\nhello\r\n"
    );
    // Not named .eml: recognised by its headers.
    let report = scan("message.txt", mail.as_bytes());
    assert_eq!(
        found(&report),
        vec![(k.expose().to_owned(), "headers".to_owned())]
    );
}

#[test]
fn a_key_in_an_attachments_name_is_one_finding() {
    let k = key("bos");
    let name = format!("{}.txt", k.expose());
    let mail = formats::email(
        "s",
        "see attached",
        &[Attachment {
            name: &name,
            mime: "text/plain",
            content: b"nothing here",
        }],
    );
    let report = scan("named.eml", &mail);
    assert_eq!(
        keys_found(&report),
        vec![k.expose().to_owned()],
        "{}",
        notes(&report)
    );
    let shown = format!(
        "{:?} {}",
        found(&report).iter().map(|(_, l)| l).collect::<Vec<_>>(),
        notes(&report)
    );
    assert!(!shown.contains(k.expose()), "{shown}");
}

#[test]
fn every_message_of_an_mbox_is_read() {
    let (first, second) = (key("bos"), key("bos"));
    let one = formats::email("one", &format!("a={}", first.expose()), &[]);
    let two = formats::email(
        "two",
        "nothing",
        &[Attachment {
            name: "creds.txt",
            mime: "text/plain",
            content: format!("KEY={}\n", second.expose()).as_bytes(),
        }],
    );
    let report = scan("Inbox", &formats::mbox(&[one, two]));
    assert_eq!(
        found_sorted(&report),
        sorted(vec![
            (
                first.expose().to_owned(),
                "message 1!body.txt:1:3".to_owned(),
            ),
            (
                second.expose().to_owned(),
                "message 2!creds.txt:1:5".to_owned(),
            ),
        ]),
        "{}",
        notes(&report)
    );
}

#[test]
fn email_look_alikes_report_nothing() {
    let k = key("bos");
    let fake = look_alike(&k);
    let docx = fixtures::docx(&[vec![&fake]]).unwrap();
    let mail = formats::email(
        &fake,
        &format!("api_key={fake}"),
        &[Attachment {
            name: "a.docx",
            mime: "application/octet-stream",
            content: &docx,
        }],
    );
    let report = scan("fake.eml", &mail);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn a_huge_base64_part_is_cut_and_the_next_attachment_still_scanned() {
    let (early, after) = (key("bos"), key("bos"));
    let mut huge = format!("{}\n", early.expose()).into_bytes();
    huge.extend(std::iter::repeat_n(b'.', 3 * MIB as usize));
    let mail = formats::email(
        "big",
        "see attached",
        &[
            Attachment {
                name: "dump.txt",
                mime: "text/plain",
                content: &huge,
            },
            Attachment {
                name: "after.txt",
                mime: "text/plain",
                content: after.expose().as_bytes(),
            },
        ],
    );
    let report = scan_named(&small_limits(), "big.eml", &mail);
    assert_eq!(
        keys_found(&report),
        sorted(vec![early.expose().to_owned(), after.expose().to_owned()]),
        "{}",
        notes(&report)
    );
    assert_noted(&report, "big.eml!dump.txt error unpacks to more than 2 MiB");
}

// ---- gzip and tar ----

#[test]
fn a_rotated_log_is_found_at_its_line() {
    let k = key("bos_live");
    let log = format!("10:00 start\n10:01 GET /x?api_key={} 200\n", k.expose());
    // Two members, as `cat app.log.1.gz more.gz` or logrotate's delaycompress can give.
    let mut gz = formats::gzip("app.log.1", log.as_bytes()).unwrap();
    gz.extend(formats::gzip("app.log.1", b"10:02 stop\n").unwrap());
    let report = scan("app.log.1.gz", &gz);
    assert_eq!(
        found(&report),
        vec![(k.expose().to_owned(), "2:22".to_owned())]
    );
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn a_truncated_gzip_is_noted_and_scanned_as_far_as_it_goes() {
    let k = key("bos");
    let mut log = format!("token={}\n", k.expose()).into_bytes();
    // Incompressible filler, so that cutting the file cuts the content, not the header.
    let mut state = 0x2545_F491_u32;
    log.extend((0..256 * 1024).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        b'a' + (state % 26) as u8
    }));
    let gz = formats::gzip("app.log", &log).unwrap();
    let cut = &gz[..gz.len() / 2];
    let report = scan("app.log.gz", cut);
    assert_eq!(
        found(&report),
        vec![(k.expose().to_owned(), "1:7".to_owned())]
    );
    assert!(report.has_errors());
    assert_noted(&report, "app.log.gz error corrupt or truncated");
    // Cut inside the header: nothing to scan, one note.
    let report = scan("app.log.gz", &gz[..12]);
    assert!(report.findings.is_empty());
    assert_eq!(report.notes.len(), 1, "{}", notes(&report));
}

#[test]
fn tar_and_tar_gz_entries_are_read_with_their_paths() {
    let (in_env, in_docx) = (key("bos"), key("acme"));
    let docx = fixtures::docx(&[vec![in_docx.expose()]]).unwrap();
    let tar = formats::tar(&[
        (
            "backup/app/.env",
            format!("KEY={}\n", in_env.expose()).as_bytes(),
        ),
        ("backup/docs/handover.docx", &docx),
        ("backup/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0"),
    ])
    .unwrap();
    let expected = sorted(vec![
        (in_env.expose().to_owned(), "backup/app/.env:1:5".to_owned()),
        (
            in_docx.expose().to_owned(),
            "backup/docs/handover.docx!word/document.xml".to_owned(),
        ),
    ]);
    for (name, bytes) in [
        ("backup.tar", tar.clone()),
        ("backup.tgz", formats::gzip("backup.tar", &tar).unwrap()),
    ] {
        let report = scan(name, &bytes);
        assert_eq!(
            found_sorted(&report),
            expected,
            "{name}: {}",
            notes(&report)
        );
        assert!(report.notes.is_empty(), "{name}: {}", notes(&report));
    }
}

#[test]
fn gzip_and_tar_look_alikes_report_nothing() {
    let fake = look_alike(&key("bos"));
    let tar = formats::tar(&[("a.txt", fake.as_bytes())]).unwrap();
    let gz = formats::gzip("backup.tar", &tar).unwrap();
    let report = scan("backup.tar.gz", &gz);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    assert!(report.notes.is_empty(), "{}", notes(&report));
}

#[test]
fn a_gzip_bomb_is_cut_at_the_entry_limit() {
    let k = key("bos");
    let mut content = format!("{}\n", k.expose()).into_bytes();
    content.extend(std::iter::repeat_n(b' ', 64 * MIB as usize));
    let bomb = formats::gzip("huge.log", &content).unwrap();
    assert!(bomb.len() < 200 * 1024, "compressed to {}", bomb.len());
    let report = scan_named(&small_limits(), "huge.log.gz", &bomb);
    assert_eq!(
        found(&report),
        vec![(k.expose().to_owned(), "1:1".to_owned())]
    );
    assert_noted(&report, "huge.log.gz error unpacks to more than 2 MiB");
}

#[test]
fn a_huge_tar_entry_is_cut_and_the_entries_after_it_read_within_the_budget() {
    let (early, after) = (key("bos"), key("bos"));
    let mut huge = format!("{}\n", early.expose()).into_bytes();
    huge.extend(std::iter::repeat_n(b' ', 5 * MIB as usize));
    let tar = formats::tar(&[
        ("huge.log", &huge),
        ("after.env", after.expose().as_bytes()),
    ])
    .unwrap();
    let tgz = formats::gzip("backup.tar", &tar).unwrap();
    // 5 MiB skipped fits the 8 MiB budget: the entry after is read.
    let report = scan_named(&small_limits(), "backup.tgz", &tgz);
    assert_eq!(
        keys_found(&report),
        sorted(vec![early.expose().to_owned(), after.expose().to_owned()]),
        "{}",
        notes(&report)
    );
    assert!(notes(&report).contains("backup.tgz!huge.log error unpacks to more than 2 MiB"));
    // With a 4 MiB budget, skipping the rest of the entry would spend more: reading stops
    // there, with a note, having pulled no more than the budget through the decompressor.
    let tight = Scanner::new(Limits {
        max_unpacked_bytes: 4 * MIB,
        max_entry_bytes: 2 * MIB,
        ..Limits::default()
    })
    .unwrap();
    let report = scan_named(&tight, "backup.tgz", &tgz);
    assert_eq!(
        found(&report)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec![early.expose().to_owned()]
    );
    assert_noted(&report, "entries after the first 1 not scanned");
}

#[test]
fn a_gzip_nested_past_the_depth_limit_is_not_opened() {
    let k = key("bos");
    let mut blob = k.expose().as_bytes().to_vec();
    for _ in 0..6 {
        blob = formats::gzip("x", &blob).unwrap();
    }
    let report = scan("deep.gz", &blob);
    assert!(report.findings.is_empty());
    assert_noted(&report, "nested more than 4 deep");
}

// ---- spreadsheet comments ----

#[test]
fn keys_in_xlsx_comments_and_drawings_are_not_glued_to_their_anchors() {
    let (in_comment, in_threaded, in_shape) = (key("bos"), key("bos"), key("bos"));
    let comments = format!(
        r#"<comments><authors><author>Alice</author></authors><commentList><comment ref="B2" authorId="0"><text><r><t>{}</t></r></text></comment></commentList></comments>"#,
        in_comment.expose()
    );
    let threaded = format!(
        r#"<ThreadedComments><threadedComment ref="A1" id="{{1}}"><text>{}</text></threadedComment><threadedComment ref="A2" id="{{2}}"><text>9</text></threadedComment></ThreadedComments>"#,
        in_threaded.expose()
    );
    let drawing = format!(
        r#"<xdr:wsDr><xdr:twoCellAnchor><xdr:sp><xdr:txBody><a:p><a:r><a:t>{}</a:t></a:r></a:p></xdr:txBody></xdr:sp><xdr:from><xdr:col>1</xdr:col><xdr:colOff>0</xdr:colOff></xdr:from></xdr:twoCellAnchor></xdr:wsDr>"#,
        in_shape.expose()
    );
    let xlsx = fixtures::zip(&[
        ("xl/comments1.xml", comments.as_bytes()),
        (
            "xl/threadedComments/threadedComment1.xml",
            threaded.as_bytes(),
        ),
        ("xl/drawings/drawing1.xml", drawing.as_bytes()),
    ])
    .unwrap();
    let report = scan("book.xlsx", &xlsx);
    let got: Vec<String> = found(&report).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        vec![
            in_comment.expose().to_owned(),
            in_threaded.expose().to_owned(),
            in_shape.expose().to_owned()
        ]
    );
}

// ---- fuzzing: no input panics a reader ----

fn behind(magic: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut input = magic.to_vec();
    input.extend_from_slice(bytes);
    input
}

proptest! {
    #[test]
    fn fuzz_bytes_behind_each_formats_magic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        for magic in [
            &b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"[..],
            b"\x1F\x8B\x08",
            b"%PDF-1.7\n",
            b"From a@b Thu Dec  3 10:00:00 2026\nFrom: a@b\n",
            b"From: a@b\r\nTo: c@d\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        ] {
            let _ = scan("fuzz.eml", &behind(magic, &bytes));
        }
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        let _ = scan("fuzz.tar", &behind(&tar, &bytes));
    }

    #[test]
    fn fuzz_mutated_documents(which in 0..5usize, flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let k = key("bos");
        let mut doc = match which {
            0 => formats::ole(&[("WordDocument", &word_stream(k.expose()))]).unwrap(),
            1 => formats::pdf(&[PdfPage { lines: vec![vec![k.expose()]], links: vec![k.expose()] }]).unwrap(),
            2 => formats::email("s", k.expose(), &[Attachment { name: "a.txt", mime: "text/plain", content: k.expose().as_bytes() }]),
            3 => formats::gzip("a", &formats::tar(&[("a.txt", k.expose().as_bytes())]).unwrap()).unwrap(),
            _ => formats::tar(&[("a.txt", k.expose().as_bytes())]).unwrap(),
        };
        for (at, byte) in flips {
            let i = at.index(doc.len());
            doc[i] = byte;
        }
        let _ = scan("mutated.eml", &doc);
    }
}

// ---- documents written by LibreOffice (tests/documents/make-documents) ----

fn document(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/documents")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixed(label: &str) -> String {
    formats::fixed_key("fixture", label)
}

#[test]
fn real_legacy_office_and_pdf_documents_give_up_every_key() {
    for (name, labels) in [
        (
            "keys.doc",
            &["WriterBody", "WriterComment", "WriterLink"][..],
        ),
        ("keys.pdf", &["WriterBody", "WriterLink"][..]),
        ("keys.xls", &["CalcCell", "CalcNote"][..]),
        ("keys.ppt", &["ImpressSlide", "ImpressComment"][..]),
    ] {
        let report = scan(name, &document(name));
        let mut got = keys_found(&report);
        got.dedup();
        assert_eq!(
            got,
            sorted(labels.iter().map(|l| fixed(l)).collect()),
            "{name}: {:?} {}",
            found(&report),
            notes(&report)
        );
        assert!(report.notes.is_empty(), "{name}: {}", notes(&report));
    }
}

#[test]
fn real_documents_with_look_alikes_report_nothing() {
    for name in [
        "look-alikes.doc",
        "look-alikes.pdf",
        "look-alikes.xls",
        "look-alikes.ppt",
    ] {
        let report = scan(name, &document(name));
        assert!(report.findings.is_empty(), "{name}: {:?}", found(&report));
        assert!(report.notes.is_empty(), "{name}: {}", notes(&report));
    }
}
