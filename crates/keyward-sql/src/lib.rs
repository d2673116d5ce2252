//! What keyward's SQL engines (`keyward-sqlite`, `keyward-postgres`) share, so that both
//! store every value the same way and read it back with the same checks: the stored form of
//! each value (`columns`), key restrictions and credits as columns (`limits`), and the rows
//! read back with their conversion to domain records (`rows`, whose `FromRow` is derived
//! for any sqlx driver), and the key-status conditions of a listing (`keys`), and the signed verified prefix (`verified_prefix`). SQL statements stay in each engine.

pub mod advice;
pub mod columns;
pub mod dashboard;
pub mod keys;
pub mod limits;
pub mod rows;
pub mod verified_prefix;

pub use rows::IntoRecord;
