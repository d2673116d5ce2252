//! Ids and checks the tenancy tests share.

use crate::helpers::{settings, Api, NewKey};

pub(crate) const UNKNOWN_ROOT_ID: &str = "rk_0192f0c5e3a27d4c9b1e8f3a6d5c4b21";
pub(crate) const STRIPE: &str = "Stripe Invoice Sending Integration";

/// The key is exactly as it was and still verifies.
pub(crate) async fn assert_untouched(api: &Api<'_>, key: &NewKey) {
    let shown = api.show_key(&key.id).await.expect(200).clone();
    assert_eq!(settings(&shown), settings(&key.body), "the key was changed");
    assert_eq!(api.verify_code(&key.key, None).await, "VALID");
}
