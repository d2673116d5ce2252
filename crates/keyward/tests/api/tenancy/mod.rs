//! Tenancy: authentication takes root keys only (`401`), each right opens exactly its own
//! endpoints (`403` otherwise; `rights`), and another workspace's objects and audit trail
//! answer exactly as missing ones and are never changed (`isolation`).

mod isolation;
mod rights;
mod support;
