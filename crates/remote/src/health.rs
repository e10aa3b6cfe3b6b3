//! Health checks: every replica is asked at a fixed interval; one that cannot be reached, or
//! fails twice in a row, is taken out of rotation; one that passes again is put back.

use std::sync::Arc;
use std::time::Duration;

use crate::replica::Replica;

/// What one health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    Passed,
    /// Nothing listens there: the engine is down.
    Unreachable,
    /// An error answer or no answer in time: perhaps down, perhaps only too busy to answer.
    Failed,
}

/// Asks `replica` its health path, waiting at most `timeout`.
pub(crate) async fn check(
    client: &reqwest::Client,
    replica: &Replica,
    timeout: Duration,
) -> Health {
    let request = replica.authorized(
        client
            .get(replica.url(replica.kind.health_path()))
            .timeout(timeout),
    );
    match request.send().await {
        Ok(response) if response.status().is_success() => Health::Passed,
        Err(err) if err.is_connect() => Health::Unreachable,
        _ => Health::Failed,
    }
}

/// Checks in a row that may fail (slow or error answers) before a reachable replica is taken
/// out of rotation: an engine whose HTTP threads are all streaming answers late, not never.
const FAILED_CHECKS_TO_EJECT: u32 = 2;

/// Checks every replica each `interval`, until the task is aborted.
pub(crate) async fn watch(
    client: reqwest::Client,
    replicas: Vec<Arc<Replica>>,
    interval: Duration,
) {
    let timeout = interval.max(Duration::from_millis(500));
    let mut failed_in_a_row = vec![0u32; replicas.len()];
    loop {
        tokio::time::sleep(interval).await;
        for (replica, failed) in replicas.iter().zip(failed_in_a_row.iter_mut()) {
            match check(&client, replica, timeout).await {
                Health::Passed => {
                    *failed = 0;
                    replica.readmit();
                }
                Health::Unreachable => {
                    *failed += 1;
                    replica.eject("unreachable at its health check");
                }
                Health::Failed => {
                    *failed += 1;
                    if *failed >= FAILED_CHECKS_TO_EJECT {
                        replica.eject("failed its health checks");
                    }
                }
            }
        }
    }
}
