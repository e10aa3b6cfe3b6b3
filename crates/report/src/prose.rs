//! The model writes each section from the facts it is shown; every number it writes must be
//! one of those facts. A section that invents or miscopies a number is written again, told
//! which numbers were wrong, and after the last attempt kept but marked for review.

use std::sync::Arc;

use fulcrum_chat::{ChatTemplate, Message, RenderOptions};
use fulcrum_engine::{Backend, GenerationRequest, SamplingParams};
use serde::Serialize;

use crate::error::ReportError;
use crate::facts::Facts;
use crate::numbers::{fact_lines, NumberCheck};
use crate::template::SectionSpec;

/// Attempts per section before it is marked for review.
pub const ATTEMPTS: usize = 3;

const SYSTEM: &str = "You write one section of a company's monthly sales report for managers. \
Use only the facts you are given. Copy every number exactly as the facts write it; never \
compute, add or estimate a number. Write plain sentences: no heading, no list, no table.";

/// Something that turns a system and a user message into text.
pub trait ProseModel: Send + Sync {
    fn complete(&self, system: &str, user: &str) -> Result<String, ReportError>;
}

/// The served model: its chat template, greedy decoding.
pub struct EngineProse {
    backend: Arc<dyn Backend>,
    template: Arc<ChatTemplate>,
    max_tokens: u32,
}

impl EngineProse {
    pub fn new(backend: Arc<dyn Backend>, template: Arc<ChatTemplate>) -> Self {
        EngineProse {
            backend,
            template,
            max_tokens: 320,
        }
    }
}

impl ProseModel for EngineProse {
    fn complete(&self, system: &str, user: &str) -> Result<String, ReportError> {
        let messages = [Message::system(system), Message::user(user)];
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
            prompt,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            max_tokens: Some(self.max_tokens),
            stop: Vec::new(),
            ignore_eos: false,
            timeout: None,
            grammar: None,
            logit_bias: Vec::new(),
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
    /// Numbers of the final text that no fact supports; non-empty = marked for review.
    pub unsupported_numbers: Vec<String>,
}

impl Section {
    pub fn needs_review(&self) -> bool {
        !self.unsupported_numbers.is_empty()
    }
}

pub fn write_section(
    model: &dyn ProseModel,
    facts: &Facts,
    check: &NumberCheck,
    spec: &SectionSpec,
) -> Result<Section, ReportError> {
    let lines = fact_lines(facts, &spec.facts);
    let base = format!(
        "Report period: {}.\nSection: {}\nWhat to write: {}\n\nFacts:\n- {}",
        facts.month.long_name(),
        spec.title,
        spec.instruction,
        lines.join("\n- ")
    );
    let mut user = base.clone();
    let mut last = Section {
        title: spec.title.clone(),
        text: String::new(),
        attempts: 0,
        unsupported_numbers: Vec::new(),
    };
    for attempt in 1..=ATTEMPTS {
        let text = clean(&model.complete(SYSTEM, &user)?);
        let unsupported = check.unsupported(&text);
        last = Section {
            title: spec.title.clone(),
            text,
            attempts: attempt,
            unsupported_numbers: unsupported,
        };
        if !last.needs_review() && !last.text.is_empty() {
            return Ok(last);
        }
        user = format!(
            "{base}\n\nYour previous text used numbers that are not in the facts: {}. Write the \
             section again using only numbers copied from the facts.",
            if last.unsupported_numbers.is_empty() {
                "(it was empty)".to_string()
            } else {
                last.unsupported_numbers.join(", ")
            }
        );
    }
    Ok(last)
}

/// Drops what a small model adds around the prose: a repeated heading, list markers, bold.
fn clean(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches(['-', '*', '•'])
                .trim()
                .replace("**", "")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
