//! The `[[upstreams]]` entries of the configuration file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::RemoteError;

/// One engine that serves the model over an OpenAI-compatible API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// A name for logs, metrics and `/v1/models`; defaults to the URL's host and port.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL, e.g. `http://10.0.0.5:8000` (a trailing `/v1` is accepted). Plain HTTP: the
    /// engine sits on the deployment's private network.
    pub url: String,
    pub kind: UpstreamKind,
    /// The model's name at the upstream (`--served-model-name` in vLLM); defaults to the id
    /// Fulcrum serves.
    #[serde(default)]
    pub model: Option<String>,
    /// An environment variable holding the upstream's API key. Keys never go in the
    /// configuration text.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// A file holding the upstream's API key (its first line).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
}

/// Which engine an upstream is: it decides how the grammar, the tokenizer check and the
/// health check are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamKind {
    /// vLLM with `--structured-outputs-config.backend guidance` (llguidance).
    Vllm,
    /// SGLang with `--grammar-backend llguidance`.
    Sglang,
    /// llama.cpp's `llama-server` built with `LLAMA_LLGUIDANCE`.
    LlamaServer,
    /// Any other OpenAI-compatible completions API: no grammar; calls validated after.
    Openai,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamKind::Vllm => "vllm",
            UpstreamKind::Sglang => "sglang",
            UpstreamKind::LlamaServer => "llama-server",
            UpstreamKind::Openai => "openai",
        }
    }
}

impl UpstreamConfig {
    /// The base URL without a trailing slash or `/v1`.
    pub(crate) fn base_url(&self) -> Result<String, RemoteError> {
        let url = self.url.trim().trim_end_matches('/');
        let url = url.strip_suffix("/v1").unwrap_or(url);
        let scheme_ok = (url.starts_with("http://") && url.len() > 7)
            || (url.starts_with("https://") && url.len() > 8);
        if !scheme_ok {
            return Err(RemoteError::Config {
                name: self.display_name(),
                reason: format!(
                    "`url` must be an http:// or https:// address, got `{}`",
                    self.url
                ),
            });
        }
        Ok(url.to_string())
    }

    pub(crate) fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let url = self.url.trim();
            let rest = url.split("://").nth(1).unwrap_or(url);
            rest.split('/').next().unwrap_or(rest).to_string()
        })
    }

    /// The API key from the named variable or file, if one is configured.
    pub(crate) fn api_key(&self) -> Result<Option<String>, RemoteError> {
        let fail = |reason: String| RemoteError::Config {
            name: self.display_name(),
            reason,
        };
        if let Some(variable) = &self.api_key_env {
            let key = std::env::var(variable).map_err(|_| {
                fail(format!(
                    "`api_key_env` names `{variable}`, which is not set in the environment"
                ))
            })?;
            return Ok(Some(key.trim().to_string()));
        }
        if let Some(path) = &self.api_key_file {
            let text = std::fs::read_to_string(path).map_err(|err| {
                fail(format!(
                    "cannot read `api_key_file` {}: {err}",
                    path.display()
                ))
            })?;
            let key = text.lines().next().unwrap_or_default().trim().to_string();
            if key.is_empty() {
                return Err(fail(format!("`api_key_file` {} is empty", path.display())));
            }
            return Ok(Some(key));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> UpstreamConfig {
        UpstreamConfig {
            name: None,
            url: url.into(),
            kind: UpstreamKind::Vllm,
            model: None,
            api_key_env: None,
            api_key_file: None,
        }
    }

    #[test]
    fn base_urls_lose_a_trailing_v1_and_names_default_to_host_and_port() {
        let u = upstream("http://10.0.0.5:8000/v1/");
        assert_eq!(u.base_url().expect("valid"), "http://10.0.0.5:8000");
        assert_eq!(u.display_name(), "10.0.0.5:8000");
        assert!(upstream("10.0.0.5:8000").base_url().is_err());
        assert_eq!(
            upstream("https://gpu-1:8000/").base_url().expect("TLS"),
            "https://gpu-1:8000"
        );
        assert!(upstream("ftp://gpu-1").base_url().is_err());
    }

    #[test]
    fn a_missing_key_variable_is_a_clear_error() {
        let u = UpstreamConfig {
            api_key_env: Some("FULCRUM_TEST_SURELY_UNSET_KEY".into()),
            ..upstream("http://a:1")
        };
        let err = u.api_key().expect_err("unset").to_string();
        assert!(err.contains("FULCRUM_TEST_SURELY_UNSET_KEY"), "{err}");
    }
}
