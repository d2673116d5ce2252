//! A key's page: every detail and restriction (editable), enable or disable, revoke (with a
//! reason and a confirmation), rotate (a grace period, the new key shown once), its usage
//! chart and its audit trail.

use crate::charts;
use crate::error::{UiError, UiResult};
use crate::forms::{self, EnabledForm, KeyForm, RevokeForm, RotateForm};
use crate::layout::Layout;
use crate::pages::form_message;
use crate::pages::show_once::{self, NewKey};
use crate::session::{Posted, Signed};
use crate::views::{self, Badge};
use crate::Ui;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{Duration, Timelike};
use keyward_app::rights::{AuditRead, KeysRead, KeysWrite};
use keyward_app::{AppError, KeyChange};
use keyward_core::{AuditFilter, KeyRecord};
use serde::Deserialize;

/// One event of the key's trail as the page lists it.
pub struct EventRow {
    pub seq: i64,
    pub time: String,
    pub kind: String,
    pub actor: String,
    pub outcome: String,
    pub detail: String,
}

/// One safety advice item as the page shows it.
pub struct AdviceRow {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    layout: Layout,
    id: String,
    name: String,
    badges: Vec<Badge>,
    facts: Vec<(&'static str, String)>,
    form: KeyForm,
    editable: bool,
    enabled: bool,
    name_hint: &'static str,
    replaced_by: Option<String>,
    error: Option<String>,
    done: Option<&'static str>,
    chart: String,
    events: Vec<EventRow>,
    audit_note: Option<String>,
    advice: Vec<AdviceRow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowParams {
    done: String,
}

/// What a redirect after a change says on the page.
fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "updated" => Some("Saved."),
        "enabled" => Some("Enabled: the key verifies again."),
        "disabled" => Some("Disabled: the key is refused until it is enabled again."),
        "revoked" => Some("Revoked: the key is refused from now on."),
        "dismissed" => Some("Dismissed: the advice is hidden until its evidence changes."),
        _ => None,
    }
}

fn facts(ui: &Ui, key: &KeyRecord) -> Vec<(&'static str, String)> {
    let r = &key.restrictions;
    let (last_used, count) = views::usage(ui.app.usage(), &key.id);
    let credits = r.credits.as_ref().map_or_else(
        || "unlimited".to_owned(),
        |c| match &c.refill {
            Some(f) => format!(
                "{} left, refilled to {} every {} s",
                c.remaining, f.amount, f.interval_seconds
            ),
            None => format!("{} left", c.remaining),
        },
    );
    vec![
        ("Id", key.id.clone()),
        ("Starts with", key.start.clone()),
        ("Owner", key.owner_id.clone().unwrap_or_else(|| "—".into())),
        (
            "Description",
            key.description.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Permissions", views::joined(&key.permissions, "none")),
        ("Expires", views::optional_time(key.expires_at, "never")),
        (
            "IP addresses allowed",
            views::joined(&r.ip_allowlist, "any"),
        ),
        ("Origins allowed", views::joined(&r.origin_allowlist, "any")),
        ("Credits", credits),
        (
            "Rate limit",
            r.rate_limit.as_ref().map_or_else(
                || "none".to_owned(),
                |l| format!("{} per {} s", l.limit, l.window_seconds),
            ),
        ),
        ("Created", views::time(key.created_at)),
        ("Last used", last_used),
        ("Verifications", count.to_string()),
        (
            "Revoked",
            match (&key.revoked_at, &key.revoked_reason) {
                (Some(at), Some(reason)) => format!("{} ({reason})", views::time(*at)),
                (Some(at), None) => views::time(*at),
                _ => "no".into(),
            },
        ),
    ]
}

/// Renders the page of `key` with `status`; `form` replaces the stored values (a refused
/// edit shows what was typed) and `error` says what was refused.
async fn render(
    ui: &Ui,
    signed: Signed,
    key: KeyRecord,
    form: Option<KeyForm>,
    error: Option<String>,
    done: Option<&'static str>,
    status: StatusCode,
) -> UiResult<Response> {
    let now = ui.app.now();
    let chart = match signed.principal.authorize::<KeysRead>() {
        Ok(caller) => match ui
            .app
            .verification_activity(&caller, Some(&key.id), 24, Duration::hours(1))
            .await
        {
            Ok(activity) => {
                let labels: Vec<String> = (0..activity.buckets)
                    .map(|i| {
                        let at = activity.since + activity.bucket * (i as i32 + 1);
                        format!("{:02}h", at.hour())
                    })
                    .collect();
                charts::stacked(&activity.of(&key.id), &labels)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading a key's activity failed");
                String::new()
            }
        },
        Err(_) => String::new(),
    };
    let (events, audit_note) = match signed.principal.authorize::<AuditRead>() {
        Ok(caller) => {
            let filter = AuditFilter {
                key_id: Some(key.id.clone()),
                kind: None,
                action: None,
                outcome: None,
                since: None,
                until: None,
                before_seq: None,
                limit: 20,
            };
            match ui.app.events(&caller, filter).await {
                Ok(page) => (page.events.iter().map(event_row).collect(), None),
                Err(e) => {
                    tracing::warn!(error = %e, "reading a key's audit trail failed");
                    (
                        Vec::new(),
                        Some(
                            "The audit trail could not be read just now; reload in a moment."
                                .into(),
                        ),
                    )
                }
            }
        }
        Err(_) => (
            Vec::new(),
            Some(
                "The signed-in root key may not read the audit trail (it needs audit:read).".into(),
            ),
        ),
    };
    let advice = match signed.principal.authorize::<KeysRead>() {
        Ok(caller) => match ui.app.key_advice(&caller, &key.id).await {
            Ok(items) => items
                .into_iter()
                .map(|i| AdviceRow {
                    code: i.code.as_str(),
                    severity: i.severity.as_str(),
                    message: i.message,
                    since: views::time(i.since),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading a key's advice failed");
                Vec::new()
            }
        },
        Err(_) => Vec::new(),
    };
    let html = KeyPage {
        layout: signed.layout.at("keys"),
        id: key.id.clone(),
        name: key.name.clone(),
        badges: views::badges(&key, now),
        facts: facts(ui, &key),
        form: form.unwrap_or_else(|| forms::key_form(&key)),
        editable: key.revoked_at.is_none() && key.replaced_by.is_none(),
        enabled: key.enabled,
        name_hint: keyward_core::name::NAME_HINT,
        replaced_by: key.replaced_by.clone(),
        error,
        done,
        chart,
        events,
        audit_note,
        advice,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

pub fn event_row(e: &keyward_core::AuditEvent) -> EventRow {
    let ev = &e.event;
    EventRow {
        seq: e.seq,
        time: ev.time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        kind: ev.kind.clone(),
        actor: ev
            .actor_name
            .clone()
            .or_else(|| ev.actor_id.clone())
            .unwrap_or_else(|| "—".into()),
        outcome: ev.outcome.clone(),
        detail: ev.detail.clone().unwrap_or_default(),
    }
}

pub async fn show(
    State(ui): State<Ui>,
    signed: Signed,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> UiResult<Response> {
    let caller = signed.principal.authorize::<KeysRead>()?;
    let key = ui.app.key(&caller, &id).await?;
    render(
        &ui,
        signed,
        key,
        None,
        None,
        done_message(&params.done),
        StatusCode::OK,
    )
    .await
}

/// A refused change: the key's page again, with the message (and what was typed).
async fn refused(
    ui: &Ui,
    signed: Signed,
    id: &str,
    e: AppError,
    form: Option<KeyForm>,
) -> UiResult<Response> {
    let Some(message) = form_message(&e) else {
        return Err(UiError::from(e));
    };
    let status = match e {
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    };
    let caller = signed.principal.authorize::<KeysRead>()?;
    let key = ui.app.key(&caller, id).await?;
    render(ui, signed, key, form, Some(message), None, status).await
}

fn after(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/ui/keys/{id}?done={done}")).into_response()
}

pub async fn update(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    posted: Posted<KeyForm>,
) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let reader = signed.principal.authorize::<KeysRead>()?;
    let key = ui.app.key(&reader, &id).await?;
    let result = match forms::key_patch(&form, &key, ui.app.now()) {
        Ok(patch) => ui.app.update_key(&caller, &id, patch).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(KeyChange { .. }) => Ok(after(&id, "updated")),
        Err(e) => refused(&ui, signed, &id, e, Some(form)).await,
    }
}

pub async fn set_enabled(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    posted: Posted<EnabledForm>,
) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let enabled = form.enabled == "true";
    let mut patch = keyward_app::KeyPatch::empty(ui.app.now());
    patch.enabled = Some(enabled);
    match ui.app.update_key(&caller, &id, patch).await {
        Ok(_) => Ok(after(&id, if enabled { "enabled" } else { "disabled" })),
        Err(e) => refused(&ui, signed, &id, e, None).await,
    }
}

pub async fn revoke(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    posted: Posted<RevokeForm>,
) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let result = match forms::revocation(&form) {
        Ok(reason) => ui.app.revoke_key(&caller, &id, reason).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(after(&id, "revoked")),
        Err(e) => refused(&ui, signed, &id, e, None).await,
    }
}

pub async fn rotate(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    posted: Posted<RotateForm>,
) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let result = match forms::grace_seconds(&form) {
        Ok(grace) => ui
            .app
            .rotate_key(&caller, &id, grace)
            .await
            .map(|issued| (issued, grace)),
        Err(e) => Err(e),
    };
    match result {
        Ok((issued, grace)) => {
            let note = if grace == 0 {
                "The old key was revoked now.".to_owned()
            } else {
                format!(
                    "The old key keeps working for {} more minutes, then stops.",
                    grace / 60
                )
            };
            show_once::render(
                signed.layout.at("keys"),
                NewKey {
                    heading: format!("Key “{}” rotated", issued.key.name),
                    secret: &issued.secret,
                    key_id: &issued.key.id,
                    record_url: format!("/ui/keys/{}", issued.key.id),
                    handover: true,
                    note: Some(note),
                },
            )
        }
        Err(e) => refused(&ui, signed, &id, e, None).await,
    }
}

/// Dismisses the key's advice item `code` until its evidence changes.
pub async fn dismiss_advice(
    State(ui): State<Ui>,
    Path((id, code)): Path<(String, String)>,
    posted: Posted<forms::CsrfOnly>,
) -> UiResult<Response> {
    let Posted { signed, .. } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let Some(code) = keyward_core::advice::AdviceCode::parse(&code) else {
        return refused(
            &ui,
            signed,
            &id,
            AppError::Invalid("no such advice".into()),
            None,
        )
        .await;
    };
    match ui.app.dismiss_advice(&caller, &id, code).await {
        Ok(_) => Ok(after(&id, "dismissed")),
        Err(e) => refused(&ui, signed, &id, e, None).await,
    }
}
