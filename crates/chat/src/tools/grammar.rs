//! The llguidance (Lark) grammar for one request's tools and `tool_choice`.
//!
//! Calls are generated exactly as Qwen's template shows them to the model:
//! `<tool_call>\n{"name": "N", "arguments": {…}}\n</tool_call>`, with Python's JSON separators
//! and no other whitespace, and arguments that follow N's JSON Schema. In `auto`, free text
//! stays open (the choice between text and calls is made at the first token) but may neither contain `<tool_call>` (that is the
//! call path) nor have a line that starts as a bare JSON object or a ```json fence (the escape
//! routes small models take into unparseable, unchecked calls).

use serde_json::{json, Value};

use super::ToolChoice;
use crate::message::ToolDefinition;

/// Optional reasoning block before the answer (Qwen3); never parsed for calls.
const THINK_RULES: &str = r#"think: "<think>" THINK_TEXT "</think>" WS
THINK_TEXT: /(?s:.*)/ & ~/(?s:.*<\/think>.*)/
WS: /[ \t\r\n]*/
"#;

/// Calls one answer may hold when parallel calls are allowed.
const MAX_CALLS_PER_ANSWER: usize = 16;

/// The Lark grammar for `tools` under `choice`; `parallel` allows several calls in one turn.
/// `tools` must be non-empty unless `choice` is `None`.
pub fn grammar(tools: &[ToolDefinition], choice: &ToolChoice, parallel: bool) -> String {
    let allowed: Vec<&ToolDefinition> = match choice {
        ToolChoice::Named(name) => tools.iter().filter(|t| &t.name == name).collect(),
        ToolChoice::None => Vec::new(),
        ToolChoice::Auto | ToolChoice::Required => tools.iter().collect(),
    };
    let mut lark = String::from("%llguidance {}\n");
    let body = match choice {
        ToolChoice::None => "start: think? text\ntext: TEXT\n",
        // Calls or text, decided at the first token: text cannot turn into calls halfway,
        // so the server's bias on the opening tag acts at that one decision only.
        ToolChoice::Auto => "start: think? (text | calls)\ntext: TEXT\n",
        ToolChoice::Required | ToolChoice::Named(_) => "start: think? calls\n",
    };
    lark.push_str(body);
    lark.push_str(THINK_RULES);
    // Text: non-empty; no call tag, no line opening a JSON object, no ```json fence, no tool
    // name (a model that spells a tool's name out in prose is calling it in a format nobody
    // can parse); and not starting with a fence or JSON, nor with a citation (allowed to start
    // with "[1]", the default model answers with a passage's header line and stops). Banned
    // substrings share one complement (a small automaton): intersecting several `.*X.*`
    // complements makes llguidance's lexer blow up.
    let mut banned = vec![
        regex_escape("<tool_call>"),
        regex_escape("\"arguments\""),
        "\\n[ \\t]*\\{".to_string(),
        "```json".to_string(),
    ];
    // Every offered tool, whichever are callable now.
    banned.extend(tools.iter().map(|t| regex_escape(&t.name)));
    lark.push_str(&format!(
        "TEXT: /(?s:.+)/ & ~/(?s:.*({}).*)/ & ~/(?s:[ \\t\\r\\n]*(```|\\{{|\\[).*)/\n",
        banned.join("|")
    ));
    if !allowed.is_empty() {
        if parallel {
            // A bound on the calls of one answer: a small model caught repeating a call would
            // otherwise write copies until `max_tokens`.
            lark.push_str(&format!(
                "calls: call (\"\\n\" call){{0,{}}}\n",
                MAX_CALLS_PER_ANSWER - 1
            ));
        } else {
            lark.push_str("calls: call\n");
        }
        lark.push_str("call: \"<tool_call>\\n\" call_body \"\\n</tool_call>\"\n");
        lark.push_str("call_body: %json ");
        lark.push_str(&call_schema(&allowed).to_string());
        lark.push('\n');
    }
    lark
}

/// Escapes regex metacharacters (tool names may hold `.` and `-`). Only those: escaping
/// other punctuation can change meaning (`\\<` is a word boundary).
pub(super) fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One JSON Schema for `{"name": …, "arguments": …}` over all allowed tools.
fn call_schema(tools: &[&ToolDefinition]) -> Value {
    let mut definitions = serde_json::Map::new();
    let variants: Vec<Value> = tools
        .iter()
        .map(|tool| {
            let mut arguments = closed(&tool.parameters);
            hoist_definitions(&tool.name, &mut arguments, &mut definitions);
            json!({
                "type": "object",
                "properties": {
                    "name": { "const": tool.name },
                    "arguments": arguments,
                },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    let mut schema = if variants.len() == 1 {
        variants.into_iter().next().unwrap_or(Value::Null)
    } else {
        json!({ "anyOf": variants })
    };
    if !definitions.is_empty() {
        schema["$defs"] = Value::Object(definitions);
    }
    schema["x-guidance"] = call_layout();
    schema
}

/// Moves a tool's `$defs` (and `definitions`) to the call schema's root, where its local
/// `$ref`s resolve once the arguments sit inside the call object (pydantic and zod write
/// schemas this way), each name prefixed with the tool's so tools cannot clash.
fn hoist_definitions(
    tool: &str,
    arguments: &mut Value,
    hoisted: &mut serde_json::Map<String, Value>,
) {
    let Some(object) = arguments.as_object_mut() else {
        return;
    };
    let mut own = Vec::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(definitions)) = object.remove(key) {
            own.extend(
                definitions
                    .into_iter()
                    .map(|(name, schema)| (key, name, schema)),
            );
        }
    }
    if own.is_empty() {
        return;
    }
    let renamed =
        |key: &str, name: &str| (format!("#/{key}/{name}"), format!("#/$defs/{tool}.{name}"));
    let renames: Vec<(String, String)> = own
        .iter()
        .map(|(key, name, _)| renamed(key, name))
        .collect();
    rewrite_refs(arguments, &renames);
    for (key, name, mut schema) in own {
        rewrite_refs(&mut schema, &renames);
        let (_, target) = renamed(key, &name);
        hoisted.insert(target.trim_start_matches("#/$defs/").to_string(), schema);
    }
}

fn rewrite_refs(schema: &mut Value, renames: &[(String, String)]) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match value {
                    Value::String(reference) if key == "$ref" => {
                        if let Some((_, to)) = renames.iter().find(|(from, _)| from == reference) {
                            *reference = to.clone();
                        }
                    }
                    _ => rewrite_refs(value, renames),
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

/// llguidance's JSON options for calls: the layout the model saw in its prompt (Python's
/// json.dumps), and nothing else.
pub(crate) fn call_layout() -> Value {
    json!({
        "whitespace_flexible": false,
        "item_separator": ", ",
        "key_separator": ": ",
        "coerce_one_of": true,
        "lenient": true,
    })
}

/// A tool's parameter schema with `additionalProperties: false` on every object schema that
/// lists properties and does not say otherwise: arguments the tool does not declare are not
/// generated.
pub(crate) fn closed(schema: &Value) -> Value {
    let mut schema = if schema.is_null() {
        json!({ "type": "object", "properties": {} })
    } else {
        schema.clone()
    };
    close_objects(&mut schema);
    schema
}

fn close_objects(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.contains_key("properties") && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["properties", "patternProperties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = object.get_mut(key) {
            for child in children.values_mut() {
                close_objects(child);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = object.get_mut(key) {
            close_objects(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = object.get_mut(key) {
            for child in children {
                close_objects(child);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tools::test_tool as tool;

    #[test]
    fn objects_are_closed_unless_the_schema_says_otherwise() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}},
                           "c": {"type": "object", "properties": {}, "additionalProperties": true}},
        });
        let closed = closed(&schema);
        assert_eq!(closed["additionalProperties"], false);
        assert_eq!(closed["properties"]["a"]["additionalProperties"], false);
        assert_eq!(closed["properties"]["c"]["additionalProperties"], true);
    }

    #[test]
    fn grammar_shape_follows_the_choice() {
        let tools = [
            tool("f", json!({"type": "object", "properties": {}})),
            tool("g", Value::Null),
        ];
        let auto = grammar(&tools, &ToolChoice::Auto, true);
        assert!(auto.contains("start: think? (text | calls)"));
        assert!(auto.contains("calls: call (\"\\n\" call){0,15}"));
        assert!(auto.contains("\"const\":\"g\""));
        let single = grammar(&tools, &ToolChoice::Required, false);
        assert!(single.contains("start: think? calls\n") && single.contains("calls: call\n"));
        let named = grammar(&tools, &ToolChoice::Named("g".into()), true);
        assert!(named.contains("\"const\":\"g\"") && !named.contains("\"const\":\"f\""));
        let none = grammar(&tools, &ToolChoice::None, true);
        assert!(none.contains("start: think? text") && !none.contains("call_body"));
    }
}
