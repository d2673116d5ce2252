//! Runs the example "invoices" service on 127.0.0.1:9000 (or the address given), for
//! `keyward gateway --config examples/gateway/invoices.toml` to stand in front of:
//! `cargo run -p keyward --example invoices_upstream`.

mod service;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("invoices service on http://{address}");
    axum::serve(listener, service::router(service::Invoices::sample())).await?;
    Ok(())
}
