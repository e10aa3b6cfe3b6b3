//! The `http` executor: a method and URL template under an allowlisted prefix (checked at
//! load), no redirects, the response read only up to the tool's output cap.

use serde_json::{json, Map, Value};

use crate::error::ToolsError;
use crate::template::{fill_template, placeholders};

pub(crate) async fn run(
    client: &reqwest::Client,
    tool: &str,
    method: &str,
    url_template: &str,
    arguments: &Value,
    max_bytes: usize,
    allowlist: &[String],
) -> Result<Value, ToolsError> {
    let failed = |reason: String| ToolsError::Execution {
        tool: tool.to_string(),
        reason,
    };
    // `.` and `..` survive percent-encoding as dot segments (URL parsing resolves `%2E%2E`
    // too), so such an argument would name another resource than its segment's.
    if let Some(name) = placeholders(url_template).into_iter().find(|name| {
        matches!(
            arguments.get(*name).and_then(Value::as_str),
            Some("." | "..")
        )
    }) {
        return Err(failed(format!(
            "the argument `{name}` is a dot segment (`.` or `..`), which is not a value a URL path takes"
        )));
    }
    let url = fill_template(url_template, arguments, percent_encode);
    // Checked again on the parsed URL: dot segments (`..`, `%2e%2e`) are resolved by parsing
    // and could otherwise climb out of the allowlisted prefix.
    let mut url =
        reqwest::Url::parse(&url).map_err(|err| failed(format!("bad URL {url}: {err}")))?;
    if !url_allowed(url.as_str(), allowlist) {
        return Err(failed(format!(
            "the URL {url} is outside the allowlisted prefixes"
        )));
    }
    let in_path = placeholders(url_template);
    let rest: Map<String, Value> = arguments
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| !in_path.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|err| failed(format!("bad method: {err}")))?;
    let in_query = matches!(method, reqwest::Method::GET | reqwest::Method::DELETE);
    if in_query && !rest.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &rest {
            match value {
                Value::String(text) => pairs.append_pair(name, text),
                other => pairs.append_pair(name, &other.to_string()),
            };
        }
    }
    let mut request = client.request(method, url);
    if !in_query {
        request = request.json(&Value::Object(rest));
    }
    let mut response = request
        .send()
        .await
        .map_err(|err| failed(format!("request failed: {err}")))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    // One byte past the cap tells the caller the output was cut.
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| failed(format!("reading the response failed: {err}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    if !(200..300).contains(&status) {
        return Err(failed(format!("HTTP {status}: {body}")));
    }
    Ok(json!({"status": status, "body": body}))
}

/// Whether `url` is under one of the prefixes, at a path boundary.
pub(crate) fn url_allowed(url: &str, allowlist: &[String]) -> bool {
    allowlist.iter().any(|prefix| {
        url.starts_with(prefix.as_str())
            && (prefix.ends_with('/')
                || url.len() == prefix.len()
                || matches!(url.as_bytes()[prefix.len()], b'/' | b'?' | b'#'))
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so an argument cannot
/// add path segments, a query or a fragment.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{percent_encode, url_allowed};

    #[test]
    fn allowlist_matches_at_boundaries() {
        let allow = vec!["https://api.example.com/v1".to_string()];
        assert!(url_allowed("https://api.example.com/v1/items/3", &allow));
        assert!(url_allowed("https://api.example.com/v1?q=1", &allow));
        assert!(!url_allowed("https://api.example.com/v10/items", &allow));
        assert!(!url_allowed("https://api.example.com.evil/v1", &allow));
        assert!(!url_allowed("https://api.example.com/", &allow));
    }

    #[test]
    fn path_arguments_cannot_escape_their_segment() {
        assert_eq!(percent_encode("../admin?x=1#f"), "..%2Fadmin%3Fx%3D1%23f");
    }
}
