//! What the end-to-end tests share, by purpose: starting servers (`spawn`, with
//! `in_process` and its log, `log_capture`), remembering the secrets handed out and
//! searching bodies and logs for them (`secrets`), the HTTP client (`http`), test data
//! (`data`), and a TCP proxy to cut a node off its database (`tcp_proxy`). Tests import from here.

pub mod data;
pub mod http;
pub mod in_process;
pub mod log_capture;
pub mod secrets;
pub mod spawn;
pub mod tcp_proxy;

pub use data::*;
pub use http::*;
pub use secrets::*;
pub use spawn::*;
