//! The propagation scenario: changes of every kind verification depends on, made through
//! node A, each timed from A's answer until node B's verify answer shows it. Only
//! correctness is asserted (every change seen within a generous bound); the times are
//! printed.

use crate::helpers::remember_secret;
use keyward_api::{
    CreateKeyRequest, CreateRootKeyRequest, RevokeKeyRequest, RotateKeyRequest, UpdateKeyRequest,
    UpdateWorkspaceSettings, VerificationAudit, VerifyCode, VerifyRequest,
};
use keyward_client::{Client, SecretString, StatusCode};
use std::time::{Duration, Instant};

/// How long B may take to show one change before the test fails: far beyond any poll
/// interval, only reached when a change is never seen.
const SEEN_WITHIN: Duration = Duration::from_secs(15);

/// The pause between two questions to B: the resolution of the times measured.
const ASK_EVERY: Duration = Duration::from_millis(1);

/// What B is asked, and the code that shows it saw the change.
struct Expect<'a> {
    key: &'a str,
    permission: Option<&'a str>,
    ip: Option<&'a str>,
    code: VerifyCode,
}

/// Asks B until it answers `expect.code`; how long that took from `since`.
async fn until_seen(b: &Client, since: Instant, what: &str, expect: Expect<'_>) -> Duration {
    let request = VerifyRequest {
        key: expect.key.to_owned(),
        permission: expect.permission.map(str::to_owned),
        ip: expect.ip.map(str::to_owned),
        ..Default::default()
    };
    loop {
        let answer = b.verify(&request).await.expect("node B answers verify");
        if answer.value.code == expect.code {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < SEEN_WITHIN,
            "node B still answers {:?} {SEEN_WITHIN:?} after {what} on node A",
            answer.value.code
        );
        // A breath between questions, so asking does not starve the node of the CPU its
        // follower needs (the machine may have two cores for everything).
        tokio::time::sleep(ASK_EVERY).await;
    }
}

/// Runs `cycles` cycles of eight changes each through `a`, then a root key's revocation,
/// timing how long `b` takes to show each one. Returns every time measured.
pub async fn run(a: &Client, b: &Client, cycles: usize) -> Vec<Duration> {
    // Verifications answer without an audit write, so asking B in a loop measures the feed,
    // not the audit path (and the workspace change itself must reach B).
    a.update_workspace(&UpdateWorkspaceSettings {
        verification_audit: Some(VerificationAudit::None),
        ..Default::default()
    })
    .await
    .expect("the workspace's settings change");
    let (inside, outside) = ("203.0.113.7", "198.51.100.7");
    let mut times = Vec::with_capacity(cycles * 8);
    for cycle in 0..cycles {
        // Created on A: B had no entry for it and must find it (no negative entry stays).
        let created = a
            .create_key(&CreateKeyRequest {
                name: format!("Propagation Probe {cycle}"),
                permissions: vec!["invoices:read".into()],
                ..Default::default()
            })
            .await
            .expect("create on A")
            .value;
        let since = Instant::now();
        remember_secret(&created.key);
        let key = created.key.as_str();
        let id = created.record.id.clone();
        let plain = |code| Expect {
            key,
            permission: None,
            ip: Some(inside),
            code,
        };
        times.push(until_seen(b, since, "a create", plain(VerifyCode::Valid)).await);

        let patch = |request: UpdateKeyRequest| {
            let id = id.clone();
            async move {
                a.update_key(&id, &request).await.expect("update on A");
                Instant::now()
            }
        };
        let since = patch(UpdateKeyRequest {
            ip_allowlist: Some(vec!["203.0.113.0/24".into()]),
            ..Default::default()
        })
        .await;
        let from_outside = Expect {
            ip: Some(outside),
            ..plain(VerifyCode::Forbidden)
        };
        times.push(until_seen(b, since, "an IP restriction", from_outside).await);

        let since = patch(UpdateKeyRequest {
            permissions: Some(vec!["payroll:read".into()]),
            ..Default::default()
        })
        .await;
        let lost_permission = Expect {
            permission: Some("invoices:read"),
            ..plain(VerifyCode::InsufficientPermissions)
        };
        times.push(until_seen(b, since, "a re-permission", lost_permission).await);

        let since = patch(UpdateKeyRequest {
            enabled: Some(false),
            ..Default::default()
        })
        .await;
        times.push(until_seen(b, since, "a disable", plain(VerifyCode::Disabled)).await);

        let since = patch(UpdateKeyRequest {
            enabled: Some(true),
            ..Default::default()
        })
        .await;
        times.push(until_seen(b, since, "an enable", plain(VerifyCode::Valid)).await);

        let rotated = a
            .rotate_key(&id, &RotateKeyRequest::default())
            .await
            .expect("rotate on A")
            .value;
        let since = Instant::now();
        remember_secret(&rotated.key);
        times.push(until_seen(b, since, "a rotation (old key)", plain(VerifyCode::Revoked)).await);
        let replacement = Expect {
            key: &rotated.key,
            ..plain(VerifyCode::Valid)
        };
        times.push(until_seen(b, since, "a rotation (new key)", replacement).await);

        a.revoke_key(&rotated.record.id, &RevokeKeyRequest::default())
            .await
            .expect("revoke on A");
        let since = Instant::now();
        let revoked = Expect {
            key: &rotated.key,
            ..plain(VerifyCode::Revoked)
        };
        times.push(until_seen(b, since, "a revocation", revoked).await);
    }
    times.push(root_key_revocation(a, b).await);
    times
}

/// A root key made on A and then revoked there: how long B keeps accepting it afterwards.
async fn root_key_revocation(a: &Client, b: &Client) -> Duration {
    let deputy = a
        .create_root_key(&CreateRootKeyRequest {
            name: "Propagation Deputy".into(),
            permissions: vec!["keys:verify".into()],
        })
        .await
        .expect("a root key made on A")
        .value;
    remember_secret(&deputy.key);
    let as_deputy = b
        .with_root_key(SecretString::from(deputy.key.clone()))
        .expect("a client for the deputy");
    let request = VerifyRequest {
        key: "bos_not_a_key".into(),
        ..Default::default()
    };
    // Known to B (at once, or by the reload an unknown root key triggers).
    let started = Instant::now();
    while as_deputy.verify(&request).await.is_err() {
        assert!(
            started.elapsed() < SEEN_WITHIN,
            "B never accepted the new root key"
        );
        tokio::time::sleep(ASK_EVERY).await;
    }
    a.revoke_root_key(&deputy.record.id)
        .await
        .expect("revoke the root key on A");
    let since = Instant::now();
    loop {
        match as_deputy.verify(&request).await {
            Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => return since.elapsed(),
            _ => assert!(
                since.elapsed() < SEEN_WITHIN,
                "node B still accepts a root key revoked on A {SEEN_WITHIN:?} ago"
            ),
        }
        tokio::time::sleep(ASK_EVERY).await;
    }
}

/// Prints the median, p99 and worst of `times` under `label`.
pub fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let n = times.len();
    assert!(n > 0, "something was measured");
    let at = |q: f64| times[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    eprintln!(
        "\n{label}: {n} changes, node A's answer to node B's flip: median {:.1} ms, p99 {:.1} ms, worst {:.1} ms\n",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        times[n - 1].as_secs_f64() * 1e3,
    );
}
