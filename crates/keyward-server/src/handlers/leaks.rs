//! `POST /v1/leaks`: anyone may report keys found where they should not be (like GitHub's
//! credential revocation API), so no authentication. Every valid key in the report is
//! revoked, with a `key.leaked` event in its own workspace saying where it was found, before
//! the answer is sent. The answer is the same `202` whether any key was valid, so the
//! endpoint cannot be used to test guessed or stolen keys; reports are rate limited per
//! client address.

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::handlers::fields;
use crate::state::AppState;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use keyward_api::leaks::{
    LeakReport, LeakReportAccepted, MAX_LEAK_KEYS, MAX_LEAK_LOCATION_CHARS, MAX_LEAK_SOURCE_CHARS,
};
use keyward_api::{ErrorBody, ErrorDetail};
use keyward_core::audit::EventKind;
use keyward_core::{ApiKey, KeyHash, NewEvent};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Reports one client address may send in a burst, then one more every [`REFILL`].
const BURST: u32 = 20;
const REFILL: Duration = Duration::from_secs(3);
/// Longest `detail` of one `key.leaked` event (all the places one key was reported at).
const MAX_DETAIL_CHARS: usize = 1500;

/// Per-client-address limit on reports. One per router, so tests get fresh ones.
pub struct LeakLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl LeakLimiter {
    pub fn shared() -> Arc<Self> {
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(REFILL)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Arc::new(Self(RateLimiter::keyed(quota)))
    }

    fn allow(&self, ip: IpAddr) -> bool {
        // Forget idle addresses now and then, so a scan from many addresses cannot grow
        // the map without bound.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&ip).is_ok()
    }
}

/// The peer's address when the server runs with connect info (`serve`); `None` when a test
/// drives the router directly.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

pub async fn report(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<LeakLimiter>>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LeakReport>,
) -> Response {
    if !limiter.allow(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))) {
        return too_many_requests();
    }
    match revoke_reported(&state, ip, req).await {
        Ok(received) => (
            StatusCode::ACCEPTED,
            Json(LeakReportAccepted {
                received,
                message: "thank you: any valid keys in the report are revoked, and their owners can see where they were found".into(),
            }),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke_reported(
    state: &AppState,
    ip: Option<IpAddr>,
    req: LeakReport,
) -> Result<usize, ApiError> {
    let received = req.keys.len();
    if received == 0 || received > MAX_LEAK_KEYS {
        return Err(ApiError::BadRequest(format!(
            "keys must hold 1-{MAX_LEAK_KEYS} keys; send more in several reports"
        )));
    }
    let source = fields::audit_text("source", req.source, MAX_LEAK_SOURCE_CHARS)?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unspecified".into());
    // Valid keys by hash, with every place each was reported at.
    let mut found: HashMap<KeyHash, Vec<String>> = HashMap::new();
    for item in &req.keys {
        let location = fields::audit_text(
            "location",
            item.location().map(str::to_owned),
            MAX_LEAK_LOCATION_CHARS,
        )?;
        let Ok(key) = ApiKey::parse(item.key()) else {
            continue;
        };
        let places = found.entry(KeyHash::of(key.expose())).or_default();
        if let Some(location) = location.filter(|l| !l.is_empty()) {
            if !places.contains(&location) {
                places.push(location);
            }
        }
    }
    let now = state.clock.now();
    let _guard = state.writes.lock().await;
    for (hash, places) in found {
        let Some(indexed) = state.index.key(&hash) else {
            continue;
        };
        let Some(mut key) = state.store.key(&indexed.workspace_id, &indexed.id).await? else {
            continue;
        };
        let mut event = NewEvent::new(&key.workspace_id, now, EventKind::KeyLeaked)
            .subject(&key.id, &key.name)
            .detail(detail(&places, &source));
        event.ip = ip.map(|ip| ip.to_string());
        if key.revoked_at.is_some() {
            // Already revoked: the owner still learns where it turned up.
            state.store.append_events(vec![event]).await?;
            continue;
        }
        key.revoke(now, Some(format!("leaked: {source}")));
        state.store.update_key(&key, event).await?;
        tracing::warn!(key_id = %key.id, workspace_id = %key.workspace_id, "key reported leaked and revoked");
        state.index.put_key(key);
    }
    Ok(received)
}

fn detail(places: &[String], source: &str) -> String {
    let at = if places.is_empty() {
        "an unspecified place".to_owned()
    } else {
        places.join("; ")
    };
    let text = format!("found at {at}; reported by {source}");
    if text.chars().count() > MAX_DETAIL_CHARS {
        let cut: String = text.chars().take(MAX_DETAIL_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn too_many_requests() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "rate_limited".into(),
            message: format!(
                "too many leak reports from this address; try again in {} seconds",
                REFILL.as_secs()
            ),
        },
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(REFILL.as_secs()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_a_burst_then_refuses() {
        let limiter = LeakLimiter::shared();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..BURST {
            assert!(limiter.allow(ip));
        }
        assert!(!limiter.allow(ip));
        assert!(limiter.allow(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
    }

    #[test]
    fn detail_names_places_and_source() {
        assert_eq!(
            detail(&["a.docx: word/document.xml".into()], "ci"),
            "found at a.docx: word/document.xml; reported by ci"
        );
        assert!(detail(&[], "x").contains("unspecified place"));
        assert!(detail(&["y".repeat(5000)], "x").chars().count() <= MAX_DETAIL_CHARS + 1);
    }
}
