//! Dashboard sessions: a root key signs in once and gets an opaque random session token
//! (the browser keeps it in a cookie); the database keeps only the token's SHA-256, so a copy
//! of the database opens no session, and several nodes on one database share every session.
//! A session ends when idle for [`SESSION_IDLE`], at [`SESSION_LIFETIME`] after sign-in, on
//! sign-out, or when its root key is revoked. Each form carries a token derived from the
//! session token ([`csrf_token`]), checked in constant time ([`csrf_matches`]).

use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::Principal;
use crate::service::Keyward;
use chrono::{DateTime, Duration, Utc};
use keyward_core::{ApiKey, KeyHash, Session};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A session unused this long ends.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// A session ends this long after sign-in, however active.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// `last_seen_at` is written at most this often per session, so reading pages costs no
/// write each (idle expiry is this much coarser).
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A session token: 32 random bytes as hex, the cookie's value. `Debug` prints nothing of it.
pub struct SessionToken(SecretString);

impl SessionToken {
    fn generate() -> AppResult<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Self(SecretString::from(hex::encode(bytes))))
    }

    /// The token a browser sent back.
    pub fn from_cookie(value: &str) -> Self {
        Self(SecretString::from(value.to_owned()))
    }

    /// The value to put in the cookie.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn hash(&self) -> KeyHash {
        KeyHash::of(self.0.expose_secret())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// A session just started.
pub struct SignedIn {
    pub principal: Principal,
    pub token: SessionToken,
    pub expires_at: DateTime<Utc>,
}

/// The anti-forgery token of the session whose token is `token`: a hash of it under a
/// fixed label, so it needs no storage and no page can learn the session token from it.
pub fn csrf_token(token: &SessionToken) -> String {
    let mut digest = Sha256::new();
    digest.update(b"keyward dashboard form token\0");
    digest.update(token.expose().as_bytes());
    hex::encode(digest.finalize())
}

/// Whether `presented` is the session's anti-forgery token, compared in constant time.
pub fn csrf_matches(token: &SessionToken, presented: &str) -> bool {
    csrf_token(token)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

impl Keyward {
    /// Signs `key` in: a root key that is known and not revoked starts a session, recorded
    /// as a `dashboard.signed_in` event; anything else is `Unauthorized`.
    pub async fn sign_in(&self, key: &ApiKey) -> AppResult<SignedIn> {
        let principal = self
            .authenticate(&KeyHash::of(key.expose()))
            .await
            .ok_or(AppError::Unauthorized)?;
        let now = self.clock.now();
        let token = SessionToken::generate()?;
        let session = Session {
            token_hash: token.hash(),
            workspace_id: principal.workspace_id().to_owned(),
            root_key_id: principal.id().to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_LIFETIME,
        };
        let event = events::dashboard_signed_in(&principal, now);
        self.store.insert_session(&session, event).await?;
        Ok(SignedIn {
            principal,
            token,
            expires_at: session.expires_at,
        })
    }

    /// The principal of a live session whose root key is still valid, or `None` (unknown,
    /// idle too long, past its end, or its root key revoked). Keeps the session alive.
    pub async fn session(&self, token: &SessionToken) -> AppResult<Option<Principal>> {
        let hash = token.hash();
        let Some(session) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if !session.is_live(now, SESSION_IDLE) {
            return Ok(None);
        }
        let Some(root) = self
            .index
            .root_key_by_id(&session.workspace_id, &session.root_key_id)
        else {
            return Ok(None);
        };
        if root.revoked_at.is_some() {
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_EVERY {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Principal::new(root)))
    }

    /// Ends the session (a `dashboard.signed_out` event); ending an unknown or ended one
    /// changes nothing.
    pub async fn sign_out(&self, principal: &Principal, token: &SessionToken) -> AppResult<()> {
        let event = events::dashboard_signed_out(principal, self.clock.now());
        self.store.end_session(&token.hash(), event).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_token_is_bound_to_its_session_and_prints_no_session_token() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_token(&a).contains(a.expose()));
        assert_eq!(format!("{a:?}"), "SessionToken(…)");
        assert_eq!(a.expose().len(), 64);
    }
}
