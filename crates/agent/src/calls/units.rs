//! Units of measure as the user wrote them.
//!
//! Asked for "the circumference of a circle with a radius of 4 inches", a small model leaves
//! `unit` out (so the tool's default, "cm", applies) or copies the default from the
//! argument's description: the answer comes back in centimetres for a radius of 4 inches.
//! Asked for "the distance in kilometers", it keeps the default `"miles"`. Where a string
//! argument named for a unit holds (or, left out, defaults to) a unit of one kind — a length,
//! a speed, a mass — and the user's words name exactly one unit of that kind, and another
//! one, the argument is set to the unit the user wrote. A unit the user wrote is never
//! changed, nor is one where the text names several units of its kind ("from miles to km"):
//! which one is meant cannot be told by its kind alone; nor where another argument of the
//! call already carries the written unit ("convert 5 feet": `from_unit: "feet"`, and the
//! unit converted to is not the user's to have written).

use serde_json::Value;

use super::grounding::{arguments_and_properties, documented_default, Grounds};

/// What a unit measures: only units of one kind stand for each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Length,
    Area,
    Speed,
    Mass,
    Temperature,
    Volume,
}

/// A unit: its kind and the forms it is written in (lowercase).
struct Unit {
    kind: Kind,
    forms: &'static [&'static str],
}

const UNITS: &[Unit] = &[
    Unit {
        kind: Kind::Length,
        forms: &["m", "meter", "meters", "metre", "metres"],
    },
    Unit {
        kind: Kind::Length,
        forms: &[
            "cm",
            "centimeter",
            "centimeters",
            "centimetre",
            "centimetres",
        ],
    },
    Unit {
        kind: Kind::Length,
        forms: &[
            "mm",
            "millimeter",
            "millimeters",
            "millimetre",
            "millimetres",
        ],
    },
    Unit {
        kind: Kind::Length,
        forms: &[
            "km",
            "kms",
            "kilometer",
            "kilometers",
            "kilometre",
            "kilometres",
        ],
    },
    Unit {
        kind: Kind::Length,
        forms: &["mi", "mile", "miles"],
    },
    Unit {
        kind: Kind::Length,
        forms: &["in", "inch", "inches"],
    },
    Unit {
        kind: Kind::Length,
        forms: &["ft", "foot", "feet"],
    },
    Unit {
        kind: Kind::Length,
        forms: &["yd", "yard", "yards"],
    },
    Unit {
        kind: Kind::Area,
        forms: &[
            "m^2",
            "m2",
            "m²",
            "sq m",
            "square meter",
            "square meters",
            "square metres",
        ],
    },
    Unit {
        kind: Kind::Area,
        forms: &["ft^2", "ft2", "ft²", "sq ft", "square foot", "square feet"],
    },
    Unit {
        kind: Kind::Area,
        forms: &[
            "in^2",
            "in2",
            "in²",
            "sq in",
            "square inch",
            "square inches",
        ],
    },
    Unit {
        kind: Kind::Area,
        forms: &[
            "km^2",
            "km2",
            "km²",
            "sq km",
            "square kilometer",
            "square kilometers",
        ],
    },
    Unit {
        kind: Kind::Area,
        forms: &[
            "cm^2",
            "cm2",
            "cm²",
            "sq cm",
            "square centimeter",
            "square centimeters",
        ],
    },
    Unit {
        kind: Kind::Area,
        forms: &["acre", "acres"],
    },
    Unit {
        kind: Kind::Area,
        forms: &["hectare", "hectares", "ha"],
    },
    Unit {
        kind: Kind::Speed,
        forms: &[
            "km/h",
            "kmh",
            "kph",
            "kmph",
            "kilometers per hour",
            "kilometres per hour",
        ],
    },
    Unit {
        kind: Kind::Speed,
        forms: &["mph", "miles per hour"],
    },
    Unit {
        kind: Kind::Speed,
        forms: &["m/s", "meters per second", "metres per second"],
    },
    Unit {
        kind: Kind::Speed,
        forms: &["knot", "knots"],
    },
    Unit {
        kind: Kind::Mass,
        forms: &["kg", "kgs", "kilogram", "kilograms"],
    },
    Unit {
        kind: Kind::Mass,
        forms: &["g", "gram", "grams"],
    },
    Unit {
        kind: Kind::Mass,
        forms: &["lb", "lbs", "pound", "pounds"],
    },
    Unit {
        kind: Kind::Mass,
        forms: &["oz", "ounce", "ounces"],
    },
    Unit {
        kind: Kind::Temperature,
        forms: &["celsius", "°c", "centigrade"],
    },
    Unit {
        kind: Kind::Temperature,
        forms: &["fahrenheit", "°f"],
    },
    Unit {
        kind: Kind::Temperature,
        forms: &["kelvin"],
    },
    Unit {
        kind: Kind::Volume,
        forms: &["l", "liter", "liters", "litre", "litres"],
    },
    Unit {
        kind: Kind::Volume,
        forms: &[
            "ml",
            "milliliter",
            "milliliters",
            "millilitre",
            "millilitres",
        ],
    },
    Unit {
        kind: Kind::Volume,
        forms: &["gal", "gallon", "gallons"],
    },
];

/// Forms that are common words or letters in running text ("in", "a 5 g network"): read
/// there only right after a number ("5m", "12 g"), never alone.
const AFTER_A_NUMBER_ONLY: &[&str] = &["m", "g", "l", "mi", "gal", "ha", "m2", "ft2", "in2"];

/// Forms never read in running text: "in" is the preposition far more often than the inch.
const NEVER_IN_TEXT: &[&str] = &["in"];

/// For each string argument of `arguments` (a call of a tool with parameter schema `schema`)
/// named for a unit whose unit, as given or by default, is not the one unit of its kind that
/// `grounds` names, the argument and the unit as the text writes it (see the module's
/// comment).
pub fn units_as_written(
    grounds: &Grounds,
    arguments: &Value,
    schema: &Value,
) -> Vec<(String, String)> {
    let Some((given, properties)) = arguments_and_properties(arguments, schema) else {
        return Vec::new();
    };
    let mut written: Option<Vec<(usize, &'static str)>> = None;
    let mut set = Vec::new();
    for (name, property) in properties {
        if !names_a_unit(name, property) {
            continue;
        }
        let current = match given.get(name) {
            Some(Value::String(text)) => text.clone(),
            Some(_) => continue,
            None => match documented_default(property) {
                Some(default) => default,
                None => continue,
            },
        };
        let Some(unit) = unit_of(&current) else {
            continue;
        };
        let written = written.get_or_insert_with(|| written_units(grounds.lower_text()));
        let mut of_its_kind = written
            .iter()
            .filter(|(other, _)| UNITS[*other].kind == UNITS[unit].kind);
        let Some(&(first, form)) = of_its_kind.next() else {
            continue;
        };
        // The written unit another argument already carries is spoken for: "convert 5 feet"
        // gives `from_unit: "feet"`, and `to_unit` is the model's to choose.
        let spoken_for = given
            .iter()
            .any(|(other, value)| other != name && value.as_str().and_then(unit_of) == Some(first));
        if first != unit && !spoken_for && of_its_kind.all(|(other, _)| *other == first) {
            set.push((name.clone(), form.to_string()));
        }
    }
    set
}

/// Whether an argument takes a unit of measure by its name (`unit`, `to_unit`, `units`): a
/// free string, not a choice among an enum's values.
fn names_a_unit(name: &str, property: &Value) -> bool {
    property.get("type").and_then(Value::as_str) == Some("string")
        && property.get("enum").is_none()
        && name.to_lowercase().contains("unit")
}

/// The index in [`UNITS`] of the unit `text` is, written in any of its forms.
fn unit_of(text: &str) -> Option<usize> {
    let lower = text.trim().to_lowercase();
    UNITS
        .iter()
        .position(|unit| unit.forms.contains(&lower.as_str()))
}

/// The units `text` (lowercase) writes, in order, each as the index in [`UNITS`] and the form
/// written: at each place the longest form ("miles per hour", not "miles").
fn written_units(text: &str) -> Vec<(usize, &'static str)> {
    let mut found: Vec<(usize, usize, usize, &'static str)> = Vec::new();
    for (index, unit) in UNITS.iter().enumerate() {
        for form in unit.forms {
            if NEVER_IN_TEXT.contains(form) {
                continue;
            }
            for (start, _) in text.match_indices(form) {
                let end = start + form.len();
                if stands_alone(text, start, end, AFTER_A_NUMBER_ONLY.contains(form)) {
                    found.push((start, end, index, form));
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut units = Vec::new();
    let mut free_from = 0;
    for (start, end, index, form) in found {
        if start >= free_from {
            units.push((index, form));
            free_from = end;
        }
    }
    units
}

/// Whether `text[start..end]` is a word of its own (no letter, digit or slash touches it,
/// save a number before it), and, where `after_a_number`, follows a number ("5m", "5 m").
fn stands_alone(text: &str, start: usize, end: usize, after_a_number: bool) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '/' || c == '^';
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    if after.is_some_and(joins) {
        return false;
    }
    let number_before = {
        let trimmed = text[..start].strip_suffix(' ').unwrap_or(&text[..start]);
        trimmed
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit())
    };
    if after_a_number {
        return number_before;
    }
    number_before || !before.is_some_and(joins)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn circumference() -> Value {
        json!({
            "type": "object",
            "properties": {
                "radius": {"type": "integer", "description": "The radius of the circle."},
                "unit": {"type": "string", "description": "The unit of measurement for the radius. Default is 'cm'."}
            },
            "required": ["radius"]
        })
    }

    fn set(message: &str, arguments: Value, schema: &Value) -> Vec<(String, String)> {
        units_as_written(&Grounds::new(message), &arguments, schema)
    }

    #[test]
    fn a_unit_left_to_its_default_is_set_to_the_one_the_user_wrote() {
        let schema = circumference();
        let message = "What is the circumference of a circle with a radius of 4 inches?";
        assert_eq!(
            set(message, json!({"radius": 4}), &schema),
            vec![("unit".to_string(), "inches".to_string())]
        );
        // The default copied from the description is no better than leaving it out.
        assert_eq!(
            set(message, json!({"radius": 4, "unit": "cm"}), &schema),
            vec![("unit".to_string(), "inches".to_string())]
        );
        assert_eq!(
            set(
                "Two circles of radius 5m and 10m",
                json!({"radius": 5}),
                &schema
            ),
            vec![("unit".to_string(), "m".to_string())]
        );
    }

    #[test]
    fn a_unit_the_user_wrote_or_of_another_kind_is_left_as_it_is() {
        let schema = circumference();
        // Written by the user, in another form.
        assert!(set(
            "a radius of 4 centimeters",
            json!({"radius": 4, "unit": "cm"}),
            &schema
        )
        .is_empty());
        // No length written at all ("in" is the preposition, not the inch).
        assert!(set(
            "a circle of radius 4 in my drawing",
            json!({"radius": 4}),
            &schema
        )
        .is_empty());
        // Units of another kind say nothing of a length.
        assert!(set(
            "radius 4, speed 30 km/h, 5 kg",
            json!({"radius": 4}),
            &schema
        )
        .is_empty());
    }

    #[test]
    fn several_units_of_the_kind_cannot_be_told_apart() {
        let schema = json!({
            "type": "object",
            "properties": {
                "distance": {"type": "integer"},
                "to_unit": {"type": "string", "description": "The unit in which the speed should be calculated, default is m/s."}
            }
        });
        let message = "500 meters in 25 seconds in km/h, and 1000 meters in 200 seconds in mph";
        assert!(set(message, json!({"distance": 500}), &schema).is_empty());
        let message = "500 meters in 25 seconds; give the answer in kilometers per hour";
        assert_eq!(
            set(message, json!({"distance": 500}), &schema),
            vec![("to_unit".to_string(), "kilometers per hour".to_string())]
        );
    }

    #[test]
    fn a_unit_another_argument_carries_is_spoken_for() {
        let schema = json!({
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "from_unit": {"type": "string"},
                "to_unit": {"type": "string", "description": "The unit to convert to. Default is 'meters'."}
            }
        });
        let message = "Convert 5 feet to metric";
        assert!(set(message, json!({"value": 5, "from_unit": "feet"}), &schema).is_empty());
        assert!(set(
            message,
            json!({"value": 5, "from_unit": "ft", "to_unit": "m"}),
            &schema
        )
        .is_empty());
    }

    #[test]
    fn a_choice_or_an_argument_not_named_for_a_unit_is_left_alone() {
        let schema = json!({
            "type": "object",
            "properties": {
                "unit": {"type": "string", "enum": ["cm", "mm"]},
                "scale": {"type": "string", "default": "cm"}
            }
        });
        assert!(set("a radius of 4 inches", json!({}), &schema).is_empty());
    }

    #[test]
    fn defaults_are_read_from_descriptions() {
        let default = |description: &str| {
            documented_default(&json!({"type": "string", "description": description}))
        };
        assert_eq!(
            default("The unit of measure used. Defaults to cm.").as_deref(),
            Some("cm")
        );
        assert_eq!(
            default("The measurement unit of the radius (optional parameter, default is 'cm').")
                .as_deref(),
            Some("cm")
        );
        assert_eq!(default("The unit, default is m/s.").as_deref(), Some("m/s"));
        assert_eq!(default("The unit of the distance.").as_deref(), None);
    }
}
