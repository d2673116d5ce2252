//! A TCP proxy on loopback that a test can cut and restore, to take a database away from a
//! node without touching the database server (which other tests use). Cutting closes every
//! connection through it and black-holes new ones (accepted, never answered: the harder case,
//! which only a timeout ends); restoring forwards again. It stops when dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Bumped on every cut: connections of an older generation close.
    generation: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards a new loopback port to `target` (a loopback address).
    pub async fn start(target: SocketAddr) -> Self {
        assert!(
            target.ip().is_loopback(),
            "the proxy forwards to loopback only"
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let accept = tokio::spawn(accept_loop(
            listener,
            target,
            cut.clone(),
            generation.clone(),
        ));
        Self {
            address,
            cut,
            generation,
            accept,
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Closes every connection through the proxy; new ones hang unanswered until `restore`.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Forwards new connections again (the black-holed ones are closed).
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let mut changed = generation.subscribe();
        let black_hole = cut.load(Ordering::SeqCst);
        tokio::spawn(async move {
            if black_hole {
                // Held open, silent, until the next cut or restore.
                let _ = changed.changed().await;
                drop(client);
                return;
            }
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = changed.changed() => {}
            }
        });
    }
}
