//! `fulcrum bench agent`: what the agent loop itself costs per tool call, without the model.
//! Each call goes the whole way a model's call goes: parse the Hermes text, validate against
//! the schema, decide (the decision row committed to the audit log, fsync included), dispatch
//! to a no-op tool (`current_time`), audit the result. The state database is a real file in
//! a temporary folder, on the same disk as Fulcrum's own.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fulcrum_chat::tools::{parse_output, ToolSet};
use fulcrum_tools::{CallContext, Decision, Durability, Policy, Principal, Registry};

const POLICY: &str = r#"
roles = ["employee"]

[[users]]
name = "bench"
role = "employee"

[[tools]]
name = "current_time"
description = "The current time."
roles = ["employee"]
executor = { kind = "builtin", function = "current_time" }
"#;

const MODEL_OUTPUT: &str =
    "<tool_call>\n{\"name\": \"current_time\", \"arguments\": {}}\n</tool_call>";

pub fn run(calls: usize) -> Result<()> {
    if calls == 0 {
        bail!("--calls must be at least 1");
    }
    println!("agent loop overhead per tool call ({calls} calls, 2 audit rows each)\n");
    println!("| state_durability | mean | p50 | p95 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for durability in [Durability::Disk, Durability::Process] {
        measure(calls, durability)?;
    }
    Ok(())
}

fn measure(calls: usize, durability: Durability) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let registry = Registry::from_toml(POLICY, "bench policy", dir.path())?;
    let tools = ToolSet::new(registry.definitions_for_role("employee"))?;
    let state = dir.path().join("state.db");
    let policy = Policy::open(registry, &state, durability, Duration::from_secs(60))?;
    let context = CallContext {
        principal: Principal {
            user: "bench".into(),
            role: "employee".into(),
        },
        request_id: Some("bench".into()),
        session_id: Some("bench".into()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut timings = Vec::with_capacity(calls);
    for index in 0..calls + 100 {
        let started = Instant::now();
        let parsed = parse_output(MODEL_OUTPUT, &|name| tools.contains(name));
        let call = parsed
            .calls
            .into_iter()
            .next()
            .context("the call did not parse")?;
        tools.validate(&call)?;
        let Decision::Permit(permit) = policy.authorize(&context, &call.name, &call.arguments)?
        else {
            bail!("the bench call was not permitted");
        };
        runtime.block_on(policy.execute(&context, permit))?;
        if index >= 100 {
            timings.push(started.elapsed());
        }
    }
    timings.sort();
    let at = |q: f64| timings[((timings.len() as f64 - 1.0) * q).round() as usize];
    let mean = timings.iter().sum::<Duration>() / timings.len() as u32;
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    let name = match durability {
        Durability::Disk => "disk",
        Durability::Process => "process",
    };
    println!(
        "| {name} | {} | {} | {} | {} | {} |",
        ms(mean),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(0.99)),
        ms(at(1.0))
    );
    let report = policy.audit().verify()?;
    if report.first_bad.is_some() || report.rows != 2 * (calls as u64 + 100) {
        bail!("the audit chain does not hold every row: {report:?}");
    }
    Ok(())
}
