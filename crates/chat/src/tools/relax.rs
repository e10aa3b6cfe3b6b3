//! Tool schemas the grammar cannot enforce as written. Clients send schemas from public API
//! catalogues and MCP servers that are valid JSON Schema yet unsatisfiable or beyond
//! llguidance (an `enum` of strings written on an array instead of its items; a regex with a
//! look-ahead). Refusing them answers a user's reasonable request with a 400 that llama-server
//! would not give. So, unless the tool is `strict`, such a schema is relaxed: first to what it
//! evidently means, then, part by part, to no constraint where nothing else compiles; the
//! calls are checked against the relaxed schema. Each relaxation is reported, so the server can
//! log it and a strict tool can be refused naming the keyword and path.

use std::sync::OnceLock;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::ApproximateTokEnv;
use llguidance::ParserFactory;
use serde_json::{json, Map, Value};

use super::grammar::call_layout;

/// One change made to a tool's schema so that a grammar can enforce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relaxation {
    /// JSON Pointer of the changed subschema in the tool's parameters ("" for the root).
    pub path: String,
    /// The keyword that could not be enforced as written.
    pub keyword: String,
    /// What was done instead.
    pub change: String,
}

impl std::fmt::Display for Relaxation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "`{}` at {path}: {}", self.keyword, self.change)
    }
}

/// The schema as the grammar can enforce it, and what had to change (empty when nothing did).
pub(crate) fn enforceable(schema: &Value) -> (Value, Vec<Relaxation>) {
    let mut schema = schema.clone();
    let mut relaxed = Vec::new();
    repair(&mut schema, "", &mut relaxed);
    if compile_error(&schema).is_some() {
        loosen(&mut schema, "", &mut relaxed);
    }
    (schema, relaxed)
}

/// Why llguidance cannot compile `schema` as the call grammar lays JSON out, if it cannot.
/// The check builds a parser over a byte-level vocabulary: unsatisfiable schemas and
/// unsupported regexes surface there as they would against the model's.
pub(crate) fn compile_error(schema: &Value) -> Option<String> {
    let Some(factory) = factory() else {
        return Some("llguidance could not start".into());
    };
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.insert("x-guidance".into(), call_layout());
    }
    // llguidance reports some schemas by panicking; a tool schema must never take the server
    // down, so such a panic counts as "cannot compile". Nothing outlives the closure.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        factory
            .create_parser(TopLevelGrammar::from_json_schema(schema))
            .map(|_| ())
    }));
    match result {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(first_line(&err.to_string())),
        Err(_) => Some("the grammar compiler gave up on it".into()),
    }
}

fn factory() -> Option<&'static ParserFactory> {
    static FACTORY: OnceLock<Option<ParserFactory>> = OnceLock::new();
    FACTORY
        .get_or_init(|| {
            let env = ApproximateTokEnv::single_byte_env();
            let mut factory = ParserFactory::new_simple(&env).ok()?;
            factory.quiet();
            Some(factory)
        })
        .as_ref()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_string()
}

/// Rewrites what a schema evidently means into what a grammar can enforce.
fn repair(schema: &mut Value, path: &str, relaxed: &mut Vec<Relaxation>) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    enum_on_array(object, path, relaxed);
    for_each_subschema(object, path, &mut |child, child_path| {
        repair(child, child_path, relaxed)
    });
}

/// `{"type": "array", "items": {"type": "string"}, "enum": ["a", "b"]}`: the allowed values
/// written on the array are meant for its items.
fn enum_on_array(object: &mut Map<String, Value>, path: &str, relaxed: &mut Vec<Relaxation>) {
    let is_array =
        object.get("type").and_then(Value::as_str) == Some("array") || object.contains_key("items");
    let scalar_values = matches!(object.get("enum"), Some(Value::Array(values)) if values.iter().any(|v| !v.is_array()));
    if !(is_array && scalar_values) {
        return;
    }
    let Some(Value::Array(values)) = object.remove("enum") else {
        return;
    };
    let values: Vec<Value> = values.into_iter().filter(|v| !v.is_array()).collect();
    let items = object.entry("items").or_insert_with(|| json!({}));
    let change = match items.as_object_mut() {
        Some(items) if !items.contains_key("enum") && !items.contains_key("const") => {
            items.insert("enum".into(), Value::Array(values));
            "its values apply to the array's items"
        }
        _ => "dropped: the array's items already restrict their values",
    };
    relaxed.push(Relaxation {
        path: path.to_string(),
        keyword: "enum".into(),
        change: change.into(),
    });
}

/// Leaves unconstrained the smallest parts of `schema` that do not compile (the whole of it,
/// as an object of any arguments, when nothing smaller does).
fn loosen(schema: &mut Value, path: &str, relaxed: &mut Vec<Relaxation>) {
    if let Some(object) = schema.as_object_mut() {
        for_each_subschema(object, path, &mut |child, child_path| {
            // A subschema with a `$ref` means something only inside the whole schema.
            if !mentions_ref(child) && compile_error(child).is_some() {
                loosen(child, child_path, relaxed);
            }
        });
    }
    let Some(error) = compile_error(schema) else {
        return;
    };
    let description = schema.get("description").cloned();
    *schema = if path.is_empty() {
        json!({"type": "object"})
    } else {
        json!({})
    };
    if let Some(description) = description {
        schema["description"] = description;
    }
    relaxed.push(Relaxation {
        path: path.to_string(),
        keyword: "schema".into(),
        change: format!("left unconstrained ({error})"),
    });
}

fn mentions_ref(schema: &Value) -> bool {
    match schema {
        Value::Object(object) => object.contains_key("$ref") || object.values().any(mentions_ref),
        Value::Array(values) => values.iter().any(mentions_ref),
        _ => false,
    }
}

/// Calls `visit` on each direct subschema of `object` with its JSON Pointer.
pub(super) fn for_each_subschema(
    object: &mut Map<String, Value>,
    path: &str,
    visit: &mut dyn FnMut(&mut Value, &str),
) {
    for key in ["properties", "patternProperties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = object.get_mut(key) {
            for (name, child) in children.iter_mut() {
                visit(child, &format!("{path}/{key}/{}", escape_pointer(name)));
            }
        }
    }
    for key in ["items", "additionalProperties", "not", "contains"] {
        if let Some(child) = object.get_mut(key) {
            if child.is_object() {
                visit(child, &format!("{path}/{key}"));
            }
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = object.get_mut(key) {
            for (index, child) in children.iter_mut().enumerate() {
                visit(child, &format!("{path}/{key}/{index}"));
            }
        }
    }
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enum_written_on_an_array_applies_to_its_items() {
        let schema = json!({"type": "object", "properties": {"tags": {
            "type": "array", "items": {"type": "string"}, "enum": ["trust", "buzz"]}},
            "required": ["tags"]});
        assert!(
            compile_error(&schema).is_some(),
            "llguidance refuses it as written"
        );
        let (enforced, relaxed) = enforceable(&schema);
        assert_eq!(
            enforced["properties"]["tags"],
            json!({"type": "array", "items": {"type": "string", "enum": ["trust", "buzz"]}})
        );
        assert_eq!(relaxed.len(), 1);
        assert_eq!(relaxed[0].path, "/properties/tags");
        assert_eq!(relaxed[0].keyword, "enum");
        assert!(compile_error(&enforced).is_none());
    }

    #[test]
    fn a_part_nothing_can_enforce_is_left_unconstrained_and_the_rest_kept() {
        // A look-ahead is beyond llguidance's regular expressions.
        let schema = json!({"type": "object", "properties": {
            "path": {"type": "string", "pattern": "^(?!.*\\.\\.).*$", "description": "no `..`"},
            "depth": {"type": "integer", "minimum": 1}
        }, "required": ["path"]});
        let (enforced, relaxed) = enforceable(&schema);
        assert_eq!(
            enforced["properties"]["path"],
            json!({"description": "no `..`"})
        );
        assert_eq!(
            enforced["properties"]["depth"],
            json!({"type": "integer", "minimum": 1})
        );
        assert_eq!(enforced["required"], json!(["path"]));
        assert_eq!(relaxed.len(), 1, "{relaxed:?}");
        assert_eq!(relaxed[0].path, "/properties/path");
        assert!(compile_error(&enforced).is_none());
    }

    #[test]
    fn a_schema_that_compiles_is_left_as_it_is() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        assert_eq!(enforceable(&schema), (schema, Vec::new()));
    }
}
