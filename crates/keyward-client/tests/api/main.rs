//! The client against a real keyward server in this process (`server.rs` starts it), every
//! route once and the mapping of the server's errors; and against hand-written HTTP answers
//! for what a healthy server never sends (`transport.rs`).

mod errors;
mod routes;
mod server;
mod transport;
