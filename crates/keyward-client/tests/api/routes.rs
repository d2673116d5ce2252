//! Every route once, through the typed methods, against the real server: what each answers
//! reads into its wire type, and `raw` is the body as sent.

use crate::server;
use keyward_client::api::leaks::{LeakReport, LeakedKey};
use keyward_client::api::{
    AuditKind, AuditOutcome, AuditQuery, AuditRule, CreateKeyRequest, CreateRootKeyRequest,
    KeyListQuery, KeyStatus, Policy, ProbeStatus, RevokeKeyRequest, RotateKeyRequest,
    UpdateKeyRequest, UpdateWorkspaceSettings, VerificationAudit, VerifyCode, VerifyRequest,
};
use keyward_client::StatusCode;

#[tokio::test]
async fn probes_answer_ok_and_ready_without_a_root_key() {
    let server = server::start().await;
    let anonymous = server.anonymous();
    assert_eq!(
        anonymous.health().await.unwrap().value.status,
        ProbeStatus::Ok
    );
    let ready = anonymous.ready().await.unwrap();
    assert_eq!(ready.value.status, ProbeStatus::Ready);
    assert_eq!(ready.raw, r#"{"status":"ready"}"#);
}

#[tokio::test]
async fn a_key_goes_through_its_whole_life() {
    let server = server::start().await;
    let keyward = server.client();

    let created = keyward
        .create_key(&CreateKeyRequest {
            name: "Stripe invoice sending".into(),
            owner_id: Some("cus_1".into()),
            permissions: vec!["invoices:read".into()],
            ..CreateKeyRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(created.value.record.status, KeyStatus::Active);
    assert!(created.raw.contains(&created.value.key));
    let key = created.value;

    let listed = keyward
        .list_keys(&KeyListQuery {
            owner_id: Some("cus_1".into()),
            status: Some(KeyStatus::Active),
            ..KeyListQuery::default()
        })
        .await
        .unwrap()
        .value;
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].id, key.record.id);
    assert_eq!(listed.next_cursor, None);

    let shown = keyward.key(&key.record.id).await.unwrap().value;
    assert_eq!(shown.name, "Stripe invoice sending");

    let updated = keyward
        .update_key(
            &key.record.id,
            &UpdateKeyRequest {
                description: Some(Some("sends invoices".into())),
                ..UpdateKeyRequest::default()
            },
        )
        .await
        .unwrap()
        .value;
    assert_eq!(updated.description.as_deref(), Some("sends invoices"));

    let verified = keyward
        .verify(&VerifyRequest {
            key: key.key.clone(),
            permission: Some("invoices:read".into()),
            ..VerifyRequest::default()
        })
        .await
        .unwrap()
        .value;
    assert!(verified.valid);
    assert_eq!(verified.code, VerifyCode::Valid);

    let rotated = keyward
        .rotate_key(&key.record.id, &RotateKeyRequest::default())
        .await
        .unwrap();
    assert_eq!(rotated.status, StatusCode::CREATED);
    let replacement = rotated.value;
    assert_eq!(
        keyward.key(&key.record.id).await.unwrap().value.replaced_by,
        Some(replacement.record.id.clone())
    );

    let revoked = keyward
        .revoke_key(
            &replacement.record.id,
            &RevokeKeyRequest {
                reason: Some("no longer used".into()),
            },
        )
        .await
        .unwrap()
        .value;
    assert_eq!(revoked.status, KeyStatus::Revoked);
    let refused = keyward
        .verify(&VerifyRequest {
            key: replacement.key,
            ..VerifyRequest::default()
        })
        .await
        .unwrap();
    assert!(!refused.value.valid);
    assert_eq!(refused.value.code, VerifyCode::Revoked);
    assert!(
        refused.raw.contains(r#""code":"REVOKED""#),
        "{}",
        refused.raw
    );
}

#[tokio::test]
async fn root_keys_policy_and_workspace_settings() {
    let server = server::start().await;
    let keyward = server.client();

    let created = keyward
        .create_root_key(&CreateRootKeyRequest {
            name: "Reader".into(),
            permissions: vec!["keys:read".into()],
        })
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED);
    let reader = created.value;
    let listed = keyward.root_keys().await.unwrap().value;
    assert!(listed.iter().any(|root| root.id == reader.record.id));
    let revoked = keyward.revoke_root_key(&reader.record.id).await.unwrap();
    assert!(revoked.value.revoked_at.is_some());

    assert_eq!(keyward.policy().await.unwrap().value, Policy::default());
    let policy = Policy {
        max_key_lifetime_seconds: Some(86_400),
    };
    assert_eq!(keyward.set_policy(&policy).await.unwrap().value, policy);

    let settings = keyward.workspace().await.unwrap().value;
    assert_eq!(settings.verification_audit, VerificationAudit::All);
    let changed = keyward
        .update_workspace(&UpdateWorkspaceSettings {
            verification_audit: Some(VerificationAudit::Failures),
            audit_rules: Some(vec![AuditRule {
                pattern: "*.read".into(),
                level: VerificationAudit::Aggregate,
            }]),
            audit_retention_days: Some(30),
        })
        .await
        .unwrap()
        .value;
    assert_eq!(changed.verification_audit, VerificationAudit::Failures);
    assert_eq!(changed.audit_retention_days, 30);
    assert_eq!(
        changed.audit_rules,
        [AuditRule {
            pattern: "*.read".into(),
            level: VerificationAudit::Aggregate,
        }]
    );
}

#[tokio::test]
async fn audit_pages_export_chain_check_and_anchor() {
    let server = server::start().await;
    let keyward = server.client();
    let key = keyward
        .create_key(&CreateKeyRequest {
            name: "Xero payroll sync".into(),
            ..CreateKeyRequest::default()
        })
        .await
        .unwrap()
        .value;
    keyward
        .verify(&VerifyRequest {
            key: key.key,
            ..VerifyRequest::default()
        })
        .await
        .unwrap();

    let page = keyward
        .audit(&AuditQuery {
            key_id: Some(key.record.id.clone()),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .value;
    let kinds: Vec<&AuditKind> = page.events.iter().map(|e| &e.kind).collect();
    assert_eq!(kinds, [&AuditKind::KeyVerified, &AuditKind::KeyCreated]);
    assert_eq!(
        page.events[0].outcome,
        AuditOutcome::Verify(VerifyCode::Valid)
    );
    assert_eq!(page.events[1].outcome, AuditOutcome::Ok);

    let mut export = keyward
        .export_audit(&AuditQuery {
            kind: Some(AuditKind::KeyCreated),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut ndjson = Vec::new();
    while let Some(chunk) = export.next_chunk().await.unwrap() {
        ndjson.extend(chunk);
    }
    let lines: Vec<keyward_client::api::AuditEvent> = String::from_utf8(ndjson)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0], page.events[1]);

    let check = keyward.check_chain().await.unwrap().value;
    assert!(check.valid, "{check:?}");

    let anchor = keyward.anchor().await.unwrap();
    assert_eq!(anchor.value.format, "keyward-audit-anchor/1");
    let as_signed: serde_json::Value = serde_json::from_str(&anchor.raw).unwrap();
    let against = keyward
        .check_chain_against_anchor(&as_signed)
        .await
        .unwrap()
        .value;
    assert!(against.valid, "{against:?}");
    assert_eq!(against.anchor_seq, Some(anchor.value.seq));
}

#[tokio::test]
async fn a_leaked_key_reported_without_a_root_key_is_revoked() {
    let server = server::start().await;
    let key = server
        .client()
        .create_key(&CreateKeyRequest {
            name: "Shared by mistake".into(),
            ..CreateKeyRequest::default()
        })
        .await
        .unwrap()
        .value;
    let accepted = server
        .anonymous()
        .report_leaks(&LeakReport {
            keys: vec![LeakedKey::Bare(key.key)],
            source: Some("client test".into()),
        })
        .await
        .unwrap();
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(accepted.value.received, 1);
    let shown = server.client().key(&key.record.id).await.unwrap().value;
    assert_eq!(shown.status, KeyStatus::Revoked);
}
