//! The dashboard's forms, and their text parsed into the core's drafts with the core's own
//! field parsers (`keyward_app::fields`), as the API's request parsing does for JSON. Every
//! field is kept as typed, so a form refused for one field is shown again with the rest.

use crate::session::with_csrf;
use chrono::{DateTime, NaiveDateTime, Utc};
use keyward_app::fields::{self, Lines};
use keyward_app::{AppError, KeyDraft, KeyPatch, RootKeyDraft};
use keyward_core::{KeyName, KeyRecord, Restrictions};
use serde::Deserialize;

/// A key's fields as the create and edit forms send them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct KeyForm {
    pub csrf: String,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    /// Separated by commas, spaces or lines.
    pub permissions: String,
    /// `YYYY-MM-DDTHH:MM` in UTC (a `datetime-local` input), empty for none.
    pub expires_at: String,
    /// One a line (or comma-separated).
    pub ip_allowlist: String,
    pub origin_allowlist: String,
    /// Empty: no credits (create) or unchanged (edit).
    pub credits: String,
    pub refill_amount: String,
    pub refill_interval_seconds: String,
    /// Edit only: remove the key's credits.
    pub clear_credits: Option<String>,
    pub rate_limit: String,
    pub rate_limit_window_seconds: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EnabledForm {
    pub csrf: String,
    /// `true` or `false`.
    pub enabled: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RevokeForm {
    pub csrf: String,
    pub reason: String,
    /// The confirmation checkbox.
    pub confirm: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RotateForm {
    pub csrf: String,
    /// Seconds, or `custom`.
    pub grace: String,
    /// Minutes, when `grace` is `custom`.
    pub custom_minutes: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HandoverForm {
    pub csrf: String,
    pub key_id: String,
    /// The key just shown, sent back from the show-once page to be sealed in the link.
    pub key: String,
    pub hours: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RootKeyForm {
    pub csrf: String,
    pub name: String,
    /// Separated by commas, spaces or lines; or checkboxes, one `rights` field each.
    pub rights: String,
}

with_csrf!(
    KeyForm,
    CsrfOnly,
    EnabledForm,
    RevokeForm,
    RotateForm,
    HandoverForm,
    RootKeyForm
);

/// The entries of a list field: split at commas and white space, empty ones dropped.
pub fn list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::Invalid(message.into())
}

/// A whole number, or `None` for an empty field.
pub fn number(field: &str, text: &str) -> Result<Option<u64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| bad(format!("{field} must be a whole number")))
}

/// A `datetime-local` value read as UTC.
fn datetime(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| Some(t.and_utc()))
        .map_err(|_| {
            bad(format!(
                "{field} must be a date and time such as 2030-01-31T12:00"
            ))
        })
}

/// The form value of a time (what a `datetime-local` input shows).
pub fn datetime_value(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

pub fn name(raw: &str) -> Result<KeyName, AppError> {
    KeyName::parse(raw).map_err(|e| AppError::Invalid(e.to_string()))
}

fn text(field: &str, raw: &str, max: usize, lines: Lines) -> Result<Option<String>, AppError> {
    fields::optional_text(field, Some(raw.to_owned()), max, lines)
}

fn rate_limit(form: &KeyForm) -> Result<Option<keyward_core::RateLimit>, AppError> {
    let limit = number("rate limit", &form.rate_limit)?;
    let window = number("rate limit window", &form.rate_limit_window_seconds)?;
    match (limit, window) {
        (None, None) => Ok(None),
        (Some(limit), Some(window)) => fields::rate_limit(limit, window).map(Some),
        _ => Err(bad(
            "a rate limit needs both a number of requests and a window in seconds",
        )),
    }
}

fn credits(form: &KeyForm, now: DateTime<Utc>) -> Result<Option<keyward_core::Credits>, AppError> {
    let Some(remaining) = number("credits", &form.credits)? else {
        return Ok(None);
    };
    let amount = number("refill amount", &form.refill_amount)?;
    let interval = number("refill interval", &form.refill_interval_seconds)?;
    let refill = match (amount, interval) {
        (None, None) => None,
        (Some(a), Some(i)) => Some((a, i)),
        _ => {
            return Err(bad(
                "a refill needs both an amount and an interval in seconds",
            ))
        }
    };
    fields::credits(remaining, refill, now).map(Some)
}

/// The create form, parsed at `now`.
pub fn key_draft(form: &KeyForm, now: DateTime<Utc>) -> Result<KeyDraft, AppError> {
    let name = name(&form.name)?;
    let permissions = fields::permissions(&list(&form.permissions))?;
    let expires_at = fields::future_expiry(datetime("expiry", &form.expires_at)?, now)?;
    let restrictions = Restrictions {
        ip_allowlist: fields::ip_allowlist(&list(&form.ip_allowlist))?,
        origin_allowlist: fields::origin_allowlist(&list(&form.origin_allowlist))?,
        credits: credits(form, now)?,
        rate_limit: rate_limit(form)?,
    };
    Ok(KeyDraft {
        name,
        description: text(
            "description",
            &form.description,
            fields::MAX_DESCRIPTION_CHARS,
            Lines::Many,
        )?,
        owner_id: text(
            "owner",
            &form.owner_id,
            fields::MAX_OWNER_ID_CHARS,
            Lines::One,
        )?,
        permissions,
        enabled: true,
        expires_at,
        metadata: Default::default(),
        restrictions,
        requested_at: now,
    })
}

/// The edit form as a patch of every field it shows, parsed at `now`; the expiry is set
/// only when it changed, so an unchanged past-due expiry does not fail the form.
pub fn key_patch(
    form: &KeyForm,
    key: &KeyRecord,
    now: DateTime<Utc>,
) -> Result<KeyPatch, AppError> {
    let mut patch = KeyPatch::empty(now);
    patch.name = Some(name(&form.name)?);
    patch.description = Some(text(
        "description",
        &form.description,
        fields::MAX_DESCRIPTION_CHARS,
        Lines::Many,
    )?);
    patch.owner_id = Some(text(
        "owner",
        &form.owner_id,
        fields::MAX_OWNER_ID_CHARS,
        Lines::One,
    )?);
    patch.permissions = Some(fields::permissions(&list(&form.permissions))?);
    let expires_at = datetime("expiry", &form.expires_at)?;
    if datetime_value(expires_at) != datetime_value(key.expires_at) {
        patch.expires_at = Some(fields::future_expiry(expires_at, now)?);
    }
    patch.ip_allowlist = Some(fields::ip_allowlist(&list(&form.ip_allowlist))?);
    patch.origin_allowlist = Some(fields::origin_allowlist(&list(&form.origin_allowlist))?);
    patch.rate_limit = Some(rate_limit(form)?);
    if form.clear_credits.is_some() {
        patch.credits = Some(None);
    } else if let Some(credits) = credits(form, now)? {
        patch.credits = Some(Some(credits));
    }
    Ok(patch)
}

/// The key's fields as the edit form shows them.
pub fn key_form(key: &KeyRecord) -> KeyForm {
    let r = &key.restrictions;
    KeyForm {
        csrf: String::new(),
        name: key.name.clone(),
        description: key.description.clone().unwrap_or_default(),
        owner_id: key.owner_id.clone().unwrap_or_default(),
        permissions: crate::views::joined(&key.permissions, ""),
        expires_at: datetime_value(key.expires_at),
        ip_allowlist: crate::views::lines(&r.ip_allowlist),
        origin_allowlist: crate::views::lines(&r.origin_allowlist),
        credits: String::new(),
        refill_amount: r
            .credits
            .as_ref()
            .and_then(|c| c.refill.as_ref())
            .map(|f| f.amount.to_string())
            .unwrap_or_default(),
        refill_interval_seconds: r
            .credits
            .as_ref()
            .and_then(|c| c.refill.as_ref())
            .map(|f| f.interval_seconds.to_string())
            .unwrap_or_default(),
        clear_credits: None,
        rate_limit: r
            .rate_limit
            .as_ref()
            .map(|l| l.limit.to_string())
            .unwrap_or_default(),
        rate_limit_window_seconds: r
            .rate_limit
            .as_ref()
            .map(|l| l.window_seconds.to_string())
            .unwrap_or_default(),
    }
}

/// A revocation: confirmed, with an optional reason.
pub fn revocation(form: &RevokeForm) -> Result<Option<String>, AppError> {
    if form.confirm.is_none() {
        return Err(bad(
            "tick the confirmation box to revoke: a revoked key stops working at once, for good",
        ));
    }
    text("reason", &form.reason, fields::MAX_REASON_CHARS, Lines::One)
}

/// The grace period a rotation asked for, in seconds.
pub fn grace_seconds(form: &RotateForm) -> Result<u64, AppError> {
    if form.grace == "custom" {
        let minutes = number("custom grace period", &form.custom_minutes)?
            .ok_or_else(|| bad("enter the custom grace period in minutes"))?;
        return Ok(minutes.saturating_mul(60));
    }
    number("grace period", &form.grace)?.ok_or_else(|| bad("choose a grace period"))
}

pub fn root_key_draft(form: &RootKeyForm) -> Result<RootKeyDraft, AppError> {
    Ok(RootKeyDraft {
        name: name(&form.name)?,
        permissions: fields::permissions(&list(&form.rights))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fields_split_at_commas_spaces_and_lines() {
        assert_eq!(
            list(" a, b\nc  d,,\r\n"),
            ["a", "b", "c", "d"].map(String::from)
        );
        assert!(list("  \n").is_empty());
    }

    #[test]
    fn a_rate_limit_or_a_refill_needs_both_its_numbers() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let form = KeyForm {
            name: "Billing service".into(),
            rate_limit: "10".into(),
            ..KeyForm::default()
        };
        assert!(key_draft(&form, now).is_err());
        let form = KeyForm {
            rate_limit_window_seconds: "60".into(),
            credits: "5".into(),
            refill_amount: "5".into(),
            ..form
        };
        assert!(key_draft(&form, now).is_err());
        let form = KeyForm {
            refill_interval_seconds: "3600".into(),
            expires_at: "2030-01-31T12:00".into(),
            ..form
        };
        let draft = key_draft(&form, now).unwrap();
        assert_eq!(draft.restrictions.rate_limit.unwrap().limit, 10);
        assert_eq!(draft.restrictions.credits.unwrap().remaining, 5);
        assert_eq!(datetime_value(draft.expires_at), "2030-01-31T12:00");
    }

    #[test]
    fn a_revocation_needs_its_confirmation() {
        let mut form = RevokeForm {
            reason: "leaked in a log".into(),
            ..RevokeForm::default()
        };
        assert!(revocation(&form).is_err());
        form.confirm = Some("on".into());
        assert_eq!(
            revocation(&form).unwrap().as_deref(),
            Some("leaked in a log")
        );
    }
}
