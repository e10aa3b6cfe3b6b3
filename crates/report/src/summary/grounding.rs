//! The check that a summary's numbers are the document's: every number a point states must be
//! written in the document (as shown, or rounded), in the section the point cites, said of the
//! same name (a subsidiary, a company) and, for a change, in the same direction. The numbers
//! are read as the monthly report's check reads them (`crate::numbers`).

use crate::numbers::{clause, direction_of, ends_clause, numbers_in, Written};

use super::document::DocSection;

/// Small whole numbers ("three risks", "the top 5") are not figures.
const LARGEST_COUNTING_NUMBER: f64 = 10.0;

/// A number of the document, where it was written and what its sentence says of it.
#[derive(Debug, Clone)]
struct SourceNumber {
    value: f64,
    decimals: u32,
    percent: bool,
    section: usize,
    /// The sentence's index in `SourceCheck::sentences`.
    sentence: usize,
    /// Up or down, when its clause says which.
    direction: Option<bool>,
}

/// What is wrong with one number of a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Written nowhere in the document.
    NotInDocument(String),
    /// In the document, but not in the section the point cites.
    NotInSection { number: String, section: String },
    /// Said of `name`, but the document gives it for something else.
    WrongOwner { number: String, name: String },
    /// Called a rise where the document has a fall, or the reverse.
    WrongDirection {
        number: String,
        called: &'static str,
    },
    /// A trend told the other way round from the findings' own words ("net debt fell" where
    /// a finding says it rose), numbers or not.
    Contradicts {
        subject: String,
        called: &'static str,
    },
}

impl Problem {
    /// Whether the number is written nowhere (an invented figure), as against misattributed.
    pub fn is_invented(&self) -> bool {
        matches!(self, Problem::NotInDocument(_))
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotInDocument(n) => write!(f, "{n} is not written anywhere in the document"),
            Problem::NotInSection { number, section } => {
                write!(f, "{number} is not in the section \"{section}\"")
            }
            Problem::WrongOwner { number, name } => {
                write!(f, "{number} is not a figure of {name} in the document")
            }
            Problem::WrongDirection { number, called } => write!(
                f,
                "{number} is called {called}, but the document says the opposite"
            ),
            Problem::Contradicts { subject, called } => write!(
                f,
                "it calls the change in {subject} {called}, but the findings say the opposite"
            ),
        }
    }
}

/// The document's numbers, sentences and names, built once per document.
pub struct SourceCheck {
    numbers: Vec<SourceNumber>,
    /// Each sentence with its section's heading and the document's title, as written.
    sentences: Vec<String>,
    /// Section headings, for messages.
    headings: Vec<String>,
    /// Proper names: capitalized words never written in lower case in the document.
    names: Vec<String>,
    /// Per section: whether it speaks for the whole company.
    headline_sections: Vec<bool>,
}

impl SourceCheck {
    pub fn new(title: &str, sections: &[DocSection]) -> Self {
        let mut numbers = Vec::new();
        let mut sentences = Vec::new();
        for (index, section) in sections.iter().enumerate() {
            for sentence in split_sentences(&section.text) {
                let sentence_index = sentences.len();
                let lower: Vec<char> = sentence.to_lowercase().chars().collect();
                let found = numbers_in(&sentence);
                for (i, n) in found.iter().enumerate() {
                    let from = if i == 0 { 0 } else { found[i - 1].end };
                    let to = found.get(i + 1).map_or(lower.len(), |next| next.start);
                    let direction = n
                        .sign
                        .or_else(|| direction_of(&clause(&lower, from, n.start, n.end, to)));
                    numbers.push(SourceNumber {
                        value: n.value,
                        decimals: n.decimals,
                        percent: n.percent,
                        section: index,
                        sentence: sentence_index,
                        direction,
                    });
                }
                sentences.push(format!("{title}\n{}\n{sentence}", section.heading));
            }
        }
        let names = proper_names(title, sections);
        let title_names: Vec<String> = words_of(title)
            .into_iter()
            .filter(|w| names.contains(w))
            .collect();
        let headline_sections = sections
            .iter()
            .enumerate()
            .map(|(index, section)| {
                let words = words_of(&format!("{} {}", section.heading, section.text));
                index == 0
                    || words.iter().any(|w| {
                        let w = w.trim_end_matches("'s");
                        w == "group" || w == "Group" || title_names.iter().any(|n| n == w)
                    })
            })
            .collect();
        SourceCheck {
            numbers,
            headings: sections.iter().map(|s| s.heading.clone()).collect(),
            names,
            headline_sections,
            sentences,
        }
    }

    /// The document's proper names (places, companies, people).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `section` speaks for the whole company: the document's first section, or one
    /// whose words name the group or the company of the title.
    pub fn is_headline(&self, section: usize) -> bool {
        self.headline_sections
            .get(section)
            .copied()
            .unwrap_or(false)
    }

    /// What is wrong with the numbers of `point`, said to come from the section `cited` (any
    /// section when `None`).
    pub fn problems(&self, point: &str, cited: Option<usize>) -> Vec<Problem> {
        let found = numbers_in(point);
        let lower: Vec<char> = point.to_lowercase().chars().collect();
        let chars: Vec<char> = point.chars().collect();
        let mut problems = Vec::new();
        for (i, n) in found.iter().enumerate() {
            if !n.percent && n.decimals == 0 && n.value <= LARGEST_COUNTING_NUMBER {
                continue;
            }
            let shown = n.shown();
            let written: Vec<&SourceNumber> =
                self.numbers.iter().filter(|s| rounds_to(s, n)).collect();
            if written.is_empty() {
                problems.push(Problem::NotInDocument(shown));
                continue;
            }
            let in_section: Vec<&SourceNumber> = match cited {
                Some(section) => written
                    .iter()
                    .copied()
                    .filter(|s| s.section == section)
                    .collect(),
                None => written,
            };
            if in_section.is_empty() {
                let section = cited
                    .and_then(|c| self.headings.get(c))
                    .cloned()
                    .unwrap_or_default();
                problems.push(Problem::NotInSection {
                    number: shown,
                    section,
                });
                continue;
            }
            let previous_end = if i == 0 { 0 } else { found[i - 1].end };
            let named = self.names_before(&chars, previous_end, n.start);
            let owned: Vec<&SourceNumber> = in_section
                .iter()
                .copied()
                .filter(|s| {
                    named
                        .iter()
                        .all(|name| self.sentences[s.sentence].contains(name.as_str()))
                })
                .collect();
            if owned.is_empty() {
                problems.push(Problem::WrongOwner {
                    number: shown,
                    name: named.join(" "),
                });
                continue;
            }
            if n.percent {
                let from = if i == 0 { 0 } else { found[i - 1].end };
                let to = found.get(i + 1).map_or(lower.len(), |next| next.start);
                let said = n
                    .sign
                    .or_else(|| direction_of(&clause(&lower, from, n.start, n.end, to)));
                if let Some(up) = said {
                    let agrees = owned
                        .iter()
                        .any(|s| s.direction.is_none_or(|source| source == up));
                    if !agrees {
                        let called = if up { "a rise" } else { "a fall" };
                        problems.push(Problem::WrongDirection {
                            number: shown,
                            called,
                        });
                    }
                }
            }
        }
        problems
    }

    /// The document's proper names written in `point`'s clause before the char `at`, after
    /// the number before it (which they belong to).
    fn names_before(&self, chars: &[char], after: usize, at: usize) -> Vec<String> {
        let mut start = at;
        let lower: Vec<char> = chars.iter().flat_map(|c| c.to_lowercase()).collect();
        // `lower` may differ in length for a few scripts; fall back to the whole prefix then.
        if lower.len() == chars.len() {
            while start > after && !ends_clause(&lower, start - 1) {
                start -= 1;
            }
        } else {
            start = after;
        }
        let clause: String = chars[start..at].iter().collect();
        let words = words_of(&clause);
        let mut named: Vec<String> = self
            .names
            .iter()
            .filter(|name| words.iter().any(|w| w == *name))
            .cloned()
            .collect();
        named.dedup();
        named
    }
}

/// Words that say which way a figure moved.
const UP_WORDS: [&str; 11] = [
    "rose",
    "rise",
    "risen",
    "rising",
    "increase",
    "increased",
    "grew",
    "grown",
    "growth",
    "higher",
    "up",
];
const DOWN_WORDS: [&str; 12] = [
    "fell",
    "fall",
    "fallen",
    "falling",
    "decline",
    "declined",
    "decrease",
    "decreased",
    "drop",
    "dropped",
    "lower",
    "down",
];
/// Words that name no subject of a trend.
const FUNCTION_WORDS: [&str; 27] = [
    "the",
    "a",
    "an",
    "of",
    "to",
    "in",
    "at",
    "its",
    "their",
    "and",
    "was",
    "were",
    "is",
    "are",
    "by",
    "for",
    "from",
    "on",
    "with",
    "as",
    "year",
    "percentage",
    "points",
    "per",
    "cent",
    "than",
    "earlier",
];

fn direction_word(word: &str) -> Option<bool> {
    if UP_WORDS.contains(&word) {
        Some(true)
    } else if DOWN_WORDS.contains(&word) {
        Some(false)
    } else {
        None
    }
}

/// A clause's words, lower-cased, possessives dropped, numbers left out.
fn clause_words(clause: &str) -> Vec<String> {
    words_of(&clause.to_lowercase())
        .into_iter()
        .map(|w| w.trim_end_matches("'s").to_string())
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .collect()
}

fn clauses(text: &str) -> Vec<String> {
    split_sentences(text)
        .iter()
        .flat_map(|s| {
            s.split([',', ';', ':'])
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Words of a subject that name it ("net profit" of "net profit attributable to
/// shareholders", "accounts receivable" of "accounts receivable turnover at …").
const SUBJECT_WORDS: usize = 2;

/// The trends the points tell, as (subject words, up): a clause's first direction word and
/// the words before it; a clause whose direction has no words before it ("…, 1.4 percentage
/// points lower") is said of the sentence's subject.
fn trend_claims(points: &[String]) -> Vec<(Vec<String>, bool)> {
    let mut claims = Vec::new();
    for sentence in points.iter().flat_map(|p| split_sentences(p)) {
        let mut carried: Vec<String> = Vec::new();
        for clause in sentence.split([',', ';', ':']) {
            let words = clause_words(clause);
            let at = (0..words.len()).find(|&i| direction_at(&words, i).is_some());
            let subject: Vec<String> = words[..at.unwrap_or(words.len())]
                .iter()
                .filter(|w| !FUNCTION_WORDS.contains(&w.as_str()))
                .take(SUBJECT_WORDS)
                .cloned()
                .collect();
            if let Some(direction) = at.and_then(|i| direction_at(&words, i)) {
                let said_of = if subject.is_empty() {
                    &carried
                } else {
                    &subject
                };
                if !said_of.is_empty() {
                    claims.push((said_of.clone(), direction));
                }
            }
            if carried.is_empty() && !subject.is_empty() {
                carried = subject;
            }
        }
    }
    claims
}

/// The trends `text` tells against those `points` tell: a clause of `text` that names every
/// word of a point's subject (the words before its first direction word) and moves it the
/// other way.
pub fn contradictions(text: &str, points: &[String]) -> Vec<Problem> {
    let claims = trend_claims(points);
    let mut problems = Vec::new();
    for sentence in split_sentences(text) {
        // A clause without a direction word of its own continues the one before it ("growth
        // in revenue, operating cash flow, net profit": all three said to grow).
        let mut carried: Option<bool> = None;
        for clause in sentence.split([',', ';', ':']) {
            let words = clause_words(clause);
            let own = (0..words.len()).find_map(|i| direction_at(&words, i));
            for (subject, direction) in &claims {
                let at: Option<Vec<usize>> = subject
                    .iter()
                    .map(|s| words.iter().position(|w| w == s))
                    .collect();
                let Some(at) = at else { continue };
                let (first, last) = (
                    at.iter().copied().min().unwrap_or(0),
                    at.iter().copied().max().unwrap_or(0),
                );
                // The subject's own verb: the first direction word after it ("net debt
                // rose"), else the nearest before it ("a decline in net debt").
                let said = (last + 1..words.len())
                    .find_map(|i| direction_at(&words, i))
                    .or_else(|| (0..first).rev().find_map(|i| direction_at(&words, i)))
                    .or(carried);
                if let Some(said) = said.filter(|said| said != direction) {
                    let problem = Problem::Contradicts {
                        subject: subject.join(" "),
                        called: if said { "a rise" } else { "a fall" },
                    };
                    if !problems.contains(&problem) {
                        problems.push(problem);
                    }
                }
            }
            carried = own.or(carried);
        }
    }
    problems
}

/// The direction word at `i`, if it is one ("made up" is not a rise).
fn direction_at(words: &[String], i: usize) -> Option<bool> {
    let after_make = i > 0 && ["made", "make", "makes", "making"].contains(&words[i - 1].as_str());
    if words[i] == "up" && after_make {
        return None;
    }
    direction_word(&words[i])
}

/// Whether `text` states a change with its direction ("rose 12.7%", "fell 26%", "up 5%").
pub fn states_change(text: &str) -> bool {
    clauses(text).iter().any(|clause| {
        let words = clause_words(clause);
        clause.contains('%') && (0..words.len()).any(|i| direction_at(&words, i).is_some())
    })
}

/// `source` is what `written` states: the same value as shown, or rounded to fewer decimals;
/// a percentage only where the document wrote one.
fn rounds_to(source: &SourceNumber, written: &Written) -> bool {
    if written.decimals > source.decimals || (written.percent && !source.percent) {
        return false;
    }
    let scale = 10f64.powi(written.decimals as i32);
    (source.value.abs() - written.value).abs() <= 0.5 / scale + 1e-9
}

/// Sentences of a text, at full stops followed by a space or a line end (a point between
/// digits is a decimal point), and at line breaks.
pub(super) fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let next = chars.get(i + 1).copied();
        let ends = match c {
            '\n' => true,
            '.' | '!' | '?' | '。' | '；' => next.is_none_or(char::is_whitespace),
            _ => false,
        };
        if ends {
            if !current.trim().is_empty() {
                out.push(current.trim().to_string());
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Words of a text: letters, digits and inner apostrophes or hyphens ("Xi'an").
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Capitalized words never written in lower case in the document and found somewhere other
/// than a sentence's start (a title, a heading, mid-sentence): the names of places, companies
/// and people ("Lanzhou", "Huaxin"), not words that merely start sentences.
fn proper_names(title: &str, sections: &[DocSection]) -> Vec<String> {
    let mut lower: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut placed: Vec<String> = Vec::new();
    let mut read = |text: &str, skip_first: bool| {
        for (index, word) in words_of(text).into_iter().enumerate() {
            if word.chars().next().is_some_and(char::is_lowercase) {
                lower.insert(word);
            } else if !(skip_first && index == 0) {
                placed.push(word);
            }
        }
    };
    read(title, false);
    for section in sections {
        read(&section.heading, false);
        for sentence in split_sentences(&section.text) {
            read(&sentence, true);
        }
    }
    let mut names: Vec<String> = placed
        .into_iter()
        .filter(|w| {
            w.chars().count() >= 3
                && w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().all(|c| !c.is_ascii_digit())
                && !lower.contains(&w.to_lowercase())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> SourceCheck {
        let doc = [
            DocSection {
                heading: "Financial highlights".into(),
                text: "In 2023 the group's revenue rose 12.7% year on year to 42.8 billion yuan. \
                       Net profit fell 20.2% to 3.0 billion yuan."
                    .into(),
            },
            DocSection {
                heading: "Kunming subsidiary: working capital".into(),
                text: "The team grew to 754 employees. Accounts receivable turnover at the \
                       Kunming subsidiary fell 26% year on year, to 4.7 times."
                    .into(),
            },
            DocSection {
                heading: "Harbin subsidiary: people".into(),
                text: "Staff turnover was 14%, and 31 graduates joined.".into(),
            },
        ];
        SourceCheck::new("Huaxin Electronics Group: annual report 2023", &doc)
    }

    #[test]
    fn figures_of_the_document_pass_as_written_or_rounded() {
        let check = check();
        for fine in [
            "Revenue rose 12.7% to 42.8 billion yuan in 2023.",
            "Huaxin's revenue grew 13% year on year.",
            "The Kunming subsidiary's receivable turnover fell 26%, to 4.7 times.",
            "Net profit dropped 20.2% to 3 billion yuan; three risks stand out.",
        ] {
            assert_eq!(check.problems(fine, None), Vec::<Problem>::new(), "{fine}");
        }
        assert_eq!(
            check.problems("Receivable turnover fell 26%.", Some(1)),
            Vec::<Problem>::new()
        );
    }

    #[test]
    fn invented_misplaced_misattributed_and_reversed_figures_are_named() {
        let check = check();
        assert_eq!(
            check.problems("Revenue rose 15.3% to 42.8 billion yuan.", None),
            [Problem::NotInDocument("15.3%".into())]
        );
        assert!(check.problems("Revenue reached 42.85 billion.", None)[0].is_invented());
        assert_eq!(
            check.problems("Receivable turnover fell 26%.", Some(0)),
            [Problem::NotInSection {
                number: "26%".into(),
                section: "Financial highlights".into()
            }]
        );
        assert_eq!(
            check.problems(
                "At the Harbin subsidiary receivable turnover fell 26%.",
                None
            ),
            [Problem::WrongOwner {
                number: "26%".into(),
                name: "Harbin".into()
            }]
        );
        assert_eq!(
            check.problems("Net profit rose 20.2% to 3.0 billion yuan.", None),
            [Problem::WrongDirection {
                number: "20.2%".into(),
                called: "a rise"
            }]
        );
        assert_eq!(
            check.problems("Staff turnover was 754%.", None),
            [Problem::NotInDocument("754%".into())],
            "a count is not a percentage"
        );
    }

    #[test]
    fn a_trend_told_the_other_way_round_is_a_contradiction() {
        let points = [
            "Net debt rose to 3.7 times EBITDA from 2.7 a year earlier.".to_string(),
            "Net profit attributable to shareholders fell 20.2% to 3.0 billion yuan.".to_string(),
            "The gross margin was 15.7%, 1.7 percentage points lower than a year earlier."
                .to_string(),
        ];
        assert_eq!(
            contradictions(
                "The report shows the group's decline in net debt, and growth.",
                &points
            ),
            [Problem::Contradicts {
                subject: "net debt".into(),
                called: "a fall"
            }]
        );
        assert_eq!(
            contradictions(
                "Net profit attributable to shareholders rose sharply.",
                &points
            )
            .len(),
            1
        );
        for fine in [
            "Net debt rose while net profit attributable to shareholders fell.",
            "Net debt rose, while the gross margin was lower.",
            "The margin and revenue are discussed.",
            "Revenue rose.",
        ] {
            assert_eq!(
                contradictions(fine, &points),
                Vec::<Problem>::new(),
                "{fine}"
            );
        }
    }

    #[test]
    fn names_are_the_capitalized_words_never_written_in_lower_case() {
        let section = |heading: &str, text: &str| DocSection {
            heading: heading.into(),
            text: text.into(),
        };
        let names = proper_names(
            "Acme annual report",
            &[
                section(
                    "Kunming subsidiary",
                    "Net profit rose. Revenue rose; revenue fell.",
                ),
                section(
                    "Outlook",
                    "Growth returns in the Xi'an team. Staff were hired.",
                ),
            ],
        );
        assert_eq!(names, ["Acme", "Kunming", "Outlook", "Xi'an"]);
    }
}
