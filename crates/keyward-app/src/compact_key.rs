//! A key record as the index holds it: its texts (id, name, display start, description,
//! owner, revocation reason, replacement, metadata as JSON) in one allocation, each behind its
//! length; its workspace and permission set as numbers into the index's interners; its
//! restrictions boxed only when it has any. A million typical keys fit in a few hundred
//! bytes each, where the full `KeyRecord` behind an `Arc` took three to four times that.

use crate::interner::InternId;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, KeyRecord, Permission, Restrictions};

pub(crate) struct CompactKey {
    pub(crate) hash: KeyHash,
    /// The texts in `TEXT_FIELDS` order, each as a LEB128 tag (0: absent, n: n - 1 bytes
    /// follow) and its UTF-8 bytes.
    text: Box<[u8]>,
    pub(crate) workspace: InternId,
    pub(crate) permissions: InternId,
    /// `None` for a key restricted by nothing, as most are.
    restrictions: Option<Box<Restrictions>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    pub(crate) imported: bool,
    enabled: bool,
}

/// The texts of a key, in the order they are stored.
struct Texts<'a> {
    id: &'a str,
    name: &'a str,
    start: &'a str,
    description: Option<&'a str>,
    owner_id: Option<&'a str>,
    revoked_reason: Option<&'a str>,
    replaced_by: Option<&'a str>,
    /// The metadata object as compact JSON; absent when empty.
    metadata: Option<&'a str>,
}

impl CompactKey {
    /// `record` with its workspace and permission set already interned.
    pub(crate) fn new(record: KeyRecord, workspace: InternId, permissions: InternId) -> Self {
        let metadata = (!record.metadata.is_empty())
            .then(|| serde_json::Value::Object(record.metadata).to_string());
        let texts = [
            Some(record.id.as_str()),
            Some(record.name.as_str()),
            Some(record.start.as_str()),
            record.description.as_deref(),
            record.owner_id.as_deref(),
            record.revoked_reason.as_deref(),
            record.replaced_by.as_deref(),
            metadata.as_deref(),
        ];
        let restrictions =
            (record.restrictions != Restrictions::default()).then(|| Box::new(record.restrictions));
        Self {
            hash: record.hash,
            text: encode(&texts),
            workspace,
            permissions,
            restrictions,
            created_at: record.created_at,
            updated_at: record.updated_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            imported: record.imported,
            enabled: record.enabled,
        }
    }

    /// The full record, given the interned values this key names.
    pub(crate) fn record(&self, workspace_id: &str, permissions: &[Permission]) -> KeyRecord {
        let texts = self.texts();
        let metadata = texts.metadata.map_or_else(Default::default, |json| {
            serde_json::from_str(json).unwrap_or_else(|error| {
                // Only this file writes the text, from a map serde_json serialized.
                tracing::error!(%error, "a key's metadata in the index did not read back");
                Default::default()
            })
        });
        KeyRecord {
            id: texts.id.to_owned(),
            workspace_id: workspace_id.to_owned(),
            name: texts.name.to_owned(),
            description: texts.description.map(str::to_owned),
            owner_id: texts.owner_id.map(str::to_owned),
            hash: self.hash,
            start: texts.start.to_owned(),
            imported: self.imported,
            permissions: permissions.to_vec(),
            enabled: self.enabled,
            expires_at: self.expires_at,
            metadata,
            created_at: self.created_at,
            updated_at: self.updated_at,
            revoked_at: self.revoked_at,
            revoked_reason: texts.revoked_reason.map(str::to_owned),
            replaced_by: texts.replaced_by.map(str::to_owned),
            restrictions: self.restrictions.as_deref().cloned().unwrap_or_default(),
        }
    }

    /// The key's id, read without building the record.
    pub(crate) fn id(&self) -> &str {
        self.texts().id
    }

    /// Bytes this key holds outside its slot (its texts and restrictions).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.len()
            + self
                .restrictions
                .as_deref()
                .map_or(0, restrictions_heap_bytes)
    }

    fn texts(&self) -> Texts<'_> {
        let mut fields = Fields(&self.text);
        Texts {
            id: fields.next().unwrap_or_default(),
            name: fields.next().unwrap_or_default(),
            start: fields.next().unwrap_or_default(),
            description: fields.next(),
            owner_id: fields.next(),
            revoked_reason: fields.next(),
            replaced_by: fields.next(),
            metadata: fields.next(),
        }
    }
}

fn restrictions_heap_bytes(restrictions: &Restrictions) -> usize {
    size_of::<Restrictions>()
        + restrictions.ip_allowlist.capacity() * size_of::<keyward_core::IpRange>()
        + restrictions.origin_allowlist.capacity() * size_of::<keyward_core::Origin>()
        + restrictions
            .origin_allowlist
            .iter()
            .map(|origin| origin.to_string().len())
            .sum::<usize>()
}

fn encode(texts: &[Option<&str>]) -> Box<[u8]> {
    let size = texts
        .iter()
        .map(|text| {
            let len = text.map_or(0, str::len);
            tag_len(text.map_or(0, |_| len + 1)) + len
        })
        .sum();
    let mut out = Vec::with_capacity(size);
    for text in texts {
        let mut tag = text.map_or(0, |t| t.len() + 1);
        loop {
            let low = (tag & 0x7f) as u8;
            tag >>= 7;
            if tag == 0 {
                out.push(low);
                break;
            }
            out.push(low | 0x80);
        }
        if let Some(text) = text {
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.into_boxed_slice()
}

/// Bytes of `tag` in LEB128.
fn tag_len(tag: usize) -> usize {
    let bits = usize::BITS - tag.leading_zeros();
    (bits as usize).div_ceil(7).max(1)
}

/// The stored texts in order; a text that is absent (or, impossibly, malformed) is `None`.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let mut tag = 0usize;
        let mut shift = 0;
        loop {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            tag |= usize::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let len = tag.checked_sub(1)?;
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        std::str::from_utf8(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use keyward_core::{Credits, IpRange, Origin, RateLimit};

    fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, nanos).single().unwrap()
    }

    fn full_record() -> KeyRecord {
        let mut metadata = serde_json::Map::new();
        metadata.insert("plan".into(), serde_json::json!("pro"));
        metadata.insert(
            "seats".into(),
            serde_json::json!([1, 2.5, null, {"a": true}]),
        );
        KeyRecord {
            id: "key_0190f1c2a4b37c6d8e9f0a1b2c3d4e5f".into(),
            workspace_id: "ws_1".into(),
            name: "Invoices – ünïcode name".into(),
            description: Some("d".repeat(300)),
            owner_id: Some("customer-7".into()),
            hash: KeyHash::of("kw_secret"),
            start: "kw_5Qm2".into(),
            imported: true,
            permissions: vec![Permission::parse("invoices:read").unwrap()],
            enabled: false,
            expires_at: Some(at(1_900_000_000, 123_456_789)),
            metadata,
            created_at: at(1_700_000_000, 1),
            updated_at: at(1_800_000_000, 999_999_999),
            revoked_at: Some(at(1_850_000_000, 0)),
            revoked_reason: Some("leaked".into()),
            replaced_by: Some("key_next".into()),
            restrictions: Restrictions {
                ip_allowlist: vec![IpRange::parse("203.0.113.0/24").unwrap()],
                origin_allowlist: vec![Origin::parse("https://app.example.com").unwrap()],
                credits: Some(Credits {
                    remaining: 12,
                    refill: None,
                    refilled_at: at(1_700_000_000, 0),
                }),
                rate_limit: Some(RateLimit {
                    limit: 5,
                    window_seconds: 60,
                }),
            },
        }
    }

    #[test]
    fn every_field_reads_back_as_it_was_put() {
        let record = full_record();
        let compact = CompactKey::new(record.clone(), 0, 0);
        assert_eq!(compact.record("ws_1", &record.permissions), record);
        assert_eq!(compact.id(), record.id);
    }

    #[test]
    fn absent_and_empty_fields_read_back_as_they_were_put() {
        let mut record = full_record();
        record.description = Some(String::new());
        record.owner_id = None;
        record.revoked_reason = None;
        record.replaced_by = None;
        record.expires_at = None;
        record.revoked_at = None;
        record.metadata = Default::default();
        record.restrictions = Restrictions::default();
        record.permissions = Vec::new();
        let compact = CompactKey::new(record.clone(), 3, 4);
        assert!(compact.restrictions.is_none());
        assert_eq!(compact.record("ws_1", &[]), record);
    }

    #[test]
    fn a_text_longer_than_one_length_byte_reads_back() {
        for len in [126, 127, 128, 16_383, 16_384, 70_000] {
            let mut record = full_record();
            record.description = Some("x".repeat(len));
            let compact = CompactKey::new(record.clone(), 0, 0);
            assert_eq!(compact.record("ws_1", &record.permissions), record, "{len}");
        }
        for (tag, bytes) in [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3)] {
            assert_eq!(tag_len(tag), bytes, "{tag}");
        }
        assert_eq!(tag_len(usize::MAX), 10);
    }

    #[test]
    fn a_typical_key_keeps_its_texts_in_one_small_allocation() {
        let mut record = full_record();
        record.description = None;
        record.revoked_reason = None;
        record.replaced_by = None;
        record.metadata = Default::default();
        record.restrictions = Restrictions::default();
        let compact = CompactKey::new(record.clone(), 0, 0);
        let texts = record.id.len()
            + record.name.len()
            + record.start.len()
            + record.owner_id.as_ref().map_or(0, String::len);
        // One length byte per text, nothing else.
        assert_eq!(compact.heap_bytes(), texts + 8);
    }
}
