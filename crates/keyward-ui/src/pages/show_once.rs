//! The page that shows a new key once: rendered straight into the answer of the POST that
//! made it (never a redirect to a page that could show it again), with `no-store`. It offers
//! a one-time handover link for a customer key.

use crate::error::{page, UiResult};
use crate::layout::Layout;
use askama::Template;
use axum::response::Response;
use keyward_core::ApiKey;

#[derive(Template)]
#[template(path = "show_once.html")]
struct ShowOncePage {
    layout: Layout,
    heading: String,
    key: String,
    key_id: String,
    /// Where the record of the key is (its page).
    record_url: String,
    /// Customer keys can be handed over through a link; root keys are not.
    handover: bool,
    note: Option<String>,
}

pub struct NewKey<'a> {
    pub heading: String,
    pub secret: &'a ApiKey,
    pub key_id: &'a str,
    pub record_url: String,
    pub handover: bool,
    pub note: Option<String>,
}

pub fn render(layout: Layout, new: NewKey<'_>) -> UiResult<Response> {
    page(ShowOncePage {
        layout,
        heading: new.heading,
        key: new.secret.expose().to_owned(),
        key_id: new.key_id.to_owned(),
        record_url: new.record_url,
        handover: new.handover,
        note: new.note,
    })
}
