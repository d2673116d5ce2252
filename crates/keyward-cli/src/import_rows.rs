//! Reading the rows of `keyward import`: JSON lines or CSV with the same fields (`key` or
//! `digest`, `start`, `name`, `description`, `owner_id`, `permissions`, `expires_at`,
//! `enabled`, `metadata`; docs/import.md), each into the wire's `ImportKey` or a reason it
//! cannot be one. Reasons name the field and never quote a value (a value may be a key).

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use keyward_api::ImportKey;
use serde_json::{Map, Value};
use std::io::BufRead;

/// How the `digest` field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DigestEncoding {
    /// 64 hexadecimal characters.
    Hex,
    /// Base64, standard (Unkey) or URL-safe (better-auth), with or without padding.
    Base64,
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header row naming the fields, then one key per row.
    Csv,
}

/// One row: its line number, and the key or why it is refused.
pub struct Row {
    pub line: u64,
    pub key: Result<ImportKey, String>,
}

/// Every row of `reader`, in order; a file that cannot be read at all is an error.
pub fn read(
    reader: impl BufRead,
    format: Format,
    digest: DigestEncoding,
) -> anyhow::Result<Vec<Row>> {
    match format {
        Format::Jsonl => read_jsonl(reader, digest),
        Format::Csv => read_csv(reader, digest),
    }
}

fn read_jsonl(reader: impl BufRead, digest: DigestEncoding) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (index, line) in reader.split(b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let bytes = line?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text.trim(),
            Err(_) => {
                rows.push(Row {
                    line: line_number,
                    key: Err("the line is not UTF-8".into()),
                });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let key = match serde_json::from_str::<Value>(text) {
            // serde_json's syntax errors give a position, never the text.
            Err(e) => Err(format!("not valid JSON (column {})", e.column())),
            Ok(Value::Object(fields)) => {
                let fields = fields
                    .into_iter()
                    .map(|(name, value)| (name, Field::Json(value)));
                import_key(fields, digest)
            }
            Ok(_) => Err("the line is not a JSON object".into()),
        };
        rows.push(Row {
            line: line_number,
            key,
        });
    }
    Ok(rows)
}

fn read_csv(reader: impl BufRead, digest: DigestEncoding) -> anyhow::Result<Vec<Row>> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv.headers()?.clone();
    let mut rows = Vec::new();
    for record in csv.records() {
        let (line, key) = match record {
            Ok(record) => {
                let line = record.position().map_or(0, csv::Position::line);
                let fields = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, value)| !value.is_empty())
                    .map(|(name, value)| (name.trim().to_owned(), Field::Text(value.to_owned())));
                (line, import_key(fields, digest))
            }
            // The csv crate's messages name positions and counts, not field contents.
            Err(e) => (
                e.position().map_or(0, csv::Position::line),
                Err(match e.kind() {
                    csv::ErrorKind::UnequalLengths { .. } => {
                        "the row has a different number of fields than the header".to_owned()
                    }
                    csv::ErrorKind::Utf8 { .. } => "the row is not UTF-8".to_owned(),
                    _ => "the row cannot be read as CSV".to_owned(),
                }),
            ),
        };
        rows.push(Row { line, key });
    }
    Ok(rows)
}

/// A field's value: JSON from a JSON line, text from a CSV cell.
enum Field {
    Json(Value),
    Text(String),
}

impl Field {
    fn text(self, name: &str) -> Result<String, String> {
        match self {
            Self::Text(text) | Self::Json(Value::String(text)) => Ok(text),
            Self::Json(_) => Err(format!("{name} must be a string")),
        }
    }

    /// A list: a JSON array of strings, or text separated by spaces or commas.
    fn list(self, name: &str) -> Result<Vec<String>, String> {
        let split = |text: &str| {
            text.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match self {
            Self::Text(text) | Self::Json(Value::String(text)) => Ok(split(&text)),
            Self::Json(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(format!("{name} must hold strings")),
                })
                .collect(),
            Self::Json(_) => Err(format!("{name} must be a list of strings")),
        }
    }

    fn boolean(self, name: &str) -> Result<bool, String> {
        match self {
            Self::Json(Value::Bool(value)) => Ok(value),
            Self::Text(text) | Self::Json(Value::String(text)) => {
                match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Ok(true),
                    "false" | "0" | "no" => Ok(false),
                    _ => Err(format!("{name} must be true or false")),
                }
            }
            Self::Json(_) => Err(format!("{name} must be true or false")),
        }
    }

    /// An object: JSON, or text holding JSON (a CSV cell, or a database's JSON column).
    fn object(self, name: &str) -> Result<Map<String, Value>, String> {
        let value = match self {
            Self::Json(Value::String(text)) | Self::Text(text) => {
                serde_json::from_str(&text).map_err(|_| format!("{name} must be a JSON object"))?
            }
            Self::Json(value) => value,
        };
        match value {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            _ => Err(format!("{name} must be a JSON object")),
        }
    }

    /// A time: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]` (a database's datetime) as UTC, or
    /// Unix milliseconds.
    fn time(self, name: &str) -> Result<DateTime<Utc>, String> {
        let bad =
            || format!("{name} must be an RFC 3339 time, a UTC datetime or Unix milliseconds");
        let text = match self {
            Self::Json(Value::Number(n)) => {
                return n
                    .as_i64()
                    .and_then(DateTime::from_timestamp_millis)
                    .ok_or_else(bad)
            }
            Self::Text(text) | Self::Json(Value::String(text)) => text,
            Self::Json(_) => return Err(bad()),
        };
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
            return Ok(at.and_utc());
        }
        text.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(bad)
    }
}

/// The wire key for one row's fields.
fn import_key(
    fields: impl Iterator<Item = (String, Field)>,
    digest_encoding: DigestEncoding,
) -> Result<ImportKey, String> {
    let mut key = ImportKey::default();
    let mut named = false;
    for (name, value) in fields {
        if matches!(value, Field::Json(Value::Null)) {
            continue;
        }
        match name.as_str() {
            "key" => key.key = Some(value.text("key")?),
            "digest" => key.digest = Some(hex_digest(&value.text("digest")?, digest_encoding)?),
            "start" => key.start = Some(value.text("start")?),
            "name" => {
                key.name = value.text("name")?;
                named = true;
            }
            "description" => key.description = Some(value.text("description")?),
            "owner_id" => key.owner_id = Some(value.text("owner_id")?),
            "permissions" => key.permissions = value.list("permissions")?,
            "expires_at" => key.expires_at = Some(value.time("expires_at")?),
            "enabled" => key.enabled = Some(value.boolean("enabled")?),
            "metadata" => key.metadata = Some(value.object("metadata")?),
            other => {
                return Err(format!(
                    "unknown field {:?} (see docs/import.md)",
                    crate::output::one_line(other)
                ))
            }
        }
    }
    match (&key.key, &key.digest) {
        (None, None) => return Err("the row has neither key nor digest".into()),
        (Some(_), Some(_)) => return Err("the row has both key and digest; give one".into()),
        _ => {}
    }
    if !named {
        return Err("the row has no name".into());
    }
    Ok(key)
}

/// A digest as the 64 hexadecimal characters the server takes.
fn hex_digest(text: &str, encoding: DigestEncoding) -> Result<String, String> {
    let text = text.trim();
    let bytes = match encoding {
        DigestEncoding::Hex => hex::decode(text).map_err(|_| "digest is not hexadecimal")?,
        DigestEncoding::Base64 => {
            let unpadded = text.trim_end_matches('=');
            let engine = if unpadded.contains(['-', '_']) {
                URL_SAFE_NO_PAD
            } else {
                STANDARD_NO_PAD
            };
            engine
                .decode(unpadded)
                .map_err(|_| "digest is not base64")?
        }
    };
    if bytes.len() != 32 {
        return Err("digest is not a SHA-256 digest (32 bytes)".into());
    }
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn digest_of(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }

    #[test]
    fn unkey_and_better_auth_digests_decode_to_the_same_hex() {
        let raw = digest_of("an imported key 0123456789");
        let expected = hex::encode(raw);
        // Unkey: standard base64 with padding; better-auth: URL-safe without.
        let unkey = base64::engine::general_purpose::STANDARD.encode(raw);
        let better_auth = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(
            hex_digest(&unkey, DigestEncoding::Base64).unwrap(),
            expected
        );
        assert_eq!(
            hex_digest(&better_auth, DigestEncoding::Base64).unwrap(),
            expected
        );
        assert_eq!(
            hex_digest(&expected.to_uppercase(), DigestEncoding::Hex).unwrap(),
            expected
        );
        assert!(hex_digest("abcd", DigestEncoding::Hex).is_err());
        assert!(hex_digest(&unkey, DigestEncoding::Hex).is_err());
    }

    #[test]
    fn jsonl_and_csv_rows_read_alike_and_refusals_never_quote_a_value() {
        let secret = "sk_live_never_in_a_message_12345";
        let jsonl = format!(
            "{{\"key\": \"{secret}\", \"name\": \"Stripe Sync\", \"permissions\": [\"a:b\"], \"expires_at\": \"2099-01-01T00:00:00Z\"}}\n\
             \n\
             {{\"key\": \"{secret}\", \"digest\": \"00\", \"name\": \"x\"}}\n\
             {{\"key\": {{\"nested\": \"{secret}\"}}, \"name\": \"x\"}}\n\
             {{\"key\": \"{secret}\"\n\
             [\"{secret}\"]\n"
        );
        let rows = read(jsonl.as_bytes(), Format::Jsonl, DigestEncoding::Hex).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1, 3, 4, 5, 6]
        );
        let first = rows[0].key.as_ref().unwrap();
        assert_eq!(first.key.as_deref(), Some(secret));
        assert_eq!(first.permissions, ["a:b"]);
        for row in &rows[1..] {
            let reason = row.key.as_ref().err().unwrap();
            assert!(!reason.contains("never_in"), "line {}: {reason}", row.line);
        }

        let csv = format!(
            "name,key,permissions,enabled,metadata,expires_at\n\
             Stripe Sync,{secret},a:b c:d,false,\"{{\"\"team\"\":\"\"ops\"\"}}\",2099-01-01 00:00:00\n\
             Broken,{secret},a:b,maybe,,\n"
        );
        let rows = read(csv.as_bytes(), Format::Csv, DigestEncoding::Hex).unwrap();
        let first = rows[0].key.as_ref().unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(first.permissions, ["a:b", "c:d"]);
        assert_eq!(first.enabled, Some(false));
        assert_eq!(first.metadata.as_ref().unwrap()["team"], "ops");
        assert_eq!(rows[1].line, 3);
        assert_eq!(
            rows[1].key.as_ref().err().unwrap(),
            "enabled must be true or false"
        );
    }
}
