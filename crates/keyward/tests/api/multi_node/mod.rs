//! Several nodes on one database: what one node writes, the others' indexes learn through
//! the change log (`keyward_app::follow`), and a node whose feed is down fails closed.
//! `propagation` is the scenario every engine runs (changes through node A, timed until
//! node B's verify answer flips); `sqlite` runs it with two nodes on one database file
//! (polling), `postgres` with two `keyward serve` nodes on one PostgreSQL database (push
//! through `LISTEN/NOTIFY`), when `KEYWARD_TEST_POSTGRES_URL` is set.
//!
//! On PostgreSQL too: counters that add up across nodes (`counters`), one audit chain when a
//! node process is SIGKILLed mid-load and restarted on an empty directory (`kill`, with
//! `process`), and a node cut off its database or started without it (`outage`); `node`
//! builds in-process nodes whose store the test configures (timeouts, a proxy). The Redis
//! test also needs `KEYWARD_REDIS_URL`.

mod counters;
mod kill;
pub mod node;
mod outage;
mod postgres;
pub mod process;
mod propagation;
mod serve_node;
mod sqlite;
