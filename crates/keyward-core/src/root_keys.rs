//! Who may revoke a root key: the rules that keep a workspace's owners from being locked out.
//!
//! Without them a root key holding only `root_keys:write` could revoke every other root key,
//! the initial `*` key included, and nothing could mint a root key for that workspace again.

use crate::model::{rights, RootKey};
use crate::permission::Permission;

/// The rights a workspace must never lose through another key's hand: `*` (everything) and
/// `root_keys:write` (the only way to mint root keys).
const GUARDED_RIGHTS: [&str; 2] = ["*", rights::ROOT_KEYS_WRITE];

/// Why a revocation is refused. The messages name rights, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationRefused {
    #[error("a root key can only revoke root keys whose rights it holds entirely; it lacks {0:?}")]
    LacksRight(String),
    #[error(
        "this is the workspace's last active root key holding {0:?}: only it can revoke itself"
    )]
    LastHolder(&'static str),
}

/// Whether `revoker` may revoke `target`. `workspace` is every root key of their workspace as
/// stored now (revoked ones included; they are ignored), read under the same lock as the
/// revocation that follows.
///
/// - A key may always revoke itself.
/// - Otherwise the revoker must hold every right of the target (`keys:*` covers `keys:read`,
///   only `*` covers `*`).
/// - And the target must not be the last active root key holding `*` or `root_keys:write`:
///   those are revoked by nobody but themselves. (A revoker holding all of a target's rights
///   holds those too, so this bites when the revoker was itself revoked a moment earlier: two
///   `*` keys revoking each other at once must not both succeed.)
pub fn check_revocation(
    revoker: &RootKey,
    target: &RootKey,
    workspace: &[RootKey],
) -> Result<(), RevocationRefused> {
    if revoker.id == target.id {
        return Ok(());
    }
    if let Some(missing) = target
        .permissions
        .iter()
        .find(|p| !Permission::any_grants(&revoker.permissions, p))
    {
        return Err(RevocationRefused::LacksRight(missing.as_str().to_owned()));
    }
    for right in GUARDED_RIGHTS {
        let Ok(right_permission) = Permission::parse(right) else {
            continue;
        };
        let holds = |key: &RootKey| Permission::any_grants(&key.permissions, &right_permission);
        let another_holder = workspace.iter().any(|key| {
            key.id != target.id
                && key.workspace_id == target.workspace_id
                && key.revoked_at.is_none()
                && holds(key)
        });
        if holds(target) && !another_holder {
            return Err(RevocationRefused::LastHolder(right));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::KeyHash;
    use chrono::{TimeZone, Utc};

    fn root(id: &str, rights: &[&str]) -> RootKey {
        RootKey {
            id: id.to_owned(),
            workspace_id: "ws_1".to_owned(),
            name: format!("Root key {id}"),
            hash: KeyHash::of(id),
            start: "kw_root_x".to_owned(),
            permissions: rights
                .iter()
                .map(|r| Permission::parse(r).unwrap())
                .collect(),
            created_at: Utc.timestamp_opt(0, 0).unwrap(),
            revoked_at: None,
        }
    }

    #[test]
    fn a_key_revokes_only_keys_whose_rights_it_holds_entirely() {
        let all = root("rk_all", &["*"]);
        let admin = root("rk_admin", &["root_keys:write"]);
        let reader = root("rk_reader", &["root_keys:write", "keys:read"]);
        let keys_admin = root("rk_keys", &["root_keys:write", "keys:*"]);
        let peer = root("rk_peer", &["root_keys:write"]);
        let workspace = [
            all.clone(),
            admin.clone(),
            reader.clone(),
            keys_admin.clone(),
            peer.clone(),
        ];
        assert_eq!(
            check_revocation(&admin, &all, &workspace),
            Err(RevocationRefused::LacksRight("*".into()))
        );
        assert_eq!(
            check_revocation(&admin, &reader, &workspace),
            Err(RevocationRefused::LacksRight("keys:read".into()))
        );
        assert_eq!(
            check_revocation(&keys_admin, &all, &workspace),
            Err(RevocationRefused::LacksRight("*".into()))
        );
        assert_eq!(check_revocation(&admin, &peer, &workspace), Ok(()));
        assert_eq!(check_revocation(&keys_admin, &reader, &workspace), Ok(()));
        assert_eq!(check_revocation(&all, &keys_admin, &workspace), Ok(()));
    }

    #[test]
    fn the_last_key_holding_all_rights_or_root_keys_write_is_revoked_only_by_itself() {
        let first = root("rk_first", &["*"]);
        let mut second = root("rk_second", &["*"]);
        // Both active: either may revoke the other.
        let both = [first.clone(), second.clone()];
        assert_eq!(check_revocation(&second, &first, &both), Ok(()));
        // `second` was revoked a moment ago (its request already authenticated): `first` is
        // now the last `*` key, and only `first` may revoke it.
        second.revoked_at = Some(Utc.timestamp_opt(1, 0).unwrap());
        let one_left = [first.clone(), second.clone()];
        assert_eq!(
            check_revocation(&second, &first, &one_left),
            Err(RevocationRefused::LastHolder("*"))
        );
        assert_eq!(check_revocation(&first, &first, &one_left), Ok(()));

        // The last key able to mint root keys is guarded the same way, even from a key that
        // holds its rights but was revoked in the meantime.
        let minter = root("rk_minter", &["root_keys:write"]);
        let mut other = root("rk_other", &["root_keys:write", "keys:read"]);
        other.revoked_at = Some(Utc.timestamp_opt(1, 0).unwrap());
        let workspace = [minter.clone(), other.clone()];
        assert_eq!(
            check_revocation(&other, &minter, &workspace),
            Err(RevocationRefused::LastHolder("root_keys:write"))
        );
        // Another workspace's keys do not count as holders.
        let mut foreign = root("rk_foreign", &["*"]);
        foreign.workspace_id = "ws_2".into();
        let with_foreign = [first.clone(), second, foreign];
        assert_eq!(
            check_revocation(&root("rk_x", &["*"]), &first, &with_foreign),
            Err(RevocationRefused::LastHolder("*"))
        );
    }
}
