//! A generated key as the benchmarks' bulk imports store it (hash and display start only),
//! with its `key.created` event; shared by the examples that fill databases.

use chrono::{DateTime, Utc};
use keyward_core::{
    ids, ApiKey, EventKind, KeyFormatError, KeyHash, KeyPrefix, KeyRecord, NewEvent, Permission,
};

/// The `i`-th generated key of `workspace_id`, with `permissions`: its plaintext, its record
/// and its creation event.
pub fn generated_key(
    workspace_id: &str,
    prefix: &KeyPrefix,
    permissions: &[Permission],
    i: usize,
    now: DateTime<Utc>,
) -> Result<(ApiKey, KeyRecord, NewEvent), KeyFormatError> {
    let secret = ApiKey::generate(prefix)?;
    let key = KeyRecord {
        imported: false,
        id: ids::new_id(ids::KEY),
        workspace_id: workspace_id.to_owned(),
        name: format!("Benchmark Invoice Integration {i:07}"),
        description: None,
        owner_id: Some(format!("customer-{}", i % 1000)),
        hash: KeyHash::of(secret.expose()),
        start: secret.start(),
        permissions: permissions.to_vec(),
        enabled: true,
        expires_at: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
        revoked_at: None,
        revoked_reason: None,
        replaced_by: None,
        restrictions: Default::default(),
    };
    let event = NewEvent::new(workspace_id, now, EventKind::KeyCreated)
        .subject(&key.id, &key.name)
        .detail("bulk import");
    Ok((secret, key, event))
}
