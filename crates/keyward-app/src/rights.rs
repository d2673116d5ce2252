//! Who calls, and what they may do. A [`Principal`] is an authenticated root key (only
//! [`crate::Keyward::authenticate`] makes one); a [`Caller<R>`] proves the principal holds the
//! right `R` (only [`Principal::authorize`] makes one), and every operation of the core takes
//! the `Caller` for its right: an interface cannot reach an operation without the check.
//! The edge authorizes first, then parses the request, so a caller without the right is
//! refused before anything it sent is looked at.

use crate::error::AppError;
use keyward_core::model::rights;
use keyward_core::{Permission, RootKey};
use std::marker::PhantomData;
use std::sync::Arc;

/// The root key that made a request, checked and not revoked.
#[derive(Clone)]
pub struct Principal(Arc<RootKey>);

impl Principal {
    pub(crate) fn new(root: Arc<RootKey>) -> Self {
        Self(root)
    }

    pub fn workspace_id(&self) -> &str {
        &self.0.workspace_id
    }

    pub fn id(&self) -> &str {
        &self.0.id
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn permissions(&self) -> &[Permission] {
        &self.0.permissions
    }

    /// A [`Caller`] for the right `R`; `Forbidden` unless this root key holds it.
    pub fn authorize<R: Right>(&self) -> Result<Caller<'_, R>, AppError> {
        let needed = Permission::parse(R::NAME).map_err(|e| AppError::Internal(e.to_string()))?;
        if Permission::any_grants(&self.0.permissions, &needed) {
            Ok(Caller {
                principal: self,
                right: PhantomData,
            })
        } else {
            Err(AppError::Forbidden(format!(
                "this root key lacks the right {:?}",
                R::NAME
            )))
        }
    }
}

/// A principal that holds the right `R`.
pub struct Caller<'p, R> {
    principal: &'p Principal,
    right: PhantomData<R>,
}

impl<R> Caller<'_, R> {
    pub fn principal(&self) -> &Principal {
        self.principal
    }

    pub fn workspace_id(&self) -> &str {
        self.principal.workspace_id()
    }
}

/// A right a root key can hold.
pub trait Right {
    const NAME: &'static str;
}

macro_rules! right {
    ($(#[$doc:meta])* $name:ident = $text:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl Right for $name {
            const NAME: &'static str = $text;
        }
    };
}

right!(/// Read keys and the workspace policy.
    KeysRead = rights::KEYS_READ);
right!(/// Create, change, revoke and rotate keys.
    KeysWrite = rights::KEYS_WRITE);
right!(/// Verify keys.
    KeysVerify = rights::KEYS_VERIFY);
right!(/// Read the audit trail and the workspace settings; check and anchor the chain.
    AuditRead = rights::AUDIT_READ);
right!(/// Create, list and revoke root keys.
    RootKeysWrite = rights::ROOT_KEYS_WRITE);
right!(/// Change the workspace settings.
    WorkspaceWrite = rights::WORKSPACE_WRITE);
right!(/// Change the workspace policy.
    PolicyWrite = rights::POLICY_WRITE);

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::KeyHash;

    fn principal(rights: &[&str]) -> Principal {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Principal::new(Arc::new(RootKey {
            id: "rk_1".into(),
            workspace_id: "ws_1".into(),
            name: "ops".into(),
            hash: KeyHash::of("kw_root_x"),
            start: "kw_root_x".into(),
            permissions: rights
                .iter()
                .map(|r| Permission::parse(r).unwrap())
                .collect(),
            created_at: now,
            revoked_at: None,
        }))
    }

    #[test]
    fn a_caller_exists_only_for_a_right_the_principal_holds() {
        let reader = principal(&[rights::KEYS_READ]);
        assert!(reader.authorize::<KeysRead>().is_ok());
        match reader.authorize::<KeysWrite>() {
            Err(AppError::Forbidden(message)) => assert!(message.contains("keys:write")),
            _ => panic!("keys:read must not authorize keys:write"),
        }
        let owner = principal(&["*"]);
        assert!(owner.authorize::<PolicyWrite>().is_ok());
        assert_eq!(
            owner.authorize::<AuditRead>().unwrap().workspace_id(),
            "ws_1"
        );
    }
}
