//! `POST /v1/leaks`: anyone may report keys found where they should not be (like GitHub's
//! credential revocation API), so no authentication. Every valid key in the report, customer
//! key or root key, is revoked by the core (`Keyward::revoke_leaked`), with a `key.leaked`
//! event in its own workspace saying where it was found, before the answer is sent. The answer is the same `202` whether any key was
//! valid, and it is sent a fixed time after the report arrived ([`ANSWER_AFTER`]), however
//! much revoking there was to do: neither its body nor its timing can be used to test guessed
//! or stolen keys. Reports are rate limited per client (an IPv4 address, an IPv6 /64).

use crate::client_addr::ClientIp;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use keyward_api::leaks::{
    LeakReport, LeakReportAccepted, MAX_LEAK_KEYS, MAX_LEAK_LOCATION_CHARS, MAX_LEAK_SOURCE_CHARS,
};
use keyward_api::{ErrorBody, ErrorDetail};
use keyward_app::bootstrap::ROOT_KEY_PREFIX;
use keyward_app::{fields, Keyward, LeakReport as Leaked, LeakedKey};
use keyward_core::{ApiKey, KeyHash};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Reports one client address may send in a burst, then one more every [`REFILL`].
const BURST: u32 = 20;
const REFILL: Duration = Duration::from_secs(3);
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

#[utoipa::path(
    post, operation_id = "report_leaks", path = "/leaks", tag = "leaks",
    request_body = LeakReport,
    responses(
        (status = 202, description = "The same answer whether or not any key was valid", body = LeakReportAccepted),
        (status = 429, description = "Too many reports from this address; see `Retry-After`", body = ErrorBody),
    )
)]
pub async fn report(
    State(app): State<Keyward>,
    Extension(limiter): Extension<Arc<LeakLimiter>>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LeakReport>,
) -> Response {
    if !limiter.allow(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))) {
        return too_many_requests();
    }
    let arrived = tokio::time::Instant::now();
    let (received, found) = match parse_report(req, ip) {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    // A task of its own, so a client that hangs up cannot cut the revocations short.
    let revocation = tokio::spawn(async move { app.revoke_leaked(found).await });
    let revoked = answer_after(arrived, async {
        match revocation.await {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => Err(ApiError::Internal(format!("leak revocation task: {e}"))),
        }
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

/// How many keys the report held, and the report for the core: the keys with a valid
/// checksum by hash, the source, the client's address.
fn parse_report(req: LeakReport, ip: Option<IpAddr>) -> Result<(usize, Leaked), ApiError> {
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
    let mut found: HashMap<KeyHash, LeakedKey> = HashMap::new();
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
    Ok((
        received,
        Leaked {
            keys: found,
            source,
            ip,
        },
    ))
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
}
