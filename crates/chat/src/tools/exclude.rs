//! A parameter's schema narrowed to leave out given values: the grammar of a call that must
//! not repeat what earlier calls gave one argument. JSON Schema's `not` is beyond llguidance,
//! so each type says it its own way: an enum loses the values, a number becomes the ranges
//! between them, a boolean the other value, a free string a pattern matching every other
//! string.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::grammar::regex_escape;

/// The most values a string argument is narrowed against: the pattern grows with them.
const MAX_EXCLUDED_STRINGS: usize = 16;

/// How far, relative to its size, a float is kept from an excluded one.
const NUMBER_MARGIN: f64 = 1e-9;

/// The longest excluded string.
const MAX_EXCLUDED_CHARS: usize = 200;

/// `schema` (one parameter's) admitting none of `excluded`; `None` where it cannot say so (a
/// string already held to a pattern or format, an object, an enum with nothing left).
pub(crate) fn excluding(schema: &Value, excluded: &[Value]) -> Option<Value> {
    if excluded.is_empty() {
        return Some(schema.clone());
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        let left: Vec<Value> = choices
            .iter()
            .filter(|choice| !excluded.contains(choice))
            .cloned()
            .collect();
        if left.is_empty() {
            return None;
        }
        let mut narrowed = schema.clone();
        narrowed["enum"] = Value::Array(left);
        return Some(narrowed);
    }
    match schema.get("type").and_then(Value::as_str)? {
        "string" => excluding_strings(schema, excluded),
        kind @ ("integer" | "number") => excluding_numbers(kind, excluded),
        "boolean" => match excluded {
            [Value::Bool(value)] => Some(json!({"type": "boolean", "const": !value})),
            _ => None,
        },
        _ => None,
    }
}

fn excluding_strings(schema: &Value, excluded: &[Value]) -> Option<Value> {
    if schema.get("pattern").is_some() || schema.get("format").is_some() {
        return None;
    }
    let strings: Vec<&str> = excluded.iter().map(Value::as_str).collect::<Option<_>>()?;
    if strings.len() > MAX_EXCLUDED_STRINGS
        || strings
            .iter()
            .any(|s| s.chars().count() > MAX_EXCLUDED_CHARS)
    {
        return None;
    }
    let mut trie = Trie::default();
    for string in strings {
        trie.insert(string);
    }
    let mut narrowed = schema.clone();
    narrowed["pattern"] = json!(format!("^{}$", trie.none_of()));
    Some(narrowed)
}

fn excluding_numbers(kind: &str, excluded: &[Value]) -> Option<Value> {
    let mut numbers: Vec<f64> = excluded.iter().map(Value::as_f64).collect::<Option<_>>()?;
    numbers.sort_by(f64::total_cmp);
    numbers.dedup();
    // A float a hair from an excluded one (10.000000000000002 for 10) is the same value.
    let margin = |n: f64| {
        if kind == "number" {
            (n.abs() * NUMBER_MARGIN).max(f64::MIN_POSITIVE)
        } else {
            0.0
        }
    };
    let below = |n: f64| n - margin(n);
    let above = |n: f64| n + margin(n);
    let (first, last) = (*numbers.first()?, *numbers.last()?);
    let mut ranges = vec![json!({"type": kind, "exclusiveMaximum": below(first)})];
    ranges.extend(numbers.windows(2).map(|pair| {
        json!({"type": kind, "exclusiveMinimum": above(pair[0]), "exclusiveMaximum": below(pair[1])})
    }));
    ranges.push(json!({"type": kind, "exclusiveMinimum": above(last)}));
    Some(json!({ "anyOf": ranges }))
}

/// The excluded strings by their characters.
#[derive(Default)]
struct Trie {
    ends_here: bool,
    next: BTreeMap<char, Trie>,
}

impl Trie {
    fn insert(&mut self, text: &str) {
        let mut node = self;
        for c in text.chars() {
            node = node.next.entry(c).or_default();
        }
        node.ends_here = true;
    }

    /// A regex of every string that, read from this node on, ends at no excluded string: it
    /// stops where none ends, leaves the trie by a character no excluded string has there,
    /// or follows one of them and goes on unlike it.
    fn none_of(&self) -> String {
        let mut ways = Vec::new();
        if !self.ends_here {
            ways.push(String::new());
        }
        if self.next.is_empty() {
            ways.push(r"[\s\S]+".to_string());
        } else {
            let taken: String = self
                .next
                .keys()
                .map(|c| regex_escape(&c.to_string()))
                .collect();
            ways.push(format!(r"[^{taken}][\s\S]*"));
            for (c, node) in &self.next {
                ways.push(format!(
                    "{}(?:{})",
                    regex_escape(&c.to_string()),
                    node.none_of()
                ));
            }
        }
        format!("(?:{})", ways.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::relax::compile_error;

    fn matches(schema: &Value, text: &str) -> bool {
        assert!(schema["pattern"].is_string(), "a pattern");
        jsonschema::is_valid(schema, &json!(text))
    }

    #[test]
    fn a_free_string_admits_every_string_but_the_excluded() {
        let schema = json!({"type": "string", "description": "The city."});
        let narrowed = excluding(&schema, &[json!("San Francisco"), json!("San Jose")])
            .expect("a string can be narrowed");
        for other in [
            "Tokyo",
            "San",
            "San Franciscos",
            "San Jos",
            "",
            "s",
            "San Francisco.",
        ] {
            assert!(matches(&narrowed, other), "{other:?} is another string");
        }
        for excluded in ["San Francisco", "San Jose"] {
            assert!(!matches(&narrowed, excluded), "{excluded:?} is excluded");
        }
        let marks = excluding(&schema, &[json!("a.b (c)*")]).expect("marks are escaped");
        assert!(!matches(&marks, "a.b (c)*") && matches(&marks, "axb (c)*"));
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"city": narrowed}})),
            None
        );
    }

    #[test]
    fn numbers_enums_and_booleans_are_narrowed_in_their_own_terms() {
        let numbers =
            excluding(&json!({"type": "integer"}), &[json!(5), json!(3)]).expect("ranges");
        assert_eq!(
            numbers,
            json!({"anyOf": [
                {"type": "integer", "exclusiveMaximum": 3.0},
                {"type": "integer", "exclusiveMinimum": 3.0, "exclusiveMaximum": 5.0},
                {"type": "integer", "exclusiveMinimum": 5.0}
            ]})
        );
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"base": numbers}})),
            None
        );
        let floats = excluding(&json!({"type": "number"}), &[json!(10.0)]).expect("ranges");
        let hair = 10.000000000000002;
        assert!(
            !jsonschema::is_valid(&floats, &json!(hair))
                && !jsonschema::is_valid(&floats, &json!(10))
        );
        assert!(
            jsonschema::is_valid(&floats, &json!(10.5)) && jsonschema::is_valid(&floats, &json!(2))
        );
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"x": floats}})),
            None
        );
        assert_eq!(
            excluding(
                &json!({"type": "string", "enum": ["a", "b", "c"]}),
                &[json!("b")]
            ),
            Some(json!({"type": "string", "enum": ["a", "c"]}))
        );
        assert_eq!(excluding(&json!({"enum": ["a"]}), &[json!("a")]), None);
        assert_eq!(
            excluding(&json!({"type": "boolean"}), &[json!(true)]),
            Some(json!({"type": "boolean", "const": false}))
        );
        assert_eq!(
            excluding(&json!({"type": "string", "format": "date"}), &[json!("x")]),
            None
        );
        assert_eq!(excluding(&json!({"type": "object"}), &[json!({})]), None);
    }
}
