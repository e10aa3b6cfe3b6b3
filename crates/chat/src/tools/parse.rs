//! Reading tool calls out of a finished model output: strict about what it returns, lenient
//! about what it reads.
//!
//! Read, in this order: `<tool_call>` blocks (one or several; an unclosed last block is read to
//! the end); failing those, ```json (or bare ```) fences holding a call; failing those, the whole
//! answer as a bare JSON call. Each call may be `{"name", "arguments"}`, `{"name",
//! "parameters"}`, `{"function": "name", "arguments"}` or `{"function": {"name",
//! "arguments"}}`, or a JSON array of these; arguments may be an object or a JSON string holding
//! one. Only calls of offered tools count; everything here is a single left-to-right pass, so
//! time is linear in the output's length.

use serde_json::{Map, Value};

use super::{ParsedCall, CLOSE, OPEN, THINK_CLOSE, THINK_OPEN};

/// A model output split into its parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedOutput {
    /// Text for the user, with every call and tag removed; `None` when nothing is left.
    pub content: Option<String>,
    /// The `<think>` block's text.
    pub reasoning: Option<String>,
    pub calls: Vec<ParsedCall>,
}

/// Splits `<think>…</think>` off the front. A lone `</think>` (templates that open the block in
/// the prompt) ends reasoning too. Returns (reasoning, rest).
pub fn split_reasoning(text: &str) -> (Option<String>, &str) {
    let trimmed = text.trim_start();
    if let Some(after_open) = trimmed.strip_prefix(THINK_OPEN) {
        return match after_open.find(THINK_CLOSE) {
            Some(end) => (
                Some(after_open[..end].trim().to_string()),
                &after_open[end + THINK_CLOSE.len()..],
            ),
            // Still thinking when the output ended: all of it is reasoning.
            None => (Some(after_open.trim().to_string()), ""),
        };
    }
    match text.find(THINK_CLOSE) {
        Some(end) if !text[..end].contains(OPEN) => (
            Some(text[..end].trim().to_string()),
            &text[end + THINK_CLOSE.len()..],
        ),
        _ => (None, text),
    }
}

/// Parses a whole output; `is_tool` says which names are offered tools.
pub fn parse_output(text: &str, is_tool: &dyn Fn(&str) -> bool) -> ParsedOutput {
    let (reasoning, rest) = split_reasoning(text);
    let (content, calls) = if rest.contains(OPEN) {
        tagged_calls(rest, is_tool)
    } else if let Some((content, calls)) = fenced_calls(rest, is_tool) {
        (content, calls)
    } else if let Some(calls) = bare_calls(rest, is_tool) {
        (String::new(), calls)
    } else {
        (rest.to_string(), Vec::new())
    };
    let content = content.trim();
    ParsedOutput {
        content: (!content.is_empty()).then(|| content.to_string()),
        reasoning: reasoning.filter(|r| !r.is_empty()),
        calls,
    }
}

fn tagged_calls(text: &str, is_tool: &dyn Fn(&str) -> bool) -> (String, Vec<ParsedCall>) {
    let mut content = String::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        content.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let (body, next) = match after.find(CLOSE) {
            Some(end) => (&after[..end], &after[end + CLOSE.len()..]),
            None => (after, ""),
        };
        // A block that holds no call of an offered tool is dropped, tags and all: tags never
        // reach the user as text.
        if let Some(found) = calls_from_json(body.trim(), is_tool) {
            calls.extend(found);
        }
        rest = next;
    }
    content.push_str(rest);
    (content, calls)
}

/// ```json fences (or bare ``` fences) whose body is a call; other fences stay as text.
pub(crate) fn fenced_calls(
    text: &str,
    is_tool: &dyn Fn(&str) -> bool,
) -> Option<(String, Vec<ParsedCall>)> {
    let mut content = String::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after_ticks = &rest[start + 3..];
        let Some(end) = after_ticks.find("```") else {
            break;
        };
        let inner = &after_ticks[..end];
        let (label, body) = inner.split_once('\n').unwrap_or(("", inner));
        let label = label.trim();
        let parsed = if label.is_empty() || label.eq_ignore_ascii_case("json") {
            calls_from_json(body.trim(), is_tool)
        } else {
            None
        };
        match parsed {
            Some(found) => {
                content.push_str(&rest[..start]);
                calls.extend(found);
            }
            None => content.push_str(&rest[..start + 3 + end + 3]),
        }
        rest = &after_ticks[end + 3..];
    }
    content.push_str(rest);
    (!calls.is_empty()).then_some((content, calls))
}

fn bare_calls(text: &str, is_tool: &dyn Fn(&str) -> bool) -> Option<Vec<ParsedCall>> {
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    calls_from_json(trimmed, is_tool)
}

/// One call object, or an array of them; `None` unless every element is a call of an offered
/// tool.
pub(crate) fn calls_from_json(
    text: &str,
    is_tool: &dyn Fn(&str) -> bool,
) -> Option<Vec<ParsedCall>> {
    let value: Value = serde_json::from_str(text).ok()?;
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        Value::Object(_) => vec![value],
        _ => return None,
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(object) => call_from_object(object, is_tool),
            _ => None,
        })
        .collect()
}

fn call_from_object(
    mut object: Map<String, Value>,
    is_tool: &dyn Fn(&str) -> bool,
) -> Option<ParsedCall> {
    let (name, arguments) = match object.remove("function") {
        Some(Value::Object(mut function)) => {
            let name = function.remove("name")?;
            let arguments = function
                .remove("arguments")
                .or_else(|| function.remove("parameters"));
            (name, arguments)
        }
        Some(name @ Value::String(_)) => (
            name,
            object
                .remove("arguments")
                .or_else(|| object.remove("parameters")),
        ),
        Some(_) => return None,
        None => (
            object.remove("name")?,
            object
                .remove("arguments")
                .or_else(|| object.remove("parameters")),
        ),
    };
    let Value::String(name) = name else {
        return None;
    };
    if !is_tool(&name) {
        return None;
    }
    let arguments = match arguments.unwrap_or_else(|| Value::Object(Map::new())) {
        Value::String(text) => match serde_json::from_str::<Value>(&text).ok()? {
            object @ Value::Object(_) => object,
            _ => return None,
        },
        object @ Value::Object(_) => object,
        Value::Null => Value::Object(Map::new()),
        _ => return None,
    };
    Some(ParsedCall { name, arguments })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tools(name: &str) -> bool {
        matches!(name, "get_weather" | "math.add")
    }

    fn check(text: &str, content: Option<&str>, calls: &[(&str, Value)]) {
        let parsed = parse_output(text, &tools);
        assert_eq!(parsed.content.as_deref(), content, "content of {text:?}");
        let got: Vec<(String, Value)> = parsed
            .calls
            .into_iter()
            .map(|c| (c.name, c.arguments))
            .collect();
        let expected: Vec<(String, Value)> = calls
            .iter()
            .map(|(n, a)| ((*n).to_string(), a.clone()))
            .collect();
        assert_eq!(got, expected, "calls of {text:?}");
    }

    #[test]
    fn hermes_blocks_one_or_several() {
        check(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            None,
            &[("get_weather", json!({"city": "Paris"}))],
        );
        check(
            "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"math.add\", \"arguments\": {\"a\": 1}}\n</tool_call>",
            Some("Let me check."),
            &[("get_weather", json!({"city": "A"})), ("math.add", json!({"a": 1}))],
        );
    }

    #[test]
    fn unclosed_last_block_and_broken_blocks() {
        check(
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}",
            None,
            &[("get_weather", json!({}))],
        );
        check("<tool_call>{not json}</tool_call> ok", Some("ok"), &[]);
    }

    #[test]
    fn fences_bare_json_and_variants() {
        check(
            "```json\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Rome\\\"}\"}\n```",
            None,
            &[("get_weather", json!({"city": "Rome"}))],
        );
        check(
            "Here:\n```\n[{\"function\": {\"name\": \"math.add\", \"arguments\": {\"a\": 2}}}]\n```",
            Some("Here:"),
            &[("math.add", json!({"a": 2}))],
        );
        check(
            "{\"function\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
            None,
            &[("get_weather", json!({"city": "Oslo"}))],
        );
        // A code fence that is not a call stays text, as does JSON naming no offered tool.
        check(
            "```python\nprint(1)\n```",
            Some("```python\nprint(1)\n```"),
            &[],
        );
        check(
            "{\"name\": \"rm_rf\", \"arguments\": {}}",
            Some("{\"name\": \"rm_rf\", \"arguments\": {}}"),
            &[],
        );
    }

    #[test]
    fn reasoning_is_split_off_and_never_parsed_for_calls() {
        let text = "<think>maybe <tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call></think>\n\nNo call needed.";
        let parsed = parse_output(text, &tools);
        assert!(parsed.calls.is_empty());
        assert_eq!(parsed.content.as_deref(), Some("No call needed."));
        assert!(parsed
            .reasoning
            .as_deref()
            .is_some_and(|r| r.contains("maybe")));
        let (reasoning, rest) = split_reasoning("thinking here</think>answer");
        assert_eq!(
            (reasoning.as_deref(), rest),
            (Some("thinking here"), "answer")
        );
    }
}
