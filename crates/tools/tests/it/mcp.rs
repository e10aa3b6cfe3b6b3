//! `mcp` tools against a real MCP server: `tests/mcp/warehouse.py`, built on the `mcp` Python
//! SDK, over stdio and over streamable HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fulcrum_tools::{Decision, Policy, Resolution, ToolsError};
use serde_json::{json, Value};

use crate::{as_user, open_policy};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that has the `mcp` package: the project's `.venv` (which `scripts/test` sets up),
/// or `FULCRUM_TEST_PYTHON`.
fn python() -> PathBuf {
    let python = std::env::var_os("FULCRUM_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/test (it installs the `mcp` package into .venv)",
        python.display()
    );
    python
}

fn warehouse_script() -> PathBuf {
    workspace_root().join("tests/mcp/warehouse.py")
}

/// Registers three of the warehouse's tools (not `wipe_inventory`); `transport` is the
/// server's `transport = …` line.
fn warehouse_policy(transport: &str) -> String {
    format!(
        r#"
roles = ["employee", "manager"]

[[users]]
name = "mia"
role = "manager"

[[mcp_servers]]
name = "warehouse"
transport = {transport}

[[tools]]
name = "stock_level"
description = "Units on hand for a SKU."
roles = ["employee", "manager"]
parameters = {{ type = "object", properties = {{ sku = {{ type = "string" }} }}, required = ["sku"] }}
executor = {{ kind = "mcp", server = "warehouse" }}

[[tools]]
name = "reserve"
description = "Reserve units of a SKU."
roles = ["manager"]
sensitive = true
summary = "Reserve {{quantity}} of {{sku}}"
parameters = {{ type = "object", properties = {{ sku = {{ type = "string" }}, quantity = {{ type = "integer", minimum = 1 }} }}, required = ["sku", "quantity"] }}
executor = {{ kind = "mcp", server = "warehouse", tool = "reserve_stock" }}

[[tools]]
name = "server_environment"
description = "An environment variable of the warehouse server."
roles = ["manager"]
parameters = {{ type = "object", properties = {{ name = {{ type = "string" }} }}, required = ["name"] }}
executor = {{ kind = "mcp", server = "warehouse", tool = "environment" }}

[[tools]]
name = "slow"
description = "Sleeps."
roles = ["manager"]
timeout_ms = 700
parameters = {{ type = "object", properties = {{ seconds = {{ type = "number" }} }}, required = ["seconds"] }}
executor = {{ kind = "mcp", server = "warehouse" }}

[[tools]]
name = "crash"
description = "Crashes the server."
roles = ["manager"]
executor = {{ kind = "mcp", server = "warehouse" }}
"#
    )
}

fn stdio_transport(journal: &Path) -> String {
    format!(
        r#"{{ kind = "stdio", command = "{}", args = ["{}"], env = {{ WAREHOUSE_JOURNAL = "{}" }} }}"#,
        python().display(),
        warehouse_script().display(),
        journal.display()
    )
}

async fn permitted(
    policy: &Policy,
    role: &str,
    tool: &str,
    arguments: Value,
) -> Result<String, ToolsError> {
    let context = as_user("mia", role);
    match policy
        .authorize(&context, tool, &arguments)
        .expect("decides")
    {
        Decision::Permit(permit) => policy.execute(&context, permit).await.map(|out| out.text),
        other => panic!("{tool} should be permitted for {role}: {other:?}"),
    }
}

async fn stock(policy: &Policy, sku: &str) -> Result<String, ToolsError> {
    permitted(policy, "employee", "stock_level", json!({ "sku": sku })).await
}

fn journal_lines(journal: &Path) -> Vec<Value> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("journal line"))
        .collect()
}

/// A policy over the warehouse on stdio, in a new folder (which holds its journal).
fn stdio_warehouse() -> (tempfile::TempDir, Policy) {
    let dir = tempfile::tempdir().expect("dir");
    let journal = dir.path().join("journal.jsonl");
    std::fs::write(
        dir.path().join("policy.toml"),
        warehouse_policy(&stdio_transport(&journal)),
    )
    .expect("write");
    let policy = open_policy(dir.path(), Duration::from_secs(60));
    (dir, policy)
}

#[tokio::test]
async fn registered_mcp_tools_run_over_stdio_and_nothing_else_does() {
    let (dir, policy) = stdio_warehouse();
    let journal = dir.path().join("journal.jsonl");
    policy
        .connect()
        .await
        .expect("the warehouse starts and offers the registered tools");

    // The model is shown registered tools only, by role; the server's others do not exist.
    let shown: Vec<String> = policy
        .registry()
        .definitions_for_role("employee")
        .into_iter()
        .map(|tool| tool.name)
        .collect();
    assert_eq!(shown, ["stock_level"]);
    let manager = as_user("mia", "manager");
    for name in ["wipe_inventory", "reserve_stock", "environment"] {
        let decision = policy
            .authorize(&manager, name, &json!({}))
            .expect("decides");
        assert!(
            matches!(decision, Decision::Deny(_)),
            "{name}: {decision:?}"
        );
    }

    let text = stock(&policy, "IP15-128").await.expect("runs");
    assert_eq!(text, "IP15-128: 42 units on hand in Hangzhou");
    let err = stock(&policy, "NOPE")
        .await
        .expect_err("the server's error is an error");
    assert!(err.to_string().contains("unknown SKU NOPE"), "{err}");

    // Sensitive: nothing runs until approved, then exactly once.
    let action = match policy
        .authorize(
            &manager,
            "reserve",
            &json!({"sku": "GS24-256", "quantity": 2}),
        )
        .expect("decides")
    {
        Decision::Confirm(action) => action,
        other => panic!("reserve needs confirmation: {other:?}"),
    };
    assert_eq!(action.summary, "Reserve 2 of GS24-256");
    assert!(journal_lines(&journal).is_empty());
    match policy
        .approve(&manager, &action.id, None)
        .await
        .expect("approve")
    {
        Resolution::Ran(_, Ok(output)) => assert_eq!(output.text, "reserved 2 of GS24-256; 5 left"),
        other => panic!("ran: {other:?}"),
    }
    let again = policy
        .approve(&manager, &action.id, None)
        .await
        .expect("approve");
    assert!(matches!(again, Resolution::AlreadyDecided(_)), "{again:?}");
    assert_eq!(
        journal_lines(&journal),
        [json!({"tool": "reserve_stock", "sku": "GS24-256", "quantity": 2})]
    );

    // The server gets the configured environment and not the rest of Fulcrum's.
    let env = |name: String| {
        permitted(
            &policy,
            "manager",
            "server_environment",
            json!({ "name": name }),
        )
    };
    assert_eq!(
        env("WAREHOUSE_JOURNAL".into()).await.expect("runs"),
        journal.display().to_string()
    );
    let (private, _) = std::env::vars()
        .find(|(name, value)| {
            !["PATH", "HOME", "LANG"].contains(&name.as_str()) && !value.is_empty()
        })
        .expect("the test runs with some environment");
    assert_eq!(
        env(private.clone()).await.expect("runs"),
        "",
        "{private} leaked to the MCP server"
    );
}

#[tokio::test]
async fn a_timed_out_or_crashed_server_fails_that_call_and_the_next_one_reconnects() {
    let (_dir, policy) = stdio_warehouse();
    policy.connect().await.expect("connects");

    let err = permitted(&policy, "manager", "slow", json!({"seconds": 3}))
        .await
        .expect_err("over its 700 ms");
    assert!(matches!(err, ToolsError::Timeout { .. }), "{err}");
    assert_eq!(
        permitted(&policy, "manager", "slow", json!({"seconds": 0.01}))
            .await
            .expect("runs"),
        "done"
    );

    let err = permitted(&policy, "manager", "crash", json!({}))
        .await
        .expect_err("the server died during the call");
    assert!(err.to_string().contains("crash"), "{err}");
    // Not retried (it might have had effects); the next call starts the server again.
    let text = stock(&policy, "IP15-128").await.expect("reconnects");
    assert!(text.starts_with("IP15-128"), "{text}");
}

#[tokio::test]
async fn start_up_names_a_tool_the_server_does_not_offer() {
    let dir = tempfile::tempdir().expect("dir");
    let journal = dir.path().join("journal.jsonl");
    let policy_text = warehouse_policy(&stdio_transport(&journal))
        .replace(r#"tool = "reserve_stock""#, r#"tool = "reserve_stocks""#);
    std::fs::write(dir.path().join("policy.toml"), policy_text).expect("write");
    let policy = open_policy(dir.path(), Duration::from_secs(60));
    let err = policy.connect().await.expect_err("no such tool");
    let message = err.to_string();
    assert!(message.contains("`warehouse`"), "{message}");
    assert!(
        message.contains("`reserve` calls `reserve_stocks`"),
        "{message}"
    );

    let missing = warehouse_policy(r#"{ kind = "stdio", command = "/nonexistent/mcp-server" }"#);
    std::fs::write(dir.path().join("policy.toml"), missing).expect("write");
    let policy = open_policy(dir.path(), Duration::from_secs(60));
    let err = policy.connect().await.expect_err("no such program");
    assert!(
        err.to_string()
            .contains("cannot start `/nonexistent/mcp-server`"),
        "{err}"
    );
}

/// Keeps the HTTP server process for the test's length.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn registered_mcp_tools_run_over_streamable_http() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let _server = Child(
        std::process::Command::new(python())
            .arg(warehouse_script())
            .args(["http", &port.to_string()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the HTTP MCP server"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the MCP server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dir = tempfile::tempdir().expect("dir");
    let transport = format!(r#"{{ kind = "http", url = "http://127.0.0.1:{port}/mcp" }}"#);
    std::fs::write(dir.path().join("policy.toml"), warehouse_policy(&transport)).expect("write");
    let policy = open_policy(dir.path(), Duration::from_secs(60));
    policy.connect().await.expect("connects over HTTP");
    let text = stock(&policy, "GS24-256").await.expect("runs");
    assert_eq!(text, "GS24-256: 7 units on hand in Hangzhou");
}
