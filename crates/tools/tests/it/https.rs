//! `http` tools over HTTPS (#17 item 8): a local server whose certificate a self-signed CA
//! issued, trusted through the policy's `http_ca_file`; a credential header whose value comes
//! from a file named in the policy and reaches the server, never the audit log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fulcrum_tools::{Decision, Registry};
use serde_json::json;

use crate::as_user;

const TOKEN: &str = "s3cret-crm-token";

/// A CA, and a certificate for `localhost` it signed, written into `dir` with openssl.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs (scripts/setup installs it)");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Fulcrum test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// A Python HTTPS server answering every GET with whether its Authorization header was the
/// expected one (not the header itself: the answer goes into the audit log).
struct EchoServer {
    child: Child,
    port: u16,
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_https(dir: &Path) -> EchoServer {
    const SCRIPT: &str = r#"
import http.server, json, ssl, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "authorized": self.headers.get("Authorization") == sys.argv[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Echo)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("server.pem", "server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, &format!("Bearer {TOKEN}")])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port");
    let port = line.trim().parse().expect("a port");
    EchoServer { child, port }
}

fn policy(port: u16, ca_file: bool, header: &str) -> String {
    let ca = if ca_file {
        "http_ca_file = \"ca.pem\"\n"
    } else {
        ""
    };
    format!(
        r#"roles = ["employee"]
http_allowlist = ["https://localhost:{port}/v1/"]
{ca}
[[users]]
name = "erin"
role = "employee"

[[tools]]
name = "crm_contact"
description = "A CRM contact."
roles = ["employee"]
parameters = {{ type = "object", properties = {{ id = {{ type = "string" }} }}, required = ["id"] }}
executor = {{ kind = "http", url = "https://localhost:{port}/v1/contacts/{{id}}", headers = {{ Authorization = {header} }} }}
"#
    )
}

async fn call_crm(dir: &Path) -> Result<String, String> {
    let policy = crate::open_policy(dir, std::time::Duration::from_secs(60));
    let context = as_user("erin", "employee");
    let Decision::Permit(permit) = policy
        .authorize(&context, "crm_contact", &json!({"id": "7"}))
        .expect("decides")
    else {
        panic!("permitted");
    };
    let outcome = policy.execute(&context, permit).await;
    let audit: Vec<String> = policy
        .audit()
        .records(0, 100)
        .expect("audit")
        .iter()
        .map(|r| r.event.data.to_string())
        .collect();
    assert!(
        audit.iter().all(|row| !row.contains(TOKEN)),
        "the credential reached the audit log"
    );
    outcome.map(|o| o.text).map_err(|e| e.to_string())
}

#[tokio::test]
async fn an_https_tool_trusts_the_policy_s_ca_and_sends_its_credential_from_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    make_certificates(dir.path());
    let server = serve_https(dir.path());
    std::fs::write(dir.path().join("crm.token"), format!("{TOKEN}\n")).expect("token");
    let header = r#"{ file = "crm.token", prefix = "Bearer " }"#;

    std::fs::write(
        dir.path().join("policy.toml"),
        policy(server.port, true, header),
    )
    .expect("policy");
    let output = call_crm(dir.path()).await.expect("the call goes through");
    let value: serde_json::Value = serde_json::from_str(&output).expect("json");
    assert_eq!(value["body"]["authorized"], true, "{value}");
    assert_eq!(value["body"]["path"], "/v1/contacts/7");

    // Without the CA file the certificate is not trusted: the call fails, nothing is sent.
    std::fs::write(
        dir.path().join("policy.toml"),
        policy(server.port, false, header),
    )
    .expect("policy");
    let err = call_crm(dir.path())
        .await
        .expect_err("untrusted certificate");
    assert!(err.contains("crm_contact"), "{err}");
}

#[test]
fn a_credential_from_a_missing_variable_or_written_in_the_policy_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    for (header, expected) in [
        (
            r#"{ env = "FULCRUM_TEST_UNSET_VARIABLE" }"#,
            "FULCRUM_TEST_UNSET_VARIABLE",
        ),
        (
            r#"{ prefix = "Bearer abc" }"#,
            "exactly one of `env` or `file`",
        ),
    ] {
        std::fs::write(dir.path().join("policy.toml"), policy(1, false, header)).expect("policy");
        let registry =
            std::sync::Arc::new(Registry::load(&dir.path().join("policy.toml")).expect("loads"));
        let err = fulcrum_tools::Executors::new(registry)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains(expected) && err.contains("crm_contact"),
            "{err}"
        );
    }
}
