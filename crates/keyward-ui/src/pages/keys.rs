//! The keys list (filters, paging, badges, a sparkline of recent use) and creating a key.

use crate::charts;
use crate::error::{page, UiError, UiResult};
use crate::forms::{self, KeyForm};
use crate::layout::Layout;
use crate::pages::form_message;
use crate::pages::show_once::{self, NewKey};
use crate::session::{Posted, Signed};
use crate::views::{self, Badge};
use crate::Ui;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Duration;
use keyward_app::rights::{KeysRead, KeysWrite};
use keyward_app::{AppError, KeyQuery};
use keyward_core::name::NAME_HINT;
use keyward_core::{KeyStatus, Permission};
use serde::Deserialize;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub start: String,
    pub badges: Vec<Badge>,
    pub permissions: String,
    pub owner: String,
    pub expires: String,
    pub last_used: String,
    pub spark: String,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    layout: Layout,
    params: ListParams,
    rows: Vec<KeyRow>,
    error: Option<String>,
    next_url: Option<String>,
    filtered: bool,
    statuses: [(&'static str, &'static str); 5],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ListParams {
    /// `active` unless asked; `any` for every status.
    pub status: String,
    pub owner: String,
    pub permission: String,
    pub q: String,
    pub cursor: String,
}

impl Default for ListParams {
    fn default() -> Self {
        Self {
            status: "active".into(),
            owner: String::new(),
            permission: String::new(),
            q: String::new(),
            cursor: String::new(),
        }
    }
}

impl ListParams {
    fn query(&self) -> Result<KeyQuery, AppError> {
        let status = match self.status.as_str() {
            "any" => None,
            s => Some(KeyStatus::parse(s).ok_or_else(|| {
                AppError::Invalid("status must be active, disabled, expired, revoked or any".into())
            })?),
        };
        let permission = match self.permission.trim() {
            "" => None,
            p => Some(
                Permission::parse(p).map_err(|e| AppError::Invalid(format!("permission: {e}")))?,
            ),
        };
        let owner = Some(self.owner.trim().to_owned()).filter(|o| !o.is_empty());
        let cursor = Some(self.cursor.clone()).filter(|c| !c.is_empty());
        Ok(KeyQuery::new(owner, status, Some(25), cursor)?
            .matching(Some(self.q.clone()), permission))
    }

    /// This listing's address with `cursor` for the next page.
    fn url_with_cursor(&self, cursor: &str) -> String {
        let pairs = [
            ("status", self.status.as_str()),
            ("owner", self.owner.as_str()),
            ("permission", self.permission.as_str()),
            ("q", self.q.as_str()),
            ("cursor", cursor),
        ];
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::views::query_value(v)))
            .collect();
        format!("/ui/keys?{}", query.join("&"))
    }
}

const STATUSES: [(&str, &str); 5] = [
    ("active", "Active"),
    ("disabled", "Disabled"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
    ("any", "Any status"),
];

pub async fn list(
    State(ui): State<Ui>,
    signed: Signed,
    Query(params): Query<ListParams>,
) -> UiResult<Response> {
    let caller = signed.principal.authorize::<KeysRead>()?;
    let filtered = params.status != "active"
        || !params.owner.is_empty()
        || !params.permission.is_empty()
        || !params.q.is_empty();
    let mut rows = Vec::new();
    let mut error = None;
    let mut next_url = None;
    match params.query() {
        Err(e) => error = Some(e.to_string()),
        Ok(query) => match ui.app.list_keys(&caller, query).await {
            Ok(page) => {
                // The sparklines are a convenience: without them the list still shows.
                let activity = ui
                    .app
                    .verification_activity(&caller, None, 7, Duration::days(1))
                    .await
                    .ok();
                // Advice counts from the workspace's list (one read of its worst 1,000 items).
                let mut advice: std::collections::HashMap<String, usize> = Default::default();
                for a in ui
                    .app
                    .workspace_advice(&caller, None, 1000)
                    .await
                    .unwrap_or_default()
                {
                    *advice.entry(a.key_id).or_default() += 1;
                }
                next_url = page
                    .next_cursor
                    .as_deref()
                    .map(|c| params.url_with_cursor(c));
                for key in &page.keys {
                    let (last_used, _) = views::usage(ui.app.usage(), &key.id);
                    rows.push(KeyRow {
                        id: key.id.clone(),
                        name: key.name.clone(),
                        start: key.start.clone(),
                        badges: {
                            let mut badges = views::badges(key, page.at);
                            if let Some(n) = advice.get(&key.id) {
                                badges.push(views::advice_badge(*n));
                            }
                            badges
                        },
                        permissions: views::joined(&key.permissions, "none"),
                        owner: key.owner_id.clone().unwrap_or_else(|| "—".into()),
                        expires: views::optional_time(key.expires_at, "never"),
                        last_used,
                        spark: activity
                            .as_ref()
                            .map(|a| charts::sparkline(&a.of(&key.id)))
                            .unwrap_or_default(),
                    });
                }
            }
            Err(AppError::Invalid(m)) => error = Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "listing keys for the dashboard failed");
                error = Some(
                    "The keys could not be read from storage just now. Reload the page in a moment; nothing was changed.".into(),
                );
            }
        },
    }
    page(KeysPage {
        layout: signed.layout.at("keys"),
        params,
        rows,
        error,
        next_url,
        filtered,
        statuses: STATUSES,
    })
}

#[derive(Template)]
#[template(path = "key_new.html")]
struct NewKeyPage {
    layout: Layout,
    form: KeyForm,
    error: Option<String>,
    name_hint: &'static str,
}

pub async fn new_form(signed: Signed) -> UiResult<Response> {
    signed.principal.authorize::<KeysWrite>()?;
    page(NewKeyPage {
        layout: signed.layout.at("keys"),
        form: KeyForm::default(),
        error: None,
        name_hint: NAME_HINT,
    })
}

pub async fn create(State(ui): State<Ui>, posted: Posted<KeyForm>) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let result = match forms::key_draft(&form, ui.app.now()) {
        Ok(draft) => ui.app.create_key(&caller, draft).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => show_once::render(
            signed.layout.at("keys"),
            NewKey {
                heading: format!("Key “{}” created", issued.key.name),
                secret: &issued.secret,
                key_id: &issued.key.id,
                record_url: format!("/ui/keys/{}", issued.key.id),
                handover: true,
                note: None,
            },
        ),
        Err(e) => match form_message(&e) {
            Some(message) => {
                let status = match e {
                    AppError::Invalid(_) => StatusCode::BAD_REQUEST,
                    AppError::Forbidden(_) => StatusCode::FORBIDDEN,
                    _ => StatusCode::CONFLICT,
                };
                let html = NewKeyPage {
                    layout: signed.layout.at("keys"),
                    form,
                    error: Some(message),
                    name_hint: NAME_HINT,
                }
                .render()?;
                Ok((status, Html(html)).into_response())
            }
            None => Err(UiError::from(e)),
        },
    }
}
