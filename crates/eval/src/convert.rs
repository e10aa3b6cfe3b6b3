//! BFCL function docs → OpenAI tools, as BFCL's `convert_to_tool` does for OpenAI-style
//! handlers (CHECKER.md §9): the Python hint appended to descriptions, `.` → `_` in names,
//! `dict` → `object`, BFCL's Python type names mapped to JSON Schema ones.

use serde_json::{json, Map, Value};

const PYTHON_HINT: &str = " Note that the provided function is in Python 3 syntax.";

/// The name the model sees for a BFCL function.
pub fn tool_name(name: &str) -> String {
    name.replace('.', "_")
}

/// One BFCL doc as an OpenAI tool.
pub fn to_tool(doc: &Value) -> Value {
    let name = doc["name"].as_str().unwrap_or_default();
    let description = format!(
        "{}{PYTHON_HINT}",
        doc["description"].as_str().unwrap_or_default()
    );
    let mut parameters = doc["parameters"].clone();
    if let Some(object) = parameters.as_object_mut() {
        object.insert("type".into(), json!("object"));
        if let Some(Value::Object(properties)) = object.get_mut("properties") {
            cast_properties(properties);
        }
    }
    json!({
        "type": "function",
        "function": { "name": tool_name(name), "description": description, "parameters": parameters },
    })
}

fn map_type(bfcl: &str) -> &'static str {
    match bfcl {
        "integer" | "long" | "short" | "byte" => "integer",
        "float" | "number" | "double" => "number",
        "boolean" | "bool" => "boolean",
        "array" | "list" | "tuple" | "ArrayList" => "array",
        "dict" | "object" | "HashMap" | "Hashtable" | "Map" => "object",
        // `string`, `any`, `char`, and anything unknown.
        _ => "string",
    }
}

fn cast_properties(properties: &mut Map<String, Value>) {
    for property in properties.values_mut() {
        let Some(object) = property.as_object_mut() else {
            continue;
        };
        let bfcl_type = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string")
            .to_string();
        if bfcl_type == "float" {
            object.insert("format".into(), json!("float"));
            let description = object
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            object.insert(
                "description".into(),
                json!(format!("{description} This is a float type value.")),
            );
        }
        let mapped = map_type(&bfcl_type);
        object.insert("type".into(), json!(mapped));
        if matches!(mapped, "array" | "object") {
            if let Some(Value::Object(nested)) = object.get_mut("properties") {
                cast_properties(nested);
            } else if let Some(Value::Object(items)) = object.get_mut("items") {
                if let Some(item_type) = items.get("type").and_then(Value::as_str).map(map_type) {
                    items.insert("type".into(), json!(item_type));
                    if item_type == "array" {
                        if let Some(Value::Object(inner)) = items.get_mut("items") {
                            if let Some(inner_type) =
                                inner.get("type").and_then(Value::as_str).map(map_type)
                            {
                                inner.insert("type".into(), json!(inner_type));
                            }
                        }
                    } else if item_type == "object" {
                        if let Some(Value::Object(nested)) = items.get_mut("properties") {
                            cast_properties(nested);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_bfcl_multiple_0() {
        let doc = json!({
            "name": "circle_properties.get",
            "description": "Get circle properties.",
            "parameters": {"type": "dict", "properties": {
                "radius": {"type": "float", "description": "The length of radius of the circle."},
                "tags": {"type": "tuple", "items": {"type": "float"}},
                "meta": {"type": "dict", "properties": {"k": {"type": "any"}}},
                "untyped": {"description": "no type"}},
                "required": ["radius"]}
        });
        let tool = to_tool(&doc);
        let function = &tool["function"];
        assert_eq!(function["name"], "circle_properties_get");
        assert_eq!(
            function["description"],
            "Get circle properties. Note that the provided function is in Python 3 syntax."
        );
        let props = &function["parameters"]["properties"];
        assert_eq!(function["parameters"]["type"], "object");
        assert_eq!(
            props["radius"],
            json!({"type": "number", "format": "float", "description": "The length of radius of the circle. This is a float type value."})
        );
        assert_eq!(
            props["tags"],
            json!({"type": "array", "items": {"type": "number"}})
        );
        assert_eq!(props["meta"]["properties"]["k"]["type"], "string");
        assert_eq!(props["untyped"]["type"], "string");
        assert_eq!(function["parameters"]["required"], json!(["radius"]));
    }
}
