//! Root keys: list, create with limited rights (the new key shown once), revoke.

use crate::error::{UiError, UiResult};
use crate::forms::{self, RevokeForm, RootKeyForm};
use crate::layout::Layout;
use crate::pages::form_message;
use crate::pages::show_once::{self, NewKey};
use crate::session::{Posted, Signed};
use crate::views;
use crate::Ui;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use keyward_app::rights::RootKeysWrite;
use keyward_app::{AppError, KNOWN_RIGHTS};

pub struct RootRow {
    pub id: String,
    pub name: String,
    pub start: String,
    pub rights: String,
    pub created: String,
    pub revoked: Option<String>,
    pub is_you: bool,
}

#[derive(Template)]
#[template(path = "root_keys.html")]
struct RootKeysPage {
    layout: Layout,
    rows: Vec<RootRow>,
    form: RootKeyForm,
    known_rights: String,
    error: Option<String>,
}

async fn render(
    ui: &Ui,
    signed: Signed,
    form: RootKeyForm,
    error: Option<String>,
    status: StatusCode,
) -> UiResult<Response> {
    let caller = signed.principal.authorize::<RootKeysWrite>()?;
    let mut roots = ui.app.root_keys(&caller).await?;
    roots.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let rows = roots
        .iter()
        .map(|r| RootRow {
            id: r.id.clone(),
            name: r.name.clone(),
            start: r.start.clone(),
            rights: views::joined(&r.permissions, "none"),
            created: views::time(r.created_at),
            revoked: r.revoked_at.map(views::time),
            is_you: r.id == signed.principal.id(),
        })
        .collect();
    let html = RootKeysPage {
        layout: signed.layout.at("root-keys"),
        rows,
        form,
        known_rights: KNOWN_RIGHTS.join(", "),
        error,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

pub async fn list(State(ui): State<Ui>, signed: Signed) -> UiResult<Response> {
    render(&ui, signed, RootKeyForm::default(), None, StatusCode::OK).await
}

pub async fn create(State(ui): State<Ui>, posted: Posted<RootKeyForm>) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<RootKeysWrite>()?;
    let result = match forms::root_key_draft(&form) {
        Ok(draft) => ui.app.create_root_key(&caller, draft).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((root, secret)) => show_once::render(
            signed.layout.at("root-keys"),
            NewKey {
                heading: format!("Root key “{}” created", root.name),
                secret: &secret,
                key_id: &root.id,
                record_url: "/ui/root-keys".into(),
                handover: false,
                note: Some(format!(
                    "It holds: {}.",
                    views::joined(&root.permissions, "none")
                )),
            },
        ),
        Err(e) => match form_message(&e) {
            Some(message) => {
                let status = if matches!(e, AppError::Forbidden(_)) {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::BAD_REQUEST
                };
                render(&ui, signed, form, Some(message), status).await
            }
            None => Err(UiError::from(e)),
        },
    }
}

pub async fn revoke(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    posted: Posted<RevokeForm>,
) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<RootKeysWrite>()?;
    if form.confirm.is_none() {
        let message = "Tick the confirmation box to revoke a root key.".to_owned();
        return render(
            &ui,
            signed,
            RootKeyForm::default(),
            Some(message),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match ui.app.revoke_root_key(&caller, &id).await {
        Ok(_) => Ok(Redirect::to("/ui/root-keys").into_response()),
        Err(e) => match form_message(&e) {
            Some(message) => {
                render(
                    &ui,
                    signed,
                    RootKeyForm::default(),
                    Some(message),
                    StatusCode::FORBIDDEN,
                )
                .await
            }
            None => Err(UiError::from(e)),
        },
    }
}
