//! An invoices service protected by keyward: listing needs a key with `invoices:read`,
//! deleting one with `invoices:delete`, and keyward's audit trail records which key deleted
//! which invoice.
//!
//! ```sh
//! KEYWARD_URL=http://127.0.0.1:8080 KEYWARD_ROOT_KEY=kwroot_… \
//!   cargo run -p keyward-tower --example invoices
//! curl -H "Authorization: Bearer bos_…" http://127.0.0.1:3000/invoices
//! curl -X DELETE -H "Authorization: Bearer bos_…" http://127.0.0.1:3000/invoices/INV-2
//! ```

mod service;

use keyward_tower::client::{Client, SecretString};
use keyward_tower::KeywardAuth;
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KEYWARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let root_key = std::env::var("KEYWARD_ROOT_KEY")
        .map_err(|_| "set KEYWARD_ROOT_KEY to a root key with the keys:verify right")?;
    let keyward = Client::new(&url, SecretString::from(root_key))?;
    let auth = KeywardAuth::builder(keyward)
        .timeout(Duration::from_secs(2))
        .build();
    let app = service::router(&auth, service::Invoices::sample());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("invoices on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
