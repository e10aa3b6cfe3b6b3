//! The steps of a summary: reading the parts (or the whole), checking and fixing findings,
//! choosing the points, writing the overview.

use std::collections::HashSet;

use serde::Deserialize;

use crate::error::ReportError;
use crate::prose::ATTEMPTS;

use super::document::DocSection;
use super::grounding::{self, Problem, SourceCheck};
use super::model::{Ask, SummaryModel};
use super::prompts;
use super::salience;
use super::{PointKind, SummaryOptions, SummaryStats};

/// A finding on its way to the summary.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) section: usize,
    pub(super) kind: PointKind,
    /// 0 = high.
    pub(super) rank: u8,
    pub(super) text: String,
    pub(super) attempts: usize,
}

#[derive(Deserialize)]
struct RawFinding {
    section: usize,
    finding: String,
}

#[derive(Deserialize)]
struct MapAnswer {
    labels: Vec<Labels>,
}

#[derive(Deserialize)]
struct Labels {
    figure: String,
    news: String,
}

#[derive(Deserialize)]
struct WholeAnswer {
    overview: String,
    indicators: Vec<RawFinding>,
    risks: Vec<RawFinding>,
}

#[derive(Deserialize)]
struct FixAnswer {
    finding: String,
}

#[derive(Deserialize)]
struct OverviewAnswer {
    overview: String,
}

pub(super) struct Run<'a> {
    pub(super) model: &'a dyn SummaryModel,
    pub(super) options: &'a SummaryOptions,
    pub(super) title: &'a str,
    pub(super) sections: &'a [DocSection],
    pub(super) stats: SummaryStats,
    pub(super) whole_overview: Option<String>,
}

/// Tokens the chat template adds around a system and a user message, at most (ChatML adds
/// about 10; a template with a default preamble more).
const TEMPLATE_TOKENS: usize = 64;

impl Run<'_> {
    /// Asks all `asks` at once; each answer parsed as `T`, or `None` when it is not (an
    /// answer cut off at its token limit).
    fn ask<T: for<'de> Deserialize<'de>>(
        &mut self,
        asks: &[Ask],
    ) -> Result<Vec<Option<T>>, ReportError> {
        for ask in asks {
            let tokens = self.model.count_tokens(&ask.system)?
                + self.model.count_tokens(&ask.user)?
                + TEMPLATE_TOKENS;
            self.stats.largest_prompt_tokens = self.stats.largest_prompt_tokens.max(tokens);
        }
        self.stats.model_calls += asks.len();
        self.model
            .answer_all(asks)
            .into_iter()
            .map(|answer| {
                let answer = answer?;
                let parsed = serde_json::from_str::<T>(answer.trim()).ok();
                if parsed.is_none() {
                    tracing::debug!(%answer, "a summary step's answer is not the JSON asked for");
                    self.stats.unreadable_answers += 1;
                }
                Ok(parsed)
            })
            .collect()
    }

    /// The tokens a prompt may give the document's text: under `max_prompt_tokens` and, with
    /// the answer, under the window.
    fn text_budget(&self, instructions: &Ask) -> Result<usize, ReportError> {
        let fixed = self.model.count_tokens(&instructions.system)?
            + self.model.count_tokens(&instructions.user)?
            + TEMPLATE_TOKENS;
        let limit = self.options.max_prompt_tokens.min(
            self.model
                .window()
                .saturating_sub(instructions.max_tokens as usize),
        );
        Ok(limit.saturating_sub(fixed))
    }

    /// Map: the document's distinctive sentences with figures, in parts under the budget,
    /// each part labelled by the model (all parts at once); those it calls indicators or risks.
    pub(super) fn map(&mut self, check: &SourceCheck) -> Result<Vec<Candidate>, ReportError> {
        let probe = prompts::map_ask(&self.options.task, self.title, self.sections, &[], 999, 999);
        let budget = self.text_budget(&probe)?.min(self.options.part_tokens);
        if budget < 64 {
            return Err(ReportError::Summary(format!(
                "the prompt leaves {budget} tokens for the document: raise context_max_tokens or the context size"
            )));
        }
        let mut sentences = salience::candidates(self.sections, check.names());
        if sentences.len() > self.options.max_candidates {
            // Trends first, then levels, each in document order; the rest left unread.
            let mut ranked: Vec<(bool, usize, salience::Candidate)> = sentences
                .into_iter()
                .enumerate()
                .map(|(order, c)| (!salience::states_change(&c.text), order, c))
                .collect();
            ranked.sort_by_key(|(level, order, _)| (*level, *order));
            self.stats.candidates_left_out += ranked.len() - self.options.max_candidates;
            ranked.truncate(self.options.max_candidates);
            ranked.sort_by_key(|(_, order, _)| *order);
            sentences = ranked.into_iter().map(|(_, _, c)| c).collect();
        }
        self.stats.candidate_sentences = sentences.len();
        // Consecutive sentences, as many as fit the budget and the part's label count.
        let mut parts: Vec<Vec<salience::Candidate>> = Vec::new();
        let mut tokens = 0;
        for sentence in sentences {
            let cost = self.model.count_tokens(&sentence.text)?
                + self
                    .model
                    .count_tokens(&self.sections[sentence.section].heading)?
                + 8;
            if cost > budget {
                // A "sentence" past the budget (a table flattened into one line) is not read.
                self.stats.candidates_left_out += 1;
                continue;
            }
            let full = parts.last().is_none_or(|part| {
                part.len() >= self.options.sentences_per_part || tokens + cost > budget
            });
            if full {
                parts.push(Vec::new());
                tokens = 0;
            }
            tokens += cost;
            if let Some(part) = parts.last_mut() {
                part.push(sentence);
            }
        }
        self.stats.parts = parts.len();
        let asks: Vec<Ask> = parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                prompts::map_ask(
                    &self.options.task,
                    self.title,
                    self.sections,
                    part,
                    i + 1,
                    parts.len(),
                )
            })
            .collect();
        let answers = self.ask::<MapAnswer>(&asks)?;
        let mut found = Vec::new();
        for (part, answer) in parts.into_iter().zip(answers) {
            let labels = answer.map(|a| a.labels).unwrap_or_default();
            for (sentence, label) in part.into_iter().zip(labels) {
                // A figure of a section that speaks for the whole company is an indicator
                // (key ones first); elsewhere, bad news is a risk, and the rest another
                // finding (key ones first).
                let key = label.figure == "key";
                let (kind, first) = if check.is_headline(sentence.section) {
                    (PointKind::Indicator, key)
                } else if label.news == "bad" {
                    (PointKind::Risk, true)
                } else {
                    (PointKind::Other, key)
                };
                // A figure's trend (a change with its direction) outranks a level.
                let rank =
                    u8::from(!salience::states_change(&sentence.text)) * 2 + u8::from(!first);
                found.push(Candidate {
                    rank,
                    section: sentence.section,
                    kind,
                    text: sentence.text,
                    attempts: 1,
                });
            }
        }
        Ok(found)
    }

    /// Whole: one prompt over the whole document; its overview is kept for the check.
    pub(super) fn whole(&mut self) -> Result<Vec<Candidate>, ReportError> {
        let ask = prompts::whole_ask(
            &self.options.task,
            self.title,
            self.sections,
            self.options.indicators,
            self.options.risks,
        );
        let prompt = self.model.count_tokens(&ask.system)?
            + self.model.count_tokens(&ask.user)?
            + TEMPLATE_TOKENS;
        let window = self.model.window();
        if prompt + ask.max_tokens as usize > window {
            return Err(ReportError::Summary(format!(
                "the document and its instructions are {prompt} tokens, and with the {} of the answer do not fit the {window}-token window: use map-reduce, or a larger context size",
                ask.max_tokens
            )));
        }
        self.stats.parts = 1;
        let answer = self
            .ask::<WholeAnswer>(std::slice::from_ref(&ask))?
            .remove(0);
        let Some(answer) = answer else {
            return Ok(Vec::new());
        };
        self.whole_overview = Some(whole_sentences(&answer.overview));
        let sections = self.sections.len();
        let mut found = Vec::new();
        for (kind, list) in [
            (PointKind::Indicator, answer.indicators),
            (PointKind::Risk, answer.risks),
        ] {
            for (order, raw) in list.into_iter().enumerate() {
                if raw.section == 0 || raw.section > sections {
                    continue;
                }
                found.push(Candidate {
                    section: raw.section - 1,
                    kind,
                    // The model listed them most important first.
                    rank: u8::try_from(order).unwrap_or(u8::MAX),
                    text: raw.finding,
                    attempts: 1,
                });
            }
        }
        Ok(found)
    }

    /// The candidates whose numbers pass the check, each failing one sent back with what was
    /// wrong until it passes or has had [`ATTEMPTS`] drafts; the rest are dropped and counted.
    pub(super) fn checked(
        &mut self,
        check: &SourceCheck,
        mut candidates: Vec<Candidate>,
    ) -> Result<Vec<Candidate>, ReportError> {
        self.stats.findings = candidates.len();
        let mut kept = Vec::new();
        loop {
            let mut failing = Vec::new();
            for mut candidate in candidates {
                let mut problems = check.problems(&candidate.text, Some(candidate.section));
                if let Some(section) = recited(check, &candidate, &problems, self.sections.len()) {
                    candidate.section = section;
                    problems.clear();
                }
                tracing::debug!(
                    finding = %candidate.text,
                    section = %self.sections[candidate.section].heading,
                    attempt = candidate.attempts,
                    problems = ?problems,
                    "a finding checked"
                );
                if problems.is_empty() {
                    kept.push(candidate);
                } else if candidate.attempts >= ATTEMPTS {
                    self.stats.dropped += 1;
                    if problems.iter().any(Problem::is_invented) {
                        self.stats.dropped_invented += 1;
                    } else {
                        self.stats.dropped_misattributed += 1;
                    }
                } else {
                    failing.push((candidate, problems));
                }
            }
            if failing.is_empty() {
                break;
            }
            let asks: Vec<Ask> = failing
                .iter()
                .map(|(candidate, problems)| {
                    let wrong: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    prompts::fix_ask(
                        &self.options.task,
                        &self.sections[candidate.section],
                        &candidate.text,
                        &wrong,
                    )
                })
                .collect();
            let answers = self.ask::<FixAnswer>(&asks)?;
            candidates = failing
                .into_iter()
                .zip(answers)
                .map(|((candidate, _), answer)| Candidate {
                    text: answer.map_or(candidate.text, |a| a.finding),
                    attempts: candidate.attempts + 1,
                    ..candidate
                })
                .collect();
        }
        kept.sort_by_key(|c| c.section);
        Ok(kept)
    }

    /// The overview of the chosen points, checked against the whole document; `None` when
    /// every draft fails.
    pub(super) fn overview(
        &mut self,
        check: &SourceCheck,
        points: &[String],
        mut draft: Option<String>,
    ) -> Result<Option<String>, ReportError> {
        let mut attempts = usize::from(draft.is_some());
        let mut problems: Vec<Problem> = Vec::new();
        loop {
            if let Some(text) = &draft {
                problems = check.problems(text, None);
                problems.extend(grounding::contradictions(text, points));
                if problems.is_empty() {
                    return Ok(draft);
                }
            }
            let wrong: Vec<String> = problems.iter().map(ToString::to_string).collect();
            if attempts >= ATTEMPTS {
                self.stats.dropped += 1;
                if problems.iter().any(Problem::is_invented) {
                    self.stats.dropped_invented += 1;
                } else {
                    self.stats.dropped_misattributed += 1;
                }
                return Ok(None);
            }
            let ask = prompts::overview_ask(
                &self.options.task,
                self.title,
                points,
                draft.as_deref().map(|d| (d, wrong.as_slice())),
            );
            draft = self
                .ask::<OverviewAnswer>(std::slice::from_ref(&ask))?
                .remove(0)
                .map(|a| whole_sentences(&a.overview));
            attempts += 1;
        }
    }
}

/// `text` up to the end of its last whole sentence (an answer cut at its length limit ends
/// mid-sentence); all of it when no sentence ends.
fn whole_sentences(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?', '。']) {
        return text.to_string();
    }
    // A sentence ends at a stop followed by a space (a point inside "2.8" does not).
    let end = text
        .char_indices()
        .zip(text.chars().skip(1))
        .filter(|((_, c), next)| matches!(c, '.' | '!' | '?' | '。') && next.is_whitespace())
        .map(|((at, c), _)| at + c.len_utf8())
        .last();
    end.map_or_else(|| text.to_string(), |end| text[..end].to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_answer_cut_mid_sentence_keeps_its_whole_sentences() {
        use super::whole_sentences;
        assert_eq!(
            whole_sentences("Revenue rose. Profit rose 13.5% to 2.8 bil"),
            "Revenue rose."
        );
        assert_eq!(
            whole_sentences("Profit rose 13.5% to 2."),
            "Profit rose 13.5% to 2."
        );
        assert_eq!(whole_sentences("No end at all"), "No end at all");
    }
}

/// The section that holds every number of a finding whose only fault is citing another one
/// (a small model often cites the part's first section): the nearest to the one cited.
fn recited(
    check: &SourceCheck,
    candidate: &Candidate,
    problems: &[Problem],
    sections: usize,
) -> Option<usize> {
    let misplaced = !problems.is_empty()
        && problems
            .iter()
            .all(|p| matches!(p, Problem::NotInSection { .. }));
    if !misplaced {
        return None;
    }
    let mut order: Vec<usize> = (0..sections).collect();
    order.sort_by_key(|s| s.abs_diff(candidate.section));
    order
        .into_iter()
        .find(|&s| check.problems(&candidate.text, Some(s)).is_empty())
}

/// The chosen points of each kind, at most the options' number of each: by rank, then
/// document order (and listed in document order); a finding whose figures (or, without
/// figures, whose words) repeat one already chosen is left out.
pub(super) fn choose(mut candidates: Vec<Candidate>, options: &SummaryOptions) -> Chosen {
    candidates.sort_by_key(|c| (c.rank, c.section));
    let mut seen: HashSet<String> = HashSet::new();
    let mut chosen = Chosen::default();
    for candidate in candidates {
        let key = repeat_key(&candidate.text);
        if !seen.insert(key) {
            continue;
        }
        let (list, limit) = match candidate.kind {
            PointKind::Indicator => (&mut chosen.indicators, options.indicators),
            PointKind::Risk => (&mut chosen.risks, options.risks),
            PointKind::Other => (&mut chosen.other, options.other),
        };
        if list.len() < limit {
            list.push(candidate);
        }
    }
    for list in [&mut chosen.indicators, &mut chosen.risks, &mut chosen.other] {
        list.sort_by_key(|c: &Candidate| c.section);
    }
    chosen
}

#[derive(Default)]
pub(super) struct Chosen {
    pub(super) indicators: Vec<Candidate>,
    pub(super) risks: Vec<Candidate>,
    pub(super) other: Vec<Candidate>,
}

/// What makes two findings the same: their numbers, or their lower-cased words.
fn repeat_key(text: &str) -> String {
    let numbers: Vec<String> = crate::numbers::numbers_in(text)
        .into_iter()
        .map(|n| n.shown())
        .collect();
    if numbers.is_empty() {
        text.to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        numbers.join(" ")
    }
}
