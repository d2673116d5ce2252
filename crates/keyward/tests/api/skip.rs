//! Tests that need an outside service (Redis now, PostgreSQL later) run when its URL is in the
//! environment, and otherwise say loudly that they were skipped: the line goes straight to
//! the process's stderr, which libtest does not capture (it captures only the `print!`
//! family), so it shows in every `cargo test` run next to the test's `ok`.
//! With `KEYWARD_REQUIRE_SERVICES=1` (set by `.ci/run`) a missing service fails the test.

use std::io::Write;

/// The value of `var`, or `None` after announcing that `test` is skipped (`how` says how to
/// run it).
pub fn service_url(var: &str, test: &str, how: &str) -> Option<String> {
    if let Ok(url) = std::env::var(var) {
        return Some(url);
    }
    let line = format!("SKIPPED {test}: {var} is not set; {how}");
    assert!(
        std::env::var("KEYWARD_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{line} (KEYWARD_REQUIRE_SERVICES=1 forbids skipping)"
    );
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(format!("\n{line}\n").as_bytes());
    let _ = stderr.flush();
    None
}
