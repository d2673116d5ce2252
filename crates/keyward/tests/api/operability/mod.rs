//! What operators read: the OpenAPI document, the Prometheus metrics, the request log and
//! request ids.

mod metrics;
mod openapi;
mod request_log;
