//! Values written the way a parameter's description says they are written.
//!
//! Two habits of a small model that a tool's description already answers:
//! - "The city and state, e.g. Chicago, IL" (the wording of OpenAI's own `get_weather`
//!   example, copied into countless tools), and the call carries `"Chicago"`: the lookup the
//!   tool makes may need the state. The model knows it; it was not asked.
//! - "The card suit. Valid values include: 'spades', 'clubs', 'hearts', 'diamonds'", and the
//!   call carries `"heart"`: the description lists the values the tool takes, and one of them
//!   is the same word in another form.
//! - "The check-in date in YYYY-MM-DD format", and the call carries `"2022-04-5"`: the
//!   described form pads the day to two digits. "The date for the UV index, in the format
//!   mm-dd-yyyy", and the call carries `"2023-06-01"`: the model writes dates as ISO 8601
//!   whatever the tool asks; the described form is `"06-01-2023"`.

use serde_json::Value;

use super::dates::{written_date, WrittenDate};
use super::grounding::{non_latin_letter, plural_of, property, property_description};

/// The grammar of the state after a city and its comma (the prompt ends at the comma): a
/// space, one or two capitalized words ("IL", "Illinois", "New Mexico", "UK"), the string's
/// closing quote.
pub const STATE_GRAMMAR: &str =
    "%llguidance {}\nstart: STATE \"\\\"\"\nSTATE: / [A-Z][A-Za-z]{1,15}( [A-Z][a-z]{1,15})?/\n";

/// Longest city name a state is asked for.
const MAX_CITY_CHARS: usize = 60;

/// The string arguments of `arguments` (a tool with parameter schema `schema`) whose
/// description asks for a city and its state, given a city alone: the argument and the city.
pub fn cities_without_state(arguments: &Value, schema: &Value) -> Vec<(String, String)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    arguments
        .iter()
        .filter(|(name, _)| property(schema, name).is_some_and(asks_city_and_state))
        .filter_map(|(name, value)| Some((name, value.as_str()?.trim())))
        .filter(|(_, city)| {
            !city.contains(',')
                && city.chars().count() <= MAX_CITY_CHARS
                && city.chars().any(char::is_alphabetic)
                && !city.chars().any(non_latin_letter)
        })
        .map(|(name, city)| (name.clone(), city.to_string()))
        .collect()
}

/// Whether a parameter's description asks for a city with its state.
fn asks_city_and_state(property: &Value) -> bool {
    let Some(description) = property.get("description").and_then(Value::as_str) else {
        return false;
    };
    let description = description.to_lowercase();
    ["city and state", "city, state", "city,state"]
        .iter()
        .flat_map(|phrase| description.match_indices(phrase))
        .any(|(at, phrase)| {
            // "the city, state, or country" names kinds of place, not a format.
            let after = description[at + phrase.len()..].trim_start_matches([',', ' ']);
            !after.starts_with("or ")
        })
}

/// The string arguments of `arguments` whose value is, in another form, exactly one of the
/// values their description quotes ("'spades', 'clubs', 'hearts'"): by case, or as the
/// singular or plural of it; or a whole date (`2022-4-5`, `2022/08/16`, "December 10, 2022":
/// see [`written_date`]) where the parameter asks for another form of year, month and day,
/// or pads them. The argument and the value as the description writes it.
/// Arguments with an enum are the grammar's, and left alone.
pub fn values_as_described(arguments: &Value, schema: &Value) -> Vec<(String, String)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    let mut described = Vec::new();
    for (name, value) in arguments {
        let Some(written) = value.as_str() else {
            continue;
        };
        let Some(property) = property(schema, name).filter(|p| p.get("enum").is_none()) else {
            continue;
        };
        if let Some(dated) = in_described_date_form(written, property) {
            if dated != written {
                described.push((name.clone(), dated));
                continue;
            }
        }
        let quoted = quoted_values(property_description(property));
        if quoted.len() < 2 || quoted.iter().any(|q| q == written) {
            continue;
        }
        let mut alike = quoted
            .iter()
            .filter(|q| same_word_in_another_form(q, written));
        if let (Some(value), None) = (alike.next(), alike.next()) {
            described.push((name.clone(), value.clone()));
        }
    }
    described
}

/// `value`, a whole date (see [`written_date`]), in the form the parameter asks for:
/// `"format": "date"` (ISO, padded), or a form its description writes out of a four-digit
/// year, a month and a day ("in the format mm-dd-yyyy", "DD/MM/YYYY", "(month-day-year)").
/// None where `value` is no such date or the parameter asks for no such form.
fn in_described_date_form(value: &str, property: &Value) -> Option<String> {
    let WrittenDate {
        year, month, day, ..
    } = written_date(value)?;
    let form = if property.get("format").and_then(Value::as_str) == Some("date") {
        DateForm {
            order: [DatePart::Year, DatePart::Month, DatePart::Day],
            separator: '-',
        }
    } else {
        described_date_form(property_description(property))?
    };
    let part = |part: DatePart| match part {
        DatePart::Year => year.to_string(),
        DatePart::Month => format!("{month:02}"),
        DatePart::Day => format!("{day:02}"),
    };
    let separator = form.separator.to_string();
    Some(form.order.map(part).join(&separator))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatePart {
    Year,
    Month,
    Day,
}

/// A date form a description writes out: its parts in order and what separates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DateForm {
    order: [DatePart; 3],
    separator: char,
}

/// The first date form `description` writes out as `YYYY`, `MM` and `DD` (any case), or as
/// the words year, month and day, joined by one separator (`-`, `/`, `.`), each part once:
/// "YYYY-MM-DD", "mm/dd/yyyy", "month-day-year". A two-digit
/// year ("MM-DD-YY") or a form of two parts ("YYYY-YYYY", "mm-yyyy") is none.
fn described_date_form(description: &str) -> Option<DateForm> {
    let upper: Vec<char> = description.to_uppercase().chars().collect();
    let token = |at: usize| -> Option<(DatePart, usize)> {
        let rest: String = upper.get(at..)?.iter().take(5).collect();
        [
            ("YYYY", DatePart::Year),
            ("YEAR", DatePart::Year),
            ("MONTH", DatePart::Month),
            ("MM", DatePart::Month),
            ("DAY", DatePart::Day),
            ("DD", DatePart::Day),
        ]
        .into_iter()
        .find(|(written, _)| rest.starts_with(written))
        .map(|(written, part)| (part, written.len()))
    };
    let is_letter = |at: usize| upper.get(at).is_some_and(|c| c.is_alphanumeric());
    for start in 0..upper.len() {
        if start > 0 && is_letter(start - 1) {
            continue;
        }
        let Some((first, first_len)) = token(start) else {
            continue;
        };
        let separator_at = start + first_len;
        let Some(&separator) = upper
            .get(separator_at)
            .filter(|c| matches!(c, '-' | '/' | '.'))
        else {
            continue;
        };
        let Some((second, second_len)) = token(separator_at + 1) else {
            continue;
        };
        let third_separator = separator_at + 1 + second_len;
        if upper.get(third_separator) != Some(&separator) {
            continue;
        }
        let Some((third, third_len)) = token(third_separator + 1) else {
            continue;
        };
        let order = [first, second, third];
        let each_once = [DatePart::Year, DatePart::Month, DatePart::Day]
            .iter()
            .all(|part| order.iter().filter(|p| *p == part).count() == 1);
        if each_once && !is_letter(third_separator + 1 + third_len) {
            return Some(DateForm { order, separator });
        }
    }
    None
}

/// The string arguments of `arguments` holding a whole date written in words ("10th
/// December 2022", "2022年12月10日": see [`written_date`]) for a date's parameter (its name or
/// description says "date") that asks for no form (see [`in_described_date_form`]), and the
/// date as ISO 8601 (`2022-12-10`), which any program reads. Arguments with an enum are the
/// grammar's, and left alone.
pub fn dates_in_words_as_iso(arguments: &Value, schema: &Value) -> Vec<(String, String)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    arguments
        .iter()
        .filter_map(|(name, value)| {
            let property = property(schema, name).filter(|p| p.get("enum").is_none())?;
            let written = value.as_str()?;
            let date = written_date(written).filter(|date| date.in_words)?;
            let description = property_description(property).to_lowercase();
            let of_a_date = [name.to_lowercase().as_str(), description.as_str()]
                .iter()
                .any(|text| text.contains("date") || text.contains("日期"));
            let asks_no_form = in_described_date_form(written, property).is_none();
            (of_a_date && asks_no_form).then(|| (name.clone(), date.iso()))
        })
        .collect()
}

/// The values a description quotes, in single or double quotes (at most 40 characters each).
/// A quote opens a value only after a character that is not a letter or digit, and closes it
/// only before one, so that an apostrophe ("the player's") is not read as a quote.
pub(super) fn quoted_values(description: &str) -> Vec<String> {
    let chars: Vec<char> = description.chars().collect();
    let outside_word = |at: Option<&char>| at.is_none_or(|c| !c.is_alphanumeric());
    let mut values = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let quote = chars[at];
        let opens = (quote == '\'' || quote == '"')
            && outside_word(at.checked_sub(1).and_then(|before| chars.get(before)));
        if !opens {
            at += 1;
            continue;
        }
        let close = (at + 1..chars.len())
            .find(|&end| chars[end] == quote && outside_word(chars.get(end + 1)));
        let Some(close) = close else {
            break;
        };
        let value: String = chars[at + 1..close].iter().collect();
        if (1..=40).contains(&value.chars().count()) && !value.trim().is_empty() {
            values.push(value);
        }
        at = close + 1;
    }
    values
}

/// `a` and `b` differ only by case, or as a word and its plural.
fn same_word_in_another_form(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    a == b || plural_of(&a, &b) || plural_of(&b, &a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_city_alone_where_the_description_asks_for_its_state_is_found() {
        let schema = json!({"properties": {
            "location": {"type": "string", "description": "The city and state, e.g. Seattle, WA"},
            "venue": {"type": "string", "description": "The concert hall."},
            "where": {"type": "string", "description": "In the format City, State."}
        }});
        assert_eq!(
            cities_without_state(
                &json!({"location": "Chicago", "venue": "Symphony Center", "where": "Boston"}),
                &schema
            ),
            vec![
                ("location".to_string(), "Chicago".to_string()),
                ("where".to_string(), "Boston".to_string())
            ]
        );
        // A list of kinds of place is no format.
        let kinds = json!({"properties": {
            "area": {"type": "string", "description": "Name of the city, state, or country."}
        }});
        assert!(cities_without_state(&json!({"area": "Alaska"}), &kinds).is_empty());
        let format = json!({"properties": {
            "area": {"type": "string", "description": "In the format: City, State, e.g., Dallas, TX."}
        }});
        assert_eq!(
            cities_without_state(&json!({"area": "Austin"}), &format).len(),
            1
        );
        // Given with its state, or in another script: nothing to ask.
        assert!(cities_without_state(&json!({"location": "Chicago, IL"}), &schema).is_empty());
        assert!(cities_without_state(&json!({"location": "杭州"}), &schema).is_empty());
    }

    #[test]
    fn a_value_the_description_lists_in_another_form_is_written_as_listed() {
        let schema = json!({"properties": {
            "suit": {"type": "string", "description":
                "The card suit. Valid values include: 'spades', 'clubs', 'hearts', 'diamonds'."},
            "deck": {"type": "string", "description": "Type of deck, e.g. \"normal\" or \"without_joker\"."},
            "rank": {"type": "string", "enum": ["Ace", "King"], "description": "'aces' or 'kings'"}
        }});
        assert_eq!(
            values_as_described(
                &json!({"suit": "heart", "deck": "Normal", "rank": "Ace"}),
                &schema
            ),
            vec![
                ("suit".to_string(), "hearts".to_string()),
                ("deck".to_string(), "normal".to_string())
            ]
        );
        // Listed as written, or nothing alike: left alone.
        assert!(values_as_described(&json!({"suit": "hearts"}), &schema).is_empty());
        assert!(values_as_described(&json!({"suit": "stars"}), &schema).is_empty());
    }

    #[test]
    fn an_iso_date_is_written_in_the_form_the_description_writes_out() {
        let schema = json!({"properties": {
            "uv": {"type": "string", "description": "The date for the UV index, in the format mm-dd-yyyy."},
            "rain": {"type": "string", "description": "The date, in the format DD/MM/YYYY."},
            "season": {"type": "string", "description": "Specific season in format 'YYYY-YYYY'."},
            "month": {"type": "string", "description": "Date of the concert in 'mm-yyyy' format."},
            "short": {"type": "string", "description": "In the format of MM-DD-YY."}
        }});
        let mut described = values_as_described(
            &json!({"uv": "2023-06-01", "rain": "2023-6-1", "season": "2023-06-01",
                    "month": "2023-06-01", "short": "2023-06-01"}),
            &schema,
        );
        described.sort();
        assert_eq!(
            described,
            vec![
                ("rain".to_string(), "01/06/2023".to_string()),
                ("uv".to_string(), "06-01-2023".to_string())
            ],
            "a form of two parts or a two-digit year is no day of a year"
        );
        // Already in the described form, or no whole date: left as written.
        assert!(values_as_described(&json!({"uv": "06-01-2023"}), &schema).is_empty());
        assert!(values_as_described(&json!({"uv": "June 2023"}), &schema).is_empty());
    }

    #[test]
    fn a_date_in_words_or_with_slashes_is_written_in_the_described_form() {
        let schema = json!({"properties": {
            "uv": {"type": "string", "description": "The date for the UV index, in the format mm-dd-yyyy."},
            "air": {"type": "string", "description": "The date (month-day-year) you want the air quality for."},
            "stay": {"type": "string", "description": "Check-in, as YYYY-MM-DD."}
        }});
        let mut described = values_as_described(
            &json!({"uv": "June 1, 2023", "air": "2022/08/16", "stay": "2022年12月10日"}),
            &schema,
        );
        described.sort();
        assert_eq!(
            described,
            vec![
                ("air".to_string(), "08-16-2022".to_string()),
                ("stay".to_string(), "2022-12-10".to_string()),
                ("uv".to_string(), "06-01-2023".to_string())
            ]
        );
    }

    #[test]
    fn a_date_in_words_for_a_date_that_asks_for_no_form_is_written_as_iso() {
        let schema = json!({"properties": {
            "start_date": {"type": "string", "description": "The start date for the booking."},
            "when": {"type": "string", "description": "The day of the match."},
            "title": {"type": "string", "description": "The event's title."},
            "deadline": {"type": "string", "description": "截止日期"}
        }});
        let arguments = json!({"start_date": "10th December 2022", "when": "Jan 5, 2023",
                               "title": "December 10, 2022", "deadline": "2023年1月5日"});
        let mut described = dates_in_words_as_iso(&arguments, &schema);
        described.sort();
        assert_eq!(
            described,
            vec![
                ("deadline".to_string(), "2023-01-05".to_string()),
                ("start_date".to_string(), "2022-12-10".to_string())
            ],
            "only a date's parameter, by its name or description"
        );
        assert!(values_as_described(&arguments, &schema).is_empty());
        // A date of digits is machine-readable as written; one in a described form is that
        // form's (`values_as_described`).
        assert!(dates_in_words_as_iso(&json!({"start_date": "2022/12/10"}), &schema).is_empty());
        let described = json!({"properties": {
            "date": {"type": "string", "description": "The date, as MM-DD-YYYY."}}});
        assert!(dates_in_words_as_iso(&json!({"date": "June 1, 2023"}), &described).is_empty());
    }

    #[test]
    fn a_date_in_the_described_iso_form_is_padded_to_two_digit_months_and_days() {
        let schema = json!({"properties": {
            "check_in": {"type": "string", "description": "The check-in date in YYYY-MM-DD format."},
            "due": {"type": "string", "format": "date"},
            "note": {"type": "string", "description": "Free text."}
        }});
        assert_eq!(
            values_as_described(
                &json!({"check_in": "2022-04-5", "due": "2023-1-15", "note": "2022-04-5"}),
                &schema
            ),
            vec![
                ("check_in".to_string(), "2022-04-05".to_string()),
                ("due".to_string(), "2023-01-15".to_string())
            ],
            "a string with no date format is left as the model wrote it"
        );
        for left_alone in [
            "2022-04-05",
            "2022-13-5",
            "2022-4",
            "22-4-5",
            "2022-04-5x",
            "May 5",
        ] {
            assert!(
                values_as_described(&json!({"check_in": left_alone}), &schema).is_empty(),
                "{left_alone}"
            );
        }
    }

    #[test]
    fn quoted_values_are_those_between_pairs_of_quotes() {
        assert_eq!(
            quoted_values("Either 'a' or 'bb', the player's choice"),
            vec!["a".to_string(), "bb".to_string()]
        );
        assert_eq!(
            quoted_values("The player's pick: 'rock' or 'paper'"),
            vec!["rock".to_string(), "paper".to_string()]
        );
        assert_eq!(
            quoted_values("say \"yes\" or \"no\""),
            vec!["yes".to_string(), "no".to_string()]
        );
    }
}
