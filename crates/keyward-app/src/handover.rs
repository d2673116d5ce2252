//! One-time handover links: a new key passed to the person who installs it through a link
//! that works once and for a limited time, instead of email or a document.
//!
//! The link is the handover's id and a random secret. The key is sealed with
//! ChaCha20-Poly1305 under a key derived from the secret (HKDF-SHA256, the id as salt), and
//! the database keeps only the ciphertext, its nonce and the secret's SHA-256: the server
//! cannot read a waiting key without the link. Opening deletes the row in the transaction
//! that records the pickup, so of two openings, on any nodes, one gets the key.

use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::{Caller, KeysWrite};
use crate::service::Keyward;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Duration, Utc};
use hkdf::Hkdf;
use keyward_core::{ids, ApiKey, Handover, KeyHash};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::net::IpAddr;

/// How long a link works unless asked otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::hours(72);
/// The longest a link may work.
pub const MAX_LIFETIME: Duration = Duration::days(7);
/// Which derivation and cipher sealed a handover (stored with it, so another can follow).
const KEY_VERSION: i32 = 1;
const HKDF_INFO: &[u8] = b"keyward handover v1";

/// A link just made: its id and secret (shown once, to the person who made it).
pub struct HandoverLink {
    pub id: String,
    pub secret: SecretString,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for HandoverLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoverLink")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A key picked up through its link.
pub struct PickedUp {
    pub key: ApiKey,
    pub key_id: String,
    pub key_name: String,
}

/// The cipher of the handover `id` under `secret`, and the data bound to the ciphertext.
fn cipher(id: &str, secret: &str) -> AppResult<ChaCha20Poly1305> {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(id.as_bytes()), secret.as_bytes())
        .expand(HKDF_INFO, &mut key)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(ChaCha20Poly1305::new(Key::from_slice(&key)))
}

fn bound_data(id: &str, key_id: &str) -> String {
    format!("{id}\0{key_id}")
}

impl Keyward {
    /// Makes a one-time link for `secret`, the key `key_id` of the caller's workspace just
    /// shown to the caller. The key must still be that key (its hash matches), live and not
    /// rotated; `lifetime` up to [`MAX_LIFETIME`].
    pub async fn create_handover(
        &self,
        caller: &Caller<'_, KeysWrite>,
        key_id: &str,
        secret: &ApiKey,
        lifetime: Duration,
    ) -> AppResult<HandoverLink> {
        if lifetime <= Duration::zero() || lifetime > MAX_LIFETIME {
            return Err(AppError::Invalid(
                "a handover link works for 1 hour to 7 days".into(),
            ));
        }
        if !ids::is_well_formed(ids::KEY, key_id) {
            return Err(AppError::NotFound);
        }
        let key = self
            .store
            .key(caller.workspace_id(), key_id)
            .await?
            .ok_or(AppError::NotFound)?;
        // Constant-time (`KeyHash`'s `eq`): the key handed over is the one this id names.
        if key.hash != KeyHash::of(secret.expose()) {
            return Err(AppError::NotFound);
        }
        if key.revoked_at.is_some() || key.replaced_by.is_some() {
            return Err(AppError::Conflict(
                "this key was revoked or rotated; hand over its replacement".into(),
            ));
        }
        let now = self.clock.now();
        let id = ids::new_id(ids::HANDOVER);
        let mut link_secret = [0u8; 32];
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut link_secret).map_err(|e| AppError::Internal(e.to_string()))?;
        getrandom::fill(&mut nonce).map_err(|e| AppError::Internal(e.to_string()))?;
        let link_secret = SecretString::from(hex::encode(link_secret));
        let ciphertext = cipher(&id, link_secret.expose_secret())?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: bound_data(&id, &key.id).as_bytes(),
                },
            )
            .map_err(|_| AppError::Internal("sealing a handover failed".into()))?;
        let handover = Handover {
            id: id.clone(),
            workspace_id: key.workspace_id.clone(),
            key_id: key.id.clone(),
            key_name: key.name.clone(),
            secret_hash: KeyHash::of(link_secret.expose_secret()),
            key_version: KEY_VERSION,
            nonce: nonce.to_vec(),
            ciphertext,
            created_at: now,
            expires_at: now + lifetime,
        };
        let event = events::key_handover_created(caller.principal(), &handover, now);
        self.store.insert_handover(&handover, event).await?;
        Ok(HandoverLink {
            id,
            secret: link_secret,
            expires_at: handover.expires_at,
        })
    }

    /// Opens the link (`id`, `secret`): the key, once, recorded as `key.picked_up` with the
    /// address it was opened `from`. `None` for an unknown, used, expired or wrong link alike,
    /// so a page cannot tell them apart.
    pub async fn open_handover(
        &self,
        id: &str,
        secret: &str,
        from: Option<IpAddr>,
    ) -> AppResult<Option<PickedUp>> {
        if !ids::is_well_formed(ids::HANDOVER, id) {
            return Ok(None);
        }
        let Some(handover) = self.store.handover(id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if handover.secret_hash != KeyHash::of(secret)
            || now >= handover.expires_at
            || handover.key_version != KEY_VERSION
        {
            return Ok(None);
        }
        let Ok(plaintext) = cipher(id, secret)?.decrypt(
            Nonce::from_slice(&handover.nonce),
            Payload {
                msg: &handover.ciphertext,
                aad: bound_data(id, &handover.key_id).as_bytes(),
            },
        ) else {
            return Ok(None);
        };
        let key = String::from_utf8(plaintext)
            .ok()
            .and_then(|text| ApiKey::parse(&text).ok())
            .ok_or_else(|| AppError::Internal("a handover opened to no key".into()))?;
        let event = events::key_picked_up(&handover, from, now);
        if !self.store.take_handover(id, event).await? {
            return Ok(None);
        }
        Ok(Some(PickedUp {
            key,
            key_id: handover.key_id,
            key_name: handover.key_name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_secret_and_its_id() {
        let seal = |id: &str, secret: &str| {
            cipher(id, secret)
                .unwrap()
                .encrypt(
                    Nonce::from_slice(&[1; 12]),
                    Payload {
                        msg: b"kw_x",
                        aad: bound_data(id, "key_1").as_bytes(),
                    },
                )
                .unwrap()
        };
        let sealed = seal("ho_1", "s1");
        let open = |id: &str, secret: &str, key_id: &str| {
            cipher(id, secret).unwrap().decrypt(
                Nonce::from_slice(&[1; 12]),
                Payload {
                    msg: &sealed,
                    aad: bound_data(id, key_id).as_bytes(),
                },
            )
        };
        assert_eq!(open("ho_1", "s1", "key_1").unwrap(), b"kw_x");
        assert!(open("ho_1", "s2", "key_1").is_err());
        assert!(open("ho_2", "s1", "key_1").is_err());
        assert!(open("ho_1", "s1", "key_2").is_err());
        assert!(!sealed.windows(4).any(|w| w == b"kw_x"));
    }
}
