//! The choices a user names for one argument: "the status and the trial date", "for the last
//! six months, the last year and the last five years", "(AA), (Aa) and (aa)".
//!
//! Asked for the same thing under several of an enum's values, a small model makes the call
//! for the first value and stops; asked for another call it copies the first. Where the
//! user's message names, each on its own, the value a call chose and other values of the same
//! enum that no call chose, each of those is the same call again with that value (see
//! `checked`).

use serde_json::Value;

use super::grounding::{latin_word_char, name_words, plural_of, property};

/// The words of one user's message, read once.
#[derive(Debug, Clone, Default)]
pub struct NamedChoices {
    /// The message's words as written.
    words: Vec<String>,
    /// The same, lowercased.
    lowercase: Vec<String>,
}

impl NamedChoices {
    pub fn new(message: &str) -> Self {
        let words: Vec<String> = message
            .split(|c: char| !latin_word_char(c))
            .filter(|word| !word.is_empty())
            .map(str::to_string)
            .collect();
        let lowercase = words.iter().map(|word| word.to_lowercase()).collect();
        NamedChoices { words, lowercase }
    }

    /// For each string enum argument of `arguments` (a call of a tool with parameter schema
    /// `schema`): the values of its enum the message names on their own and `chosen` (the
    /// values calls of this function already gave the argument) lacks, when the message
    /// names the call's own value on its own too. The argument and the other values, in the
    /// enum's order.
    pub fn others_named(
        &self,
        arguments: &Value,
        schema: &Value,
        chosen: &dyn Fn(&str) -> Vec<Value>,
    ) -> Vec<(String, Vec<Value>)> {
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        let mut others = Vec::new();
        for (argument, value) in arguments {
            let Some(value) = value.as_str() else {
                continue;
            };
            let Some(choices) = property(schema, argument)
                .and_then(|p| p.get("enum"))
                .and_then(Value::as_array)
                .and_then(|choices| {
                    choices
                        .iter()
                        .map(Value::as_str)
                        .collect::<Option<Vec<&str>>>()
                })
            else {
                continue;
            };
            let named = self.named_on_their_own(&choices);
            if !named.contains(&value) {
                continue;
            }
            let chosen = chosen(argument);
            let unchosen: Vec<Value> = named
                .into_iter()
                .filter(|choice| !chosen.iter().any(|c| c.as_str() == Some(choice)))
                .map(|choice| Value::String(choice.to_string()))
                .collect();
            if !unchosen.is_empty() {
                others.push((argument.clone(), unchosen));
            }
        }
        others
    }

    /// The `choices` the message names on their own: all of a choice's words, in order, at
    /// a place no longer choice's words cover ("five years" names `five_years`, not `year`;
    /// "like new" names `Like New`, not `New`). Case counts where two choices differ by case
    /// alone (`AA`, `Aa`, `aa`). Choices of one-letter words or of digits alone name nothing
    /// that can be told.
    fn named_on_their_own<'a>(&self, choices: &[&'a str]) -> Vec<&'a str> {
        let by_case = has_case_pairs(choices);
        let words: Vec<Vec<String>> = choices
            .iter()
            .map(|choice| choice_words(choice, by_case))
            .collect();
        let text = if by_case {
            &self.words
        } else {
            &self.lowercase
        };
        let places: Vec<Vec<(usize, usize)>> =
            words.iter().map(|words| places(text, words)).collect();
        choices
            .iter()
            .enumerate()
            .filter(|(index, _)| tellable(&words[*index]))
            .filter(|(index, _)| {
                places[*index].iter().any(|&(start, end)| {
                    !words.iter().enumerate().any(|(other, other_words)| {
                        other != *index
                            && other_words.len() > words[*index].len()
                            && places[other].iter().any(|&(s, e)| s <= start && end <= e)
                    })
                })
            })
            .map(|(_, choice)| *choice)
            .collect()
    }
}

/// Whether two of `choices` differ by case alone.
fn has_case_pairs(choices: &[&str]) -> bool {
    choices.iter().enumerate().any(|(index, choice)| {
        choices[index + 1..]
            .iter()
            .any(|other| other != choice && other.to_lowercase() == choice.to_lowercase())
    })
}

/// The words of a choice: split as names are (`trial_date`, `sixMonths`), lowercased unless
/// `by_case`.
fn choice_words(choice: &str, by_case: bool) -> Vec<String> {
    if by_case {
        choice
            .split(|c: char| !latin_word_char(c))
            .filter(|word| !word.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        name_words(choice)
    }
}

fn tellable(words: &[String]) -> bool {
    !words.is_empty()
        && !words
            .iter()
            .all(|word| word.chars().count() < 2 || word.chars().all(|c| c.is_ascii_digit()))
}

/// Where `words` stand in `text` one after another (a word or its plural), as word ranges.
fn places(text: &[String], words: &[String]) -> Vec<(usize, usize)> {
    if words.is_empty() || words.len() > text.len() {
        return Vec::new();
    }
    (0..=text.len() - words.len())
        .filter(|&start| {
            words
                .iter()
                .zip(&text[start..])
                .all(|(word, written)| word == written || plural_of(written, word))
        })
        .map(|start| (start, start + words.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(choices: &[&str]) -> Value {
        json!({"type": "object", "properties": {
            "place": {"type": "string"},
            "kind": {"type": "string", "enum": choices}
        }})
    }

    fn others(message: &str, choices: &[&str], value: &str) -> Vec<(String, Vec<Value>)> {
        NamedChoices::new(message).others_named(
            &json!({"place": "Amazon", "kind": value}),
            &schema(choices),
            &|_| vec![json!(value)],
        )
    }

    #[test]
    fn the_other_choices_a_message_names_are_found_by_their_words() {
        let periods = ["six_months", "year", "five_years"];
        assert_eq!(
            others(
                "Rain in the Amazon for the last six months, the last year, and the last five years?",
                &periods,
                "six_months"
            ),
            vec![("kind".to_string(), vec![json!("year"), json!("five_years")])]
        );
        assert_eq!(
            others(
                "Rain in the Amazon for the past year and then for the past five years?",
                &periods,
                "year"
            ),
            vec![("kind".to_string(), vec![json!("five_years")])]
        );
        assert_eq!(
            others(
                "What is the status and scheduled trial date of case XY1234?",
                &["status", "trial_date", "verdict"],
                "status"
            ),
            vec![("kind".to_string(), vec![json!("trial_date")])]
        );
    }

    #[test]
    fn a_choice_inside_a_longer_one_or_the_calls_own_unnamed_choice_finds_nothing() {
        // "five years" names five_years alone; "like new" names Like New alone.
        let periods = ["six_months", "year", "five_years"];
        assert!(others("Rain for the last five years", &periods, "five_years").is_empty());
        assert!(others(
            "Value a 1985 game like new",
            &["New", "Like New", "Used"],
            "New"
        )
        .is_empty());
        // The call's own value is not named: the message says nothing of several.
        assert!(others("Rain for the last year", &periods, "six_months").is_empty());
    }

    #[test]
    fn choices_that_differ_by_case_are_told_by_case() {
        let genotypes = ["AA", "Aa", "aa"];
        assert_eq!(
            others(
                "The frequency of the dominant (AA), heterozygous (Aa) and recessive (aa) genotypes",
                &genotypes,
                "AA"
            ),
            vec![("kind".to_string(), vec![json!("Aa"), json!("aa")])]
        );
        assert!(others(
            "The frequency of the AA genotype, given that allele A is at 0.3",
            &genotypes,
            "AA"
        )
        .is_empty());
    }

    #[test]
    fn choices_already_chosen_and_choices_of_letters_or_digits_are_not_asked_again() {
        let named = NamedChoices::new("status and trial date of both cases");
        let found = named.others_named(
            &json!({"kind": "status"}),
            &schema(&["status", "trial_date"]),
            &|_| vec![json!("status"), json!("trial_date")],
        );
        assert!(found.is_empty());
        assert!(others("sizes 1 and 2", &["1", "2", "3"], "1").is_empty());
        assert!(others("grades A and B", &["A", "B", "C"], "A").is_empty());
    }
}
