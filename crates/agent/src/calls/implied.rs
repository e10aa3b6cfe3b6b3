//! The numbers a request implies without writing them: a period's length or count in other
//! units ("the next week" is 7 days, "compounded quarterly" 4 times a year, "for two years"
//! 24 months), a month's number ("March" is 3) and a body "from rest" (a speed of 0). A call
//! that gives a required argument such a number took it from the request; one that gives a
//! number the request neither writes nor implies made it up.

use super::grounding::spelled_numbers;

/// Periods by the words that name them, each with what it stands for as a number: its
/// length in smaller units and how many of it a larger one holds.
const PERIODS: &[(&[&str], &[f64])] = &[
    (&["minute", "minutes"], &[1.0, 60.0]),
    (&["hour", "hours"], &[1.0, 60.0, 24.0]),
    (&["hourly"], &[1.0, 24.0]),
    (
        &["day", "days", "today", "tonight", "tomorrow", "yesterday"],
        &[1.0, 24.0],
    ),
    (&["daily"], &[1.0, 365.0]),
    (&["week", "weeks"], &[1.0, 7.0]),
    (&["weekly"], &[7.0, 52.0]),
    (&["fortnight", "fortnights", "biweekly"], &[2.0, 14.0, 26.0]),
    (&["month", "months"], &[1.0, 30.0]),
    (&["monthly"], &[1.0, 12.0]),
    (&["quarter", "quarters", "quarterly"], &[3.0, 4.0]),
    (
        &["semiannual", "semiannually", "biannual", "biannually"],
        &[2.0, 6.0],
    ),
    (&["year", "years"], &[1.0, 12.0, 52.0, 365.0]),
    (&["yearly", "annual", "annually"], &[1.0, 12.0]),
    (&["decade", "decades"], &[10.0]),
    (&["century", "centuries"], &[100.0]),
];

/// Months by name and short name: "sales in March" implies month 3.
const MONTHS: &[&[&str]] = &[
    &["january", "jan"],
    &["february", "feb"],
    &["march", "mar"],
    &["april", "apr"],
    &["may"],
    &["june", "jun"],
    &["july", "jul"],
    &["august", "aug"],
    &["september", "sep", "sept"],
    &["october", "oct"],
    &["november", "nov"],
    &["december", "dec"],
];

/// Words for a body at a standstill: its starting speed is 0.
const AT_REST: &[&str] = &["rest", "stationary", "standstill"];

/// Chinese words for periods, with the same readings.
const CHINESE_PERIODS: &[(&str, &[f64])] = &[
    ("小时", &[1.0, 60.0]),
    ("天", &[1.0, 24.0]),
    ("周", &[1.0, 7.0]),
    ("星期", &[1.0, 7.0]),
    ("月", &[1.0, 30.0]),
    ("季度", &[3.0, 4.0]),
    ("年", &[1.0, 12.0, 365.0]),
];

/// Words that date a request relative to now: the numbers of a date or a season written for
/// them ("today" → "2023-04-15") are the model's reading of the request, right or wrong, not
/// numbers it made up from nothing.
const RELATIVE_DATES: &[&str] = &[
    "now",
    "current",
    "currently",
    "recent",
    "recently",
    "latest",
    "upcoming",
    "ago",
    "next",
    "last",
    "previous",
    "this",
    "season",
    "seasons",
    "weekend",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Chinese words that date a request relative to now, beside the periods.
const CHINESE_RELATIVE_DATES: &[&str] = &[
    "今", "明", "昨", "现在", "最近", "目前", "本季", "上个", "下个",
];

/// Whether `text` dates what it asks relative to now ("today", "last year", "this season",
/// "on Friday"), so that a date or season a call gives may stand for it.
pub(super) fn dates_relatively(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            RELATIVE_DATES.contains(&word) || PERIODS.iter().any(|(names, _)| names.contains(&word))
        })
        || CHINESE_RELATIVE_DATES
            .iter()
            .any(|word| text.contains(word))
        || CHINESE_PERIODS.iter().any(|(word, _)| text.contains(word))
}

/// The numbers `text` implies: each period it names with what the period stands for, and
/// where a number comes right before the period ("2 weeks", "three years"), that number
/// times each.
pub(super) fn implied_numbers(text: &str) -> Vec<f64> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|word| word.trim_matches('.'))
        .filter(|word| !word.is_empty())
        .collect();
    let mut numbers = Vec::new();
    for (at, word) in words.iter().enumerate() {
        if AT_REST.contains(word) {
            numbers.push(0.0);
        }
        if let Some(month) = MONTHS.iter().position(|names| names.contains(word)) {
            numbers.push((month + 1) as f64);
        }
        let Some((_, lengths)) = PERIODS.iter().find(|(names, _)| names.contains(word)) else {
            continue;
        };
        numbers.extend_from_slice(lengths);
        let before = at
            .checked_sub(1)
            .and_then(|before| number_word(words[before]));
        if let Some(count) = before {
            numbers.extend(lengths.iter().map(|length| count * length));
        }
    }
    for (name, lengths) in CHINESE_PERIODS {
        if text.contains(name) {
            numbers.extend_from_slice(lengths);
        }
    }
    numbers
}

/// The number a word is, in digits or spelled ("2", "two").
fn number_word(word: &str) -> Option<f64> {
    word.parse::<f64>()
        .ok()
        .or_else(|| spelled_numbers(word).first().copied())
}

#[cfg(test)]
mod tests {
    use super::implied_numbers;

    fn implies(text: &str, number: f64) -> bool {
        implied_numbers(text).contains(&number)
    }

    #[test]
    fn a_period_implies_its_length_and_its_count_in_a_larger_one() {
        assert!(implies("air quality for the next week", 7.0));
        assert!(implies("house prices for the next month", 1.0));
        assert!(implies("interest compounded quarterly", 4.0));
        assert!(implies("a monthly plan over the year", 12.0));
        assert!(implies("明天下周的天气", 7.0));
        assert!(implies("revenue in March", 3.0));
    }

    #[test]
    fn a_count_before_a_period_implies_the_product() {
        assert!(implies("a loan over 2 years", 24.0));
        assert!(implies("stay for three weeks", 21.0));
        assert!(implies("in 2-week sprints", 14.0));
    }

    #[test]
    fn a_body_from_rest_starts_at_zero() {
        assert!(implies("an object that started from rest", 0.0));
    }

    #[test]
    fn a_request_dated_relative_to_now_is_told_from_one_that_is_not() {
        for text in [
            "Who are in the cricket matches scheduled for today?",
            "How often did members visit last year?",
            "LeBron's points this season",
            "Book a room on Friday",
            "明天的会议室",
        ] {
            assert!(super::dates_relatively(text), "{text}");
        }
        for text in [
            "What is the roster of Manchester United?",
            "Who initiated the Protestant Reformation?",
        ] {
            assert!(!super::dates_relatively(text), "{text}");
        }
    }

    #[test]
    fn a_text_naming_no_period_implies_nothing() {
        assert!(implied_numbers("the final price after a 25% discount").is_empty());
        assert!(!implies("a loan over 2 years", 48.0));
        assert!(!implies("the best weapon against a dragon", 10.0));
    }
}
