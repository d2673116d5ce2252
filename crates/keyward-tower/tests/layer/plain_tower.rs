//! The layer over a plain tower service (no axum): any `http` service whose body can be made
//! from a `String`, with the verified key in the request's extensions and no `ConnectInfo`.

use crate::app::create_key;
use crate::server;
use http::{Request, Response, StatusCode};
use keyward_tower::{KeywardAuth, VerifiedKey};
use std::convert::Infallible;
use tower::{service_fn, Layer, ServiceExt};

#[tokio::test]
async fn a_plain_service_gets_the_verified_key_in_its_extensions() {
    let server = server::start().await;
    let (key, id) = create_key(&server, "Stripe invoice sending", &["invoices:read"]).await;
    let auth =
        KeywardAuth::builder(crate::app::keyward_client(&server.url, &server.root_key)).build();
    let service =
        auth.require("invoices:read")
            .layer(service_fn(|request: Request<()>| async move {
                let name = request
                    .extensions()
                    .get::<VerifiedKey>()
                    .map(|key| key.name.clone())
                    .unwrap_or_default();
                Ok::<_, Infallible>(Response::new(name))
            }));

    let request = Request::get("/invoices")
        .header("authorization", format!("Bearer {key}"))
        .body(())
        .unwrap();
    let answer = service.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.body(), "Stripe invoice sending");

    let missing = service
        .oneshot(Request::get("/invoices").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing.body().contains("missing_key"), "{}", missing.body());

    let events = crate::app::verifications(&server, &id).await;
    assert_eq!(
        events[0].ip, None,
        "no ConnectInfo, no client_ip: no address sent"
    );
    assert_eq!(events[0].resource.as_deref(), Some("/invoices"));
}
