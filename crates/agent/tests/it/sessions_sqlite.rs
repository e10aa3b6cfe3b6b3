//! Sessions in the SQLite state database under concurrent writers: each request has its own
//! turn, and the audit log and actions write to the same file through other connections.

use fulcrum_agent::SessionStore;
use fulcrum_chat::Message;

use crate::user;

#[test]
fn sessions_written_at_once_from_several_connections_never_find_the_database_locked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("state.db");
    let stores: Vec<SessionStore> = (0..8)
        .map(|_| SessionStore::open(&path).expect("store"))
        .collect();
    let li = user("li", "employee");
    std::thread::scope(|scope| {
        for store in &stores {
            let li = li.clone();
            scope.spawn(move || {
                for n in 0..100 {
                    let session = store.create(&li).expect("create");
                    store
                        .append(
                            &session.id,
                            &[
                                Message::user(format!("question {n}")),
                                Message::assistant("answer"),
                            ],
                            &[],
                        )
                        .expect("append while others write");
                }
            });
        }
    });
    let sessions = stores[0].list_owned(&li, 10_000).expect("list");
    assert_eq!(sessions.len(), 800);
    for session in sessions {
        assert_eq!(stores[0].messages(&session.id).expect("messages").len(), 2);
    }
}
