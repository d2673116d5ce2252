//! The closed sets `/v1` sends as strings — verify codes, key status, audit event kinds and
//! outcomes, the workspace's verification-audit setting, error codes, probe status — as
//! enums that serialize exactly as those strings.
//!
//! **A value this version does not know** (a newer server's, or an audit event whose stored
//! kind was tampered with) reads as `Other(text)`, kept exactly as sent: it prints as sent,
//! serializes back unchanged (an exported event can still be re-hashed), and compares unequal
//! to every known variant. A client meeting `Other` should treat it as "none of the cases I
//! know": a verify code it does not know is still answered with `valid`, which says what to
//! do. Build a value from text with `From<&str>`, which never puts a known text in `Other`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares a wire enum: its known variants and their exact texts, plus `Other(String)`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($description:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A text this version does not know, exactly as sent.
            Other(String),
        }

        impl $name {
            /// What the value says, for the API's documentation.
            pub const DESCRIPTION: &'static str = $description;

            /// Every variant this version knows, in declaration order.
            pub const KNOWN: &'static [$name] = &[$(Self::$variant),+];

            /// The text on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }

            /// Whether this is one of the variants this version knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        #[cfg(feature = "openapi")]
        impl $name {
            /// The texts this version knows, in declaration order.
            fn known_texts() -> Vec<&'static str> {
                vec![$($text),+]
            }

            /// The schema of a request field that takes only the known texts.
            pub fn closed_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schemas::closed_set(&Self::known_texts(), Some(Self::DESCRIPTION))
            }

            /// The schema of an optional request field that takes only the known texts, or
            /// `null`.
            pub fn closed_or_null_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schemas::closed_set_or_null(&Self::known_texts(), Some(Self::DESCRIPTION))
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schemas::open_set(&Self::known_texts(), Self::DESCRIPTION)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                match text.as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Other(text),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

wire_enum! {
    /// `code` of a verification: why a key was or was not accepted.
    VerifyCode ("Why the key was or was not accepted.") {
        Valid => "VALID",
        NotFound => "NOT_FOUND",
        Revoked => "REVOKED",
        Expired => "EXPIRED",
        Disabled => "DISABLED",
        InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
        UsageExceeded => "USAGE_EXCEEDED",
        RateLimited => "RATE_LIMITED",
        /// The key may not be used from this IP address or origin.
        Forbidden => "FORBIDDEN",
    }
}

wire_enum! {
    /// A key's `status`, also the `status` filter of `GET /v1/keys`.
    KeyStatus ("A key's status.") {
        Active => "active",
        Disabled => "disabled",
        Expired => "expired",
        Revoked => "revoked",
    }
}

wire_enum! {
    /// An audit event's `kind`, also the `kind` filter of the audit queries.
    AuditKind ("What happened.") {
        WorkspaceCreated => "workspace.created",
        RootKeyCreated => "root_key.created",
        RootKeyRevoked => "root_key.revoked",
        KeyCreated => "key.created",
        KeyUpdated => "key.updated",
        KeyRevoked => "key.revoked",
        KeyRotated => "key.rotated",
        KeyVerified => "key.verified",
        KeyLeaked => "key.leaked",
        WorkspaceUpdated => "workspace.updated",
        PolicyUpdated => "policy.updated",
        /// Retention cut the chain here.
        AuditCheckpoint => "audit.checkpoint",
        /// A root key signed in to the dashboard.
        DashboardSignedIn => "dashboard.signed_in",
        /// A dashboard session was ended by signing out.
        DashboardSignedOut => "dashboard.signed_out",
        /// A one-time handover link was made for a new key.
        KeyHandoverCreated => "key.handover_created",
        /// A handover link was opened: the key was picked up.
        KeyPickedUp => "key.picked_up",
        /// A key another system issued was imported by its digest.
        KeyImported => "key.imported",
        /// A key was disabled after going unused (the workspace's advice settings).
        KeyAutoDisabled => "key.auto_disabled",
        /// A root key dismissed a safety advice item.
        AdviceDismissed => "advice.dismissed",
        /// The workspace's safety advice settings changed.
        AdviceSettingsUpdated => "advice.settings_updated",
    }
}

wire_enum! {
    /// Which verifications a workspace's audit trail records.
    VerificationAudit ("Which verifications the audit trail records.") {
        /// Every verification (the default).
        All => "all",
        /// Only verifications that did not answer `VALID`.
        Failures => "failures",
        /// Per-minute counts by key, action, outcome and network, as chained events
        /// written every few seconds (a hard crash loses the last seconds' counts).
        Aggregate => "aggregate",
        /// None; management events are always recorded.
        None => "none",
    }
}

wire_enum! {
    /// `error.code` of every error body: stable and machine-readable.
    ErrorCode ("Stable and machine-readable.") {
        BadRequest => "bad_request",
        Unauthorized => "unauthorized",
        Forbidden => "forbidden",
        NotFound => "not_found",
        Conflict => "conflict",
        PayloadTooLarge => "payload_too_large",
        UnsupportedMediaType => "unsupported_media_type",
        MethodNotAllowed => "method_not_allowed",
        RequestTimeout => "request_timeout",
        HeadersTooLarge => "headers_too_large",
        UriTooLong => "uri_too_long",
        /// The client's address holds its share of connections, all of them busy.
        TooManyConnections => "too_many_connections",
        /// Too many requests from this address (`POST /v1/leaks`); see `Retry-After`.
        RateLimited => "rate_limited",
        /// Storage could not be written or read; nothing was changed.
        Unavailable => "unavailable",
        /// `/readyz`, and every call while the server starts without its database: the
        /// message says what it waits for.
        NotReady => "not_ready",
        Internal => "internal",
    }
}

wire_enum! {
    /// `status` of the probes `/healthz` and `/readyz`.
    ProbeStatus ("The probe's answer.") {
        /// `/healthz`: the process serves HTTP.
        Ok => "ok",
        /// `/readyz`: the process can reach its database.
        Ready => "ready",
    }
}

wire_enum! {
    /// `code` of a safety advice item: what the advice is about.
    AdviceCode ("What the advice is about.") {
        /// Verified from more distinct clients than one integration plausibly has.
        SharedKey => "shared_key",
        /// Granted permissions no verification needed for a while.
        UnusedPermissions => "unused_permissions",
        /// A wildcard permission where only specific ones were ever needed.
        WidePermissions => "wide_permissions",
        /// Never used, or unused for a while.
        Stale => "stale",
        /// No expiry, where the workspace recommends one.
        NoExpiry => "no_expiry",
        /// Expires soon.
        ExpiringSoon => "expiring_soon",
        /// Issued by another system: no checksum for leak scanners.
        Imported => "imported",
        /// Reported leaked and still valid through a rotation's grace period.
        Leaked => "leaked",
        /// The name does not say what the key is for.
        GenericName => "generic_name",
    }
}

wire_enum! {
    /// `severity` of a safety advice item.
    AdviceSeverity ("How much the advice matters.") {
        Critical => "critical",
        Warning => "warning",
        Info => "info",
    }
}

wire_enum! {
    /// `status` of `GET /v1/audit/verify`: how far the chain is verified.
    ChainStatus ("How far the chain is verified.") {
        /// Verified intact through its head.
        Verified => "verified",
        /// A break was found (`first_bad_seq`, `reason`).
        Broken => "broken",
        /// More events are unverified than one answer checks: the server verifies them in
        /// the background (`verified_seq`, `unverified_events`); ask again later.
        Pending => "pending",
    }
}

/// An audit event's `outcome`: `OK` for management events, the verify code for
/// verifications. An outcome this version does not know reads as
/// `Verify(VerifyCode::Other(text))`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// A management event (`OK`).
    Ok,
    /// A verification, and what it answered.
    Verify(VerifyCode),
}

impl AuditOutcome {
    /// The text on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "OK",
            Self::Verify(code) => code.as_str(),
        }
    }
}

impl From<&str> for AuditOutcome {
    fn from(text: &str) -> Self {
        match text {
            "OK" => Self::Ok,
            code => Self::Verify(code.into()),
        }
    }
}

impl From<String> for AuditOutcome {
    fn from(text: String) -> Self {
        match text.as_str() {
            "OK" => Self::Ok,
            _ => Self::Verify(text.into()),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for AuditOutcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let known: Vec<&str> = std::iter::once("OK")
            .chain(VerifyCode::KNOWN.iter().map(VerifyCode::as_str))
            .collect();
        crate::schemas::open_set(
            &known,
            "`OK` for management events, the verify code for verifications.",
        )
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for AuditOutcome {}

impl From<VerifyCode> for AuditOutcome {
    fn from(code: VerifyCode) -> Self {
        Self::Verify(code)
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    /// Every known variant serializes as exactly `texts` (in order), reads back as itself,
    /// and an unknown text survives a round trip unchanged.
    fn pins<T>(known: &[T], texts: &[&str])
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug + for<'a> From<&'a str>,
    {
        let spelled: Vec<String> = known
            .iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect();
        let expected: Vec<String> = texts.iter().map(|t| format!("\"{t}\"")).collect();
        assert_eq!(spelled, expected);
        for (value, text) in known.iter().zip(texts) {
            assert_eq!(&T::from(text), value);
            let read: T = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(&read, value);
        }
        let unknown: T = serde_json::from_str("\"some.future value\"").unwrap();
        assert!(!known.contains(&unknown));
        assert_eq!(
            serde_json::to_string(&unknown).unwrap(),
            "\"some.future value\""
        );
        assert!(serde_json::from_str::<T>("5").is_err(), "only strings");
    }

    #[test]
    fn verify_codes_are_spelled_as_on_the_wire() {
        pins(
            VerifyCode::KNOWN,
            &[
                "VALID",
                "NOT_FOUND",
                "REVOKED",
                "EXPIRED",
                "DISABLED",
                "INSUFFICIENT_PERMISSIONS",
                "USAGE_EXCEEDED",
                "RATE_LIMITED",
                "FORBIDDEN",
            ],
        );
    }

    #[test]
    fn key_statuses_are_spelled_as_on_the_wire() {
        pins(
            KeyStatus::KNOWN,
            &["active", "disabled", "expired", "revoked"],
        );
    }

    #[test]
    fn audit_kinds_are_spelled_as_on_the_wire() {
        pins(
            AuditKind::KNOWN,
            &[
                "workspace.created",
                "root_key.created",
                "root_key.revoked",
                "key.created",
                "key.updated",
                "key.revoked",
                "key.rotated",
                "key.verified",
                "key.leaked",
                "workspace.updated",
                "policy.updated",
                "audit.checkpoint",
                "dashboard.signed_in",
                "dashboard.signed_out",
                "key.handover_created",
                "key.picked_up",
                "key.imported",
                "key.auto_disabled",
                "advice.dismissed",
                "advice.settings_updated",
            ],
        );
    }

    #[test]
    fn verification_audit_settings_are_spelled_as_on_the_wire() {
        pins(
            VerificationAudit::KNOWN,
            &["all", "failures", "aggregate", "none"],
        );
    }

    #[test]
    fn error_codes_are_spelled_as_on_the_wire() {
        pins(
            ErrorCode::KNOWN,
            &[
                "bad_request",
                "unauthorized",
                "forbidden",
                "not_found",
                "conflict",
                "payload_too_large",
                "unsupported_media_type",
                "method_not_allowed",
                "request_timeout",
                "headers_too_large",
                "uri_too_long",
                "too_many_connections",
                "rate_limited",
                "unavailable",
                "not_ready",
                "internal",
            ],
        );
    }

    #[test]
    fn chain_statuses_are_spelled_as_on_the_wire() {
        pins(ChainStatus::KNOWN, &["verified", "broken", "pending"]);
    }

    #[test]
    fn probe_statuses_are_spelled_as_on_the_wire() {
        pins(ProbeStatus::KNOWN, &["ok", "ready"]);
    }

    #[test]
    fn audit_outcomes_are_ok_or_a_verify_code() {
        let known: Vec<AuditOutcome> = std::iter::once(AuditOutcome::Ok)
            .chain(VerifyCode::KNOWN.iter().cloned().map(AuditOutcome::Verify))
            .collect();
        let texts: Vec<&str> = std::iter::once("OK")
            .chain(VerifyCode::KNOWN.iter().map(VerifyCode::as_str))
            .collect();
        pins(&known, &texts);
        assert_eq!(
            AuditOutcome::from("(missing audit name)"),
            AuditOutcome::Verify(VerifyCode::Other("(missing audit name)".into()))
        );
    }

    #[test]
    fn known_texts_never_land_in_other() {
        assert_eq!(VerifyCode::from("VALID".to_owned()), VerifyCode::Valid);
        assert!(!VerifyCode::from("valid").is_known(), "case matters");
        assert_eq!(AuditKind::from("key.leaked").to_string(), "key.leaked");
    }
}
