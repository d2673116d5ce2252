//! Conversions from domain records to wire types.

use chrono::{DateTime, Utc};
use keyward_api::{Key, RootKeyInfo};
use keyward_core::{KeyRecord, RootKey};

pub fn key_view(key: &KeyRecord, now: DateTime<Utc>) -> Key {
    Key {
        id: key.id.clone(),
        workspace_id: key.workspace_id.clone(),
        name: key.name.clone(),
        description: key.description.clone(),
        owner_id: key.owner_id.clone(),
        start: key.start.clone(),
        permissions: key.permissions.iter().map(|p| p.to_string()).collect(),
        status: key.status(now).as_str().to_owned(),
        enabled: key.enabled,
        expires_at: key.expires_at,
        metadata: key.metadata.clone(),
        created_at: key.created_at,
        updated_at: key.updated_at,
        revoked_at: key.revoked_at,
        revoked_reason: key.revoked_reason.clone(),
        replaced_by: key.replaced_by.clone(),
    }
}

pub fn root_key_view(root: &RootKey) -> RootKeyInfo {
    RootKeyInfo {
        id: root.id.clone(),
        workspace_id: root.workspace_id.clone(),
        name: root.name.clone(),
        start: root.start.clone(),
        permissions: root.permissions.iter().map(|p| p.to_string()).collect(),
        created_at: root.created_at,
        revoked_at: root.revoked_at,
    }
}
