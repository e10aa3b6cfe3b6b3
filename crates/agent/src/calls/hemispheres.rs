//! Coordinates in decimal degrees: a latitude south of the equator and a longitude west of
//! Greenwich are negative. The user writes "(33.4484 N, 112.0740 W)"; a small model copies
//! the digits and drops the letter, which moves Phoenix to China.

use serde_json::Value;

use super::grounding::{property, property_description, same_number};

/// Beginnings of the words of a parameter's name or description that say it holds
/// coordinates ("coord1", "coordinates", "latitude").
const COORDINATE_WORD_STARTS: &[&str] = &["coord", "latitude", "longitude"];

/// Whole words that say so ("lat", "lng"; not "latest" or "long").
const COORDINATE_WORDS: &[&str] = &["lat", "lon", "lng", "gps"];

/// Chinese words that say so, anywhere in the text.
const COORDINATE_WORDS_ZH: &[&str] = &["经度", "纬度", "坐标"];

/// The numbers `message` writes as south or west: followed, after spaces and a degree sign
/// at most, by a capital `S` or `W` that ends a word, or by "south" or "west" (any case).
pub(super) fn south_or_west(message: &str) -> Vec<f64> {
    let chars: Vec<char> = message.chars().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        if !chars[at].is_ascii_digit() || (at > 0 && is_number_char(chars[at - 1])) {
            at += 1;
            continue;
        }
        let start = at;
        while at < chars.len() && is_number_char(chars[at]) {
            at += 1;
        }
        let digits: String = chars[start..at].iter().collect();
        let digits = digits.trim_end_matches('.');
        let mut after = at;
        while after < chars.len() && (chars[after] == ' ' || chars[after] == '°') {
            after += 1;
        }
        let rest: String = chars[after..].iter().take(6).collect();
        let lower = rest.to_lowercase();
        let word_ends = |len: usize| rest.chars().nth(len).is_none_or(|c| !c.is_alphanumeric());
        let southern_or_western = (rest.starts_with(['S', 'W']) && word_ends(1))
            || (lower.starts_with("south") && word_ends(5))
            || (lower.starts_with("west") && word_ends(4));
        if southern_or_western {
            if let Ok(number) = digits.parse::<f64>() {
                found.push(number);
            }
        }
    }
    found
}

fn is_number_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.'
}

/// The arguments of `arguments` (a tool with parameter schema `schema`) for coordinates —
/// their name or description says so (see [`holds_coordinates`]) — that carry, as a number or
/// as an item of a list of numbers, a positive number the user wrote as south or west
/// (`south_or_west`): each argument with those numbers made negative.
pub(super) fn signed_by_hemisphere(
    south_or_west: &[f64],
    arguments: &Value,
    schema: &Value,
) -> Vec<(String, Value)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    if south_or_west.is_empty() {
        return Vec::new();
    }
    let negated = |value: &Value| -> Option<Value> {
        let number = value.as_f64().filter(|n| *n > 0.0)?;
        south_or_west
            .iter()
            .any(|written| same_number(*written, number))
            .then(|| serde_json::json!(-number))
    };
    arguments
        .iter()
        .filter(|(name, _)| holds_coordinates(name, property(schema, name)))
        .filter_map(|(name, value)| {
            let signed = match value {
                Value::Array(items) => {
                    let signed: Vec<Value> = items
                        .iter()
                        .map(|item| negated(item).unwrap_or_else(|| item.clone()))
                        .collect();
                    (signed != *items).then_some(Value::Array(signed))
                }
                other => negated(other),
            }?;
            Some((name.clone(), signed))
        })
        .collect()
}

fn holds_coordinates(name: &str, property: Option<&Value>) -> bool {
    let description = property.map(property_description).unwrap_or_default();
    let text = format!("{name} {description}").to_lowercase();
    text.split(|c: char| !c.is_alphanumeric()).any(|word| {
        COORDINATE_WORDS.contains(&word)
            || COORDINATE_WORD_STARTS
                .iter()
                .any(|start| word.starts_with(start))
    }) || COORDINATE_WORDS_ZH.iter().any(|word| text.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_written_south_or_west_are_read() {
        let message = "From (33.4484 N, 112.0740 W) to (34.0522° N, 118.2437°W), then 12.5 south \
            and 3 West; 45 s of waiting, 7 Ways, 22.9068 S";
        assert_eq!(
            south_or_west(message),
            vec![112.074, 118.2437, 12.5, 3.0, 22.9068]
        );
        assert!(south_or_west("Wait 5 s, then 10 seconds at 48.8584° N, 2.2945° E").is_empty());
    }

    #[test]
    fn a_coordinate_written_west_or_south_is_negative_in_the_call() {
        let schema = json!({"properties": {
            "coord1": {"type": "array", "items": {"type": "number"},
                       "description": "The first coordinate as (latitude, longitude)."},
            "longitude": {"type": "number"},
            "distance": {"type": "number", "description": "Kilometres to walk."},
            "latest": {"type": "number", "description": "The latest reading, however long."}
        }});
        let written = south_or_west("From (33.4484 N, 112.0740 W), 112.074 W, walk 112.074 W");
        let mut signed = signed_by_hemisphere(
            &written,
            &json!({"coord1": [33.4484, 112.074], "longitude": 112.074, "distance": 112.074,
                    "latest": 112.074}),
            &schema,
        );
        signed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            signed,
            vec![
                ("coord1".to_string(), json!([33.4484, -112.074])),
                ("longitude".to_string(), json!(-112.074))
            ],
            "only coordinates' arguments"
        );
        // Already negative, or written north or east: left as the model wrote it.
        assert!(
            signed_by_hemisphere(&written, &json!({"longitude": -112.074}), &schema).is_empty()
        );
        assert!(signed_by_hemisphere(&[], &json!({"longitude": 112.074}), &schema).is_empty());
    }
}
