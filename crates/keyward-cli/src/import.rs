//! `keyward import FILE --format jsonl|csv [--digest hex|base64]`: keys another system
//! issued, sent to `POST /v1/keys/import` in batches (the server hashes plaintext keys on
//! arrival and keeps only digests). Progress goes to stderr after each batch; at the end,
//! every refused row with its line number and reason (never the key), and the counts.
//! Re-running the same file imports nothing twice: known digests are counted as skipped.
//! Exit status 0 when no row was refused, 1 when some were, 2 on an error.

use crate::connect::{self, Explained};
use crate::exit::{fail, EXIT_NOT_VALID};
use crate::import_rows::{self, DigestEncoding, Format, Row};
use crate::output;
use crate::ClientArgs;
use anyhow::{Context, Result};
use keyward_api::{ImportKey, ImportKeysRequest, ImportResult, MAX_IMPORT_BATCH};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keys per request, and the JSON bytes a batch stops growing at (the server takes bodies
/// of at most 64 KiB).
const BATCH_KEYS: usize = if MAX_IMPORT_BATCH < 100 {
    MAX_IMPORT_BATCH
} else {
    100
};
const BATCH_BYTES: usize = 48 * 1024;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file of keys (docs/import.md describes its fields)
    pub file: PathBuf,
    /// The file's format
    #[arg(long, value_enum)]
    pub format: Format,
    /// How the `digest` field is encoded (rows with `key` give the plaintext instead)
    #[arg(long, value_enum, default_value = "hex")]
    pub digest: DigestEncoding,
}

/// What the import did, for the summary.
#[derive(Default, serde::Serialize)]
struct Summary {
    rows: u64,
    imported: u64,
    skipped: u64,
    refused: Vec<Refusal>,
}

#[derive(serde::Serialize)]
struct Refusal {
    line: u64,
    reason: String,
}

pub async fn run_import(client: &ClientArgs, args: ImportArgs) -> ExitCode {
    match import(client, args).await {
        Ok(summary) if summary.refused.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(EXIT_NOT_VALID),
        Err(err) => fail(&err),
    }
}

async fn import(args: &ClientArgs, import: ImportArgs) -> Result<Summary> {
    let file = std::fs::File::open(&import.file)
        .with_context(|| format!("cannot open {}", import.file.display()))?;
    let rows = import_rows::read(BufReader::new(file), import.format, import.digest)
        .with_context(|| format!("cannot read {}", import.file.display()))?;
    let client = connect::client(args)?;
    let mut summary = Summary {
        rows: rows.len() as u64,
        ..Summary::default()
    };
    let mut batch: Vec<(u64, ImportKey)> = Vec::new();
    let mut batch_bytes = 0;
    for Row { line, key } in rows {
        match key {
            Err(reason) => summary.refused.push(Refusal { line, reason }),
            Ok(key) => {
                let size = serde_json::to_vec(&key).map_or(0, |json| json.len());
                if !batch.is_empty() && batch_bytes + size > BATCH_BYTES {
                    send(&client, std::mem::take(&mut batch), &mut summary).await?;
                    batch_bytes = 0;
                }
                batch_bytes += size;
                batch.push((line, key));
                if batch.len() == BATCH_KEYS {
                    send(&client, std::mem::take(&mut batch), &mut summary).await?;
                    batch_bytes = 0;
                }
            }
        }
    }
    if !batch.is_empty() {
        send(&client, batch, &mut summary).await?;
    }
    summary.refused.sort_by_key(|refusal| refusal.line);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for refusal in &summary.refused {
            println!(
                "line {}: refused: {}",
                refusal.line,
                output::one_line(&refusal.reason)
            );
        }
        println!(
            "{} rows: {} imported, {} skipped (already imported), {} refused",
            summary.rows,
            summary.imported,
            summary.skipped,
            summary.refused.len()
        );
    }
    Ok(summary)
}

/// Sends one batch and counts its results; progress on stderr.
async fn send(
    client: &keyward_client::Client,
    batch: Vec<(u64, ImportKey)>,
    summary: &mut Summary,
) -> Result<()> {
    let (lines, keys): (Vec<u64>, Vec<ImportKey>) = batch.into_iter().unzip();
    let reply = client
        .import_keys(&ImportKeysRequest { keys })
        .await
        .explained()?;
    anyhow::ensure!(
        reply.value.results.len() == lines.len(),
        "the server answered {} results for {} keys",
        reply.value.results.len(),
        lines.len()
    );
    for (line, result) in lines.into_iter().zip(reply.value.results) {
        match result {
            ImportResult::Imported { .. } => summary.imported += 1,
            ImportResult::Skipped => summary.skipped += 1,
            ImportResult::Refused { reason } => summary.refused.push(Refusal { line, reason }),
        }
    }
    eprintln!(
        "import: {} imported, {} skipped, {} refused of {} rows",
        summary.imported,
        summary.skipped,
        summary.refused.len(),
        summary.rows
    );
    Ok(())
}
