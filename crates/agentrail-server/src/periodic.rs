//! Background work on a timer (retention, compaction) until the server stops.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Runs `tick` after `first`, then every `interval`, until `stopping` turns true.
pub(crate) async fn every<F: Future<Output = ()>>(
    first: Duration,
    interval: Duration,
    mut stopping: watch::Receiver<bool>,
    mut tick: impl FnMut() -> F,
) {
    let mut wait = first;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        wait = interval;
        tick().await;
    }
}
