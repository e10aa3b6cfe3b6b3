//! The remote backend against scripted upstreams (axum servers on local ports) for exact
//! control of failures: a 5xx before the first token goes to another replica, a 429 backs the
//! replica off, a stream that breaks after text reached a streaming caller ends in an error
//! while a buffered caller gets the whole answer from another replica, and a caller that goes
//! away closes the upstream connection. The model's vocabulary is the tiny test model's.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fulcrum_engine::{
    Backend, EngineError, FinishReason, GenerationEvent, GenerationRequest, GgufVocabulary,
};
use fulcrum_remote::{RemoteBackend, RemoteOptions, UpstreamConfig, UpstreamKind};
use futures::stream;

/// How a scripted upstream answers completions.
#[derive(Clone, Copy)]
enum Script {
    /// Streams the words of `ANSWER`, then `[DONE]`.
    Answer,
    /// 500 before anything.
    ServerError,
    /// 429 with `Retry-After: 30`.
    TooManyRequests,
    /// Streams two words, then breaks the connection.
    BreakAfterTwo,
    /// Streams a word every 50 ms without end; notes when the connection is dropped.
    Endless,
    /// Streams one sentence again and again without end; notes when the connection is dropped.
    Looping,
}

const ANSWER: &str = "one two three four";

struct Upstream {
    url: String,
    completions: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

fn chunk(text: &str, finish: Option<&str>) -> Bytes {
    let body =
        serde_json::json!({"choices": [{"index": 0, "text": text, "finish_reason": finish}]});
    Bytes::from(format!("data: {body}\n\n"))
}

/// Sets its flag when the response body is dropped (the client went away).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn start(script: Script) -> Upstream {
    let completions = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (count, flag) = (Arc::clone(&completions), Arc::clone(&dropped));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/v1/completions",
            post(move || {
                count.fetch_add(1, Ordering::SeqCst);
                let flag = Arc::clone(&flag);
                async move { complete(script, flag) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Upstream {
        url,
        completions,
        dropped,
    }
}

fn complete(script: Script, dropped: Arc<AtomicBool>) -> Response {
    let sse = |body: Body| {
        let mut response = body.into_response();
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        response
    };
    match script {
        Script::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "model crashed").into_response(),
        Script::TooManyRequests => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "busy").into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("30"));
            response
        }
        Script::Answer => {
            let words: Vec<String> = ANSWER.split(' ').map(|w| format!("{w} ")).collect();
            let mut chunks: Vec<Result<Bytes, Infallible>> =
                words.iter().map(|w| Ok(chunk(w, None))).collect();
            chunks.push(Ok(chunk("", Some("stop"))));
            chunks.push(Ok(Bytes::from("data: [DONE]\n\n")));
            sse(Body::from_stream(stream::iter(chunks)))
        }
        Script::BreakAfterTwo => {
            // The error waits a little, so the two chunks are on the wire before it.
            let chunks = stream::unfold(0, |sent| async move {
                let item = match sent {
                    0 => Ok(chunk("one ", None)),
                    1 => Ok(chunk("two ", None)),
                    2 => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err(std::io::Error::other("the engine died"))
                    }
                    _ => return None,
                };
                Some((item, sent + 1))
            });
            sse(Body::from_stream(chunks))
        }
        Script::Looping => {
            let guard = DropFlag(dropped);
            let copies = stream::unfold(guard, |guard| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Some((
                    Ok::<_, Infallible>(chunk("The room has a projector. ", None)),
                    guard,
                ))
            });
            sse(Body::from_stream(copies))
        }
        Script::Endless => {
            let guard = DropFlag(dropped);
            let words = stream::unfold(guard, |guard| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Ok::<_, Infallible>(chunk("word ", None)), guard))
            });
            sse(Body::from_stream(words))
        }
    }
}

fn vocabulary() -> GgufVocabulary {
    let path = std::env::var_os("FULCRUM_TEST_MODEL")
        .map(PathBuf::from)
        .expect("FULCRUM_TEST_MODEL names the tiny test model: run scripts/test");
    GgufVocabulary::load(&path).expect("vocabulary")
}

fn upstream(name: &str, url: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: Some(name.into()),
        url: url.into(),
        kind: UpstreamKind::LlamaServer,
        model: None,
        api_key_env: None,
        api_key_file: None,
    }
}

/// The backend over `upstreams`, connected from a blocking thread as the server does.
async fn connect(upstreams: Vec<UpstreamConfig>) -> Arc<RemoteBackend> {
    tokio::task::spawn_blocking(move || {
        let options = RemoteOptions {
            // Long enough that no health check re-admits a replica during a test.
            health_interval: Duration::from_secs(60),
            ..RemoteOptions::new("tiny")
        };
        RemoteBackend::connect(vocabulary(), &upstreams, options).expect("connect")
    })
    .await
    .map(Arc::new)
    .expect("connect task")
}

async fn run(
    backend: &RemoteBackend,
    buffered: bool,
) -> (String, Result<FinishReason, EngineError>) {
    let request = GenerationRequest {
        buffered,
        ..GenerationRequest::greedy("Say four words.".into(), 16)
    };
    let mut stream = backend.generate(request).expect("started");
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(GenerationEvent::Text(piece)) => text.push_str(&piece),
            Ok(GenerationEvent::Finished { reason, .. }) => return (text, Ok(reason)),
            Err(err) => return (text, Err(err)),
        }
    }
    (text, Err(EngineError::Stopped("no finish".into())))
}

fn status(backend: &RemoteBackend, name: &str) -> fulcrum_engine::UpstreamStatus {
    backend
        .upstreams()
        .into_iter()
        .find(|u| u.name == name)
        .expect("upstream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_before_the_first_token_goes_to_another_replica_and_ejects_the_first() {
    let failing = start(Script::ServerError).await;
    let healthy = start(Script::Answer).await;
    let backend = connect(vec![
        upstream("a", &failing.url),
        upstream("b", &healthy.url),
    ])
    .await;
    for _ in 0..3 {
        let (text, finish) = run(&backend, false).await;
        assert_eq!(text, "one two three four ");
        assert_eq!(finish.expect("finished"), FinishReason::Stop);
    }
    assert_eq!(
        failing.completions.load(Ordering::SeqCst),
        1,
        "out of rotation after its first failure"
    );
    let a = status(&backend, "a");
    assert!(!a.healthy);
    assert_eq!(
        (a.failures_total, a.retries_total, a.ejections_total),
        (1, 1, 1)
    );
    assert_eq!(status(&backend, "b").requests_total, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_backs_the_replica_off_and_the_request_goes_elsewhere() {
    let busy = start(Script::TooManyRequests).await;
    let healthy = start(Script::Answer).await;
    let backend = connect(vec![upstream("a", &busy.url), upstream("b", &healthy.url)]).await;
    for _ in 0..2 {
        let (text, _) = run(&backend, false).await;
        assert_eq!(text, "one two three four ");
    }
    assert_eq!(busy.completions.load(Ordering::SeqCst), 1);
    assert!(
        !status(&backend, "a").healthy,
        "backing off for Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_replicas_that_fail_leave_a_clear_error() {
    let failing = start(Script::ServerError).await;
    let backend = connect(vec![upstream("a", &failing.url)]).await;
    let (_, finish) = run(&backend, false).await;
    assert!(
        matches!(finish, Err(EngineError::Upstream(_))),
        "{finish:?}"
    );
    let (_, finish) = run(&backend, false).await;
    assert!(
        matches!(finish, Err(EngineError::Unavailable(_))),
        "ejected: none left, {finish:?}"
    );
}

/// Replica `a` breaks its streams after two words; `b` answers.
async fn breaking_then_healthy() -> (Upstream, Arc<RemoteBackend>) {
    let breaking = start(Script::BreakAfterTwo).await;
    let healthy = start(Script::Answer).await;
    let backend = connect(vec![
        upstream("a", &breaking.url),
        upstream("b", &healthy.url),
    ])
    .await;
    (breaking, backend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_midway_fails_a_streaming_caller_but_not_a_buffered_one() {
    let (_breaking, backend) = breaking_then_healthy().await;
    // Streaming: the caller already has "one two ", so no retry: an error ends it.
    let (text, finish) = run(&backend, false).await;
    assert_eq!(text, "one two ");
    assert!(
        matches!(finish, Err(EngineError::Upstream(_))),
        "{finish:?}"
    );

    let (breaking, backend) = breaking_then_healthy().await;
    // Buffered: nothing was shown, so the other replica answers from the start, once.
    let (text, finish) = run(&backend, true).await;
    assert_eq!(text, "one two three four ");
    assert_eq!(finish.expect("finished"), FinishReason::Stop);
    assert_eq!(breaking.completions.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_closes_the_upstream_connection() {
    let endless = start(Script::Endless).await;
    let backend = connect(vec![upstream("a", &endless.url)]).await;
    let mut stream = backend
        .generate(GenerationRequest::greedy("Talk.".into(), 1000))
        .expect("started");
    for _ in 0..3 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(GenerationEvent::Text(_)))
        ));
    }
    drop(stream);
    for _ in 0..100 {
        if endless.dropped.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        endless.dropped.load(Ordering::SeqCst),
        "the upstream still streams to nobody"
    );
    assert_eq!(status(&backend, "a").outstanding, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_strings_end_the_text_before_them() {
    let healthy = start(Script::Answer).await;
    let backend = connect(vec![upstream("a", &healthy.url)]).await;
    let request = GenerationRequest {
        stop: vec!["three".into()],
        ..GenerationRequest::greedy("Say four words.".into(), 16)
    };
    let (text, reason, _) = backend
        .generate(request)
        .expect("started")
        .collect()
        .await
        .expect("finished");
    assert_eq!((text.as_str(), reason), ("one two ", FinishReason::Stop));
}

#[tokio::test]
async fn an_upstream_repeating_itself_is_stopped_and_disconnected() {
    let looping = start(Script::Looping).await;
    let backend = connect(vec![upstream("a", &looping.url)]).await;
    let request = GenerationRequest::greedy("Describe the room.".into(), 4096);
    let mut stream = backend.generate(request).expect("started");
    let mut text = String::new();
    let mut finished = None;
    while let Some(event) = stream.next().await {
        match event.expect("no error") {
            GenerationEvent::Text(piece) => text.push_str(&piece),
            GenerationEvent::Finished { reason, .. } => finished = Some(reason),
        }
    }
    assert_eq!(finished, Some(FinishReason::Stop), "{text}");
    assert_eq!(text.matches("projector").count(), 4, "{text}");
    // Dropping the upstream's response is what cancels the generation there.
    for _ in 0..100 {
        if looping.dropped.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the looping upstream was never disconnected");
}
