//! Generates the benchmark corpus for `scripts/bench-scan`: plain-text files (code, config,
//! notes) and Office documents, with a few real keys and many look-alikes.
//!
//! `cargo run --release -p keyward-scan --example gen-corpus -- DIR TEXT_FILES OFFICE_FILES`

use keyward_core::{ApiKey, KeyPrefix};
use keyward_scan::fixtures;
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
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let keys: Vec<String> = (0..20)
        .map(|i| {
            let prefix = KeyPrefix::parse(if i % 2 == 0 { "bos" } else { "bos_live" })?;
            Ok(ApiKey::generate(&prefix)?.expose().to_owned())
        })
        .collect::<Result<_, keyward_core::KeyFormatError>>()?;
    std::fs::create_dir_all(dir.join("text"))?;
    std::fs::create_dir_all(dir.join("office"))?;
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
    Ok(())
}
