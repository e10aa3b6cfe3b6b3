//! A year a call carries in an argument of its own, written again inside a string argument.
//!
//! Asked for "the ranking of Barcelona in the 2021 La Liga season", a small model fills
//! `season: "2021"` and `league: "2021 La Liga"`: the year twice, once where it belongs and
//! once in a name that a real lookup would not find ("La Liga 2020-2021", "Criminal Law
//! Amendment Act of 2013" beside `amendment_year: 2013`). The year is left out of the string,
//! with the words that only tied it on ("of", "in").

use serde_json::{Map, Value};

use super::repeated::trimmed_strings;

/// Years a call's argument may hold: a number or a string from here to [`LAST_YEAR`].
const FIRST_YEAR: u64 = 1000;
const LAST_YEAR: u64 = 2100;

/// Words that only tie a year on to the name before it ("Act of 2013", "League in 2021").
const TYING_WORDS: &[&str] = &["of", "in", "for", "from", "during", "the"];

/// For each string argument of `arguments` that writes, as a word of its own, a year another
/// argument carries, the argument and its value without that year (and the words that tied
/// it on). A string the year would leave without a letter, or with only words of its own
/// argument's name (`season: "2021 season"`), is left as it is.
pub fn repeated_years(arguments: &Value) -> Vec<(String, String)> {
    trimmed_strings(arguments, |arguments, name, text| {
        other_years(arguments, name)
            .iter()
            .find_map(|year| without_year(text, year))
    })
}

/// The years, as written, of the arguments other than `name`.
fn other_years(arguments: &Map<String, Value>, name: &str) -> Vec<String> {
    arguments
        .iter()
        .filter(|(other, _)| other.as_str() != name)
        .filter_map(|(_, value)| match value {
            Value::Number(number) => number
                .as_u64()
                .filter(|year| is_year(*year))
                .map(|year| year.to_string()),
            Value::String(text) => is_year_text(text.trim()).then(|| text.trim().to_string()),
            _ => None,
        })
        .collect()
}

fn is_year(number: u64) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&number)
}

/// "2021", or a season's span: "2020-2021", "2020/21" (the next year: "2024-05" is a month).
fn is_year_text(text: &str) -> bool {
    let mut parts = text.split(['-', '/', '–']);
    let Some(first) = parts.next().and_then(year_digits) else {
        return false;
    };
    match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(next), None) if next.len() == 4 => year_digits(next) == Some(first + 1),
        (Some(next), None) if next.len() == 2 => {
            next.parse::<u64>().ok() == Some((first + 1) % 100)
        }
        _ => false,
    }
}

/// The year four digits write, when they write one.
fn year_digits(text: &str) -> Option<u64> {
    (text.len() == 4 && text.chars().all(|c| c.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
        .filter(|year| is_year(*year))
}

/// `text` without `year` where it stands as a word of its own, and without the tying words
/// just before it; `None` when it does not stand so, or nothing with a letter is left.
fn without_year(text: &str, year: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words
        .iter()
        .position(|word| word.trim_end_matches([',', '.', ';']) == year)?;
    let mut before = &words[..at];
    while let Some((last, rest)) = before.split_last() {
        if !TYING_WORDS.contains(&last.to_lowercase().as_str()) {
            break;
        }
        before = rest;
    }
    let left: Vec<&str> = before.iter().chain(&words[at + 1..]).copied().collect();
    let left = left.join(" ");
    let left = left.trim_matches([',', ' ']).to_string();
    left.chars().any(char::is_alphabetic).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_year_another_argument_carries_is_left_out_of_a_name() {
        let trimmed = repeated_years(&json!({
            "team": "Barcelona", "league": "2021 La Liga", "season": "2021"
        }));
        assert_eq!(trimmed, vec![("league".into(), "La Liga".into())]);
        let trimmed = repeated_years(&json!({
            "act_name": "Criminal Law Amendment Act of 2013", "amendment_year": 2013
        }));
        assert_eq!(
            trimmed,
            vec![("act_name".into(), "Criminal Law Amendment Act".into())]
        );
        let trimmed = repeated_years(&json!({
            "tournament": "La Liga 2020-2021", "season": "2020-2021"
        }));
        assert_eq!(trimmed, vec![("tournament".into(), "La Liga".into())]);
    }

    #[test]
    fn a_year_no_other_argument_carries_or_inside_a_word_stays() {
        // The year is the name's own: no other argument holds it.
        assert!(repeated_years(&json!({"event": "Olympics 2021", "city": "Tokyo"})).is_empty());
        // Not a word of its own: a date, a formula, a model number.
        assert!(repeated_years(&json!({"date": "2021-05-01", "year": 2021})).is_empty());
        assert!(repeated_years(&json!({"model": "X2021", "year": 2021})).is_empty());
        // Numbers that are no year.
        assert!(repeated_years(&json!({"name": "Route 66", "number": 66})).is_empty());
    }

    #[test]
    fn a_string_left_without_a_name_stays_whole() {
        assert!(repeated_years(&json!({"season": "2021 season", "year": 2021})).is_empty());
        assert!(repeated_years(&json!({"label": "2021", "year": 2021})).is_empty());
    }

    #[test]
    fn season_spans_are_years() {
        assert!(is_year_text("2020-2021"));
        assert!(is_year_text("2020/21"));
        assert!(is_year_text("1999"));
        assert!(!is_year_text("2020-"));
        assert!(!is_year_text("12345"));
        assert!(!is_year_text("0999"));
        assert!(!is_year_text("2020-2"));
        assert!(!is_year_text("2024-05"), "a month");
        assert!(!is_year_text("2020-2025"));
    }
}
