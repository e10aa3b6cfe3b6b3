//! Whole numbers written with a fraction where a tool's schema declares a float.
//!
//! JSON has one kind of number; the languages tools are written in have two, and their JSON
//! parsers read `2` as an integer and `2.0` as a float. A schema that gives a number
//! `"format": "float"` or `"double"` (OpenAPI's formats, also what BFCL's `float` type becomes)
//! asks for the float, and a tool that checks types (Python's `isinstance(x, float)`, a typed
//! array) refuses the integer. The grammar cannot require a fraction, so a finished call's
//! whole numbers at those places are written as floats: the same value, the declared type.

use serde_json::{Map, Number, Value};

/// The largest integer every `f64` between 0 and it is exact for (2^53): a larger one would
/// change value as a float, so it is left as written.
const EXACT_IN_F64: u64 = 1 << 53;

/// Rewrites the whole numbers of `value` that `schema` declares floats as floats.
pub(crate) fn write_declared_floats(schema: &Value, value: &mut Value) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if declares_float(schema) {
        to_float(value);
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, field) in fields.iter_mut() {
                if let Some(property) = properties.and_then(|p| p.get(key)).or(additional) {
                    write_declared_floats(property, field);
                }
            }
        }
        Value::Array(elements) => match schema.get("items") {
            Some(Value::Array(positional)) => {
                for (element, item) in elements.iter_mut().zip(positional) {
                    write_declared_floats(item, element);
                }
            }
            Some(items) => {
                for element in elements.iter_mut() {
                    write_declared_floats(items, element);
                }
            }
            None => {}
        },
        _ => {}
    }
    // Alternatives: only where none of them takes the value as an integer, which a float
    // would then stop matching as such.
    for key in ["allOf", "anyOf", "oneOf"] {
        let Some(branches) = schema.get(key).and_then(Value::as_array) else {
            continue;
        };
        if key != "allOf" && value.is_number() && branches.iter().any(allows_integer) {
            continue;
        }
        for branch in branches {
            write_declared_floats(branch, value);
        }
    }
}

/// A number schema with a floating-point format (and not also an integer one).
fn declares_float(schema: &Map<String, Value>) -> bool {
    let format = schema.get("format").and_then(Value::as_str);
    if !matches!(format, Some("float" | "double")) {
        return false;
    }
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "number",
        Some(Value::Array(kinds)) => {
            kinds.iter().any(|k| k == "number") && !kinds.iter().any(|k| k == "integer")
        }
        _ => false,
    }
}

fn allows_integer(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "integer",
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "integer"),
        _ => false,
    }
}

/// `value` as a float when it is a whole number a float holds exactly.
fn to_float(value: &mut Value) {
    let Value::Number(number) = value else {
        return;
    };
    let float = if let Some(n) = number.as_u64() {
        (n <= EXACT_IN_F64).then_some(n as f64)
    } else if let Some(n) = number.as_i64() {
        (n.unsigned_abs() <= EXACT_IN_F64).then_some(n as f64)
    } else {
        None
    };
    if let Some(float) = float.and_then(Number::from_f64) {
        *number = float;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn written(schema: Value, mut value: Value) -> String {
        write_declared_floats(&schema, &mut value);
        value.to_string()
    }

    #[test]
    fn whole_numbers_declared_float_gain_a_fraction_at_any_depth() {
        let schema = json!({"type": "object", "properties": {
            "interval": {"type": "array", "items": {"type": "number", "format": "float"}},
            "radius": {"type": "number", "format": "double"},
            "count": {"type": "integer"},
            "scale": {"type": "number"},
            "point": {"type": "object", "properties": {"x": {"type": "number", "format": "float"}}}
        }});
        let text = written(
            schema,
            json!({"interval": [1, 3.5, -2], "radius": 4, "count": 2, "scale": 7, "point": {"x": 0}}),
        );
        assert_eq!(
            text,
            r#"{"interval":[1.0,3.5,-2.0],"radius":4.0,"count":2,"scale":7,"point":{"x":0.0}}"#
        );
    }

    #[test]
    fn nothing_changes_where_an_integer_is_allowed_or_the_value_would_change() {
        let either = json!({"anyOf": [{"type": "integer"}, {"type": "number", "format": "float"}]});
        assert_eq!(written(either, json!(3)), "3");
        let both = json!({"type": ["integer", "number"], "format": "double"});
        assert_eq!(written(both, json!(3)), "3");
        let float = json!({"type": "number", "format": "double"});
        let huge = (1u64 << 60) + 1;
        assert_eq!(written(float.clone(), json!(huge)), huge.to_string());
        assert_eq!(written(float.clone(), json!("3")), "\"3\"");
        let one_of = json!({"oneOf": [float, {"type": "string"}]});
        assert_eq!(written(one_of, json!(3)), "3.0");
    }

    #[test]
    fn tuples_and_open_objects_follow_their_own_schemas() {
        let tuple = json!({"type": "array", "items": [
            {"type": "number", "format": "float"}, {"type": "integer"}
        ]});
        assert_eq!(written(tuple, json!([1, 2])), "[1.0,2]");
        let map = json!({"type": "object", "additionalProperties": {"type": "number", "format": "float"}});
        assert_eq!(written(map, json!({"a": 1})), r#"{"a":1.0}"#);
    }
}
