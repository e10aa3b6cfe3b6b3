//! Optional choices the user named that the call leaves out.
//!
//! Asked to "find all the roots of a quadratic equation", a small model calls
//! `solve_quadratic` with the coefficients and leaves `root_type` out, though its description
//! lists the choices ("'real' for real roots, 'all' for both real and complex roots. Default
//! value is 'real'"): the tool returns the real roots alone. Asked for "state law cases", it
//! leaves out `judicial_system` ("e.g. 'federal', 'state'"). Where the user's message names,
//! as whole words, exactly one of the values an optional argument chooses among (its enum, or
//! the values its description quotes), and that value is not the default, the call is given
//! it. `ground_optional_choices` is the other side: a choice nobody named is left out.

use serde_json::Value;

use super::formats::quoted_values;
use super::grounding::{
    arguments_and_properties, documented_default, non_latin_letter, property_description,
    required_names, Grounds,
};

/// For each optional string argument of a tool with parameter schema `schema` that
/// `arguments` leave out and `given_elsewhere` (by argument name) does not give, whose choices
/// the text names exactly one of, other than its default: the argument and that choice.
pub fn named_choices_left_out(
    grounds: &Grounds,
    arguments: &Value,
    schema: &Value,
    given_elsewhere: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let Some((given, properties)) = arguments_and_properties(arguments, schema) else {
        return Vec::new();
    };
    let required = required_names(schema);
    let mut named = Vec::new();
    for (name, property) in properties {
        if given.contains_key(name)
            || required.contains(&name.as_str())
            || property.get("type").and_then(Value::as_str) != Some("string")
            || given_elsewhere(name)
        {
            continue;
        }
        let choices = choices_of(property);
        if choices.len() < 2 {
            continue;
        }
        let written: Vec<&String> = choices
            .iter()
            .filter(|choice| !choice.chars().any(non_latin_letter) && grounds.writes_words(choice))
            .collect();
        let Some(choice) = written.first() else {
            continue;
        };
        if written
            .iter()
            .any(|other| !other.eq_ignore_ascii_case(choice))
        {
            continue;
        }
        let default = documented_default(property);
        if default.is_some_and(|default| default.eq_ignore_ascii_case(choice)) {
            continue;
        }
        named.push((name.clone(), choice.to_string()));
    }
    named
}

/// The values an argument chooses among: its enum's strings, else those its description
/// quotes.
fn choices_of(property: &Value) -> Vec<String> {
    match property.get("enum").and_then(Value::as_array) {
        Some(values) => values
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => quoted_values(property_description(property)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn quadratic() -> Value {
        json!({
            "type": "object",
            "properties": {
                "a": {"type": "integer"},
                "root_type": {"type": "string", "description": "The type of roots to return: 'real' for real roots, 'all' for both real and complex roots. Default value is 'real'."},
                "format": {"type": "string", "enum": ["fraction", "decimal"]}
            },
            "required": ["a"]
        })
    }

    fn named(message: &str, arguments: Value) -> Vec<(String, String)> {
        named_choices_left_out(&Grounds::new(message), &arguments, &quadratic(), |_| false)
    }

    #[test]
    fn a_choice_the_user_named_is_given_where_the_call_left_it_out() {
        assert_eq!(
            named("Find all the roots of 3x^2 - 11x - 4", json!({"a": 3})),
            vec![("root_type".to_string(), "all".to_string())]
        );
        assert_eq!(
            named("The roots of 3x^2 - 11x - 4 as a decimal", json!({"a": 3})),
            vec![("format".to_string(), "decimal".to_string())]
        );
    }

    #[test]
    fn a_choice_given_defaulted_unnamed_or_among_others_is_left_alone() {
        // Given by the model.
        assert!(named("Find all the roots", json!({"a": 3, "root_type": "real"})).is_empty());
        // The default: leaving it out is the same.
        assert!(named("Find the real roots", json!({"a": 3})).is_empty());
        // Two named: which one is meant is not for a rule to say.
        assert!(named("As a fraction or a decimal?", json!({"a": 3})).is_empty());
        // Part of a word is no name ("allowed" is not "all").
        assert!(named("Which roots are allowed?", json!({"a": 3})).is_empty());
        // Given by another call of the function.
        let grounds = Grounds::new("Find all the roots");
        assert!(
            named_choices_left_out(&grounds, &json!({"a": 3}), &quadratic(), |name| name
                == "root_type")
            .is_empty()
        );
    }
}
