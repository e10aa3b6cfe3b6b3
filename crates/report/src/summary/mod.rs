//! Summaries of documents longer than the model's window: map → check → reduce.
//!
//! The document is cut along its headings into parts that fit the prompt budget; each part is
//! read by the model with the task (all parts handed to the engine at once, so they share its
//! slots), and its findings come back as JSON under a grammar, each citing its section. Every
//! number of every finding is checked against the document (`grounding`): a finding that
//! fails is sent back with what was wrong and, after [`ATTEMPTS`], dropped and counted. The
//! surviving findings are ranked (the model's importance, then document order), near-repeats
//! dropped, and the top indicators and risks kept; the model writes an overview from them,
//! checked the same way. Whole mode asks for all of it in one prompt over the whole document,
//! when it fits the window, and checks it the same way.

pub mod document;
mod grounding;
mod model;
mod prompts;
mod salience;
mod service;
mod steps;
#[cfg(test)]
mod tests;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::ReportError;

pub use document::{sections, DocSection};
pub use grounding::{Problem, SourceCheck};
pub use model::{Ask, EngineSummaryModel, SummaryModel};
pub use prompts::DEFAULT_TASK;
pub use service::{summarize_for, summary_json, SummarizeFunction, SUMMARIZE_DOCUMENT};

use steps::{Candidate, Run};

/// How the document reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryMode {
    /// Parts read one by one (concurrently), their findings merged: any length.
    MapReduce,
    /// The whole document in one prompt: only when it fits the window.
    Whole,
}

impl SummaryMode {
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        match text.trim() {
            "map-reduce" | "map_reduce" | "mapreduce" => Ok(SummaryMode::MapReduce),
            "whole" => Ok(SummaryMode::Whole),
            other => Err(ReportError::Summary(format!(
                "unknown mode `{other}`: use map-reduce or whole"
            ))),
        }
    }
}

/// What to summarize for, and within what limits.
#[derive(Debug, Clone)]
pub struct SummaryOptions {
    pub mode: SummaryMode,
    /// What the reader wants from the document.
    pub task: String,
    /// No prompt is longer than this many tokens (the agent's `context_max_tokens`).
    pub max_prompt_tokens: usize,
    /// The document text in one part, at most, in tokens (map-reduce).
    pub part_tokens: usize,
    /// Sentences the model labels in one part, at most (map-reduce).
    pub sentences_per_part: usize,
    /// Sentences the model is asked about, at most (map-reduce): past it, those stating a
    /// trend are kept first.
    pub max_candidates: usize,
    /// Indicators, risks and other findings in the summary, at most.
    pub indicators: usize,
    pub risks: usize,
    pub other: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            mode: SummaryMode::MapReduce,
            task: DEFAULT_TASK.into(),
            max_prompt_tokens: 20_000,
            part_tokens: 1_500,
            sentences_per_part: 1,
            max_candidates: 200,
            indicators: 6,
            risks: 5,
            other: 6,
        }
    }
}

/// Which list of the summary a point goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointKind {
    /// A key figure of the whole company, or its trend.
    Indicator,
    /// Something that could hurt future results.
    Risk,
    /// Another distinctive figure (map-reduce: one the model called neither).
    Other,
}

/// One point of the summary and the section it cites.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryPoint {
    pub text: String,
    pub section: String,
    /// Drafts it took to pass the number check (1 = the first).
    pub attempts: usize,
}

/// What the summary cost and what its checks threw out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SummaryStats {
    pub document_tokens: usize,
    pub sections: usize,
    /// The distinctive sentences with figures the model was asked about (map-reduce), and
    /// those past `max_candidates` it was not.
    pub candidate_sentences: usize,
    pub candidates_left_out: usize,
    pub parts: usize,
    pub model_calls: usize,
    /// The longest prompt sent, in tokens.
    pub largest_prompt_tokens: usize,
    /// Findings the model proposed, and those that failed the check every time.
    pub findings: usize,
    pub dropped: usize,
    /// Of the dropped: numbers written nowhere in the document, and numbers misattributed
    /// (another section, name or direction).
    pub dropped_invented: usize,
    pub dropped_misattributed: usize,
    /// Answers that were not the JSON asked for (cut off at their token limit).
    pub unreadable_answers: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub title: String,
    pub mode: SummaryMode,
    pub task: String,
    /// None when every draft of it failed the number check.
    pub overview: Option<String>,
    pub indicators: Vec<SummaryPoint>,
    pub risks: Vec<SummaryPoint>,
    /// Other distinctive figures the model did not call indicators or risks.
    pub other: Vec<SummaryPoint>,
    pub stats: SummaryStats,
}

impl Summary {
    /// The summary as Markdown: overview, key indicators, risks, each point citing its section
    /// as `(§ heading)`.
    pub fn markdown(&self) -> String {
        let mut out = format!("# Summary: {}\n\n", self.title);
        if let Some(overview) = &self.overview {
            out.push_str(overview.trim());
            out.push_str("\n\n");
        }
        for (title, points) in [
            ("Key indicators", &self.indicators),
            ("Risks", &self.risks),
            ("Other findings", &self.other),
        ] {
            if points.is_empty() && title == "Other findings" {
                continue;
            }
            out.push_str(&format!("## {title}\n\n"));
            if points.is_empty() {
                out.push_str("None found.\n\n");
                continue;
            }
            for point in points {
                out.push_str(&format!("- {} (§ {})\n", point.text.trim(), point.section));
            }
            out.push('\n');
        }
        out
    }
}

/// Summarizes `text` (Markdown or plain; `name` titles it when it has no `#` heading).
pub fn summarize(
    model: &dyn SummaryModel,
    text: &str,
    name: &str,
    options: &SummaryOptions,
) -> Result<Summary, ReportError> {
    let started = Instant::now();
    let (title, sections) = document::sections(text, name);
    if sections.is_empty() {
        return Err(ReportError::Summary(format!(
            "`{name}` has no text to summarize"
        )));
    }
    let mut run = Run {
        model,
        options,
        title: &title,
        sections: &sections,
        stats: SummaryStats {
            document_tokens: model.count_tokens(text)?,
            sections: sections.len(),
            ..SummaryStats::default()
        },
        whole_overview: None,
    };
    let check = SourceCheck::new(&title, &sections);
    let candidates = match options.mode {
        SummaryMode::MapReduce => run.map(&check)?,
        SummaryMode::Whole => run.whole()?,
    };
    let candidates = run.checked(&check, candidates)?;
    let chosen = steps::choose(candidates, options);
    let points: Vec<String> = chosen
        .indicators
        .iter()
        .chain(&chosen.risks)
        .chain(&chosen.other)
        .map(|c| c.text.clone())
        .collect();
    let overview = match run.whole_overview.take() {
        Some(draft) => run.overview(&check, &points, Some(draft))?,
        None if points.is_empty() => None,
        None => run.overview(&check, &points, None)?,
    };
    let point = |c: Candidate| SummaryPoint {
        section: sections[c.section].heading.clone(),
        text: c.text,
        attempts: c.attempts,
    };
    let mut stats = run.stats;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(Summary {
        title,
        mode: options.mode,
        task: options.task.clone(),
        overview,
        indicators: chosen.indicators.into_iter().map(point).collect(),
        risks: chosen.risks.into_iter().map(point).collect(),
        other: chosen.other.into_iter().map(point).collect(),
        stats,
    })
}
