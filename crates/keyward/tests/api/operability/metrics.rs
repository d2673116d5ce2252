//! `GET /metrics`: the values move with traffic, and no label value comes from a request's
//! data (no key, key id, name, owner or path).

use crate::helpers::{spawn_app, unissued_key, NewKey, PREFIX};
use keyward_client::Method;
use serde_json::json;
use std::collections::BTreeSet;

/// A sample line: name, labels as (name, value) pairs, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Every sample line.
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        out.push((name.to_owned(), labels, value));
    }
    out
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{text}"))
}

#[tokio::test]
async fn scraped_values_move_with_traffic() {
    let app = spawn_app();
    let api = app.api();
    let scrape = || async {
        let answer = app
            .anonymous()
            .send(app.anonymous().request(Method::GET, "/metrics"))
            .await;
        answer.expect(200);
        assert!(answer
            .header("content-type")
            .starts_with("application/openmetrics-text"));
        answer.text
    };
    let before = scrape().await;
    assert_eq!(
        value(&before, "keyward_verifications_total", &[("code", "VALID")]),
        0.0
    );
    assert_eq!(value(&before, "keyward_index_keys", &[]), 0.0);
    assert_eq!(value(&before, "keyward_index_root_keys", &[]), 1.0);
    assert!(before.contains("keyward_build_info{version=\""), "{before}");

    let key = NewKey::from(
        &api.create_key_ok(&json!({"name": "Payroll Export Integration"}))
            .await,
    );
    assert_eq!(api.verify_code(&key.key, None).await, "VALID");
    assert_eq!(api.verify_code(&key.key, None).await, "VALID");
    assert_eq!(
        api.verify_code(&unissued_key(PREFIX), None).await,
        "NOT_FOUND"
    );
    api.show_key(&key.id).await.expect(200);

    let after = scrape().await;
    assert_eq!(
        value(&after, "keyward_verifications_total", &[("code", "VALID")]),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "keyward_verifications_total",
            &[("code", "NOT_FOUND")]
        ),
        1.0
    );
    assert_eq!(value(&after, "keyward_index_keys", &[]), 1.0);
    let verify = [
        ("method", "POST"),
        ("route", "/v1/verify"),
        ("status", "2xx"),
    ];
    assert_eq!(
        value(
            &after,
            "keyward_http_request_duration_seconds_count",
            &verify
        ),
        3.0
    );
    let show = [
        ("method", "GET"),
        ("route", "/v1/keys/{id}"),
        ("status", "2xx"),
    ];
    assert_eq!(
        value(&after, "keyward_http_request_duration_seconds_count", &show),
        1.0
    );
    // Three verification events (and the key's creation) were made durable by group commits.
    assert!(value(&after, "keyward_audit_commit_duration_seconds_count", &[]) >= 1.0);
    assert!(value(&after, "keyward_audit_commit_batch_size_sum", &[]) >= 3.0);
    assert!(value(&after, "keyward_audit_ingest_lag_events", &[]) >= 0.0);
    assert_eq!(
        value(
            &after,
            "keyward_db_pool_connections",
            &[("pool", "sqlite_writer"), ("state", "max")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "keyward_rate_limit_backend_errors_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn no_label_value_comes_from_a_request() {
    let app = spawn_app();
    let api = app.api();
    let key = NewKey::from(
        &api.create_key_ok(&json!({
            "name": "Stripe Invoice Sending Integration",
            "owner_id": "owner-label-probe",
            "permissions": ["invoices:read"]
        }))
        .await,
    );
    api.verify_code(&key.key, Some("invoices:read")).await;
    api.verify_code(&key.key, Some("payroll:read")).await;
    api.revoke_key(&key.id, Some("reason-label-probe"))
        .await
        .expect(200);
    api.verify_code(&key.key, None).await;
    api.show_key(&key.id).await.expect(200);
    api.get("/v1/keys?owner_id=owner-label-probe")
        .await
        .expect(200);
    api.get("/no/such/path-label-probe").await;
    app.anonymous().get("/v1/keys/key_label_probe").await;

    let answer = app.anonymous().get("/metrics").await;
    answer.expect(200);
    let text = answer.text;
    let routes: BTreeSet<String> = {
        let doc = app.anonymous().get("/openapi.json").await;
        let paths = doc.json["paths"].as_object().unwrap();
        paths
            .keys()
            .cloned()
            .chain(["unmatched".to_owned()])
            .collect()
    };
    let allowed = |name: &str, value: &str| -> bool {
        match name {
            "code" => [
                "VALID",
                "NOT_FOUND",
                "REVOKED",
                "EXPIRED",
                "DISABLED",
                "INSUFFICIENT_PERMISSIONS",
                "USAGE_EXCEEDED",
                "RATE_LIMITED",
                "FORBIDDEN",
            ]
            .contains(&value),
            "method" => [
                "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
            ]
            .contains(&value),
            "route" => routes.contains(value),
            "status" => ["2xx", "3xx", "4xx", "5xx"].contains(&value),
            "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
            "pool" => ["sqlite_writer", "sqlite_readers", "postgres"].contains(&value),
            "state" => ["in_use", "idle", "max"].contains(&value),
            "version" => value == env!("CARGO_PKG_VERSION"),
            // What build.rs writes: a commit's hex, `-dirty` when built from a changed tree.
            "revision" => {
                value == "unknown"
                    || value
                        .strip_suffix("-dirty")
                        .unwrap_or(value)
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit())
            }
            _ => false,
        }
    };
    let all = samples(&text);
    assert!(all.len() > 20, "{text}");
    for (name, labels, _) in &all {
        for (label, value) in labels {
            assert!(
                allowed(label, value),
                "{name}: label {label}={value:?} is not from a closed set"
            );
        }
    }
    for probe in [
        key.id.as_str(),
        &key.key,
        "Stripe",
        "owner-label-probe",
        "reason-label-probe",
        "path-label-probe",
        "key_label_probe",
        &app.workspaces[0].id,
    ] {
        assert!(
            !text.contains(probe),
            "{probe} appears in the metrics:\n{text}"
        );
    }
}
