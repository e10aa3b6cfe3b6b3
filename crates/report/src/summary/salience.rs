//! Which sentences of a long document are worth the model's reading: those that state a
//! figure and are not boilerplate. A sentence whose shape (its words with the figures and
//! proper names masked) recurs elsewhere in the document is routine reporting repeated unit by
//! unit ("Online orders made up 6% of sales" in forty sections); a distinctive sentence with a
//! figure is where headline numbers and one-off risks sit. In a document with no repetition
//! every sentence with a figure is a candidate.

use std::collections::HashMap;

use crate::numbers::numbers_in;

use super::document::DocSection;
use super::grounding::split_sentences;
pub use super::grounding::states_change;

/// A sentence the model is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub section: usize,
    pub text: String,
}

/// The distinctive sentences with a figure, in document order.
pub fn candidates(sections: &[DocSection], names: &[String]) -> Vec<Candidate> {
    let sentences: Vec<(usize, String)> = sections
        .iter()
        .enumerate()
        .flat_map(|(index, section)| {
            split_sentences(&section.text)
                .into_iter()
                .map(move |sentence| (index, sentence))
        })
        .collect();
    let shaped: Vec<String> = sentences.iter().map(|(_, s)| shape(s, names)).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for shape in &shaped {
        *counts.entry(shape.as_str()).or_default() += 1;
    }
    sentences
        .into_iter()
        .zip(&shaped)
        .filter(|((_, sentence), shape)| counts[shape.as_str()] == 1 && has_figure(sentence))
        .map(|((section, text), _)| Candidate { section, text })
        .collect()
}

/// A number that is a figure: not a year, not a small count.
fn has_figure(sentence: &str) -> bool {
    numbers_in(sentence).iter().any(|n| {
        let year = n.decimals == 0 && !n.percent && (1900.0..=2100.0).contains(&n.value);
        let count = n.decimals == 0 && !n.percent && n.value <= 10.0;
        !year && !count
    })
}

/// Words of a sentence's opening that make its shape: routine sentences repeated unit by unit
/// open alike even where their ends differ ("Like-for-like sales rose 20% with trade-in
/// campaigns as the main driver").
const SHAPE_WORDS: usize = 4;

/// The sentence's opening words, lower-cased, with numbers as `#` and proper names as `@`.
fn shape(sentence: &str, names: &[String]) -> String {
    let mut masked = String::new();
    let mut in_number = false;
    for c in sentence.chars() {
        if c.is_ascii_digit() || (in_number && matches!(c, ',' | '.')) {
            if !in_number {
                masked.push('#');
            }
            in_number = c.is_ascii_digit() || in_number;
            continue;
        }
        in_number = false;
        masked.push(c);
    }
    masked
        .split_whitespace()
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
            if names.iter().any(|name| name == bare) {
                "@".to_string()
            } else {
                word.to_lowercase()
            }
        })
        .take(SHAPE_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_a_percentage_with_its_direction() {
        assert!(states_change("Revenue rose 12.7% to 42.8 billion yuan."));
        assert!(states_change(
            "Turnover at Kunming fell 26% year on year, to 4.7 times."
        ));
        assert!(!states_change("Online orders made up 38% of sales."));
        assert!(!states_change("Net debt was 3.4 times EBITDA."));
    }

    #[test]
    fn repeated_shapes_and_sentences_without_figures_are_left_out() {
        let section = |heading: &str, text: &str| DocSection {
            heading: heading.into(),
            text: text.into(),
        };
        let doc = [
            section(
                "Highlights",
                "In 2023 revenue rose 12.7% to 42.8 billion yuan. We thank our staff.",
            ),
            section(
                "Harbin",
                "Online orders made up 6% of sales, led by the app. The Harbin team won 3 awards.",
            ),
            section(
                "Kunming",
                "Online orders made up 33% of sales. The Kunming team won 4 awards. \
                 Receivable turnover at Kunming fell 17% year on year.",
            ),
            section("Outlook", "In 2024 we will open fewer outlets."),
        ];
        let names = vec!["Harbin".to_string(), "Kunming".to_string()];
        let found: Vec<String> = candidates(&doc, &names)
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(
            found,
            [
                "In 2023 revenue rose 12.7% to 42.8 billion yuan.",
                "Receivable turnover at Kunming fell 17% year on year."
            ]
        );
    }
}
