//! A value a call carries in an argument of its own, written again at an end of another
//! string argument.
//!
//! Asked for "the musical scale associated with C sharp major", a small model fills
//! `scale_type: "major"` and `key: "C sharp major"`: the scale's type twice, once where it
//! belongs and once in a key a real lookup would not find. The same happens to a diet
//! (`dish_name: "vegan chocolate cake"` beside `diet_preference: "vegan"`). The value is
//! left out of the longer string where it stands at its start or its end, as whole words.
//! (A year inside a name is [`super::years`]' job: it may stand anywhere in it.)

use serde_json::{Map, Value};

use super::grounding::name_words;

/// Words that only tie a value on to the rest of a string ("King of", "the", "New York,").
const TYING_WORDS: &[&str] = &[
    "a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with",
];

/// For each string argument of `arguments` that starts or ends with, as whole words, the
/// string value of another argument, the argument and its value without it. Left as it is:
/// a string that would be left with no word of letters, or ending or starting with a word that
/// only tied the value on ("Ace of" for "Ace of Spades" beside `suit: "Spades"`), or with
/// only words of its own argument's name (`genre: "jazz genre"`).
pub fn repeated_values(arguments: &Value) -> Vec<(String, String)> {
    trimmed_strings(arguments, |arguments, name, text| {
        other_values(arguments, name)
            .into_iter()
            .find_map(|other| without_value_at_an_end(text, other))
    })
}

/// For each string argument of `arguments` that `trim` (given all the arguments, the
/// argument's name and its text) finds something to leave out of, the argument and what is
/// left, unless only words of the argument's own name are left (`season: "2021 season"`).
pub(super) fn trimmed_strings(
    arguments: &Value,
    trim: impl Fn(&Map<String, Value>, &str, &str) -> Option<String>,
) -> Vec<(String, String)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    let mut trimmed = Vec::new();
    for (name, value) in arguments {
        let Some(without) = value.as_str().and_then(|text| trim(arguments, name, text)) else {
            continue;
        };
        let own_name = name_words(name);
        let only_own_name = without
            .split_whitespace()
            .all(|word| own_name.contains(&word.to_lowercase()));
        if !only_own_name {
            trimmed.push((name.clone(), without));
        }
    }
    trimmed
}

/// The string values with a letter of the arguments other than `name`.
fn other_values<'a>(arguments: &'a Map<String, Value>, name: &str) -> Vec<&'a str> {
    arguments
        .iter()
        .filter(|(other, _)| other.as_str() != name)
        .filter_map(|(_, value)| value.as_str())
        .map(str::trim)
        .filter(|value| value.chars().any(char::is_alphabetic))
        .collect()
}

/// `text` without `value` where `text` starts or ends with its words (case aside); `None`
/// when it does not, or when what is left is no name of its own (see [`repeated_values`]).
fn without_value_at_an_end(text: &str, value: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let value_words: Vec<String> = value.split_whitespace().map(str::to_lowercase).collect();
    if value_words.is_empty() || words.len() <= value_words.len() {
        return None;
    }
    let same = |written: &[&str]| {
        written
            .iter()
            .zip(&value_words)
            .all(|(word, value)| word.to_lowercase() == *value)
    };
    let (first, last) = (
        &words[..value_words.len()],
        &words[words.len() - value_words.len()..],
    );
    let left = if same(last) {
        &words[..words.len() - value_words.len()]
    } else if same(first) {
        &words[value_words.len()..]
    } else {
        return None;
    };
    let stands_alone = |word: &&str| {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
        *word == bare && !TYING_WORDS.contains(&bare.to_lowercase().as_str())
    };
    let ends_clean =
        left.first().is_some_and(stands_alone) && left.last().is_some_and(stands_alone);
    let has_letters = left
        .iter()
        .any(|word| word.chars().any(char::is_alphabetic));
    (ends_clean && has_letters).then(|| left.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_another_argument_carries_is_left_out_of_an_end() {
        assert_eq!(
            repeated_values(&json!({"key": "C sharp major", "scale_type": "major"})),
            vec![("key".into(), "C sharp".into())]
        );
        assert_eq!(
            repeated_values(&json!({"dish_name": "vegan chocolate cake", "diet": "Vegan"})),
            vec![("dish_name".into(), "chocolate cake".into())]
        );
    }

    #[test]
    fn a_value_inside_a_name_or_tied_on_or_alone_stays() {
        // In the middle: the name's own words.
        assert!(repeated_values(&json!({"title": "The major works", "scale": "major"})).is_empty());
        // What is left would end with a word that only tied the value on.
        assert!(repeated_values(&json!({"card": "Ace of Spades", "suit": "Spades"})).is_empty());
        assert!(repeated_values(&json!({"area": "New York City, NY", "state": "NY"})).is_empty());
        // Nothing but the value, or only the argument's own name, would be left.
        assert!(repeated_values(&json!({"genre": "jazz", "style": "jazz"})).is_empty());
        assert!(repeated_values(&json!({"genre": "jazz genre", "style": "jazz"})).is_empty());
        // Part of a word is no value.
        assert!(repeated_values(&json!({"key": "C sharp majority", "scale": "major"})).is_empty());
    }
}
