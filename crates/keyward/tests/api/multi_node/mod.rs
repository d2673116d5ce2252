//! Several nodes on one database: what one node writes, the others' indexes learn through
//! the change log (`keyward_app::follow`), and a node whose feed is down fails closed.
//! `propagation` is the scenario every engine runs (changes through node A, timed until
//! node B's verify answer flips); `sqlite` runs it with two nodes on one database file
//! (polling), `postgres` with two `keyward serve` nodes on one PostgreSQL database (push
//! through `LISTEN/NOTIFY`), when `KEYWARD_TEST_POSTGRES_URL` is set.

mod postgres;
mod propagation;
mod proxy;
mod serve_node;
mod sqlite;
