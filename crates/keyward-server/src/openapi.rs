//! The OpenAPI 3.1 document of the HTTP API, generated from the code: each handler carries
//! its `#[utoipa::path]`, the router registers handlers and their documentation together
//! (`utoipa_axum::routes!`, in `server.rs`), and the wire types derive their schemas
//! (`keyward-api`'s `openapi` feature). [`complete`] adds what every operation shares — the
//! root-key security scheme and the error answers any call can get — so no handler repeats
//! them. Served at `GET /openapi.json`; committed as `openapi.json` at the repository root,
//! which a test keeps equal to what the code generates.

use keyward_api::ErrorBody;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, RefOr};
use utoipa::{OpenApi as _, ToSchema};

/// The security scheme every authenticated operation names.
pub const ROOT_KEY_SCHEME: &str = "root_key";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "A self-hostable API key service: issue, verify, restrict, rotate, revoke \
                       and audit API keys. Management calls and `/v1/verify` authenticate with \
                       `Authorization: Bearer <root key>`. Every error is \
                       `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}` with the \
                       matching status.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "keys", description = "The key lifecycle"),
        (name = "verify", description = "Verifying a key a caller presented"),
        (name = "leaks", description = "Reporting keys found where they should not be (no authentication)"),
        (name = "root keys", description = "Workspace administrators' credentials"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "workspace", description = "Workspace settings and policy"),
        (name = "advice", description = "Safety advice about keys: shared, over-privileged, stale, badly named"),
        (name = "health", description = "Probes"),
        (name = "operations", description = "The API document and metrics"),
    )
)]
pub struct ApiDoc;

/// The document's base, before the router adds its paths.
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// Error answers shared by many operations: `(status, component name, when)`.
const SHARED_ERRORS: [(&str, &str, &str); 8] = [
    (
        "400",
        "BadRequest",
        "The request is malformed or a value is invalid; the message says which",
    ),
    (
        "401",
        "Unauthorized",
        "No valid root key in `Authorization: Bearer <root key>`",
    ),
    (
        "403",
        "Forbidden",
        "The root key lacks the right this call needs",
    ),
    (
        "408",
        "RequestTimeout",
        "The request, or its body, did not arrive in time",
    ),
    ("413", "PayloadTooLarge", "The body is over 64 KiB"),
    (
        "415",
        "UnsupportedMediaType",
        "The body was not sent as `Content-Type: application/json`",
    ),
    (
        "500",
        "Internal",
        "An internal error; nothing was exposed, the server log has the detail",
    ),
    (
        "503",
        "Unavailable",
        "Storage, the audit journal or the rate-limit backend is unavailable, or the server is \
         not ready: nothing was changed, try again",
    ),
];

/// Adds the security scheme and, to every operation, the shared error answers it can get:
/// every operation may time out; one with parameters or a body may be refused as malformed;
/// one with a body may be too large or not JSON; an authenticated one may be refused its
/// root key or right; every `/v1` operation may meet an unavailable store or an internal error.
pub fn complete(mut api: OpenApi) -> OpenApi {
    let components = api.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        ROOT_KEY_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A root key (`kw_root_…`), from `keyward init` or `POST /v1/root-keys`",
                ))
                .build(),
        ),
    );
    for (_, name, description) in SHARED_ERRORS {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(error_response(description)));
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let in_v1 = path.starts_with("/v1/");
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared_errors(operation, in_v1);
        }
    }
    api
}

fn add_shared_errors(operation: &mut Operation, in_v1: bool) {
    let has_body = operation.request_body.is_some();
    let has_params = operation
        .parameters
        .as_ref()
        .is_some_and(|params| !params.is_empty());
    let authenticated = operation
        .security
        .as_ref()
        .is_some_and(|security| !security.is_empty());
    for (status, name, _) in SHARED_ERRORS {
        let applies = match status {
            "400" => has_body || has_params,
            "401" | "403" => authenticated,
            "413" | "415" => has_body,
            "500" | "503" => in_v1,
            _ => true,
        };
        if applies {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

/// The document as committed and served: pretty JSON with a final newline.
pub fn to_json(api: &OpenApi) -> String {
    let mut json = api.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {

    use std::path::PathBuf;

    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")
    }

    /// The committed `openapi.json` is what the code generates. With
    /// `KEYWARD_UPDATE_OPENAPI=1` the test writes the file instead.
    #[test]
    fn the_committed_openapi_json_matches_the_code() {
        let generated = crate::server::openapi_document();
        let path = committed_path();
        if std::env::var_os("KEYWARD_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "openapi.json differs from what the code generates; regenerate it with\n\n    \
             KEYWARD_UPDATE_OPENAPI=1 cargo test -p keyward-server openapi\n\nand commit it"
        );
    }

    #[test]
    fn every_route_is_documented_with_its_error_answers() {
        let api = crate::server::openapi();
        let paths: Vec<&str> = api.paths.paths.keys().map(String::as_str).collect();
        for path in [
            "/v1/keys",
            "/v1/keys/{id}",
            "/v1/keys/{id}/revoke",
            "/v1/keys/{id}/rotate",
            "/v1/verify",
            "/v1/leaks",
            "/v1/root-keys",
            "/v1/root-keys/{id}/revoke",
            "/v1/audit",
            "/v1/audit/export",
            "/v1/audit/verify",
            "/v1/audit/anchor",
            "/v1/workspace",
            "/v1/policy",
            "/healthz",
            "/readyz",
            "/openapi.json",
        ] {
            assert!(paths.contains(&path), "{path} is not documented: {paths:?}");
        }
        let create = api.paths.paths["/v1/keys"].post.as_ref().unwrap();
        let statuses: Vec<&str> = create
            .responses
            .responses
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            statuses,
            ["201", "400", "401", "403", "408", "409", "413", "415", "500", "503"]
        );
        let leaks = api.paths.paths["/v1/leaks"].post.as_ref().unwrap();
        assert!(leaks.security.is_none(), "leak reports need no root key");
        assert!(!leaks.responses.responses.contains_key("401"));
    }

    #[test]
    fn an_open_wire_enum_says_it_may_hold_another_string() {
        let api = crate::server::openapi();
        let schemas = &api.components.unwrap().schemas;
        let code = serde_json::to_value(&schemas["VerifyCode"]).unwrap();
        let branches = code["anyOf"].as_array().unwrap();
        assert_eq!(branches[0]["enum"][0], "VALID");
        assert_eq!(branches[1], serde_json::json!({"type": "string"}));
    }
}
