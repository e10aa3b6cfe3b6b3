//! Whether the user's message reads as a request for a function, by the model's own reading:
//! how much likelier the model finds the message after the function's description than
//! after no description, per token of the message (their pointwise mutual information).
//!
//! A small model pushed towards calls (`tool_call_bias`) calls the tool at hand for requests
//! it does not serve ("the area of a triangle" with only a body-mass-index tool): its
//! decision to call is made at one token, before the request is weighed against the
//! description. Reading the whole message under the description weighs every word of it.

use std::sync::Arc;

use fulcrum_chat::ToolDefinition;
use fulcrum_engine::{text_likelihood, Backend, EngineError};

use super::grounding::non_latin_letter;
use super::opposites::named_for_the_opposite;
use super::placement::ends_sentence;

/// The context a message is scored after with no function in view.
const NO_FUNCTION: &str = "A user's request:\n";

/// Longer messages are scored by their beginning: the request is stated there, and scoring
/// costs a prompt computation of the whole text for each function.
const SCORED_CHARS: usize = 1500;

/// Words that open a request or question of its own after "and", "also", "then", "but" or
/// "plus" ("…, and how long is its warranty?"); after others the conjunction joins values
/// ("a = 1, b = 2, and c = 3").
const OPENERS: [&str; 22] = [
    "what", "how", "which", "who", "whom", "whose", "when", "where", "why", "is", "are", "was",
    "were", "does", "do", "did", "can", "could", "will", "would", "should", "within",
];

const CONJUNCTIONS: [&str; 5] = ["and", "also", "then", "but", "plus"];

/// Whether `message` asks several things: more than one sentence, or clauses joined by a
/// conjunction before a question or request of its own ("How much is the iPhone 15, and what
/// warranty does it have?"). Such a message reads only in part as each function's request, so
/// its reading under one description is diluted by the parts that function does not serve
/// (a product search for the price beside the warranty the handbook answers).
pub(super) fn several_parts(message: &str) -> bool {
    // Chinese and Japanese write no space after a sentence.
    let spaced: String = message
        .chars()
        .flat_map(|c| {
            let after = (!c.is_ascii() && ends_sentence(c)).then_some(' ');
            std::iter::once(c).chain(after)
        })
        .collect();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let mut parts = 0;
    let mut part = PartSize::default();
    for (at, word) in words.iter().enumerate() {
        let next = words.get(at + 1);
        let opens_clause = CONJUNCTIONS.contains(&bare(word).as_str())
            && next.is_some_and(|next| OPENERS.contains(&bare(next).as_str()));
        if opens_clause {
            parts += usize::from(part.counts());
            part = PartSize::default();
        }
        part.add(word);
        if next.is_some() && word.ends_with(ends_sentence) {
            parts += usize::from(part.counts());
            part = PartSize::default();
        }
    }
    parts += usize::from(part.counts());
    parts > 1
}

/// How much a part of a message holds: a part of one word ("Hi!") asks nothing of its own.
#[derive(Default)]
struct PartSize {
    words: usize,
    other_script_letters: usize,
}

impl PartSize {
    fn add(&mut self, word: &str) {
        self.words += 1;
        self.other_script_letters += word.chars().filter(|c| non_latin_letter(*c)).count();
    }

    fn counts(&self) -> bool {
        self.words >= 2 || self.other_script_letters >= 2
    }
}

/// `word` lowercased without the punctuation around it.
fn bare(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

/// The relevance check of one answer: the user's message and the floors below which a
/// function is not what it asks for.
#[derive(Debug, Clone)]
pub(super) struct Relevance {
    message: String,
    floors: RelevanceFloors,
    /// Whether a function named for the opposite of what the message asks is held to no
    /// floor it can reach (see [`named_for_the_opposite`]).
    opposites: bool,
}

/// The floors of the relevance check, in nats per token of the message.
#[derive(Debug, Clone, Copy)]
pub(super) struct RelevanceFloors {
    /// For any function.
    pub any: f32,
    /// For a function whose every call invented a required value.
    pub invented: f32,
    /// For a function whose every call invented a required number.
    pub invented_number: f32,
}

/// A function an answer called, to be weighed against the message.
pub(super) struct CalledFunction<'a> {
    pub tool: &'a ToolDefinition,
    /// Whether each of its calls gives a required argument a value the conversation does not
    /// hold: weighed against the higher floor.
    pub invented: bool,
    /// Whether each of its calls gives a required argument a number the conversation neither
    /// writes nor implies (see [`super::Grounds::invents_a_required_number`]).
    pub invented_number: bool,
}

impl CalledFunction<'_> {
    /// The floor this function is weighed against: the highest of those its calls earn.
    fn floor(&self, floors: &RelevanceFloors) -> f32 {
        let mut floor = floors.any;
        if self.invented {
            floor = floor.max(floors.invented);
        }
        if self.invented_number {
            floor = floor.max(floors.invented_number);
        }
        floor
    }
}

/// A function's relevance to the message, in nats per token of the message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FunctionRelevance {
    pub name: String,
    pub score: f32,
}

impl Relevance {
    /// The check of `message`; `None` when it has nothing to read, or asks several things
    /// (see [`several_parts`]).
    pub(super) fn new(message: &str, floors: RelevanceFloors, opposites: bool) -> Option<Self> {
        let message: String = message.trim().chars().take(SCORED_CHARS).collect();
        (!message.is_empty() && !several_parts(&message)).then_some(Relevance {
            message,
            floors,
            opposites,
        })
    }

    /// The scores of `functions` when the message reads as a request for none of them (each
    /// below its floor); `None` when it asks for one of them, or when they cannot be weighed:
    /// a function described in another script than the message, or an engine that reports no
    /// prompt log-probabilities (a remote one). A request of several parts reads only in part
    /// as each function's, so one function below the floor beside another above it is
    /// no sign that it was not asked for.
    pub(super) async fn asks_for_none(
        &self,
        backend: &Arc<dyn Backend>,
        functions: &[CalledFunction<'_>],
    ) -> Option<Vec<FunctionRelevance>> {
        let message_script = self.message.chars().any(non_latin_letter);
        if functions.is_empty()
            || functions.iter().any(|function| {
                description(function.tool).chars().any(non_latin_letter) != message_script
            })
        {
            return None;
        }
        match self.scores_below_floor(backend, functions).await {
            Ok(scores) => scores,
            Err(EngineError::Unsupported(reason)) => {
                tracing::debug!(%reason, "no relevance check: the engine cannot score a text");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "the relevance check failed: the calls are kept");
                None
            }
        }
    }

    /// Each function's score while all are below their floors; `None` at the first that is
    /// not.
    async fn scores_below_floor(
        &self,
        backend: &Arc<dyn Backend>,
        functions: &[CalledFunction<'_>],
    ) -> Result<Option<Vec<FunctionRelevance>>, EngineError> {
        let Some((first, rest)) = functions.split_first() else {
            return Ok(None);
        };
        // The message alone and after the first description are computed in the same steps.
        let first_context = under_description(first.tool);
        let (alone, under_first) = tokio::join!(
            text_likelihood(backend, NO_FUNCTION, &self.message, true),
            text_likelihood(backend, &first_context, &self.message, true),
        );
        let alone = alone?;
        let mut under_first = Some(under_first?);
        let mut scores = Vec::with_capacity(functions.len());
        for function in std::iter::once(first).chain(rest) {
            let tool = function.tool;
            let under = match under_first.take() {
                Some(under) => under,
                None => {
                    text_likelihood(backend, &under_description(tool), &self.message, true).await?
                }
            };
            let score = under.per_token() - alone.per_token();
            let opposite = self
                .opposites
                .then(|| named_for_the_opposite(&tool.name, &self.message))
                .flatten();
            let floor = match opposite {
                Some(_) => f32::INFINITY,
                None => function.floor(&self.floors),
            };
            tracing::debug!(
                function = %tool.name,
                score,
                invented = function.invented,
                invented_number = function.invented_number,
                opposite = ?opposite,
                "relevance of the function to the message"
            );
            if score >= floor {
                return Ok(None);
            }
            scores.push(FunctionRelevance {
                name: tool.name.clone(),
                score,
            });
        }
        Ok(Some(scores))
    }
}

/// The context a message is scored after with `tool` in view.
fn under_description(tool: &ToolDefinition) -> String {
    format!(
        "The tool `{}`: {}\nA user's request that this tool serves:\n",
        tool.name,
        description(tool)
    )
}

fn description(tool: &ToolDefinition) -> &str {
    tool.description.as_deref().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::several_parts;

    #[test]
    fn a_message_of_several_sentences_or_clauses_asks_several_things() {
        for message in [
            "How much is the iPhone 15, and what warranty does it have?",
            "Is the Huawei MatePad 11 in stock, and how long is its warranty?",
            "Hi, can you check on my order 12345? Has it shipped yet?",
            "Find the area of the circle. Then plot a sine wave.",
            "退货要几天？运费谁付？",
        ] {
            assert!(several_parts(message), "{message}");
        }
        for message in [
            "Calculate the area of a triangle given the base is 10 meters and height is 5 meters.",
            "Solve the quadratic equation with coefficients a = 1, b = 2, and c = 3.",
            "What is the status of order 12345?",
            "Hello! ",
            "Hi! What is the status of order 12345?",
            "Play songs by Queen and Abba for 20 minutes",
            "A body 1.75 m tall weighs 70 kg.",
            "杭州办公室有哪些带投影仪的会议室？",
        ] {
            assert!(!several_parts(message), "{message}");
        }
    }
}
