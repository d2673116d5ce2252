//! Permission names and permission expressions on arbitrary text: never panics, errors say
//! where within the text, and whatever parses holds for `*` and never for no permission.
#![no_main]

use keyward_core::{Permission, PermissionQuery};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(permission) = Permission::parse(text) {
        assert_eq!(permission.as_str(), text);
        assert!(permission.grants(&permission));
    }
    match PermissionQuery::parse(text) {
        Ok(query) => {
            let everything = [Permission::parse("*").expect("* is a permission")];
            assert!(query.is_satisfied_by(&everything), "{text:?}");
            assert!(!query.is_satisfied_by(&[]), "{text:?}");
        }
        Err(e) => assert!(e.position <= text.chars().count() + 1, "{e} for {text:?}"),
    }
});
