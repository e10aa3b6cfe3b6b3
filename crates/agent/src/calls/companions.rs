//! Functions asked for together, again for other values.
//!
//! "The origin of Buddhism, and then do the same for Hinduism. After that, the core beliefs
//! of both these religions": a small model calls `get_origin` for both religions and
//! `get_core_beliefs` for the first only. Where two functions were called with the same
//! values (`religion: "Buddhism"`), and the first again with others (`"Hinduism"`), the
//! second is its companion: it is called with those too, when the message names it after it
//! writes them ("the core beliefs … of both" after "Hinduism"). Without that mention the
//! other values are the first function's alone ("the weather and the air quality in Paris,
//! and the weather in London").

use serde_json::{Map, Value};

use fulcrum_chat::tools::ParsedCall;

use super::grounding::{latin_words, name_words, same_word_stem};

/// Name words shorter than this say nothing of what a function does ("get", "to").
const MIN_NAME_WORD_CHARS: usize = 3;

/// The calls to add to `calls` (answering `message`): for each function called once or more
/// with the values another function was also called with, one call for each other set of
/// values that other function was called with, made from its own call with those values.
/// Only where every value the two calls share sits in arguments of the same names (a
/// player count in `numPlayers` and in `numOfPlayers` is no shared set), and the message
/// names the companion after it first writes the other values.
pub fn companion_calls(message: &str, calls: &[ParsedCall]) -> Vec<ParsedCall> {
    let lower = message.to_lowercase();
    let mut names: Vec<&str> = Vec::new();
    for call in calls {
        if !names.contains(&call.name.as_str()) {
            names.push(&call.name);
        }
    }
    let of = |name: &str| -> Vec<&Map<String, Value>> {
        calls
            .iter()
            .filter(|call| call.name == name)
            .filter_map(|call| call.arguments.as_object())
            .collect()
    };
    let mut added: Vec<ParsedCall> = Vec::new();
    for &leader in &names {
        let leads = of(leader);
        if leads.len() < 2 {
            continue;
        }
        for &companion in names.iter().filter(|&&name| name != leader) {
            let follows = of(companion);
            if follows.len() >= leads.len() {
                continue;
            }
            for follow in &follows {
                let Some((first, shared)) = leads
                    .iter()
                    .find_map(|lead| shared_arguments(lead, follow).map(|shared| (*lead, shared)))
                else {
                    continue;
                };
                for lead in leads.iter().filter(|lead| !std::ptr::eq(**lead, first)) {
                    let pair = Pair {
                        leader,
                        companion,
                        first,
                        lead,
                        follow,
                    };
                    let Some(call) = pair.companion_call(&lower, &shared) else {
                        continue;
                    };
                    let made = calls.iter().chain(&added).any(|c| {
                        c.name == call.name
                            && shared
                                .iter()
                                .all(|name| c.arguments.get(name) == call.arguments.get(name))
                    });
                    if !made {
                        added.push(call);
                    }
                }
            }
        }
    }
    added
}

/// A companion's call (`follow`) beside the leader's call it shares values with (`first`),
/// and another call of the leader (`lead`).
struct Pair<'a> {
    leader: &'a str,
    companion: &'a str,
    first: &'a Map<String, Value>,
    lead: &'a Map<String, Value>,
    follow: &'a Map<String, Value>,
}

impl Pair<'_> {
    /// `follow` with the `shared` arguments set to `lead`'s values, when `lead` gives them
    /// all, some differ from `first`'s, and `message` (lowercased) names the companion after
    /// it writes those (see [`named_after`]).
    fn companion_call(&self, message: &str, shared: &[String]) -> Option<ParsedCall> {
        let values = shared
            .iter()
            .map(|name| Some((name.as_str(), self.lead.get(name.as_str())?)))
            .collect::<Option<Vec<_>>>()?;
        let other: Vec<&Value> = values
            .iter()
            .filter(|(name, value)| self.first.get(*name) != Some(*value))
            .map(|(_, value)| *value)
            .collect();
        if other.is_empty() || !named_after(message, self.companion, self.leader, &other) {
            return None;
        }
        let mut arguments = self.follow.clone();
        for (name, value) in values {
            arguments.insert(name.to_string(), value.clone());
        }
        Some(ParsedCall {
            name: self.companion.to_string(),
            arguments: Value::Object(arguments),
        })
    }
}

/// The names of the arguments `follow` shares with `lead`, same name and same value, when
/// there are some and every argument of `follow` whose value `lead` holds is among them.
fn shared_arguments(lead: &Map<String, Value>, follow: &Map<String, Value>) -> Option<Vec<String>> {
    let mut shared = Vec::new();
    for (name, value) in follow {
        if lead.get(name) == Some(value) {
            shared.push(name.clone());
        } else if lead.contains_key(name) || lead.values().any(|v| v == value) {
            return None;
        }
    }
    (!shared.is_empty()).then_some(shared)
}

/// Whether `message` (lowercased) names `companion` after it first writes one of `values`:
/// by a word of its name that `leader`'s name does not hold ("sales" of
/// `video_games.get_sales` beside `video_games.get_player_count`).
fn named_after(message: &str, companion: &str, leader: &str, values: &[&Value]) -> bool {
    let Some(start) = values
        .iter()
        .filter_map(|value| written_at(message, value))
        .min()
    else {
        return false;
    };
    let leader_words = name_words(leader);
    let telling: Vec<String> = name_words(companion)
        .into_iter()
        .filter(|word| word.chars().count() >= MIN_NAME_WORD_CHARS)
        .filter(|word| !leader_words.iter().any(|l| same_word_stem(l, word)))
        .collect();
    let after = latin_words(&message[start..]);
    telling
        .iter()
        .any(|word| after.iter().any(|written| same_word_stem(word, written)))
}

/// Where `message` (lowercased) first writes `value`: a string as it is, a number in
/// digits, a list as its members joined by ", " ("[10, 8]").
fn written_at(message: &str, value: &Value) -> Option<usize> {
    let text = match value {
        Value::String(text) => text.to_lowercase(),
        Value::Number(number) => number.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.to_lowercase(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => return None,
    };
    if text.is_empty() {
        return None;
    }
    message.find(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value) -> ParsedCall {
        ParsedCall {
            name: name.into(),
            arguments,
        }
    }

    #[test]
    fn a_companion_is_called_for_the_other_values_where_the_message_names_it_after_them() {
        let message = "Could you please provide me with the origin and founder information of Buddhism, and then do the same for Hinduism? After that, could you also tell me about the core beliefs and practices of both these religions?";
        let calls = [
            call("religion.get_origin", json!({"religion": "Buddhism"})),
            call("religion.get_origin", json!({"religion": "Hinduism"})),
            call("religion.get_core_beliefs", json!({"religion": "Buddhism"})),
        ];
        assert_eq!(
            companion_calls(message, &calls),
            vec![call(
                "religion.get_core_beliefs",
                json!({"religion": "Hinduism"})
            )]
        );
    }

    #[test]
    fn lists_and_several_shared_values_are_carried_over() {
        let message = "Point A is [3, 2] and point B is [7, 5]: the Euclidean distance and the angle to the x-axis. Then points [10, 8] and [14, 12]: the distance and the angle for these points.";
        let distance = |a: Value, b: Value| {
            call(
                "EuclideanDistance.calculate",
                json!({"pointA": a, "pointB": b, "rounding": 2}),
            )
        };
        let calls = [
            distance(json!([3, 2]), json!([7, 5])),
            call(
                "angleToXAxis.calculate",
                json!({"pointA": [3, 2], "pointB": [7, 5], "rounding": 2}),
            ),
            distance(json!([10, 8]), json!([14, 12])),
        ];
        assert_eq!(
            companion_calls(message, &calls),
            vec![call(
                "angleToXAxis.calculate",
                json!({"pointA": [10, 8], "pointB": [14, 12], "rounding": 2})
            )]
        );
    }

    #[test]
    fn values_of_the_first_function_alone_are_not_the_companions() {
        let calls = [
            call("weather", json!({"city": "Paris"})),
            call("air_quality", json!({"city": "Paris"})),
            call("weather", json!({"city": "London"})),
        ];
        // The air quality is named before London only.
        assert!(companion_calls(
            "The weather and the air quality in Paris, and the weather in London.",
            &calls
        )
        .is_empty());
        assert_eq!(
            companion_calls(
                "The weather in Paris and London, and the air quality in both.",
                &calls
            ),
            vec![call("air_quality", json!({"city": "London"}))]
        );
    }

    #[test]
    fn a_value_held_under_another_name_is_no_shared_set() {
        let calls = [
            call(
                "geek.recommend",
                json!({"numPlayers": 6, "category": "strategy"}),
            ),
            call(
                "geek.recommend",
                json!({"numPlayers": 4, "category": "party"}),
            ),
            call(
                "store.recommend",
                json!({"numOfPlayers": 6, "category": "strategy"}),
            ),
        ];
        assert!(companion_calls(
            "Strategy games for 6 players, party games for 4, and from the store the same for both groups.",
            &calls
        )
        .is_empty());
    }

    #[test]
    fn a_companion_called_for_every_set_already_gets_nothing() {
        let calls = [
            call("weather", json!({"city": "Paris"})),
            call("weather", json!({"city": "London"})),
            call("air_quality", json!({"city": "Paris"})),
            call("air_quality", json!({"city": "London"})),
        ];
        assert!(companion_calls(
            "The weather in Paris and London, and the air quality in both.",
            &calls
        )
        .is_empty());
    }
}
