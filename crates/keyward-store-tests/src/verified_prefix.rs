//! Chapter 10, incremental chain verification: each workspace's signed verified prefix reads
//! back exactly as written (so its signature still holds), one per workspace, replaced by the
//! next, cleared on demand, and kept across a reopen.

use crate::fixtures::{fresh, reopen, start};
use crate::Engine;
use anyhow::{ensure, Context, Result};
use keyward_core::anchor::AnchorSigningKey;
use keyward_core::{ChainPosition, Checkpoint, Store, VerifiedPrefix};

fn position(seq: i64, checkpoint: Option<Checkpoint>) -> ChainPosition {
    ChainPosition {
        seq,
        hash: format!("{seq:064x}"),
        newest_checkpoint: checkpoint,
    }
}

pub async fn a_verified_prefix_reads_back_signed_replaced_cleared_and_after_a_reopen<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let key = AnchorSigningKey::generate().map_err(|e| anyhow::anyhow!("no signing key: {e}"))?;
    let public = key.public_key();
    ensure!(store.verified_prefix("ws_a").await?.is_none());
    let cut = Checkpoint {
        seq: 5,
        hash: format!("{:064x}", 5),
        retained: 2,
    };
    let first = VerifiedPrefix::sign(&key, "ws_a", &position(10, Some(cut)), start()?);
    store.put_verified_prefix(&first).await?;
    let other = VerifiedPrefix::sign(&key, "ws_b", &position(3, None), start()?);
    store.put_verified_prefix(&other).await?;
    let read = store.verified_prefix("ws_a").await?.context("stored")?;
    ensure!(read == first, "{read:?}");
    ensure!(read.is_signed_by(&public, "ws_a"));
    let later = VerifiedPrefix::sign(&key, "ws_a", &position(2_000_000, None), start()?);
    store.put_verified_prefix(&later).await?;
    ensure!(store.verified_prefix("ws_a").await?.as_ref() == Some(&later));
    ensure!(store.verified_prefix("ws_b").await?.as_ref() == Some(&other));
    store.clear_verified_prefix("ws_b").await?;
    ensure!(store.verified_prefix("ws_b").await?.is_none());
    // Clearing what is not there is no error.
    store.clear_verified_prefix("ws_b").await?;
    let store = reopen(engine, &db, store).await?;
    let read = store.verified_prefix("ws_a").await?.context("kept")?;
    ensure!(read == later && read.is_signed_by(&public, "ws_a"));
    ensure!(store.verified_prefix("ws_b").await?.is_none());
    Ok(())
}
