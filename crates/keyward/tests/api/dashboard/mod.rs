//! The dashboard under `/ui`: its HTTP rules (headers, cookie, forms refused from another
//! origin or without the session's token, show-once answers) over plain HTTP, and whole
//! journeys in real headless Chromium driven over WebDriver (`browser`), with axe-core run
//! on every page and a screenshot of every page in `target/ui-screenshots/`.

mod browser;
mod expiry;
mod http;
mod journey;
