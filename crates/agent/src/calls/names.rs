//! The names a user writes ("San Diego", "Hulu", 'Winter') and the word each follows.
//!
//! Asked for one more call, a small model often copies the one it made ("a flight from San
//! Francisco to Tokyo … and another from Tokyo to Sydney" stops at Tokyo). A name the user
//! wrote that no call used, after the same word as a value of the last call ("to Sydney"
//! as "to Tokyo"), is likely that argument's value in the next call (see `checked`).

use super::grounding::latin_word_char;

/// Words written with a capital inside a name ("Bank of America", "Statue of the Liberty").
const JOINING_WORDS: &[&str] = &["of", "the", "de", "la"];

/// Capitalized words that are no name: the speaker.
const NOT_NAMES: &[&str] = &["I", "I'm", "I'd", "I've", "I'll"];

/// A name the text writes, with the word right before it, lowercased (`None` at the start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenName {
    pub name: String,
    pub after: Option<String>,
}

/// The names `text` writes, in order: values in quotes, and runs of capitalized words that
/// do not open a sentence (a sentence's first word is capitalized whatever it is).
pub fn written_names(text: &str) -> Vec<WrittenName> {
    let words = words(text);
    let mut names = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let word = &words[at];
        if let Some(quoted) = word.quoted.as_ref() {
            names.push(WrittenName {
                name: quoted.clone(),
                after: before(&words, at),
            });
            at += 1;
            continue;
        }
        if !capitalized(&word.text) || word.opens_sentence || NOT_NAMES.contains(&&*word.text) {
            at += 1;
            continue;
        }
        let start = at;
        let mut end = at + 1;
        while end < words.len() {
            let next = &words[end];
            if next.quoted.is_some() || next.opens_sentence || next.after_mark {
                break;
            }
            if capitalized(&next.text) {
                end += 1;
            } else if JOINING_WORDS.contains(&next.text.as_str())
                && words
                    .get(end + 1)
                    .is_some_and(|w| capitalized(&w.text) && !w.after_mark && w.quoted.is_none())
            {
                end += 2;
            } else {
                break;
            }
        }
        let name: Vec<&str> = words[start..end].iter().map(|w| w.text.as_str()).collect();
        names.push(WrittenName {
            name: name.join(" "),
            after: before(&words, start),
        });
        at = end;
    }
    names
}

/// The word `text` writes right before the first place it writes `value` as whole words,
/// lowercased; `None` where it writes it nowhere or first at its start.
pub fn word_before(text: &str, value: &str) -> Option<String> {
    let needle: Vec<String> = words(value).into_iter().map(|w| w.lower()).collect();
    if needle.is_empty() {
        return None;
    }
    let words = words(text);
    let lower: Vec<String> = words.iter().map(Word::lower).collect();
    let at = (0..lower.len()).find(|&at| lower[at..].starts_with(&needle))?;
    before(&words, at)
}

/// Words that, standing between a value and a name, make the name another request's ("…
/// to Tokyo, and another flight to Sydney"). Looser than where `variants` splits a message
/// into requests: "and" joins requests here, where it would split every list there.
const NEXT_REQUEST_CUES: &[&str] = &[
    "and",
    "another",
    "then",
    "also",
    "again",
    "next",
    "plus",
    "after",
    "afterwards",
    "second",
    "later",
    "finally",
    "lastly",
];

/// Whether `text` writes `name` after the first place it writes `value`, with a word that
/// opens another request between them ("to Tokyo … and another flight … to Sydney"; not
/// "on Mars if my weight on Earth", nor "the U.S. president during the Civil War").
pub fn written_as_next_request(text: &str, value: &str, name: &str) -> bool {
    let lower = |text: &str| -> Vec<String> { words(text).iter().map(Word::lower).collect() };
    let (text, value, name) = (lower(text), lower(value), lower(name));
    if value.is_empty() || name.is_empty() {
        return false;
    }
    let find = |needle: &[String], from: usize| {
        (from..text.len()).find(|&at| text[at..].starts_with(needle))
    };
    let Some(value_at) = find(&value, 0) else {
        return false;
    };
    let after_value = value_at + value.len();
    let Some(name_at) = find(&name, after_value) else {
        return false;
    };
    text[after_value..name_at]
        .iter()
        .any(|word| NEXT_REQUEST_CUES.contains(&word.as_str()))
}

/// A word of the text, or a quoted value standing where a word would.
#[derive(Debug)]
struct Word {
    text: String,
    quoted: Option<String>,
    /// First of its sentence: at the start, or after ".", "?", "!" or a line break.
    opens_sentence: bool,
    /// After a mark (a comma, a colon, a bracket) that ends a name.
    after_mark: bool,
}

impl Word {
    fn lower(&self) -> String {
        self.quoted.as_deref().unwrap_or(&self.text).to_lowercase()
    }
}

fn words(text: &str) -> Vec<Word> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut opens_sentence = true;
    let mut after_mark = false;
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let quote_opens = (c == '\'' || c == '"')
            && at
                .checked_sub(1)
                .is_none_or(|before| !chars[before].is_alphanumeric());
        if quote_opens {
            let close = (at + 1..chars.len()).find(|&end| {
                chars[end] == c
                    && chars
                        .get(end + 1)
                        .is_none_or(|next| !next.is_alphanumeric())
            });
            if let Some(close) = close.filter(|close| close - at > 1) {
                let quoted: String = chars[at + 1..close].iter().collect();
                words.push(Word {
                    text: quoted.clone(),
                    quoted: Some(quoted.trim().to_string()),
                    opens_sentence,
                    after_mark,
                });
                opens_sentence = false;
                after_mark = false;
                at = close + 1;
                continue;
            }
        }
        if latin_word_char(c) {
            let start = at;
            while at < chars.len()
                && (latin_word_char(chars[at])
                    || (matches!(chars[at], '\'' | '-' | '.')
                        && chars.get(at + 1).is_some_and(|next| latin_word_char(*next))))
            {
                at += 1;
            }
            words.push(Word {
                text: chars[start..at].iter().collect(),
                quoted: None,
                opens_sentence,
                after_mark,
            });
            opens_sentence = false;
            after_mark = false;
            continue;
        }
        if matches!(c, '.' | '?' | '!' | '\n' | '。' | '？' | '！') {
            opens_sentence = true;
        } else if !c.is_whitespace() {
            after_mark = true;
        }
        at += 1;
    }
    words
}

fn capitalized(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

fn before(words: &[Word], at: usize) -> Option<String> {
    let word = words.get(at.checked_sub(1)?)?;
    Some(word.lower())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, Option<String>)> {
        written_names(text)
            .into_iter()
            .map(|n| (n.name, n.after))
            .collect()
    }

    #[test]
    fn names_are_capitalized_runs_and_quoted_values_with_the_word_before_them() {
        assert_eq!(
            names("Book a flight from San Francisco to Tokyo on May 3rd and another from Tokyo to Sydney."),
            vec![
                ("San Francisco".into(), Some("from".into())),
                ("Tokyo".into(), Some("to".into())),
                ("May".into(), Some("on".into())),
                ("Tokyo".into(), Some("from".into())),
                ("Sydney".into(), Some("to".into())),
            ]
        );
        assert_eq!(
            names("In the game 'Animal Crossing', the bugs of the 'Summer' season and the fish of the 'Winter' season."),
            vec![
                ("Animal Crossing".into(), Some("game".into())),
                ("Summer".into(), Some("the".into())),
                ("Winter".into(), Some("the".into())),
            ]
        );
        assert_eq!(
            names("I want the Bank of America hours. Then the Statue of Liberty, and Paris."),
            vec![
                ("Bank of America".into(), Some("the".into())),
                ("Statue of Liberty".into(), Some("the".into())),
                ("Paris".into(), Some("and".into())),
            ]
        );
    }

    #[test]
    fn a_name_is_a_next_request_where_a_joining_word_stands_between_it_and_the_value() {
        let flights = "Book a flight from San Francisco to Tokyo on May 3rd 2022 and another flight from Tokyo to Sydney on May 18th 2022.";
        assert!(written_as_next_request(flights, "Tokyo", "Sydney"));
        assert!(!written_as_next_request(
            "How much will I weigh on Mars if my weight on Earth is 70 kg?",
            "Mars",
            "Earth"
        ));
        assert!(!written_as_next_request(
            "Who was the U.S. president during the Civil War?",
            "Civil War",
            "U.S"
        ));
        assert!(!written_as_next_request(flights, "Tokyo", "Berlin"));
    }

    #[test]
    fn the_word_before_a_value_is_read_where_it_is_first_written() {
        let text = "Book a flight from San Francisco to Tokyo, and another from Tokyo to Sydney.";
        assert_eq!(word_before(text, "Tokyo").as_deref(), Some("to"));
        assert_eq!(word_before(text, "san francisco").as_deref(), Some("from"));
        assert_eq!(word_before(text, "Book"), None);
        assert_eq!(word_before(text, "Berlin"), None);
    }
}
