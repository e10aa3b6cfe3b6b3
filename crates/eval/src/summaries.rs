//! The long-document summary set of `fulcrum eval summaries` (`eval/summaries`, written by
//! `eval/summaries/generate.py`): generated annual reports with planted facts, and the grade of
//! a summary of one — planted items covered, numbers invented (written nowhere in the report),
//! numbers misattributed (said of another subsidiary, or as a rise where the report has a
//! fall). Independent of the summarizer's own check: it reads the numbers itself.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::EvalError;

/// Whole numbers up to this, with no decimals or percent sign, are counts ("three risks"),
/// list markers or the like, not figures.
const LARGEST_COUNT: f64 = 10.0;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SummaryCase {
    pub id: String,
    /// The report's path, relative to the set's folder.
    pub file: String,
    pub title: String,
    /// The group (first) and its subsidiaries' cities.
    pub entities: Vec<String>,
    pub items: Vec<PlantedItem>,
}

/// A fact a good summary carries: a sentence with one of `keywords` and one of `numbers`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PlantedItem {
    pub id: String,
    /// `indicator` or `risk`.
    pub kind: String,
    pub label: String,
    pub numbers: Vec<f64>,
    pub keywords: Vec<String>,
    pub entity: String,
    pub direction: String,
    /// A single sentence deep in the report's middle.
    pub deep: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SummaryGrade {
    /// Ids of the planted items the summary carries, and of those it misses.
    pub covered: Vec<String>,
    pub missed: Vec<String>,
    /// Numbers written nowhere in the report, as the summary writes them.
    pub invented: Vec<String>,
    /// Numbers of the report said of another entity or in the other direction.
    pub misattributed: Vec<String>,
}

impl SummaryGrade {
    pub fn deep_covered(&self, case: &SummaryCase) -> bool {
        case.items
            .iter()
            .filter(|item| item.deep)
            .all(|item| self.covered.contains(&item.id))
    }
}

/// Reads the set's cases, one JSON object per line.
pub fn load_cases(path: &Path) -> Result<Vec<SummaryCase>, EvalError> {
    crate::data::read_lines(path)
}

/// A number as written: value, decimals, percent, and where (char offsets).
#[derive(Debug, Clone, PartialEq)]
struct Figure {
    text: String,
    value: f64,
    decimals: u32,
    percent: bool,
    start: usize,
}

fn figures(text: &str) -> Vec<Figure> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let glued = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '.');
        if !chars[i].is_ascii_digit() || glued {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = String::new();
        let mut decimals = 0;
        while i < chars.len() {
            let c = chars[i];
            let digit_follows = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                digits.push(c);
                if digits.contains('.') {
                    decimals += 1;
                }
            } else if c == '.' && digit_follows && !digits.contains('.') {
                digits.push('.');
            } else if !(c == ',' && digit_follows && !digits.contains('.')) {
                break;
            }
            i += 1;
        }
        if chars.get(i).is_some_and(|c| c.is_alphabetic()) {
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 9)].iter().collect();
        let percent = rest.starts_with('%') || rest.trim_start().starts_with("percent");
        if let Ok(value) = digits.parse::<f64>() {
            found.push(Figure {
                text: chars[start..i].iter().collect(),
                value,
                decimals,
                percent,
                start,
            });
        }
    }
    found
}

/// `written` states `source`: the same value, or it rounded to `written`'s decimals.
fn states(written: &Figure, source: f64) -> bool {
    let scale = 10f64.powi(written.decimals as i32);
    (source - written.value).abs() <= 0.5 / scale + 1e-9
}

/// Sentences with the heading of the section they sit in.
fn source_sentences(text: &str) -> Vec<(String, String)> {
    let mut heading = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix('#') {
            heading = title.trim_start_matches('#').trim().to_string();
            continue;
        }
        for sentence in sentences(line) {
            out.push((heading.clone(), sentence));
        }
    }
    out
}

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let ends = matches!(c, '.' | '!' | '?' | ';' | '。')
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if ends || c == '\n' {
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

/// The summary's own words: citations `(§ …)` and list markers taken out.
fn summary_sentences(summary: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in summary.lines() {
        let mut line = line.trim().to_string();
        while let Some(open) = line.find("(§") {
            let close = line[open..].find(')').map_or(line.len(), |c| open + c + 1);
            line.replace_range(open..close, "");
        }
        let marker = line
            .char_indices()
            .take_while(|(_, c)| c.is_ascii_digit())
            .last()
            .map(|(i, _)| i + 1);
        if let Some(end) = marker {
            if line[end..].starts_with(". ") || line[end..].starts_with(") ") {
                line = line[end + 1..].to_string();
            }
        }
        let line = line.trim_start_matches(['-', '*', '#', ' ']);
        out.extend(sentences(line));
    }
    out
}

fn direction(clause: &str) -> Option<bool> {
    let lower = clause.to_lowercase();
    let up = [
        "rose", "rise", "increase", "grew", "growth", "higher", "up ",
    ];
    let down = [
        "fell", "fall", "decrease", "declin", "drop", "lower", "down",
    ];
    match (
        up.iter().any(|w| lower.contains(w)),
        down.iter().any(|w| lower.contains(w)),
    ) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// The words around a number up to the nearest comma, semicolon or number on each side.
fn clause_around(sentence: &str, figure: &Figure, all: &[Figure]) -> String {
    let chars: Vec<char> = sentence.chars().collect();
    let before = all
        .iter()
        .filter(|f| f.start < figure.start)
        .map(|f| f.start + f.text.chars().count())
        .max()
        .unwrap_or(0);
    let after = all
        .iter()
        .filter(|f| f.start > figure.start)
        .map(|f| f.start)
        .min()
        .unwrap_or(chars.len());
    let mut left = figure.start;
    while left > before && !matches!(chars[left - 1], ',' | ';' | ':') {
        left -= 1;
    }
    let mut right = figure.start;
    while right < after && !matches!(chars[right], ',' | ';' | ':') {
        right += 1;
    }
    chars[left..right].iter().collect()
}

/// The entities named in `text`: the group by its full name or first word, a city by name.
fn named(case: &SummaryCase, text: &str) -> Vec<usize> {
    case.entities
        .iter()
        .enumerate()
        .filter(|(_, entity)| {
            let first = entity.split_whitespace().next().unwrap_or(entity);
            contains_word(text, entity) || contains_word(text, first)
        })
        .map(|(i, _)| i)
        .collect()
}

fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Grades `summary` of the report `source`.
pub fn grade_summary(case: &SummaryCase, source: &str, summary: &str) -> SummaryGrade {
    let source = source_sentences(source);
    let source_figures: Vec<(usize, Figure, Option<bool>)> = source
        .iter()
        .enumerate()
        .flat_map(|(index, (_, sentence))| {
            let all = figures(sentence);
            all.iter()
                .map(|f| {
                    (
                        index,
                        f.clone(),
                        direction(&clause_around(sentence, f, &all)),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut grade = SummaryGrade::default();
    let written = summary_sentences(summary);
    for item in &case.items {
        let carried = written.iter().any(|sentence| {
            let lower = sentence.to_lowercase();
            item.keywords
                .iter()
                .any(|k| lower.contains(&k.to_lowercase()))
                && figures(sentence)
                    .iter()
                    .any(|f| item.numbers.iter().any(|n| states(f, *n)))
        });
        if carried {
            grade.covered.push(item.id.clone());
        } else {
            grade.missed.push(item.id.clone());
        }
    }
    for sentence in &written {
        let all = figures(sentence);
        let names: Vec<usize> = named(case, sentence)
            .into_iter()
            .filter(|&i| i != 0) // the group owns every figure of its report
            .collect();
        for figure in &all {
            if !figure.percent && figure.decimals == 0 && figure.value <= LARGEST_COUNT {
                continue;
            }
            let shown = format!("{}{}", figure.text, if figure.percent { "%" } else { "" });
            let occurrences: Vec<&(usize, Figure, Option<bool>)> = source_figures
                .iter()
                .filter(|(_, f, _)| states(figure, f.value) && (!figure.percent || f.percent))
                .collect();
            if occurrences.is_empty() {
                grade.invented.push(shown);
                continue;
            }
            let owned: Vec<&&(usize, Figure, Option<bool>)> = occurrences
                .iter()
                .filter(|(index, _, _)| {
                    let (heading, text) = &source[*index];
                    let context = format!("{heading} {text}");
                    names.iter().all(|&i| named(case, &context).contains(&i))
                })
                .collect();
            let said = direction(&clause_around(sentence, figure, &all));
            let agrees = owned
                .iter()
                .any(|(_, _, d)| said.is_none() || d.is_none() || *d == said);
            if owned.is_empty() || !agrees {
                grade.misattributed.push(shown);
            }
        }
    }
    grade
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "# Huaxin Electronics Group: annual report 2023\n\n\
        ## Financial highlights\n\n\
        In 2023 the group's revenue rose 12.7% year on year to 42.8 billion yuan. Net profit \
        fell 20.2% to 3.0 billion yuan.\n\n\
        ## Kunming subsidiary: working capital\n\n\
        The team grew to 754 employees. Accounts receivable turnover at the Kunming subsidiary \
        fell 26% year on year, to 4.7 times.\n\n\
        ## Harbin subsidiary: people\n\nStaff turnover was 14%.\n";

    fn case() -> SummaryCase {
        let item = |id: &str, numbers: Vec<f64>, keywords: &[&str], deep: bool| PlantedItem {
            id: id.into(),
            kind: "risk".into(),
            label: id.into(),
            numbers,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            entity: String::new(),
            direction: "down".into(),
            deep,
        };
        SummaryCase {
            id: "t".into(),
            file: "t.md".into(),
            title: "t".into(),
            entities: vec![
                "Huaxin Electronics".into(),
                "Kunming".into(),
                "Harbin".into(),
            ],
            items: vec![
                item("revenue", vec![42.8, 12.7], &["revenue", "sales"], false),
                item("net-profit", vec![3.0, 20.2], &["profit"], false),
                item("receivables", vec![26.0, 4.7], &["receivable"], true),
            ],
        }
    }

    #[test]
    fn a_faithful_summary_covers_its_items_and_invents_nothing() {
        let summary = "# Summary\n\nHuaxin's revenue rose 13% to 42.8 billion yuan in 2023.\n\n\
            ## Risks\n\n1. The Kunming subsidiary's receivable turnover fell 26% year on year \
            (§ Kunming subsidiary: working capital)\n";
        let grade = grade_summary(&case(), REPORT, summary);
        assert_eq!(grade.covered, ["revenue", "receivables"]);
        assert_eq!(grade.missed, ["net-profit"]);
        assert!(grade.invented.is_empty(), "{grade:?}");
        assert!(grade.misattributed.is_empty(), "{grade:?}");
        assert!(grade.deep_covered(&case()));
    }

    #[test]
    fn invented_and_misattributed_numbers_are_counted() {
        let summary = "- Net profit rose 20.2% to 3.0 billion yuan.\n\
            - Receivable turnover at Harbin fell 26%.\n\
            - Revenue reached 44.1 billion yuan, 15% more.\n";
        let grade = grade_summary(&case(), REPORT, summary);
        assert_eq!(grade.invented, ["44.1", "15%"]);
        assert_eq!(grade.misattributed, ["20.2%", "26%"]);
        assert_eq!(
            grade.covered,
            ["net-profit", "receivables"],
            "carried, if wrongly"
        );
    }

    #[test]
    fn figures_keep_decimals_and_skip_names() {
        let found: Vec<(String, u32, bool)> = figures("S24 sold 1,204.5 units, up 3% (2023).")
            .into_iter()
            .map(|f| (f.text, f.decimals, f.percent))
            .collect();
        assert_eq!(
            found,
            [
                ("1,204.5".to_string(), 1, false),
                ("3".to_string(), 0, true),
                ("2023".to_string(), 0, false)
            ]
        );
    }
}
