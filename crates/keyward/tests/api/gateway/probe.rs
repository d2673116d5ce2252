//! The upstream of the gateway tests: an axum server on loopback that records every request
//! it receives (method, path, headers), echoes bodies as they stream in (`POST /echo`), sends
//! a body in two parts with a pause the test ends (`GET /stream`), and answers late
//! (`GET /slow`); everything else is `200 {"ok": true}`.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<Notify>,
}

/// A running upstream.
pub struct Probe {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let router = Router::new()
            .route("/echo", post(echo))
            .route("/stream", get(stream))
            .route("/slow", get(slow))
            .fallback(any(ok))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, shared, task }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Lets `GET /stream` send its second part.
    pub fn release(&self) {
        self.shared.release.notify_one();
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(shared): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    shared.seen.lock().unwrap().push(Seen {
        method: request.method().to_string(),
        path: request.uri().to_string(),
        headers: request.headers().clone(),
    });
    next.run(request).await
}

async fn ok() -> &'static str {
    "{\"ok\": true}"
}

async fn echo(request: Request) -> Body {
    Body::from_stream(request.into_body().into_data_stream())
}

async fn stream(State(shared): State<Shared>) -> Body {
    let parts = futures_util::stream::unfold(0u8, move |step| {
        let release = Arc::clone(&shared.release);
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(Bytes::from_static(b"first\n")), 1)),
                1 => {
                    release.notified().await;
                    Some((Ok(Bytes::from_static(b"last\n")), 2))
                }
                _ => None,
            }
        }
    });
    Body::from_stream(parts)
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}
