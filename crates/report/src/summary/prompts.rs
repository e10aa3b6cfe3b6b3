//! The questions the summary asks the model, and the JSON schemas of their answers.

use serde_json::{json, Value};

use super::document::DocSection;
use super::model::Ask;
use super::salience::Candidate;

/// The task when the caller gives none.
pub const DEFAULT_TASK: &str = "the key financial indicators and their trends, and the risks";

/// Longest finding or point, in characters.
const FINDING_CHARS: u64 = 200;
/// Longest overview, in characters.
const OVERVIEW_CHARS: u64 = 500;

/// A sentence's labels with their JSON.
pub const MAP_TOKENS_PER_SENTENCE: u32 = 16;
pub const FIX_TOKENS: u32 = 160;
pub const OVERVIEW_TOKENS: u32 = 180;
pub const WHOLE_TOKENS: u32 = 1_400;

fn reader_rules(task: &str) -> String {
    format!(
        "You read a company document for a manager who will not read it. The task: {task}. \
         Each finding is one short sentence about one thing (one indicator and its trend, or \
         one risk) that names whose figure it is (the group, or which subsidiary or unit), \
         copies its numbers exactly as the text writes them and keeps their direction (rose, \
         fell). Never compute, add or estimate a number. \
         A risk is anything that could hurt future results: a falling turnover or margin, \
         rising debt or borrowing, dependence on one customer, slower collection of \
         receivables. Routine figures that are neither key indicators nor risks are not \
         findings."
    )
}

fn finding_schema(sections: usize, max_items: usize) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "section".into(),
        json!({"type": "integer", "enum": (1..=sections).collect::<Vec<_>>()}),
    );
    properties.insert(
        "finding".into(),
        json!({"type": "string", "minLength": 10, "maxLength": FINDING_CHARS}),
    );
    let required = ["section", "finding"];
    json!({
        "type": "array",
        "maxItems": max_items,
        "items": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        },
    })
}

fn numbered(entries: impl Iterator<Item = (String, String)>) -> String {
    entries
        .enumerate()
        .map(|(i, (heading, text))| format!("[{}] {heading}\n{text}", i + 1))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The question for one part: labels for each of its sentences (shown numbered, under their
/// sections' headings).
pub fn map_ask(
    task: &str,
    title: &str,
    sections: &[DocSection],
    sentences: &[Candidate],
    index: usize,
    count: usize,
) -> Ask {
    let mut body = String::new();
    let mut shown_section = None;
    for (number, sentence) in sentences.iter().enumerate() {
        if shown_section != Some(sentence.section) {
            body.push_str(&format!("\n## {}\n", sections[sentence.section].heading));
            shown_section = Some(sentence.section);
        }
        body.push_str(&format!("[{}] {}\n", number + 1, sentence.text));
    }
    let n = sentences.len();
    Ask {
        system: format!(
            "You read sentences of a long company document for a manager who will not read it. \
             The task: {task}. For every numbered sentence, in order, say two things. \
             \"figure\": \"key\" if it gives one of the whole company's key figures or their \
             trend (revenue, profit, cash flow, margin, debt), else \"routine\". \"news\": \
             \"bad\" if it tells of something that could hurt future results (a falling \
             turnover or margin, rising debt or borrowing, dependence on one customer, slower \
             collection of receivables, a fall in profit), \"good\" if it tells of \
             something that helps them, else \"neutral\"."
        ),
        user: format!("Part {index} of {count} of \"{title}\".\n{body}"),
        schema: json!({
            "type": "object",
            "properties": {"labels": {
                "type": "array",
                "minItems": n,
                "maxItems": n,
                "items": {
                    "type": "object",
                    "properties": {
                        "figure": {"enum": ["key", "routine"]},
                        "news": {"enum": ["bad", "good", "neutral"]},
                    },
                    "required": ["figure", "news"],
                    "additionalProperties": false,
                },
            }},
            "required": ["labels"],
            "additionalProperties": false,
        }),
        max_tokens: MAP_TOKENS_PER_SENTENCE * n as u32 + 16,
    }
}

/// The question for the whole document at once.
pub fn whole_ask(
    task: &str,
    title: &str,
    sections: &[DocSection],
    indicators: usize,
    risks: usize,
) -> Ask {
    let body = numbered(sections.iter().map(|s| (s.heading.clone(), s.text.clone())));
    Ask {
        system: format!(
            "{} Write an overview of two to four sentences, then the {indicators} most important \
             indicators and the {risks} most serious risks, each citing the number of the \
             section it comes from.",
            reader_rules(task)
        ),
        user: format!("\"{title}\"\n\n{body}"),
        schema: json!({
            "type": "object",
            "properties": {
                "overview": {"type": "string", "maxLength": OVERVIEW_CHARS},
                "indicators": finding_schema(sections.len(), indicators),
                "risks": finding_schema(sections.len(), risks),
            },
            "required": ["overview", "indicators", "risks"],
            "additionalProperties": false,
        }),
        max_tokens: WHOLE_TOKENS,
    }
}

/// The question that sends a finding back with what was wrong with its numbers.
pub fn fix_ask(task: &str, section: &DocSection, finding: &str, wrong: &[String]) -> Ask {
    Ask {
        system: format!(
            "{} You are correcting one finding: write it again from the section below, with \
             only numbers the section writes, said of what it says they are of, in the same \
             direction; leave out a number you cannot find there.",
            reader_rules(task)
        ),
        user: format!(
            "Section \"{}\":\n{}\n\nFinding: {finding}\nWhat is wrong: {}.",
            section.heading,
            section.text,
            wrong.join("; ")
        ),
        schema: json!({
            "type": "object",
            "properties": {"finding": {"type": "string", "minLength": 10, "maxLength": FINDING_CHARS}},
            "required": ["finding"],
            "additionalProperties": false,
        }),
        max_tokens: FIX_TOKENS,
    }
}

/// The question for the overview, from the chosen findings; `draft` and `wrong` send a draft
/// back.
pub fn overview_ask(
    task: &str,
    title: &str,
    points: &[String],
    draft: Option<(&str, &[String])>,
) -> Ask {
    let list = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}. {p}", i + 1))
        .collect::<Vec<_>>()
        .join("\n");
    let mut user = format!("Document: \"{title}\"\nTask: {task}\n\nFindings:\n{list}");
    if let Some((draft, wrong)) = draft {
        user.push_str(&format!(
            "\n\nYour draft: {draft}\nWhat is wrong: {}. Write it again.",
            wrong.join("; ")
        ));
    }
    Ask {
        system: "You write the opening paragraph of a document's summary for managers: two or \
                 three short sentences on the key financial indicators, their trends and the \
                 main risks, using only the findings given. Copy each number exactly as a finding \
                 writes it and say whose it is; never compute or estimate a number."
            .into(),
        user,
        schema: json!({
            "type": "object",
            "properties": {"overview": {"type": "string", "minLength": 20, "maxLength": OVERVIEW_CHARS}},
            "required": ["overview"],
            "additionalProperties": false,
        }),
        max_tokens: OVERVIEW_TOKENS,
    }
}
