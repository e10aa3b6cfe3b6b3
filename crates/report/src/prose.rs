//! The model writes each section from the facts it is shown; every number it writes must be
//! one of those facts. A section that invents or miscopies a number is written again, told
//! which numbers were wrong, and after the last attempt kept but marked for review.

use std::sync::Arc;

use fulcrum_chat::{ChatTemplate, Message, RenderOptions};
use fulcrum_engine::{Backend, GenerationRequest};
use serde::Serialize;

use crate::error::ReportError;
use crate::facts::Facts;
use crate::numbers::NumberCheck;
use crate::strategy::{cited_ids, passage_id, without_citations, without_figures, Citation};
use crate::template::SectionSpec;
use crate::wording::fact_lines;
use fulcrum_retrieval::Passage;

/// Attempts per section before it is marked for review.
pub const ATTEMPTS: usize = 3;

const SYSTEM: &str = "You write one section of a company's monthly sales report for \
managers, in full sentences of your own. Use only the facts you are given. When you give a \
number, copy it exactly as the facts write it and keep its meaning: a share of revenue stays a \
share, a change from the month before stays that, a change from the same month last year stays \
that, and a negative change is a fall. Never compute, add or estimate a number. No heading, no \
list, no table.";

/// One worked example, shown to the model as an earlier exchange: small models follow a turn
/// they can see answered better than an example described in the system message.
const EXAMPLE_REQUEST: &str = "Report period: June 2023.\nSection: Regional performance\n\n\
What to write: Describe which regions sold the most and which grew or shrank year on year, in \
two sentences.\n\nFacts:\n- North (region): 1.20 million CNY, 40.0% of revenue, +5.0% year on \
year\n- West (region): 0.45 million CNY, 15.0% of revenue, -2.5% year on year";
const EXAMPLE_SECTION: &str = "North led the regions with 1.20 million CNY, 40.0% of revenue, up \
5.0% year on year. West was the smallest at 0.45 million CNY and fell 2.5% year on year.";

/// Something that turns a system and a user message into text.
pub trait ProseModel: Send + Sync {
    fn complete(&self, system: &str, user: &str) -> Result<String, ReportError>;
}

/// The served model: its chat template, greedy decoding.
pub struct EngineProse {
    backend: Arc<dyn Backend>,
    template: Arc<ChatTemplate>,
    max_tokens: u32,
    /// The user the report is written for: the engine serves waiting requests in turn across
    /// users, and the server charges the tokens to them.
    caller: Option<String>,
}

impl EngineProse {
    pub fn new(backend: Arc<dyn Backend>, template: Arc<ChatTemplate>) -> Self {
        EngineProse {
            backend,
            template,
            max_tokens: 200,
            caller: None,
        }
    }

    /// Sections written for `user`.
    pub fn for_caller(mut self, user: &str) -> Self {
        self.caller = Some(user.to_string());
        self
    }
}

impl ProseModel for EngineProse {
    fn complete(&self, system: &str, user: &str) -> Result<String, ReportError> {
        let messages = [
            Message::system(system),
            Message::user(EXAMPLE_REQUEST),
            Message::assistant(EXAMPLE_SECTION),
            Message::user(user),
        ];
        let prompt = self
            .template
            .render(
                &messages,
                &[],
                &RenderOptions {
                    add_generation_prompt: true,
                    extra: serde_json::Map::new(),
                },
            )
            .map_err(|err| ReportError::Model(err.to_string()))?;
        let request = GenerationRequest {
            caller: self.caller.clone(),
            ..GenerationRequest::greedy(prompt, self.max_tokens)
        };
        let mut stream = self
            .backend
            .generate(request)
            .map_err(|err| ReportError::Model(err.to_string()))?;
        let mut text = String::new();
        while let Some(event) = stream.blocking_next() {
            match event.map_err(|err| ReportError::Model(err.to_string()))? {
                fulcrum_engine::GenerationEvent::Text(piece) => text.push_str(&piece),
                fulcrum_engine::GenerationEvent::Finished { .. } => break,
            }
        }
        Ok(text)
    }
}

/// A written section.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: String,
    pub text: String,
    pub attempts: usize,
    /// Numbers of the final text that no fact supports (or not with that meaning);
    /// non-empty = marked for review.
    pub unsupported_numbers: Vec<String>,
    /// When every draft of the model failed the checks: what was wrong with the last one.
    /// The section then states the facts themselves, and says so.
    pub rejected_draft: Option<Vec<String>>,
    /// The strategy passages the text cites, by the ids it uses.
    pub citations: Vec<Citation>,
}

impl Section {
    pub fn needs_review(&self) -> bool {
        !self.unsupported_numbers.is_empty()
    }
}

/// The question a section's strategy passages are retrieved for: its title, what it is to
/// say, and the facts it draws on (their names match the strategy's headings and terms).
pub fn strategy_query(facts: &Facts, spec: &SectionSpec) -> String {
    let lines = fact_lines(facts, &spec.facts);
    let mut query = format!("{}. {} {}", spec.title, spec.instruction, lines.join("; "));
    if let Some((end, _)) = query.char_indices().nth(1_000) {
        query.truncate(end);
    }
    query
}

/// Writes one section from its facts (and the strategy passages retrieved for it): the model's
/// text when a draft passes the checks, otherwise the facts as sentences.
pub fn write_section(
    model: Option<&dyn ProseModel>,
    facts: &Facts,
    check: &NumberCheck,
    spec: &SectionSpec,
    strategy: &[Passage],
) -> Result<Section, ReportError> {
    let lines = fact_lines(facts, &spec.facts);
    // The notes come before the instruction and the facts, which the model reads last.
    let notes: Vec<String> = strategy
        .iter()
        .map(|passage| without_figures(&passage.text))
        .collect();
    let mut strategy_block = String::new();
    if !notes.is_empty() {
        strategy_block.push_str(
            "Strategy notes (the company's plan: where a fact bears on a note, say how in your \
             own words and cite the note's id in brackets, e.g. [S1]):",
        );
        for (index, (passage, note)) in strategy.iter().zip(&notes).enumerate() {
            strategy_block.push_str(&format!(
                "\n[{}] ({}, {}) {note}",
                passage_id(index),
                passage.source,
                passage.section,
            ));
        }
        strategy_block.push_str("\n\n");
    }
    let base = format!(
        "Report period: {}.\nSection: {}\n\n{strategy_block}What to write: {}\n\nFacts:\n- {}",
        facts.month.long_name(),
        spec.title,
        spec.instruction,
        lines.join("\n- ")
    );
    let Some(model) = model else {
        return Ok(Section {
            title: spec.title.clone(),
            text: facts_as_sentences(&lines),
            attempts: 0,
            unsupported_numbers: Vec::new(),
            rejected_draft: None,
            citations: Vec::new(),
        });
    };
    let mut user = base.clone();
    let mut problems = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let text = clean(&model.complete(SYSTEM, &user)?, &spec.title);
        let unsupported = check.unsupported(&without_citations(&text));
        problems = form_problems(&text, &lines);
        if notes.iter().any(|note| copies(&text, note)) {
            problems.push("it copies a strategy note instead of relating the facts to it".into());
        }
        let (citations, unknown) = citations(&text, strategy);
        problems.extend(
            unknown
                .iter()
                .map(|id| format!("it cites [{id}], which is not one of the notes")),
        );
        if unsupported.is_empty() && problems.is_empty() {
            return Ok(Section {
                title: spec.title.clone(),
                text,
                attempts: attempt,
                unsupported_numbers: Vec::new(),
                rejected_draft: None,
                citations,
            });
        }
        problems.extend(unsupported.iter().map(|n| format!("the number {n}")));
        user = format!(
            "{base}\n\nYour previous text was rejected: {}. Write the section again in your \
             own sentences, copying each number with its meaning from the facts.",
            problems.join("; ")
        );
    }
    // No draft passed: the section states the facts, which are right by construction.
    Ok(Section {
        title: spec.title.clone(),
        text: facts_as_sentences(&lines),
        attempts: ATTEMPTS,
        unsupported_numbers: Vec::new(),
        rejected_draft: Some(problems),
        citations: Vec::new(),
    })
}

/// Whether `text` holds a sentence of `passage` word for word.
fn copies(text: &str, passage: &str) -> bool {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    passage
        .split(['.', '!', '?'])
        .map(|sentence| sentence.split_whitespace().collect::<Vec<_>>().join(" "))
        .any(|sentence| sentence.len() >= 40 && text.contains(&sentence))
}

/// The passages `text` cites, and the ids it cites that no passage has.
fn citations(text: &str, strategy: &[Passage]) -> (Vec<Citation>, Vec<String>) {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for id in cited_ids(text) {
        let passage = strategy
            .iter()
            .enumerate()
            .find(|(index, _)| passage_id(*index) == id)
            .map(|(_, passage)| passage);
        match passage {
            Some(passage) => found.push(Citation {
                id,
                source: passage.source.clone(),
                section: passage.section.clone(),
            }),
            None => unknown.push(id),
        }
    }
    (found, unknown)
}

/// The facts, one sentence each: what a section says when no draft of the model passed.
pub fn facts_as_sentences(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| line.trim().trim_end_matches('.'))
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}."))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What makes a draft unusable besides its numbers: empty, cut off, the instructions echoed,
/// the facts pasted as a list, a sentence said twice.
fn form_problems(text: &str, fact_lines: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if text.trim().is_empty() {
        problems.push("it was empty".to_string());
        return problems;
    }
    if !text.trim_end().ends_with(['.', '!', '?', '"', ')', '。']) {
        problems.push("it stops mid-sentence".into());
    }
    if SCAFFOLD.iter().any(|label| text.contains(label)) {
        problems.push("it repeats the instructions".into());
    }
    let pasted = fact_lines
        .iter()
        .filter(|line| line.len() > 20 && text.contains(line.as_str()))
        .count();
    if pasted >= 2 {
        problems.push("it pastes the facts instead of writing about them".into());
    }
    let mut seen = std::collections::HashSet::new();
    let repeated = text
        .split(['.', '!', '?'])
        .map(str::trim)
        .filter(|sentence| sentence.split_whitespace().count() >= 5)
        .any(|sentence| !seen.insert(sentence.to_lowercase()));
    if repeated {
        problems.push("it says the same sentence twice".into());
    }
    problems
}

/// The labels of the prompt; a line of the answer that starts with one repeats the prompt.
const SCAFFOLD: [&str; 5] = [
    "Section:",
    "Facts:",
    "What to write:",
    "Report period:",
    "Strategy notes",
];

/// Drops what a small model adds around the prose: a repeated heading (alone on its line or
/// as a "Title:" label), the prompt's labelled lines, list markers, bold.
fn clean(text: &str, title: &str) -> String {
    let label = format!("{}:", title.to_lowercase());
    let text = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| !SCAFFOLD.iter().any(|label| line.starts_with(label)))
        .map(|line| {
            line.trim_start_matches(['-', '*', '•'])
                .trim()
                .replace("**", "")
        })
        .collect::<Vec<_>>()
        .join(" ");
    match text.get(..label.len()) {
        Some(head) if head.to_lowercase() == label => text[label.len()..].trim_start().to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_labels_lists_and_bold_are_cleaned_off() {
        assert_eq!(
            clean("Summary: In May revenue **rose**.", "Summary"),
            "In May revenue rose."
        );
        assert_eq!(
            clean("## Summary\n- Revenue rose.\nFacts: x", "Summary"),
            "Revenue rose."
        );
        assert_eq!(
            clean("Summary of May: fine.", "Summary"),
            "Summary of May: fine."
        );
    }

    #[test]
    fn drafts_that_echo_paste_repeat_or_stop_short_are_rejected() {
        let facts = vec![
            "East China (region): 8.28 million CNY, 30.6% of revenue".to_string(),
            "South China (region): 6.00 million CNY, 22.1% of revenue".to_string(),
        ];
        assert!(
            form_problems("East China led the regions with 8.28 million CNY.", &facts).is_empty()
        );
        let problem = |text: &str| form_problems(text, &facts).join("; ");
        assert!(problem("").contains("empty"));
        assert!(problem("East China led the regions with").contains("mid-sentence"));
        assert!(problem("Section: Regions. East China led.").contains("instructions"));
        assert!(problem(&format!("{}. {}.", facts[0], facts[1])).contains("pastes the facts"));
        assert!(
            problem("East China led the regions again. East China led the regions again.")
                .contains("same sentence twice")
        );
    }
}
