//! The `fulcrum` binary as a user runs it: configuration layering, one-line errors with exit
//! codes, model provisioning with a corrupted cache, and the terminal chat.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TINY: &str = "smollm2-135m-instruct-q4_1";

fn fulcrum(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fulcrum"));
    command.current_dir(cwd).env("NO_COLOR", "1");
    // Keep the developer's own settings out of the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("FULCRUM_") && key != "FULCRUM_TEST_MODEL" {
            command.env_remove(key);
        }
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn config_value(output: &Output, key: &str) -> String {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let config: toml::Table = text(&output.stdout).parse().expect("config is TOML");
    config
        .get(key)
        .map_or_else(|| "<missing>".into(), ToString::to_string)
}

#[test]
fn configuration_layers_defaults_file_environment_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        config_value(
            &fulcrum(dir.path()).arg("config").output().expect("run"),
            "slots"
        ),
        "8"
    );

    std::fs::write(dir.path().join("fulcrum.toml"), "slots = 6\nport = 9001\n").expect("write");
    let from_file = fulcrum(dir.path()).arg("config").output().expect("run");
    assert_eq!(config_value(&from_file, "slots"), "6");
    assert_eq!(config_value(&from_file, "port"), "9001");

    let from_env = fulcrum(dir.path())
        .arg("config")
        .env("FULCRUM_SLOTS", "7")
        .output()
        .expect("run");
    assert_eq!(config_value(&from_env, "slots"), "7");
    assert_eq!(config_value(&from_env, "port"), "9001");

    let from_flag = fulcrum(dir.path())
        .args(["config", "--slots", "8"])
        .env("FULCRUM_SLOTS", "7")
        .output()
        .expect("run");
    assert_eq!(config_value(&from_flag, "slots"), "8");
}

/// Asserts a failure with exit code 1 and a single `error:` line containing `needle`.
fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected {needle:?} in: {stderr}"
    );
}

#[test]
fn invalid_configuration_is_a_one_line_error_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = fulcrum(dir.path())
        .arg("config")
        .env("FULCRUM_SLOTS", "0")
        .output()
        .expect("run");
    assert_one_line_error(&out, "`slots` must be between 1 and 64");

    let out = fulcrum(dir.path())
        .arg("config")
        .env("FULCRUM_PORT", "eighty")
        .output()
        .expect("run");
    assert_one_line_error(&out, "\"PORT\" in `FULCRUM_`");

    // The layers' shares must leave room for the prompt's other layers.
    let out = fulcrum(dir.path())
        .arg("config")
        .env("FULCRUM_CONTEXT_MAX_TOKENS", "5000")
        .env("FULCRUM_CONTEXT_PASSAGE_TOKENS", "4000")
        .output()
        .expect("run");
    assert_one_line_error(
        &out,
        "`context_passage_tokens` + `context_memory_tokens` (6000)",
    );

    std::fs::write(dir.path().join("fulcrum.toml"), "prot = 80\n").expect("write");
    let out = fulcrum(dir.path()).arg("config").output().expect("run");
    assert_one_line_error(&out, "prot");

    let out = fulcrum(dir.path())
        .args(["--config", "missing.toml", "config"])
        .output()
        .expect("run");
    assert_one_line_error(&out, "missing.toml");
}

#[test]
fn unknown_models_and_missing_files_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = fulcrum(dir.path())
        .args(["models", "pull", "gpt-5"])
        .output()
        .expect("run");
    assert_one_line_error(&out, "fulcrum models list");

    // Each cause is said once: an error's message does not repeat its source's.
    let out = fulcrum(dir.path())
        .args(["eval", "tickets", "--tickets", "missing.jsonl"])
        .output()
        .expect("run");
    assert_one_line_error(&out, "missing.jsonl");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");

    let out = fulcrum(dir.path())
        .args(["serve", "--port", "0", "--model", "/nonexistent/model.gguf"])
        .output()
        .expect("run");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("does not exist"),
        "{stderr}"
    );
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

#[test]
fn models_pull_detects_a_corrupted_file_and_fetches_it_again() {
    let home = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        fulcrum(home.path())
            .args(args)
            .env("FULCRUM_HOME", home.path())
            .output()
            .expect("run")
    };
    let pulled = run(&["models", "pull", TINY]);
    assert!(pulled.status.success(), "{}", text(&pulled.stderr));
    let path = PathBuf::from(text(&pulled.stdout).trim());
    let good = sha256(&path);
    assert_eq!(
        good,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );

    let listed = text(&run(&["models", "list"]).stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(TINY) && l.contains("present")),
        "{listed}"
    );

    // Flip one byte in the middle: same size, different content.
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, &bytes).expect("corrupt");
    let listed = text(&run(&["models", "list"]).stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(TINY) && l.contains("unverified")),
        "{listed}"
    );

    let repaired = run(&["models", "pull", TINY]);
    assert!(repaired.status.success(), "{}", text(&repaired.stderr));
    assert!(
        text(&repaired.stderr).contains("downloading"),
        "the corrupt file was not fetched again"
    );
    assert_eq!(sha256(&path), good);

    // Idempotent: a verified model is not fetched again.
    let again = run(&["models", "pull", TINY]);
    assert!(again.status.success());
    assert!(
        !text(&again.stderr).contains("downloading"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn terminal_chat_answers_resets_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model();
    let mut child = fulcrum(dir.path())
        .args([
            "chat",
            "--model",
            &model,
            "--context-size",
            "2048",
            "--temperature",
            "0",
            "--max-tokens",
            "16",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"What is 2+2?\n/reset\n/exit\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("(conversation reset)"), "{stdout}");
    // Three prompts: the question, the reset, the exit; an answer between the first two.
    let answer = stdout
        .split("> ")
        .nth(1)
        .expect("an answer after the first prompt");
    assert!(!answer.trim().is_empty(), "{stdout}");
}

fn tiny_model() -> String {
    std::env::var("FULCRUM_TEST_MODEL").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/fulcrum/models/{TINY}.gguf")
    })
}

/// `fulcrum bench serve` on the tiny model: it starts `fulcrum serve`, and every request of
/// every level comes back with exactly the asked number of tokens (`ignore_eos` through the
/// whole stack); with no queue beyond the slots, a burst gets 429s and every request still
/// succeeds on retry.
#[test]
fn bench_serve_loads_a_started_server_and_loses_nothing_in_a_burst() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model();
    let bench = |extra_env: Option<(&str, &str)>, args: &[&str]| -> serde_json::Value {
        let mut command = fulcrum(dir.path());
        command.env("FULCRUM_HOME", dir.path()).args([
            "bench",
            "serve",
            "--model",
            &model,
            "--context-size",
            "2048",
            "--slots",
            "2",
            "--threads",
            "2",
            "--prompt-tokens",
            "8",
            "--max-tokens",
            "5",
            "--json",
        ]);
        if let Some((key, value)) = extra_env {
            command.env(key, value);
        }
        let out = command.args(args).output().expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON report")
    };

    // One client sends long user messages: the lone client's every request, one of the pair's.
    let levels = bench(
        None,
        &[
            "--clients",
            "1,2",
            "--requests",
            "3",
            "--long-prompt-tokens",
            "300",
        ],
    );
    let levels = levels.as_array().expect("a report per level");
    assert_eq!(levels.len(), 2);
    let mean_prompt =
        |level: &serde_json::Value| level["mean_prompt_tokens"].as_f64().unwrap_or(0.0);
    assert!(mean_prompt(&levels[0]) > 300.0, "{}", levels[0]);
    assert!(
        mean_prompt(&levels[1]) < mean_prompt(&levels[0]),
        "{}",
        levels[1]
    );
    for (level, clients) in levels.iter().zip([1, 2]) {
        assert_eq!(level["server"], "fulcrum");
        assert_eq!(level["clients"], clients);
        assert_eq!(level["succeeded"], 3, "{level}");
        assert_eq!(level["completion_tokens"], 15, "{level}");
        assert_eq!(level["failed"], 0);
        assert_eq!(level["hung"], 0);
        assert!(level["tokens_per_second"].as_f64().is_some_and(|t| t > 0.0));
        assert!(level["peak_rss_mib"].as_f64().is_some_and(|m| m > 50.0));
        // Five pieces of text per stream: four gaps between them, measured.
        let itl = |key: &str| level[key].as_f64().expect("inter-token latency");
        assert!(itl("itl_p50_ms") <= itl("itl_p95_ms") && itl("itl_p95_ms") <= itl("itl_max_ms"));
    }

    let burst = bench(
        Some(("FULCRUM_MAX_QUEUE", "0")),
        &["--clients", "6", "--requests", "6"],
    );
    let burst = &burst[0];
    assert_eq!(burst["succeeded"], 6, "{burst}");
    assert!(
        burst["retried_after_busy"].as_u64().is_some_and(|n| n >= 1),
        "{burst}"
    );
    assert_eq!(burst["failed"], 0);
    assert_eq!(burst["hung"], 0);
}

#[test]
fn ingest_adds_a_folder_then_sees_it_unchanged_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).expect("mkdir");
    std::fs::write(
        docs.join("a.md"),
        "# Plan\nGrow online sales in East China.",
    )
    .expect("write");
    std::fs::write(
        docs.join("sub/b.txt"),
        "Keep retail margins above ten percent.",
    )
    .expect("write");
    std::fs::write(docs.join("c.pdf"), "%PDF-1.7").expect("write");
    std::fs::write(docs.join("notes.csv"), "a,b").expect("write");
    // Words only here (the embedding model is tested in fulcrum-retrieval).
    let ingest = |path: &Path| {
        fulcrum(dir.path())
            .env("FULCRUM_HOME", dir.path().join("home"))
            .args(["ingest", "--no-embeddings", "--collection", "strategy"])
            .arg(path)
            .output()
            .expect("run")
    };
    // The broken PDF is named and skipped; the others are ingested; the exit code says so.
    let first = ingest(&docs);
    assert!(!first.status.success());
    let log = text(&first.stderr);
    assert!(log.contains("a.md: added, 1 chunks"), "{log}");
    assert!(log.contains("b.txt: added, 1 chunks"), "{log}");
    assert!(
        log.contains("skipped: cannot read") && log.contains("c.pdf"),
        "{log}"
    );
    assert!(log.contains("1 of 3 files could not be read"), "{log}");
    assert!(!log.contains("notes.csv"), "{log}");
    assert!(dir.path().join("home/knowledge.db").is_file());
    std::fs::remove_file(docs.join("c.pdf")).expect("rm");
    let again = ingest(&docs);
    assert!(again.status.success());
    assert_eq!(text(&again.stderr).matches(": unchanged").count(), 2);
    let refused = ingest(&docs.join("notes.csv"));
    assert_one_line_error(&refused, "is not a document Fulcrum reads");
    let found = fulcrum(dir.path())
        .env("FULCRUM_HOME", dir.path().join("home"))
        .args([
            "search",
            "--mode",
            "bm25",
            "--collection",
            "strategy",
            "retail margins",
        ])
        .output()
        .expect("run");
    assert!(found.status.success(), "{}", text(&found.stderr));
    let first = text(&found.stdout);
    assert!(
        first.lines().next().is_some_and(|l| l.contains("b.txt")),
        "{first}"
    );
}

/// Each command offers the options it uses and no others: the model's flags belong to the
/// commands that load it, the policy's to those that read it.
#[test]
fn each_command_offers_only_the_options_it_uses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = |args: &[&str]| {
        let output = fulcrum(dir.path())
            .args(args)
            .arg("--help")
            .output()
            .expect("run");
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let model_flags = [
        "--model",
        "--threads",
        "--context-size",
        "--gpu-layers",
        "--slots",
    ];
    for command in [
        &["audit", "verify"][..],
        &["ingest"],
        &["search"],
        &["models", "list"],
        &["eval", "retrieval"],
        &["bench", "agent"],
        &["keys", "create"],
    ] {
        let text = help(command);
        for flag in model_flags {
            assert!(
                !text.contains(flag),
                "`{}` offers {flag}:\n{text}",
                command.join(" ")
            );
        }
        assert!(
            text.contains("--log"),
            "global flags stay everywhere:\n{text}"
        );
    }
    for command in [
        &["serve"][..],
        &["chat"],
        &["bench", "engine"],
        &["eval", "bfcl"],
        &["report", "monthly"],
    ] {
        let text = help(command);
        for flag in model_flags {
            assert!(
                text.contains(flag),
                "`{}` lacks {flag}:\n{text}",
                command.join(" ")
            );
        }
    }
    assert!(help(&["keys", "create"]).contains("--policy"));
    assert!(!help(&["chat"]).contains("--policy"));
    assert!(help(&["serve"]).contains("--port"));
    assert!(!help(&["report", "monthly"]).contains("--port"));
}

/// The demo enterprise's keys are public: serving it beyond loopback is refused unless asked
/// for (then with a loud warning), and a key made for it would vanish at the next start, so
/// `keys create` refuses too. Nothing here loads a model: the refusals come first.
#[test]
fn the_demo_keys_stay_on_loopback_and_get_no_new_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let serve_everywhere = |extra: &[&str]| {
        fulcrum(dir.path())
            .env("FULCRUM_HOME", &home)
            .args(["serve", "--host", "0.0.0.0", "--port", "0"])
            .args(extra)
            .args(["--model", "/nonexistent/model.gguf"])
            .output()
            .expect("run")
    };
    let exposed = serve_everywhere(&[]);
    assert_one_line_error(&exposed, "refusing to serve the demo enterprise on 0.0.0.0");
    assert!(text(&exposed.stderr).contains("--allow-demo-keys"));

    // Asked for: it goes on (to the missing model here) after a warning.
    let allowed = serve_everywhere(&["--allow-demo-keys"]);
    let stderr = text(&allowed.stderr);
    assert_eq!(allowed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("WARNING: the demo enterprise is served on 0.0.0.0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("does not exist"),
        "it went on to load the model: {stderr}"
    );

    let keys = fulcrum(dir.path())
        .env("FULCRUM_HOME", &home)
        .args(["keys", "create", "--user", "li.employee"])
        .output()
        .expect("run");
    assert_one_line_error(&keys, "rewritten at every start");
}
