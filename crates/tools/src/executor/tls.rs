//! HTTPS for the tools' outgoing requests: rustls with the system's CA certificates plus the
//! policy's `http_ca_file`, and headers whose secret values come from the environment or
//! files named in the policy.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::SecretValue;

/// Makes ring the rustls crypto provider of the whole process (reqwest is built without one
/// of its own). Every HTTP client of Fulcrum is built after this; calling it again does
/// nothing.
pub fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one first: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for tool calls: no redirects (one could lead outside the allowlist), the
/// system's roots and the policy's CA file trusted, `headers` on every request.
pub(crate) fn client(
    ca_file: Option<&Path>,
    headers: HeaderMap,
) -> Result<reqwest::Client, String> {
    install_tls_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|err| format!("cannot read `http_ca_file` {}: {err}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
            format!(
                "`http_ca_file` {} holds no PEM certificates: {err}",
                path.display()
            )
        })?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|err| format!("cannot build the HTTP client: {err}"))
}

/// The headers with their values read now; a missing variable or file names itself. Values
/// are marked sensitive, so no log or debug output shows them.
pub(crate) fn resolve_headers(
    headers: &BTreeMap<String, SecretValue>,
    base_dir: &Path,
) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (name, source) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let secret = match (&source.env, &source.file) {
            (Some(variable), None) => std::env::var(variable).map_err(|_| {
                format!("header `{name}`: the environment variable `{variable}` is not set")
            })?,
            (None, Some(file)) => {
                let path = base_dir.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|err| {
                        format!("header `{name}`: cannot read {}: {err}", path.display())
                    })?
                    .trim()
                    .to_string()
            }
            _ => {
                return Err(format!(
                    "header `{name}`: give exactly one of `env` or `file` (a value is never written in the policy)"
                ))
            }
        };
        let mut value = HeaderValue::from_str(&format!("{}{secret}", source.prefix))
            .map_err(|_| format!("header `{name}`: the value is not valid in a header"))?;
        value.set_sensitive(true);
        out.insert(header, value);
    }
    Ok(out)
}
