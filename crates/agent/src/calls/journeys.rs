//! The two ends of a journey (or a conversion), as the user writes them.
//!
//! Asked "How much traffic should I expect from Las Vegas to Los Angeles this weekend?", a
//! small model may fill `start_location: "Los Angeles"` and `end_location: "Las Vegas"`: both
//! values are the user's, so grounding passes them, but a route or a conversion the wrong way
//! round answers another question. "From A to B" says which end is which.

use serde_json::Value;

use super::grounding::name_words;

/// Words that name an argument for where something starts ("start_location", "origin",
/// "from_unit").
const STARTS: &[&str] = &["start", "origin", "from", "source", "departure", "begin"];

/// Words that name an argument for where something ends ("end_location", "destination",
/// "to_unit").
const ENDS: &[&str] = &["end", "destination", "to", "target", "arrival"];

/// The start and end arguments of `arguments` with their values swapped, where the call has
/// one of each, and `message` writes "from <end value> to <start value>" but never "from
/// <start value> to <end value>"; empty otherwise.
pub fn ends_as_written(message: &str, arguments: &Value) -> Vec<(String, String)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    let named_for = |kinds: &[&str]| -> Vec<(&String, &str)> {
        arguments
            .iter()
            .filter(|(name, _)| {
                name_words(name)
                    .iter()
                    .any(|word| kinds.contains(&word.as_str()))
            })
            .filter_map(|(name, value)| Some((name, value.as_str()?.trim())))
            .collect()
    };
    let (starts, ends) = (named_for(STARTS), named_for(ENDS));
    let ([(start_name, start)], [(end_name, end)]) = (&starts[..], &ends[..]) else {
        return Vec::new();
    };
    if start_name == end_name || start.is_empty() || end.is_empty() {
        return Vec::new();
    }
    let message = message.to_lowercase();
    let (start, end) = (start.to_lowercase(), end.to_lowercase());
    if start == end
        || !writes_from_to(&message, &end, &start)
        || writes_from_to(&message, &start, &end)
    {
        return Vec::new();
    }
    let value = |name: &str| arguments[name].as_str().unwrap_or_default().to_string();
    vec![
        (start_name.to_string(), value(end_name)),
        (end_name.to_string(), value(start_name)),
    ]
}

/// Whether the lowercased `message` writes "from <from> to <to>" as whole words ("from the
/// Louvre to the Eiffel Tower", "from Paris, to Rome" too).
fn writes_from_to(message: &str, from: &str, to: &str) -> bool {
    let word_ends = |text: &str| !text.chars().next().is_some_and(char::is_alphanumeric);
    message.match_indices("from ").any(|(at, _)| {
        if !word_ends_before(message, at) {
            return false;
        }
        let rest = &message[at + "from ".len()..];
        let rest = rest.strip_prefix("the ").unwrap_or(rest);
        let Some(rest) = rest.strip_prefix(from).filter(|rest| word_ends(rest)) else {
            return false;
        };
        let rest = rest.strip_prefix(',').unwrap_or(rest);
        let Some(rest) = rest.strip_prefix(" to ") else {
            return false;
        };
        let rest = rest.strip_prefix("the ").unwrap_or(rest);
        rest.strip_prefix(to).is_some_and(word_ends)
    })
}

/// Whether no letter or digit stands right before byte `at` of `text`.
fn word_ends_before(text: &str, at: usize) -> bool {
    !text[..at]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ends_written_the_other_way_round_are_swapped() {
        let message =
            "How much traffic should I expect from Las Vegas to Los Angeles this weekend?";
        let arguments = json!({"start_location": "Los Angeles", "end_location": "Las Vegas", "time_period": "weekend"});
        assert_eq!(
            ends_as_written(message, &arguments),
            vec![
                ("start_location".to_string(), "Las Vegas".to_string()),
                ("end_location".to_string(), "Los Angeles".to_string())
            ]
        );
        let units = json!({"from_unit": "grams", "to_unit": "cups", "quantity": 2});
        assert_eq!(
            ends_as_written("Convert 2 cups of flour from cups to grams.", &units).len(),
            2
        );
    }

    #[test]
    fn ends_as_written_or_written_both_ways_are_left() {
        let arguments = json!({"origin": "Las Vegas", "destination": "Los Angeles"});
        assert!(ends_as_written("Drive from Las Vegas to Los Angeles", &arguments).is_empty());
        // There and back: both orders are the user's.
        let round_trip = "From Los Angeles to Las Vegas, then from Las Vegas to Los Angeles.";
        assert!(ends_as_written(round_trip, &arguments).is_empty());
        // "to X from Y" and ends the message does not join with "from … to" are left.
        assert!(ends_as_written("Return to Las Vegas from Los Angeles", &arguments).is_empty());
        assert!(ends_as_written("from Los Angeles, then on to Las Vegas", &arguments).is_empty());
    }
}
