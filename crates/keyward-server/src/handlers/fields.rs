//! Checks of request fields that are not domain newtypes: lengths, metadata size, times.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use keyward_core::Permission;
use serde_json::{Map, Value};

pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_OWNER_ID_CHARS: usize = 200;
pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_PERMISSIONS: usize = 100;

pub fn permissions(raw: &[String]) -> Result<Vec<Permission>, ApiError> {
    if raw.len() > MAX_PERMISSIONS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_PERMISSIONS} permissions per key"
        )));
    }
    let mut out: Vec<Permission> = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let p = Permission::parse(text)
            .map_err(|e| ApiError::BadRequest(format!("permissions[{i}]: {e}")))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

pub fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim().to_owned();
    if value.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{field} is limited to {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::BadRequest(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok((!value.is_empty()).then_some(value))
}

pub fn metadata(value: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let size = serde_json::to_vec(&value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(ApiError::BadRequest(format!(
            "metadata is limited to {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    Ok(value)
}

pub fn future_expiry(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    match expires_at {
        Some(at) if at <= now => Err(ApiError::BadRequest(
            "expires_at must be in the future".into(),
        )),
        // Stored with millisecond precision; truncate so what we answer is what we keep.
        Some(at) => Ok(DateTime::from_timestamp_millis(at.timestamp_millis())),
        None => Ok(None),
    }
}

/// What the calling service tells verify about the request it is authorising; recorded in the
/// audit trail as given, after length and control-character checks.
pub struct RequestContext {
    action: Option<String>,
    resource: Option<String>,
    pub ip: Option<String>,
    pub origin: Option<String>,
    user_agent: Option<String>,
}

pub const MAX_CONTEXT_CHARS: usize = 512;

impl RequestContext {
    pub fn parse(
        action: Option<String>,
        resource: Option<String>,
        ip: Option<String>,
        origin: Option<String>,
        user_agent: Option<String>,
    ) -> Result<Self, ApiError> {
        let field = |name: &str, v: Option<String>| optional_text(name, v, MAX_CONTEXT_CHARS);
        Ok(Self {
            action: field("action", action)?,
            resource: field("resource", resource)?,
            ip: field("ip", ip)?,
            origin: field("origin", origin)?,
            user_agent: field("user_agent", user_agent)?,
        })
    }

    pub fn fill(self, event: &mut keyward_core::NewEvent) {
        event.action = self.action;
        event.resource = self.resource;
        event.ip = self.ip;
        event.origin = self.origin;
        event.user_agent = self.user_agent;
    }
}
