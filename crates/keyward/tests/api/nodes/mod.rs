//! Several nodes on one PostgreSQL database (`node` in process, `process` as real
//! `keyward serve` processes): counters that add up across nodes (`counters`), one audit
//! chain when a node is killed mid-load (`kill`), and a node cut off its database or started
//! without it (`outage`). They run when `KEYWARD_TEST_POSTGRES_URL` is set (the Redis test
//! also needs `KEYWARD_REDIS_URL`), and otherwise say that they were skipped.

mod counters;
mod kill;
pub mod node;
mod outage;
pub mod process;
