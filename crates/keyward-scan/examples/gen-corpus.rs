//! Generates the benchmark corpus for `scripts/bench-scan`: plain-text files (code, config,
//! notes), Office documents, and other formats (legacy Office, PDF, email, gzip logs, tar.gz
//! backups), with a few real keys and many look-alikes.
//!
//! `cargo run --release -p keyward-scan --example gen-corpus -- DIR TEXT_FILES OFFICE_FILES [OTHER_FILES]`

use keyward_core::{ApiKey, KeyPrefix};
use keyward_scan::fixtures;
use keyward_scan::fixtures::formats::{self, Attachment, PdfPage};
use std::path::PathBuf;

/// xorshift64*: deterministic, so every run scans the same kind of text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "invoice",
    "payroll",
    "export",
    "the",
    "key",
    "config",
    "stripe",
    "xero",
    "customer",
    "let",
    "fn",
    "return",
    "api_key",
    "token",
    "=",
    "{",
    "}",
    "integration",
    "monthly",
    "report",
    "handover",
    "secret_manager",
    "TODO:",
    "2026-11-28",
    "user_id",
    "42",
    "async",
];

fn line(rng: &mut Rng, keys: &[String]) -> String {
    let mut out = String::new();
    for _ in 0..(4 + rng.below(10)) {
        out.push_str(WORDS[rng.below(WORDS.len())]);
        out.push(' ');
    }
    match rng.below(200) {
        0 => out.push_str(&keys[rng.below(keys.len())]),
        1..=4 => {
            // A look-alike: right shape, wrong checksum.
            let mut fake = keys[rng.below(keys.len())].clone();
            fake.pop();
            fake.push('Z');
            out.push_str(&fake);
        }
        _ => {}
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: gen-corpus DIR TEXT OFFICE")?);
    let text_files: usize = args.next().ok_or("TEXT missing")?.parse()?;
    let office_files: usize = args.next().ok_or("OFFICE missing")?.parse()?;
    let other_files: usize = args.next().map_or(Ok(0), |n| n.parse())?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let keys: Vec<String> = (0..20)
        .map(|i| {
            let prefix = KeyPrefix::parse(if i % 2 == 0 { "bos" } else { "bos_live" })?;
            Ok(ApiKey::generate(&prefix)?.expose().to_owned())
        })
        .collect::<Result<_, keyward_core::KeyFormatError>>()?;
    std::fs::create_dir_all(dir.join("text"))?;
    std::fs::create_dir_all(dir.join("office"))?;
    std::fs::create_dir_all(dir.join("other"))?;
    for i in 0..text_files {
        let mut text = String::new();
        while text.len() < 128 * 1024 {
            text.push_str(&line(&mut rng, &keys));
            text.push('\n');
        }
        std::fs::write(dir.join(format!("text/file{i:05}.txt")), text)?;
    }
    for i in 0..office_files {
        let lines: Vec<String> = (0..600).map(|_| line(&mut rng, &keys)).collect();
        if i % 2 == 0 {
            let paragraphs: Vec<Vec<&str>> = lines
                .iter()
                .map(|l| {
                    let (a, b) = l.split_at(l.len() / 2);
                    vec![a, b]
                })
                .collect();
            std::fs::write(
                dir.join(format!("office/doc{i:05}.docx")),
                fixtures::docx(&paragraphs)?,
            )?;
        } else {
            let cells: Vec<&str> = lines.iter().map(String::as_str).collect();
            std::fs::write(
                dir.join(format!("office/sheet{i:05}.xlsx")),
                fixtures::xlsx(&cells)?,
            )?;
        }
    }
    for i in 0..other_files {
        let lines: Vec<String> = (0..600).map(|_| line(&mut rng, &keys)).collect();
        let (name, bytes) = other_file(i, &lines)?;
        std::fs::write(dir.join("other").join(name), bytes)?;
    }
    Ok(())
}

/// The `i`th file of the other formats, in turn, holding `lines`.
fn other_file(i: usize, lines: &[String]) -> Result<(String, Vec<u8>), Box<dyn std::error::Error>> {
    let text = lines.join("\n");
    Ok(match i % 5 {
        0 => {
            // Word 97 stores text as UTF-16LE with carriage returns between paragraphs.
            let body = formats::utf16le(&lines.join("\r"));
            (
                format!("doc{i:05}.doc"),
                formats::ole(&[("WordDocument", &body)])?,
            )
        }
        1 => {
            let pages: Vec<PdfPage> = lines
                .chunks(50)
                .map(|chunk| PdfPage {
                    lines: chunk
                        .iter()
                        .map(|l| {
                            let (a, b) = l.split_at(l.len() / 2);
                            vec![a, b]
                        })
                        .collect(),
                    links: vec![],
                })
                .collect();
            (format!("pdf{i:05}.pdf"), formats::pdf(&pages)?)
        }
        2 => {
            let (body, attached) = lines.split_at(lines.len() / 2);
            let attached = attached.join("\n");
            let mail = formats::email(
                "handover",
                &body.join("\n"),
                &[Attachment {
                    name: "notes.txt",
                    mime: "text/plain",
                    content: attached.as_bytes(),
                }],
            );
            (format!("mail{i:05}.eml"), mail)
        }
        3 => (
            format!("app{i:05}.log.1.gz"),
            formats::gzip("app.log.1", text.as_bytes())?,
        ),
        _ => {
            let (a, b) = lines.split_at(lines.len() / 2);
            let tar = formats::tar(&[
                ("backup/app.env", a.join("\n").as_bytes()),
                ("backup/notes.txt", b.join("\n").as_bytes()),
            ])?;
            (
                format!("backup{i:05}.tgz"),
                formats::gzip("backup.tar", &tar)?,
            )
        }
    })
}
