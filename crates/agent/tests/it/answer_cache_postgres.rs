//! The answer cache in PostgreSQL: an answer stored by one instance is reused by another, for
//! the same role and collection versions only, and not past its time to live.

use std::time::Duration;

use fulcrum_agent::AnswerCache;
use fulcrum_testing::PgCluster;
use fulcrum_tools::PgConnection;

fn instance(cluster: &PgCluster, ttl: Duration) -> AnswerCache {
    AnswerCache::postgres(PgConnection::connect(&cluster.url).expect("connect"), ttl)
        .expect("migrated")
}

#[test]
fn an_answer_cached_on_one_instance_is_reused_by_another() {
    let cluster = PgCluster::start();
    let hour = Duration::from_secs(3600);
    let (a, b) = (instance(&cluster, hour), instance(&cluster, hour));
    a.put(
        "Which rooms have a projector?",
        "employee",
        "v1",
        "Rooms 1 and 3.",
    );
    assert_eq!(
        b.get("which rooms have a projector", "employee", "v1")
            .as_deref(),
        Some("Rooms 1 and 3."),
        "normalized question, same role and versions"
    );
    assert_eq!(
        b.get("Which rooms have a projector?", "finance", "v1"),
        None
    );
    assert_eq!(
        b.get("Which rooms have a projector?", "employee", "v2"),
        None,
        "the collections changed"
    );
    assert_eq!(
        a.get("Which rooms have a projector?", "employee", "v1"),
        None,
        "answers on older versions are dropped once newer ones are asked for"
    );
    assert_eq!((b.counts().hits, b.counts().misses), (1, 2));

    let expired = instance(&cluster, Duration::ZERO);
    expired.put("Hello", "employee", "v1", "Hi.");
    assert_eq!(
        expired.get("Hello", "employee", "v1"),
        None,
        "past its time to live"
    );
}
