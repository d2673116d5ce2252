//! Secrets: only digests are stored and nothing secret is logged, in the database, the
//! journal or the log (`stored_and_logged`); `Debug` of every type holding a secret prints
//! none, and the suite-wide check on bodies and logs bites (`debug_output`); an in-process
//! server's log is captured for that check (`captured_log`). The check itself runs on every
//! answer and every log of the suite (`crate::helpers::secrets`).

mod captured_log;
mod debug_output;
mod stored_and_logged;
