//! The article of the user's sentence, copied into a value.
//!
//! Asked "Who is the scientist that first proposed the theory of evolution?", a small model
//! fills `discovery: "The theory of evolution."`: the sentence's "the", capitalised as a
//! value's first word, belongs to the sentence, not to the name a lookup would be keyed by
//! ("theory of evolution"). Where the user writes the value only after a lowercase "the",
//! the article is the sentence's; a name the user writes with its own capital "The" ("The
//! Godfather") keeps it. A value that is itself a sentence ("The customer returned it
//! damaged.", a refund's reason) is no name: it is left as the model wrote it.

use serde_json::Value;

use super::repeated::trimmed_strings;

/// For each string argument of `arguments` that starts with "The" or "the" and whose rest
/// the user's `message` writes only after a lowercase "the", the argument and its rest (a
/// full stop the model carried from the sentence's end left out too).
pub fn sentence_articles(message: &str, arguments: &Value) -> Vec<(String, String)> {
    trimmed_strings(arguments, |_, _, text| {
        without_sentence_article(message, text)
    })
}

/// `text` without its leading article where `message` writes the rest only after "the".
fn without_sentence_article(message: &str, text: &str) -> Option<String> {
    let text = text.trim();
    let (article, rest) = text.split_once(char::is_whitespace)?;
    if !article.eq_ignore_ascii_case("the") {
        return None;
    }
    let rest = rest.trim_start().trim_end_matches('.').trim_end();
    if !rest.chars().any(char::is_alphabetic) || reads_as_a_sentence(rest) {
        return None;
    }
    let after = |article: &str| written_after(message, article, rest);
    (after("the") && !after("The")).then(|| rest.to_string())
}

/// The most words a name keyed by a lookup has here ("theory of special relativity").
const MAX_NAME_WORDS: usize = 6;

/// Pronouns a name does not hold and a sentence about someone or something does.
const PRONOUNS: &[&str] = &[
    "i", "me", "my", "we", "us", "our", "you", "your", "he", "him", "his", "she", "her", "it",
    "its", "they", "them", "their",
];

/// Whether `text` reads as a sentence rather than a name: longer than a name, or holding a
/// pronoun.
fn reads_as_a_sentence(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.len() > MAX_NAME_WORDS || words.iter().any(|word| PRONOUNS.contains(&word.as_str()))
}

/// Whether `message` writes `article`, a space and `rest` as whole words.
fn written_after(message: &str, article: &str, rest: &str) -> bool {
    let phrase = format!("{article} {rest}");
    message.match_indices(&phrase).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sentences_article_is_left_out_of_a_value() {
        let message = "Who is the scientist that first proposed the theory of evolution?";
        let arguments = json!({"discovery": "The theory of evolution."});
        assert_eq!(
            sentence_articles(message, &arguments),
            vec![("discovery".to_string(), "theory of evolution".to_string())]
        );
    }

    #[test]
    fn a_name_written_with_its_own_article_keeps_it() {
        let message = "Could you provide a brief about 'The Godfather'? And the Godfather sequel?";
        let arguments = json!({"title": "The Godfather"});
        assert!(sentence_articles(message, &arguments).is_empty());
    }

    #[test]
    fn a_value_the_user_never_wrote_after_the_is_left_alone() {
        let arguments = json!({"artist": "The Beatles", "venue": "Theatre Royal"});
        assert!(sentence_articles("Songs by Beatles at Theatre Royal", &arguments).is_empty());
        // "the Beatlesque" is not "the Beatles".
        assert!(sentence_articles("a song in the Beatlesque style", &arguments).is_empty());
    }

    #[test]
    fn a_sentence_keeps_its_article() {
        let message = "Refund order 12345 in full: the customer returned it damaged.";
        let arguments = json!({"reason": "The customer returned it damaged."});
        assert!(sentence_articles(message, &arguments).is_empty());
        let message = "Log that the parcel from the warehouse in Hangzhou arrived late on Monday";
        let arguments =
            json!({"note": "The parcel from the warehouse in Hangzhou arrived late on Monday"});
        assert!(sentence_articles(message, &arguments).is_empty());
    }

    #[test]
    fn an_article_alone_is_no_value_to_trim() {
        let arguments = json!({"name": "The", "other": "The ."});
        assert!(sentence_articles("the the", &arguments).is_empty());
    }
}
