//! Whole numbers written with a fraction where a tool's schema declares a float.
//!
//! JSON has one kind of number; the languages tools are written in have two, and their JSON
//! parsers read `2` as an integer and `2.0` as a float. A schema that gives a number
//! `"format": "float"` or `"double"` (OpenAPI's formats, also what BFCL's `float` type becomes)
//! asks for the float, and a tool that checks types (Python's `isinstance(x, float)`, a typed
//! array) refuses the integer. The grammar cannot require a fraction, so a finished call's
//! whole numbers at those places are written as floats: the same value, the declared type.
//!
//! The items of an array of plain `number` may be read so too (`FloatWriting::number_items`):
//! a schema generated from a typed language writes `number` for its float and `integer` for
//! its int (pydantic's `list[float]` is `{"items": {"type": "number"}}`), and a list, unlike
//! a single argument, is where a typed tool does not convert an integer it is given.

use serde_json::{Map, Number, Value};

/// The largest integer every `f64` between 0 and it is exact for (2^53): a larger one would
/// change value as a float, so it is left as written.
const EXACT_IN_F64: u64 = 1 << 53;

/// Which whole numbers a finished call writes as floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatWriting {
    /// Those the schema declares floats (`format: float` or `double`).
    pub declared: bool,
    /// The items of an array whose items are plain `number`.
    pub number_items: bool,
}

impl FloatWriting {
    /// Both, as served by default.
    pub const ALL: FloatWriting = FloatWriting {
        declared: true,
        number_items: true,
    };
}

/// Rewrites the whole numbers of `value` that `schema` declares floats (as `writing` reads
/// the schema) as floats.
pub(crate) fn write_floats(schema: &Value, value: &mut Value, writing: FloatWriting) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if writing.declared && declares_float(schema) {
        to_float(value);
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, field) in fields.iter_mut() {
                if let Some(property) = properties.and_then(|p| p.get(key)).or(additional) {
                    write_floats(property, field, writing);
                }
            }
        }
        Value::Array(elements) => match schema.get("items") {
            Some(Value::Array(positional)) => {
                for (element, item) in elements.iter_mut().zip(positional) {
                    write_floats(item, element, writing);
                }
            }
            Some(items) if writing.number_items && is_plain_number(items) => {
                elements.iter_mut().for_each(to_float);
            }
            Some(items) => {
                for element in elements.iter_mut() {
                    write_floats(items, element, writing);
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
            write_floats(branch, value, writing);
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

/// `{"type": "number"}` with no format (one would say which kind of number).
fn is_plain_number(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("number") && schema.get("format").is_none()
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

    fn written(schema: Value, value: Value) -> String {
        written_as(
            schema,
            value,
            FloatWriting {
                declared: true,
                number_items: false,
            },
        )
    }

    fn written_as(schema: Value, mut value: Value, writing: FloatWriting) -> String {
        write_floats(&schema, &mut value, writing);
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

    #[test]
    fn items_of_plain_number_arrays_are_floats_only_when_asked() {
        let schema = json!({"type": "object", "properties": {
            "numbers": {"type": "array", "items": {"type": "number"}},
            "counts": {"type": "array", "items": {"type": "integer"}},
            "ids": {"type": "array", "items": {"type": "number", "format": "int64"}},
            "scale": {"type": "number"}
        }});
        let value = json!({"numbers": [12, 2.5], "counts": [1], "ids": [7], "scale": 7});
        assert_eq!(
            written_as(schema.clone(), value.clone(), FloatWriting::ALL),
            r#"{"numbers":[12.0,2.5],"counts":[1],"ids":[7],"scale":7}"#
        );
        let declared_only = FloatWriting {
            declared: true,
            number_items: false,
        };
        assert_eq!(
            written_as(schema.clone(), value.clone(), declared_only),
            r#"{"numbers":[12,2.5],"counts":[1],"ids":[7],"scale":7}"#
        );
        let items_only = FloatWriting {
            declared: false,
            number_items: true,
        };
        let float = json!({"type": "number", "format": "float"});
        assert_eq!(written_as(float, json!(3), items_only), "3");
        assert_eq!(
            written_as(schema, value, items_only),
            r#"{"numbers":[12.0,2.5],"counts":[1],"ids":[7],"scale":7}"#
        );
    }
}
