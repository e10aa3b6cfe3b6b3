//! Agent sessions in PostgreSQL, as two Fulcrum instances share them: a session begun on one
//! continues on the other, with its messages in order, its pending calls, summary and key
//! events. A real PostgreSQL server, started for the test.

use fulcrum_agent::{PendingCall, SessionStore};
use fulcrum_chat::{Message, Role};
use fulcrum_testing::PgCluster;
use fulcrum_tools::PgConnection;

use super::user;

fn tool_result(call_id: &str, text: &str) -> Message {
    Message {
        tool_call_id: Some(call_id.into()),
        ..Message::new(Role::Tool, text)
    }
}

fn instance(cluster: &PgCluster) -> SessionStore {
    SessionStore::postgres(PgConnection::connect(&cluster.url).expect("connect")).expect("migrated")
}

#[test]
fn a_session_begun_on_one_instance_continues_on_the_other() {
    let cluster = PgCluster::start();
    let (a, b) = (instance(&cluster), instance(&cluster));
    let erin = user("erin", "employee");
    let session = a.create(&erin).expect("created").id;
    assert_eq!(b.get_owned(&session, &erin).expect("owned").user, "erin");
    assert!(b.get_owned(&session, &user("fiona", "finance")).is_err());

    a.append(
        &session,
        &[
            Message::user("Book room 1."),
            Message::assistant("Waiting."),
        ],
        &[PendingCall {
            action_id: "act_1".into(),
            call_id: "call_1".into(),
            tool: "book_room".into(),
        }],
    )
    .expect("appended on a");
    assert_eq!(b.pending_calls(&session).expect("pending").len(), 1);
    assert_eq!(
        b.session_of_action("act_1").expect("found"),
        Some(session.clone())
    );
    assert!(b
        .resolve_pending(&session, "act_1", &tool_result("call_1", "booked"))
        .expect("resolved on b"));
    assert!(
        !a.resolve_pending(&session, "act_1", &tool_result("call_1", "booked"))
            .expect("already resolved"),
        "a call is answered once"
    );
    b.append(
        &session,
        &[
            Message::user("Thanks."),
            Message::assistant("You're welcome."),
        ],
        &[],
    )
    .expect("appended on b");

    let messages = a.messages(&session).expect("messages");
    let contents: Vec<_> = messages
        .iter()
        .map(|m| m.content.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        contents,
        [
            "Book room 1.",
            "Waiting.",
            "booked",
            "Thanks.",
            "You're welcome."
        ]
    );
    assert_eq!(b.message_counts(&session).expect("counts"), (5, 2));

    a.add_key_event(&session, 1, "booked room 1")
        .expect("event");
    b.add_key_event(&session, 2, "said thanks").expect("event");
    b.set_summary(&session, 1, "Erin booked room 1.")
        .expect("summary");
    a.set_summary(&session, 2, "Erin booked room 1 and said thanks.")
        .expect("summary replaced");
    let memory = b.memory(&session).expect("memory");
    assert_eq!(memory.summarized_turns, 2);
    assert_eq!(
        memory.summary.as_deref(),
        Some("Erin booked room 1 and said thanks.")
    );
    assert_eq!(
        memory
            .events
            .iter()
            .map(|e| (e.turn, e.text.as_str()))
            .collect::<Vec<_>>(),
        [(1, "booked room 1"), (2, "said thanks")]
    );

    let newer = b.create(&erin).expect("created").id;
    let listed: Vec<_> = a
        .list_owned(&erin, 10)
        .expect("listed")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [newer, session], "newest first");
    assert_eq!(a.count_owned(&erin.user).expect("counted"), 2);
    assert_eq!(a.count_owned("nobody").expect("counted"), 0);
}
