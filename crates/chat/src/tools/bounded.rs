//! Schemas with their free values bounded, for a call asked for again after the model's own
//! ran on: a small model asked for a free string (a "thought", a "description") can write it
//! until the engine's loop check stops it, never reaching the arguments after it. A string
//! bounded in the grammar has to close, so the call gets written whole.

use serde_json::{Map, Value};

use super::relax::for_each_subschema;

/// How long a free value of a bounded call may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueBounds {
    /// Characters of a string that has no length, pattern or choices of its own.
    pub string_chars: u64,
    /// Items of a list that has no maximum of its own (at least its minimum).
    pub list_items: u64,
}

/// Bounds every free string and list of `schema` (in place), wherever it nests: under
/// properties, items, combinators and definitions. A value the schema already bounds, or
/// restricts by a pattern, a format or a set of choices, is left as written; nothing under
/// `not` is touched (a bound there would widen what the schema accepts).
pub(super) fn bound_free_values(schema: &mut Value, bounds: ValueBounds) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if has_type(object, "string") && is_free_string(object) {
        object.insert("maxLength".into(), bounds.string_chars.into());
    }
    if has_type(object, "array") && !object.contains_key("maxItems") {
        let least = object.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        object.insert("maxItems".into(), least.max(bounds.list_items).into());
    }
    for_each_subschema(object, "", &mut |child, path| {
        if !path.ends_with("/not") {
            bound_free_values(child, bounds);
        }
    });
}

fn has_type(object: &Map<String, Value>, name: &str) -> bool {
    match object.get("type") {
        Some(Value::String(kind)) => kind == name,
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == name),
        _ => false,
    }
}

fn is_free_string(object: &Map<String, Value>) -> bool {
    ["maxLength", "pattern", "format", "enum", "const"]
        .iter()
        .all(|keyword| !object.contains_key(*keyword))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOUNDS: ValueBounds = ValueBounds {
        string_chars: 40,
        list_items: 3,
    };

    #[test]
    fn free_strings_and_lists_are_bounded_wherever_they_nest_and_restricted_ones_are_not() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "thought": {"type": "string"},
                "code": {"type": "string", "maxLength": 6},
                "day": {"type": "string", "format": "date"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "note": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "pairs": {"type": "array", "minItems": 5, "items": {
                    "type": "object",
                    "properties": {"label": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
                }},
                "never": {"not": {"type": "string"}},
                "item": {"$ref": "#/$defs/item"}
            },
            "$defs": {"item": {"type": "object", "properties": {"name": {"type": "string"}}}}
        });
        bound_free_values(&mut schema, BOUNDS);
        let properties = &schema["properties"];
        assert_eq!(properties["thought"]["maxLength"], 40);
        assert_eq!(properties["code"]["maxLength"], 6, "its own bound kept");
        assert_eq!(properties["day"].get("maxLength"), None);
        assert_eq!(properties["unit"].get("maxLength"), None);
        assert_eq!(properties["note"]["maxLength"], 40);
        assert_eq!(properties["tags"]["maxItems"], 3);
        assert_eq!(properties["tags"]["items"]["maxLength"], 40);
        assert_eq!(
            properties["pairs"]["maxItems"], 5,
            "never under the minimum"
        );
        assert_eq!(
            properties["pairs"]["items"]["properties"]["label"]["anyOf"][0]["maxLength"],
            40
        );
        assert_eq!(properties["never"]["not"].get("maxLength"), None);
        assert_eq!(
            schema["$defs"]["item"]["properties"]["name"]["maxLength"],
            40
        );
    }
}
