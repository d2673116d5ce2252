//! Several nodes on one PostgreSQL database (`node`): counters that add up across nodes
//! (`counters`), and a node cut off its database or started without it (`outage`). They run
//! when `KEYWARD_TEST_POSTGRES_URL` is set (the Redis test also needs `KEYWARD_REDIS_URL`),
//! and otherwise say that they were skipped.

mod counters;
pub mod node;
mod outage;
