//! Each rule of the safety advice appearing and clearing, on generated use.

use super::*;
use crate::hashing::KeyHash;
use chrono::TimeZone;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn key(perms: &[&str]) -> KeyRecord {
    KeyRecord {
        imported: false,
        id: "key_1".into(),
        workspace_id: "ws_1".into(),
        name: "Stripe Invoice Sending Integration".into(),
        description: None,
        owner_id: None,
        hash: KeyHash::of("x"),
        start: "bos_abcd".into(),
        permissions: perms
            .iter()
            .map(|p| Permission::parse(p).unwrap())
            .collect(),
        enabled: true,
        expires_at: None,
        metadata: Default::default(),
        created_at: t0(),
        updated_at: t0(),
        revoked_at: None,
        revoked_reason: None,
        replaced_by: None,
        restrictions: Default::default(),
    }
}

struct Case {
    key: KeyRecord,
    last_used_at: Option<DateTime<Utc>>,
    obs: KeyObservations,
    settings: AdviceSettings,
    successors: Vec<KeyRecord>,
}

impl Case {
    fn new(key: KeyRecord) -> Self {
        Self {
            key,
            last_used_at: None,
            obs: KeyObservations::new("ws_1", "key_1"),
            settings: AdviceSettings::default(),
            successors: Vec::new(),
        }
    }

    /// A `VALID` verification at `at` from `ip` asking for `required`.
    fn verify(&mut self, at: DateTime<Utc>, ip: &str, agent: &str, required: Option<&str>) {
        let required = required.map(|q| PermissionQuery::parse(q).unwrap());
        self.obs
            .record(&Sighting::new(at, Some(ip), None, Some(agent), required));
        self.last_used_at = Some(self.last_used_at.map_or(at, |l| l.max(at)));
    }

    fn items(&self, now: DateTime<Utc>) -> Vec<AdviceItem> {
        advise(&AdviceInput {
            key: &self.key,
            last_used_at: self.last_used_at,
            observations: Some(&self.obs),
            settings: &self.settings,
            successors: &self.successors,
            now,
        })
    }

    fn item(&self, now: DateTime<Utc>, code: AdviceCode) -> Option<AdviceItem> {
        self.items(now).into_iter().find(|i| i.code == code)
    }
}

#[test]
fn a_key_seen_from_many_networks_is_shared_until_the_window_passes() {
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(1);
    for host in 0..4 {
        case.verify(now, &format!("203.0.{host}.7"), "billing/1.0", None);
        // Many hosts of one /24 are one network.
        case.verify(now, &format!("198.51.100.{host}"), "billing/1.0", None);
    }
    assert_eq!(
        case.item(now, AdviceCode::SharedKey),
        None,
        "5 networks are within the threshold"
    );
    case.verify(now, "2001:db8:1:2::9", "billing/1.0", None);
    case.verify(now, "2001:db8:1:2::10", "billing/1.0", None);
    let item = case.item(now, AdviceCode::SharedKey).expect("6 networks");
    assert!(item.message.contains("6 networks"), "{}", item.message);
    assert_eq!(item.evidence["networks"], json!(6));
    assert!(item.evidence["recent_networks"]
        .as_array()
        .unwrap()
        .contains(&json!("2001:db8:1:2::/64")));
    // Seven days later the window no longer holds them.
    assert_eq!(
        case.item(now + Duration::days(8), AdviceCode::SharedKey),
        None
    );
}

#[test]
fn many_user_agents_or_origins_make_a_key_shared_per_workspace_thresholds() {
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(1);
    for agent in 0..3 {
        case.verify(now, "203.0.113.1", &format!("tool/{agent}"), None);
    }
    assert_eq!(case.item(now, AdviceCode::SharedKey), None);
    case.settings.shared_max_user_agents = 2;
    assert!(case.item(now, AdviceCode::SharedKey).is_some());
    let mut origins = Case::new(key(&[]));
    for o in [
        "https://a.example",
        "https://b.example",
        "https://c.example",
        "https://d.example",
    ] {
        origins
            .obs
            .record(&Sighting::new(now, None, Some(o), None, None));
    }
    let item = origins
        .item(now, AdviceCode::SharedKey)
        .expect("4 origins > 3");
    assert_eq!(item.evidence["origins"], json!(4));
}

#[test]
fn unused_permissions_wait_for_enough_use_and_name_the_narrower_set() {
    let mut case = Case::new(key(&["invoices:read", "invoices:write", "refunds:write"]));
    let start = t0() + Duration::days(1);
    case.verify(start, "203.0.113.1", "a", Some("invoices:read"));
    case.verify(
        start + Duration::days(20),
        "203.0.113.1",
        "a",
        Some("invoices:write"),
    );
    // Not judged before the key has been in use 30 days.
    assert_eq!(
        case.item(start + Duration::days(29), AdviceCode::UnusedPermissions),
        None
    );
    let now = start + Duration::days(30);
    let item = case
        .item(now, AdviceCode::UnusedPermissions)
        .expect("refunds unused");
    assert_eq!(item.evidence["unused"], json!(["refunds:write"]));
    assert_eq!(
        item.evidence["narrower"],
        json!(["invoices:read", "invoices:write"])
    );
    assert!(item.message.contains("refunds:write"));
    // Forty days on, invoices:read has not been needed for 30 days either.
    let later = case
        .item(start + Duration::days(41), AdviceCode::UnusedPermissions)
        .unwrap();
    assert_eq!(
        later.evidence["unused"],
        json!(["invoices:read", "refunds:write"])
    );
    assert_ne!(
        later.fingerprint, item.fingerprint,
        "new evidence, new fingerprint"
    );
    // Narrowing the key clears it.
    case.key.permissions = vec![Permission::parse("invoices:write").unwrap()];
    case.verify(now, "203.0.113.1", "a", Some("invoices:write"));
    assert_eq!(case.item(now, AdviceCode::UnusedPermissions), None);
}

#[test]
fn wildcards_where_only_specific_permissions_were_needed_are_wide() {
    let mut case = Case::new(key(&["*", "audit:read"]));
    let start = t0() + Duration::days(1);
    case.verify(
        start,
        "203.0.113.1",
        "a",
        Some("invoices:read AND invoices:write"),
    );
    case.verify(start, "203.0.113.1", "a", Some("audit:read"));
    let now = start + Duration::days(31);
    let item = case
        .item(now, AdviceCode::WidePermissions)
        .expect("* is wide");
    assert_eq!(item.evidence["wide"], json!(["*"]));
    assert_eq!(
        item.evidence["narrower"],
        json!(["audit:read", "invoices:read", "invoices:write"])
    );
    // A key that needs a wildcard is left alone; so is one without wildcards.
    let mut needs = Case::new(key(&["invoices:*"]));
    needs.verify(start, "203.0.113.1", "a", Some("invoices:*"));
    assert_eq!(needs.item(now, AdviceCode::WidePermissions), None);
    case.key.permissions = ["audit:read", "invoices:read", "invoices:write"]
        .iter()
        .map(|p| Permission::parse(p).unwrap())
        .collect();
    assert_eq!(case.item(now, AdviceCode::WidePermissions), None);
}

#[test]
fn stale_keys_never_used_or_unused_for_n_days_clear_when_used() {
    let mut case = Case::new(key(&[]));
    assert_eq!(
        case.item(t0() + Duration::days(89), AdviceCode::Stale),
        None
    );
    let never = case
        .item(t0() + Duration::days(90), AdviceCode::Stale)
        .unwrap();
    assert!(never.message.contains("never used"), "{}", never.message);
    let used = t0() + Duration::days(100);
    case.verify(used, "203.0.113.1", "a", None);
    assert_eq!(case.item(used + Duration::days(1), AdviceCode::Stale), None);
    let again = case
        .item(used + Duration::days(95), AdviceCode::Stale)
        .unwrap();
    assert!(
        again.message.contains("not used for 95 days"),
        "{}",
        again.message
    );
    assert_ne!(again.fingerprint, never.fingerprint);
    assert_eq!(again.since, used + Duration::days(90));
}

#[test]
fn auto_disabling_waits_m_days_after_the_last_use_or_change() {
    let mut settings = AdviceSettings::default();
    let mut k = key(&[]);
    assert!(
        !auto_disable_due(&k, None, &settings, t0() + Duration::days(400)),
        "off by default"
    );
    settings.auto_disable_days = Some(60);
    assert!(!auto_disable_due(
        &k,
        None,
        &settings,
        t0() + Duration::days(59)
    ));
    assert!(auto_disable_due(
        &k,
        None,
        &settings,
        t0() + Duration::days(60)
    ));
    let used = Some(t0() + Duration::days(30));
    assert!(!auto_disable_due(
        &k,
        used,
        &settings,
        t0() + Duration::days(60)
    ));
    // Re-enabled (a change) at day 61: not due again until day 121.
    k.enabled = false;
    assert!(
        !auto_disable_due(&k, None, &settings, t0() + Duration::days(61)),
        "disabled"
    );
    k.enabled = true;
    k.updated_at = t0() + Duration::days(61);
    assert!(!auto_disable_due(
        &k,
        None,
        &settings,
        t0() + Duration::days(120)
    ));
    assert!(auto_disable_due(
        &k,
        None,
        &settings,
        t0() + Duration::days(121)
    ));
}

#[test]
fn expiry_advice_follows_the_recommendation_and_the_date() {
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(1);
    assert_eq!(
        case.item(now, AdviceCode::NoExpiry),
        None,
        "not recommended by default"
    );
    case.settings.recommend_expiry = true;
    assert!(case.item(now, AdviceCode::NoExpiry).is_some());
    case.key.expires_at = Some(now + Duration::days(30));
    assert_eq!(case.item(now, AdviceCode::NoExpiry), None);
    assert_eq!(case.item(now, AdviceCode::ExpiringSoon), None);
    let soon = case
        .item(now + Duration::days(20), AdviceCode::ExpiringSoon)
        .unwrap();
    assert!(soon.message.contains("in 10 days"), "{}", soon.message);
    assert_eq!(soon.since, now + Duration::days(16));
    // Expired: no advice at all.
    assert!(case.items(now + Duration::days(31)).is_empty());
}

#[test]
fn imported_keys_are_advised_to_rotate_and_replaced_ones_are_not() {
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(1);
    assert_eq!(case.item(now, AdviceCode::Imported), None);
    case.key.imported = true;
    assert_eq!(
        case.item(now, AdviceCode::Imported).unwrap().severity,
        Severity::Warning
    );
    case.key.replaced_by = Some("key_2".into());
    assert_eq!(case.item(now, AdviceCode::Imported), None);
}

#[test]
fn a_rotated_key_in_grace_whose_successor_leaked_is_critical_until_it_stops() {
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(1);
    case.key.replaced_by = Some("key_2".into());
    case.key.expires_at = Some(now + Duration::days(7));
    let mut successor = key(&[]);
    successor.id = "key_2".into();
    case.successors = vec![successor.clone()];
    assert_eq!(case.item(now, AdviceCode::Leaked), None);
    successor.revoke(now, Some(format!("{LEAK_REASON_PREFIX}scanner")));
    case.successors = vec![successor];
    let item = case.item(now, AdviceCode::Leaked).unwrap();
    assert_eq!(item.severity, Severity::Critical);
    assert_eq!(case.items(now)[0].code, AdviceCode::Leaked, "worst first");
    // Once the grace period ends (or it is revoked) the key no longer verifies.
    assert!(case.items(now + Duration::days(8)).is_empty());
}

#[test]
fn generic_names_warn_per_the_workspace_list() {
    let generic = AdviceSettings::default().generic_names;
    for name in ["Backend", "prod server 2", "my-app", "Shared key"] {
        assert!(is_generic_name(name, &generic), "{name}");
    }
    for name in ["Stripe Invoice Sending Integration", "billing backend"] {
        assert!(!is_generic_name(name, &generic), "{name}");
    }
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(1);
    assert_eq!(case.item(now, AdviceCode::GenericName), None);
    case.settings.generic_names = vec!["stripe invoice sending integration".into()];
    let item = case.item(now, AdviceCode::GenericName).unwrap();
    assert_eq!(item.severity, Severity::Info);
}

#[test]
fn dismissals_hide_an_item_while_its_fingerprint_holds() {
    let mut case = Case::new(key(&[]));
    let now = t0() + Duration::days(100);
    let stale = case.item(now, AdviceCode::Stale).unwrap();
    let dismissal = Dismissal {
        workspace_id: "ws_1".into(),
        key_id: "key_1".into(),
        code: AdviceCode::Stale,
        fingerprint: stale.fingerprint.clone(),
        dismissed_by: "root_1".into(),
        dismissed_at: now,
    };
    let shown = without_dismissed(case.items(now), std::slice::from_ref(&dismissal));
    assert!(shown.iter().all(|i| i.code != AdviceCode::Stale));
    // Still hidden a day later: the counts moved, not what the item is about.
    let later = without_dismissed(
        case.items(now + Duration::days(1)),
        std::slice::from_ref(&dismissal),
    );
    assert!(later.iter().all(|i| i.code != AdviceCode::Stale));
    // Used, then stale again: new evidence brings it back.
    case.verify(now, "203.0.113.1", "a", None);
    let back = without_dismissed(case.items(now + Duration::days(91)), &[dismissal]);
    assert!(back.iter().any(|i| i.code == AdviceCode::Stale));
}

#[test]
fn observations_stay_bounded_and_merge_across_nodes() {
    let mut a = KeyObservations::new("ws_1", "key_1");
    for i in 0..200u32 {
        let at = t0() + Duration::seconds(i64::from(i));
        a.record(&Sighting::new(
            at,
            Some(&format!("10.{}.{}.1", i / 250, i % 250)),
            None,
            None,
            None,
        ));
    }
    assert_eq!(a.networks.len(), MAX_DISTINCT);
    assert!(
        a.networks.contains_key("10.0.199.0/24"),
        "the most recent are kept"
    );
    let mut b = KeyObservations::new("ws_1", "key_1");
    b.record(&Sighting::new(
        t0() - Duration::days(1),
        Some("192.0.2.1"),
        None,
        None,
        None,
    ));
    a.merge(&b);
    assert_eq!(
        a.seen.unwrap().0,
        (t0() - Duration::days(1)).timestamp_millis()
    );
    assert_eq!(a.networks.len(), MAX_DISTINCT);
    let json = serde_json::to_string(&a).unwrap();
    let back: KeyObservations = serde_json::from_str(&json).unwrap();
    assert_eq!(back.networks, a.networks);
}

#[test]
fn settings_are_checked_and_names_normalized() {
    let s = AdviceSettings {
        generic_names: vec!["My-App".into(), "my app".into()],
        ..AdviceSettings::default()
    };
    assert_eq!(
        s.checked().unwrap().generic_names,
        vec!["my app".to_owned()]
    );
    let bad = AdviceSettings {
        stale_days: 0,
        ..AdviceSettings::default()
    };
    assert_eq!(bad.checked(), Err(AdviceSettingsError::Days("stale_days")));
    let bad = AdviceSettings {
        shared_max_networks: 64,
        ..AdviceSettings::default()
    };
    assert!(bad.checked().is_err());
}
