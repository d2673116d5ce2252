//! `POST /v1/leaks`: anyone may report keys found where they should not be (like GitHub's
//! credential revocation API), so no authentication. Every valid key in the report, customer
//! key or root key, is revoked, with a `key.leaked` event in its own workspace saying where it
//! was found, before the answer is sent. The answer is the same `202` whether any key was
//! valid, and it is sent a fixed time after the report arrived ([`ANSWER_AFTER`]), however
//! much revoking there was to do: neither its body nor its timing can be used to test guessed
//! or stolen keys. Reports are rate limited per client (an IPv4 address, an IPv6 /64).

use crate::bootstrap::ROOT_KEY_PREFIX;
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
use keyward_core::{ApiKey, KeyHash, NewEvent, RootKey};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Reports one client address may send in a burst, then one more every [`REFILL`].
const BURST: u32 = 20;
const REFILL: Duration = Duration::from_secs(3);
/// Longest `detail` of one `key.leaked` event (all the places one key was reported at).
const MAX_DETAIL_CHARS: usize = 1500;
/// Every accepted report is answered this long after it arrived, whatever it held: revoking
/// even 50 valid keys takes a few milliseconds, so the answer's timing says nothing about
/// validity. (Only a revocation slower than this, on a stalled disk, answers later.)
pub const ANSWER_AFTER: Duration = Duration::from_millis(250);

/// Per-client limit on reports. One per router, so tests get fresh ones.
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
        // Forget idle clients now and then, so a scan from many addresses cannot grow the map
        // without bound.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&client(ip)).is_ok()
    }
}

/// The client an address belongs to, for the rate limit: an IPv4 address (also when written
/// as IPv4-mapped IPv6), or an IPv6 address's /64 — one host or home network is usually given
/// a whole /64, and counting each of its 2^64 addresses apart would be no limit at all.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
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
    let arrived = tokio::time::Instant::now();
    let (received, found, source) = match parse_report(req) {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    // A task of its own, so a client that hangs up cannot cut the revocations short.
    let revocation = tokio::spawn(revoke_found(state, ip, found, source));
    let revoked = answer_after(arrived, async {
        revocation
            .await
            .unwrap_or_else(|e| Err(ApiError::Internal(format!("leak revocation task: {e}"))))
    })
    .await;
    match revoked {
        Ok(()) => (
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

/// `work`'s result, no sooner than [`ANSWER_AFTER`] after `arrived`.
async fn answer_after<T>(arrived: tokio::time::Instant, work: impl Future<Output = T>) -> T {
    let out = work.await;
    tokio::time::sleep_until(arrived + ANSWER_AFTER).await;
    out
}

/// A reported key with a valid checksum: where it was found, and whether it has the root-key
/// prefix (only then are root keys searched for it).
#[derive(Default)]
struct Found {
    places: Vec<String>,
    root_like: bool,
}

/// How many keys the report held; the keys with a valid checksum by hash; the source.
fn parse_report(req: LeakReport) -> Result<(usize, HashMap<KeyHash, Found>, String), ApiError> {
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
    let mut found: HashMap<KeyHash, Found> = HashMap::new();
    for item in &req.keys {
        let location = fields::audit_text(
            "location",
            item.location().map(str::to_owned),
            MAX_LEAK_LOCATION_CHARS,
        )?;
        let Ok(key) = ApiKey::parse(item.key()) else {
            continue;
        };
        let entry = found.entry(KeyHash::of(key.expose())).or_default();
        entry.root_like = key.prefix() == ROOT_KEY_PREFIX;
        let places = &mut entry.places;
        if let Some(location) = location.filter(|l| !l.is_empty()) {
            if !places.contains(&location) {
                places.push(location);
            }
        }
    }
    Ok((received, found, source))
}

/// Revokes every found key that exists, customer key or root key, each with its `key.leaked`
/// event; a key already revoked gets the event only.
async fn revoke_found(
    state: AppState,
    ip: Option<IpAddr>,
    found: HashMap<KeyHash, Found>,
    source: String,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let _guard = state.writes.lock().await;
    // Root keys as stored, read once and only for a report holding something that looks like
    // one: another process (`keyward init`, `keyward root-key create`) may have added root
    // keys this server has not loaded yet.
    let mut stored_roots: Option<Vec<RootKey>> = None;
    for (hash, Found { places, root_like }) in found {
        let detail = detail(&places, &source);
        if let Some(indexed) = state.index.key(&hash) {
            let Some(mut key) = state.store.key(&indexed.workspace_id, &indexed.id).await? else {
                continue;
            };
            let mut event = NewEvent::new(&key.workspace_id, now, EventKind::KeyLeaked)
                .subject(&key.id, &key.name)
                .detail(detail);
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
            continue;
        }
        if !root_like {
            continue;
        }
        if stored_roots.is_none() {
            stored_roots = Some(state.store.root_keys().await?);
        }
        let Some(mut root) = stored_roots
            .iter()
            .flatten()
            .find(|r| r.hash == hash)
            .cloned()
        else {
            continue;
        };
        let mut event = NewEvent::new(&root.workspace_id, now, EventKind::KeyLeaked)
            .subject(&root.id, &root.name)
            .detail(format!("root key {detail}"));
        event.ip = ip.map(|ip| ip.to_string());
        if root.revoked_at.is_some() {
            state.store.append_events(vec![event]).await?;
            continue;
        }
        // Even the workspace's last root key goes: a leaked one must stop working, and the
        // owners can recover with `keyward root-key create`.
        root.revoked_at = Some(now);
        state.store.update_root_key(&root, event).await?;
        tracing::warn!(root_key_id = %root.id, workspace_id = %root.workspace_id, "root key reported leaked and revoked");
        // The index drops it before the answer: the next request with it is refused.
        state.index.put_root_key(root);
    }
    Ok(())
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
    fn the_limit_counts_per_ipv4_address_and_per_ipv6_64() {
        let limiter = LeakLimiter::shared();
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        // One /64 is one client, whichever of its addresses it sends from.
        for i in 0..BURST {
            assert!(limiter.allow(v6(&format!("2001:db8:1:2::{:x}", i + 1))));
        }
        assert!(!limiter.allow(v6("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        // The next /64 is another client.
        assert!(limiter.allow(v6("2001:db8:1:3::1")));
        // IPv4 written as IPv4-mapped IPv6 is the same client as the IPv4 address.
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        for _ in 0..BURST {
            assert!(limiter.allow(v4));
        }
        assert!(!limiter.allow(v6("::ffff:192.0.2.7")));
    }

    #[tokio::test(start_paused = true)]
    async fn the_answer_comes_at_the_same_moment_whatever_the_work_found() {
        // A report whose revocations take time and one with nothing to do are answered at
        // the same instant (tokio's paused clock makes this exact, not a timing race).
        let arrived = tokio::time::Instant::now();
        let busy = answer_after(arrived, async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            "revoked"
        });
        let idle = answer_after(arrived, async { "nothing" });
        let ((_, busy_at), (_, idle_at)) =
            tokio::join!(async { (busy.await, tokio::time::Instant::now()) }, async {
                (idle.await, tokio::time::Instant::now())
            });
        assert_eq!(busy_at, arrived + ANSWER_AFTER);
        assert_eq!(idle_at, arrived + ANSWER_AFTER);
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
