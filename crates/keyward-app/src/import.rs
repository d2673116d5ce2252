//! Importing keys another system issued (`POST /v1/keys/import`, `keyward import`): each
//! arrives as its plaintext, hashed here and dropped, or as the SHA-256 digest the other
//! system stored, and becomes a key marked `imported`, committed with its `key.imported`
//! event like a created key. A digest that is already known is skipped, so re-running an
//! import changes nothing. Imported keys verify by the digest of the string presented
//! (`KeyIndex::imported_key`); rotating one gives a keyward key.

use crate::commit::Change;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::index::IMPORTED_KEY_BYTES;
use crate::keys::KeyDraft;
use crate::rights::{Caller, KeysWrite};
use crate::service::Keyward;
use keyward_core::{ids, KeyHash, KeyRecord};
use secrecy::{ExposeSecret, SecretString};

/// Longest display start an import may give.
pub const MAX_START_CHARS: usize = 16;

/// The secret of a key to import.
pub enum ImportSecret {
    /// The key as the other system issued it (never stored, never logged).
    Plaintext(SecretString),
    /// The SHA-256 digest of the key.
    Digest(KeyHash),
}

impl ImportSecret {
    /// A plaintext key: visible ASCII (it travels in headers), 8 to 512 bytes (what
    /// verification considers for an imported key).
    pub fn plaintext(key: SecretString) -> AppResult<Self> {
        let text = key.expose_secret();
        if !IMPORTED_KEY_BYTES.contains(&text.len()) {
            return Err(AppError::Invalid(format!(
                "key must be {} to {} characters",
                IMPORTED_KEY_BYTES.start(),
                IMPORTED_KEY_BYTES.end()
            )));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppError::Invalid(
                "key must be printable ASCII without spaces".into(),
            ));
        }
        Ok(Self::Plaintext(key))
    }

    /// A digest written as 64 hexadecimal characters.
    pub fn digest_hex(text: &str) -> AppResult<Self> {
        let bad = || AppError::Invalid("digest must be 64 hexadecimal characters (SHA-256)".into());
        if text.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        KeyHash::from_bytes(&bytes)
            .map(Self::Digest)
            .ok_or_else(bad)
    }

    fn digest(&self) -> KeyHash {
        match self {
            Self::Plaintext(key) => KeyHash::of(key.expose_secret()),
            Self::Digest(hash) => *hash,
        }
    }

    /// What the key shows for display when the import gives none: a plaintext's first
    /// characters (at most 8, and at most a quarter of it), nothing for a digest.
    fn default_start(&self) -> String {
        match self {
            Self::Plaintext(key) => {
                let text = key.expose_secret();
                text.chars().take((text.len() / 4).min(8)).collect()
            }
            Self::Digest(_) => String::new(),
        }
    }
}

/// One key to import, parsed: its secret, an optional display start (at most
/// [`MAX_START_CHARS`], checked by the edge as free text), and its fields as for a create.
pub struct ImportDraft {
    pub secret: ImportSecret,
    pub start: Option<String>,
    pub key: KeyDraft,
}

/// What became of one key.
pub enum Imported {
    New(Box<KeyRecord>),
    /// Its digest is already a key of this workspace: nothing changed.
    Skipped,
}

impl Keyward {
    /// Imports one key. `Invalid` or `Conflict` (a name taken, a digest held elsewhere, the
    /// workspace policy) refuse this key only; other errors mean storage failed.
    pub async fn import_key(
        &self,
        caller: &Caller<'_, KeysWrite>,
        draft: ImportDraft,
    ) -> AppResult<Imported> {
        let ImportDraft { secret, start, key } = draft;
        if start
            .as_ref()
            .is_some_and(|start| start.chars().count() > MAX_START_CHARS)
        {
            return Err(AppError::Invalid(format!(
                "start is limited to {MAX_START_CHARS} characters"
            )));
        }
        let now = key.requested_at;
        let workspace_id = caller.workspace_id();
        let hash = secret.digest();
        let writer = self.writer().await;
        // Under the write lock, so two imports of one digest cannot both insert it.
        if let Some(existing) = self.index.key(&hash) {
            if existing.workspace_id == workspace_id {
                return Ok(Imported::Skipped);
            }
            // Said without naming the other workspace or its key.
            return Err(AppError::Conflict(
                "a key with this digest cannot be imported into this workspace".into(),
            ));
        }
        self.check_policy(workspace_id, key.expires_at, now).await?;
        let record = KeyRecord {
            id: ids::new_id(ids::KEY),
            workspace_id: workspace_id.to_owned(),
            name: key.name.into_inner(),
            description: key.description,
            owner_id: key.owner_id,
            hash,
            start: start.unwrap_or_else(|| secret.default_start()),
            imported: true,
            permissions: key.permissions,
            enabled: key.enabled,
            expires_at: key.expires_at,
            metadata: key.metadata,
            created_at: now,
            updated_at: now,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: key.restrictions,
        };
        let event = events::key_imported(caller.principal(), &record, now);
        writer.commit(Change::NewKey(&record), event).await?;
        tracing::info!(key_id = %record.id, workspace_id = %record.workspace_id, "key imported");
        Ok(Imported::New(Box::new(record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_from_hex_in_either_case_and_nothing_else() {
        let hash = KeyHash::of("sk_live_abcdefgh");
        let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        for text in [hex.clone(), hex.to_uppercase()] {
            match ImportSecret::digest_hex(&text).unwrap() {
                ImportSecret::Digest(parsed) => assert!(parsed == hash),
                ImportSecret::Plaintext(_) => panic!("a digest"),
            }
        }
        for bad in [
            &hex[..62],
            "zz",
            &format!("{}g", &hex[..63]),
            &"é".repeat(32),
        ] {
            assert!(ImportSecret::digest_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plaintext_keys_are_bounded_printable_and_show_little_of_themselves() {
        assert!(ImportSecret::plaintext("short".to_owned().into()).is_err());
        assert!(ImportSecret::plaintext("has a space in it".to_owned().into()).is_err());
        assert!(ImportSecret::plaintext("x".repeat(513).into()).is_err());
        let key =
            ImportSecret::plaintext("sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned().into()).unwrap();
        assert_eq!(key.default_start(), "sk_live_");
        let short = ImportSecret::plaintext("abcdefghijkl".to_owned().into()).unwrap();
        assert_eq!(short.default_start(), "abc");
        assert_eq!(ImportSecret::Digest(KeyHash::of("x")).default_start(), "");
    }
}
