//! The servers a load run measures when the bench starts them itself: Fulcrum (this binary,
//! `serve`) and llama.cpp's `llama-server`, on the same GGUF, threads, slots and context.
//! Each is stopped when its handle drops, however the bench ends.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What both servers are given.
#[derive(Debug, Clone)]
pub struct ServerShape {
    pub model_path: PathBuf,
    pub threads: usize,
    pub slots: u32,
    pub context_size: u32,
}

/// A server process the bench started.
pub struct ChildServer {
    pub name: String,
    pub base_url: String,
    health_url: String,
    child: Child,
    log: std::fs::File,
    /// Files the process reads while it runs (a configuration), removed when it stops.
    _files: Option<tempfile::TempDir>,
}

impl ChildServer {
    /// `fulcrum serve` from this very binary.
    pub fn fulcrum(shape: &ServerShape) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find this program's own path")?;
        let port = free_port()?;
        let mut command = Command::new(exe);
        command
            .args(["--log", "warn", "serve", "--model"])
            .arg(&shape.model_path)
            .args(["--threads", &shape.threads.to_string()])
            .args(["--slots", &shape.slots.to_string()])
            .args(["--context-size", &shape.context_size.to_string()])
            .args(["--port", &port.to_string()])
            // The load measures the model's serving; nothing else is loaded or fetched.
            .env("FULCRUM_SERVE_EMBEDDINGS", "false");
        Self::start("fulcrum", command, port, "/readyz")
    }

    /// `fulcrum serve` from this very binary in front of `upstream` (a llama-server's root
    /// URL) as its remote engine: the same model's GGUF gives the template and tokenizer.
    pub fn fulcrum_over(shape: &ServerShape, upstream: &str) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find this program's own path")?;
        let files = tempfile::tempdir().context("cannot create a folder for the configuration")?;
        let config = files.path().join("fulcrum.toml");
        std::fs::write(
            &config,
            format!(
                "engine = \"remote\"\n\n[[upstreams]]\nname = \"llama-server\"\nurl = \"{upstream}\"\nkind = \"llama-server\"\n"
            ),
        )
        .context("cannot write the configuration of Fulcrum over llama-server")?;
        let port = free_port()?;
        let mut command = Command::new(exe);
        command
            .args(["--log", "warn", "--config"])
            .arg(&config)
            .args(["serve", "--model"])
            .arg(&shape.model_path)
            .args(["--port", &port.to_string()])
            .env("FULCRUM_SERVE_EMBEDDINGS", "false");
        let mut server = Self::start("fulcrum → llama-server", command, port, "/readyz")?;
        server._files = Some(files);
        Ok(server)
    }

    /// llama.cpp's server with continuous batching over `slots` sequences.
    pub fn llama_server(binary: &Path, shape: &ServerShape) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(binary);
        command
            .arg("-m")
            .arg(&shape.model_path)
            .args(["-t", &shape.threads.to_string()])
            .args(["-tb", &shape.threads.to_string()])
            .args(["-np", &shape.slots.to_string()])
            .args(["-c", &shape.context_size.to_string()])
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--jinja",
            ]);
        Self::start("llama-server", command, port, "/health")
    }

    fn start(name: &str, mut command: Command, port: u16, health: &str) -> Result<Self> {
        let log = tempfile::tempfile().context("cannot create a log file for the server")?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().context("cannot share the log file")?)
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", command.get_program()))?;
        Ok(ChildServer {
            name: name.into(),
            base_url: format!("http://127.0.0.1:{port}/v1"),
            health_url: format!("http://127.0.0.1:{port}{health}"),
            child,
            log,
            _files: None,
        })
    }

    /// Waits until the server answers its health check with 200 (the model is loaded).
    pub async fn ready(&mut self, http: &reqwest::Client, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().context("cannot watch the server")? {
                let tail = self.log_tail();
                bail!(
                    "{} exited ({status}) before it was ready: {tail}",
                    self.name
                );
            }
            if let Ok(response) = http.get(&self.health_url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > limit {
                let tail = self.log_tail();
                bail!(
                    "{} was not ready after {} s: {tail}",
                    self.name,
                    limit.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Peak resident memory of the process so far (Linux), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// The last lines the server wrote, for error messages.
    fn log_tail(&mut self) -> String {
        let mut text = String::new();
        let _ = self.log.seek(SeekFrom::Start(0));
        let _ = self.log.read_to_string(&mut text);
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        if tail.is_empty() {
            "it wrote nothing".into()
        } else {
            tail.join(" | ")
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
    Ok(listener
        .local_addr()
        .context("cannot read a free port")?
        .port())
}

/// Where `llama-server` is: the given path, or, for `build`, the one
/// `scripts/llama-cpp-reference` builds from the llama-cpp-python sdist (run from the
/// repository's root).
pub fn llama_server_binary(given: &str) -> Result<PathBuf> {
    if given != "build" {
        let path = PathBuf::from(given);
        if !path.is_file() {
            bail!("llama-server binary {} does not exist", path.display());
        }
        return Ok(path);
    }
    let script = Path::new("scripts/llama-cpp-reference");
    if !script.is_file() {
        bail!(
            "`--llama-server build` runs scripts/llama-cpp-reference: start the bench from the \
             Fulcrum repository's root, or pass the path of a llama-server binary"
        );
    }
    eprintln!("bench: building llama-server (scripts/llama-cpp-reference; minutes the first time)");
    let output = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run scripts/llama-cpp-reference")?;
    if !output.status.success() {
        bail!("scripts/llama-cpp-reference failed ({})", output.status);
    }
    let bin = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let path = Path::new(&bin).join("llama-server");
    if !path.is_file() {
        bail!(
            "scripts/llama-cpp-reference did not produce {}",
            path.display()
        );
    }
    Ok(path)
}
