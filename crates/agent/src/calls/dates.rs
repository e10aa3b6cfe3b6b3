//! Whole dates as a model writes them into a call's string: "2022-08-16", "2022/08/16",
//! "December 10, 2022", "10th December 2022", "2022年12月10日". A tool that asks for a form
//! gets that form (see `formats`); one that asks for none gets ISO 8601 in place of words.

/// A whole date read from a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WrittenDate {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    /// Written with a month's name or in Chinese, not in digits and separators alone.
    pub in_words: bool,
}

impl WrittenDate {
    /// The date as ISO 8601 writes it: `2022-12-10`.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// English month names; each is also read by its first three letters, and September by
/// "Sept" too.
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Words a date in words may carry around its parts ("the 10th of December, 2022").
const FILLER_WORDS: &[&str] = &["the", "of"];

/// The date `value` is, when all of it is one whole date with a four-digit year: the year
/// first with `-`, `/` or `.` between one- or two-digit month and day ("2022/8/16"); a
/// month's name (or its abbreviation) with a day (an ordinal too) and the year, in either
/// order of day and month ("December 10, 2022", "10th Dec. 2022"); or Chinese ("2022年12月10日").
/// A date of digits with the year last ("10/12/2022") is none: its order of day and month is
/// the writer's to know.
pub(super) fn written_date(value: &str) -> Option<WrittenDate> {
    let value = value.trim();
    year_first(value)
        .or_else(|| in_chinese(value))
        .or_else(|| in_english_words(value))
        .filter(|date| is_a_day_of_the_calendar(date.year, date.month, date.day))
}

fn year_first(value: &str) -> Option<WrittenDate> {
    let separator = value.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let mut parts = value.split(separator);
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 {
        return None;
    }
    Some(WrittenDate {
        year: digits(year, 4)?,
        month: digits(month, 2)?,
        day: digits(day, 2)?,
        in_words: false,
    })
}

fn in_chinese(value: &str) -> Option<WrittenDate> {
    let (year, rest) = value.split_once('年')?;
    let (month, rest) = rest.split_once('月')?;
    let day = rest
        .strip_suffix('日')
        .or_else(|| rest.strip_suffix('号'))?;
    (year.len() == 4).then_some(())?;
    Some(WrittenDate {
        year: digits(year, 4)?,
        month: digits(month, 2)?,
        day: digits(day, 2)?,
        in_words: true,
    })
}

fn in_english_words(value: &str) -> Option<WrittenDate> {
    let words: Vec<String> = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .filter(|word| !FILLER_WORDS.contains(&word.as_str()))
        .collect();
    let [first, second, year] = words.as_slice() else {
        return None;
    };
    let year = digits(year, 4).filter(|_| year.len() == 4)?;
    let (month, day) = match (month_named(first), month_named(second)) {
        (Some(month), None) => (month, day_of_month(second)?),
        (None, Some(month)) => (month, day_of_month(first)?),
        _ => return None,
    };
    Some(WrittenDate {
        year,
        month,
        day,
        in_words: true,
    })
}

/// The month (1–12) `word` names: in full, by its first three letters, or "sept", with or
/// without a full stop after an abbreviation.
pub(super) fn month_named(word: &str) -> Option<u32> {
    let word = word.strip_suffix('.').unwrap_or(word);
    let index = MONTHS.iter().position(|month| {
        *month == word
            || (word.len() == 3 && month.starts_with(word))
            || word == "sept" && *month == "september"
    })?;
    Some(index as u32 + 1)
}

/// The day `word` writes: one or two digits, with an ordinal ending or none ("10", "1st").
fn day_of_month(word: &str) -> Option<u32> {
    let number = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|ending| word.strip_suffix(ending))
        .unwrap_or(word);
    digits(number, 2)
}

/// `part` as a number, when it is one to `most` ASCII digits.
fn digits(part: &str, most: usize) -> Option<u32> {
    (!part.is_empty() && part.len() <= most && part.chars().all(|c| c.is_ascii_digit()))
        .then(|| part.parse().ok())
        .flatten()
}

fn is_a_day_of_the_calendar(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(value: &str) -> Option<(String, bool)> {
        written_date(value).map(|date| (date.iso(), date.in_words))
    }

    #[test]
    fn whole_dates_are_read_in_digits_words_and_chinese() {
        for (value, expected, in_words) in [
            ("2022-08-16", "2022-08-16", false),
            ("2022/8/16", "2022-08-16", false),
            ("2022.08.16", "2022-08-16", false),
            ("December 10, 2022", "2022-12-10", true),
            ("10th December 2022", "2022-12-10", true),
            ("the 1st of March, 2024", "2024-03-01", true),
            ("Dec. 10 2022", "2022-12-10", true),
            ("Sept 3, 2021", "2021-09-03", true),
            ("2022年12月10日", "2022-12-10", true),
            ("2024年2月29号", "2024-02-29", true),
        ] {
            assert_eq!(
                iso(value),
                Some((expected.to_string(), in_words)),
                "{value}"
            );
        }
    }

    #[test]
    fn what_is_not_one_whole_date_is_not_read() {
        for value in [
            "10/12/2022",
            "12-01-2022",
            "July 1st",
            "April 2022",
            "December 10, 2022 at 5 pm",
            "2023-02-29",
            "2022-13-01",
            "May 32, 2022",
            "22-4-5",
            "2022-04",
            "Mayday 10 2022",
            "next Friday",
        ] {
            assert_eq!(iso(value), None, "{value}");
        }
    }
}
