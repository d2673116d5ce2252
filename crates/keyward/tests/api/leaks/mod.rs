//! Leak defence: keys found by `keyward scan --report` are revoked with where they were found
//! (`scan_and_report`), and a report's answer gives nothing away (`answers`).

mod answers;
mod scan_and_report;
mod support;
