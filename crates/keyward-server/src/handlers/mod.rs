//! HTTP handlers: thin functions that extract, call the domain and map the result.

pub mod advice;
pub mod audit;
pub mod health;
pub mod import;
pub mod keys;
pub mod leaks;
pub mod operations;
pub mod policy;
pub mod root_keys;
pub mod verify;
pub mod workspace;
