//! Host tools: registered in the policy file, implemented by the program, run only through a
//! permit, under the same roles and audit as any tool.

use std::sync::Arc;
use std::time::Duration;

use fulcrum_tools::{Decision, HostFunction, HostFuture, Principal};
use serde_json::{json, Value};

use crate::{as_user, open_policy};

const POLICY: &str = r#"
roles = ["employee", "auditor"]

[[tools]]
name = "whoami"
description = "Says who called it."
roles = ["employee"]
parameters = { type = "object", properties = { note = { type = "string" } }, required = ["note"] }
executor = { kind = "host", function = "echo_caller" }
max_output_bytes = 200
"#;

struct EchoCaller;

impl HostFunction for EchoCaller {
    fn call<'a>(&'a self, caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a> {
        Box::pin(async move {
            if arguments["note"] == "fail" {
                return Err("asked to fail".to_string());
            }
            if arguments["note"] == "fail loudly" {
                return Err(format!("asked to fail: {}", "trace line\n".repeat(100_000)));
            }
            Ok(json!({"user": caller.user, "note": arguments["note"]}))
        })
    }
}

#[tokio::test]
async fn a_host_tool_runs_the_provided_function_for_permitted_callers_only() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("policy.toml"), POLICY).expect("write");
    let policy = open_policy(dir.path(), Duration::from_secs(60));

    let err = policy.connect().await.expect_err("not provided yet");
    assert!(err.to_string().contains("echo_caller"), "{err}");
    let err = policy
        .provide("something_else", Arc::new(EchoCaller))
        .expect_err("no tool runs it");
    assert!(err.to_string().contains("no tool"), "{err}");
    policy
        .provide("echo_caller", Arc::new(EchoCaller))
        .expect("provided");
    policy.connect().await.expect("every host tool is provided");

    let employee = as_user("erin", "employee");
    let Decision::Permit(permit) = policy
        .authorize(&employee, "whoami", &json!({"note": "hi"}))
        .expect("decided")
    else {
        panic!("an employee may call whoami");
    };
    let output = policy.execute(&employee, permit).await.expect("runs");
    assert_eq!(
        serde_json::from_str::<Value>(&output.text).expect("json"),
        json!({"user": "erin", "note": "hi"})
    );

    let Decision::Permit(permit) = policy
        .authorize(&employee, "whoami", &json!({"note": "fail"}))
        .expect("decided")
    else {
        panic!("permitted");
    };
    let err = policy.execute(&employee, permit).await.expect_err("fails");
    assert!(err.to_string().contains("asked to fail"), "{err}");

    // An error is held to the tool's output cap like an output, in the result and the log.
    let Decision::Permit(permit) = policy
        .authorize(&employee, "whoami", &json!({"note": "fail loudly"}))
        .expect("decided")
    else {
        panic!("permitted");
    };
    let err = policy
        .execute(&employee, permit)
        .await
        .expect_err("fails")
        .to_string();
    assert!(
        err.len() < 400 && err.contains("[cut at 200 bytes]"),
        "{} bytes",
        err.len()
    );
    let logged = policy.audit().records(0, 100).expect("rows");
    let last = logged.last().expect("the execution row");
    assert!(last.event.data["error"]
        .as_str()
        .is_some_and(|e| e.len() < 400));

    let auditor = as_user("sam", "auditor");
    assert!(matches!(
        policy
            .authorize(&auditor, "whoami", &json!({"note": "hi"}))
            .expect("decided"),
        Decision::Deny(_)
    ));
    let kinds: Vec<String> = policy
        .audit()
        .records(0, 100)
        .expect("audit")
        .into_iter()
        .map(|r| r.event.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "decision",
            "execution",
            "decision",
            "execution",
            "decision",
            "execution",
            "decision"
        ]
    );
}
