//! Prompt assembly by layers under a token budget. The order keeps what changes least first,
//! so the engine's prefix cache reuses it from one turn to the next: the system prompt and
//! tools, then retrieved passages, then the session's memory (summary and key events of older
//! turns), then the recent turns verbatim, then the current turn. Trimming is deterministic:
//! the same session and budget always give the same prompt.

use fulcrum_chat::{Message, Role};
use fulcrum_retrieval::Passage;
use serde::Serialize;

use crate::error::AgentError;
use crate::session::SessionMemory;

/// How much of the window a turn's prompt may use, and how it is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextBudget {
    /// Soft cap on the prompt (past ~20K tokens small models lose the latest instruction).
    /// Never more than the window minus `max_tokens`.
    pub max_prompt_tokens: usize,
    /// Turns before the current one kept verbatim.
    pub recent_turns: usize,
    /// Tokens of retrieved passages at most.
    pub passage_tokens: usize,
    /// Tokens of summary and key events at most.
    pub memory_tokens: usize,
}

impl Default for ContextBudget {
    fn default() -> Self {
        ContextBudget {
            max_prompt_tokens: 20_000,
            recent_turns: 5,
            passage_tokens: 4_000,
            memory_tokens: 2_000,
        }
    }
}

/// Tokens each layer of one prompt used (visible in the turn's result and the audit log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LayerTokens {
    pub system: usize,
    pub passages: usize,
    pub memory: usize,
    pub recent: usize,
    pub current: usize,
    /// The whole prompt as sent.
    pub total: usize,
    /// The cap it was held to.
    pub budget: usize,
    pub passages_used: usize,
    pub key_events_used: usize,
    /// Earlier turns shown verbatim.
    pub recent_turns: usize,
    /// Turns that left the window because of the budget before the summary covered them.
    pub dropped_turns: usize,
}

/// Token counts of message lists, as the model will see them.
pub trait Measure {
    /// Tokens of `messages` rendered as a prompt (with the step's tools).
    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize, AgentError>;
    /// Tokens of a piece of text.
    fn text_tokens(&self, text: &str) -> Result<usize, AgentError>;
}

/// What one prompt is built from.
pub struct Layers<'a> {
    pub system: Message,
    pub passages: &'a [Passage],
    pub memory: &'a SessionMemory,
    /// The session's messages, oldest first; the last user message opens the current turn.
    pub messages: &'a [Message],
}

/// The session's messages cut into turns, each opening with a user message.
pub fn split_turns(messages: &[Message]) -> Vec<&[Message]> {
    let mut turns = Vec::new();
    let mut start = 0;
    for (index, message) in messages.iter().enumerate() {
        if message.role == Role::User && index > start {
            turns.push(&messages[start..index]);
            start = index;
        }
    }
    if start < messages.len() {
        turns.push(&messages[start..]);
    }
    turns
}

/// Builds the prompt's messages and reports what each layer used.
pub fn assemble(
    layers: &Layers<'_>,
    budget: &ContextBudget,
    cap: usize,
    measure: &dyn Measure,
) -> Result<(Vec<Message>, LayerTokens), AgentError> {
    let turns = split_turns(layers.messages);
    let (previous, current): (&[&[Message]], &[Message]) = match turns.split_last() {
        Some((current, previous)) => (previous, current),
        None => (&[], &[]),
    };
    // Turns the summary does not cover stay verbatim (a summary still being written loses
    // nothing); at most the budget pushes the oldest out.
    let window_start = layers
        .memory
        .summarized_turns
        .min(previous.len().saturating_sub(budget.recent_turns));
    let mut first_verbatim = window_start;
    let passages = within(layers.passages, budget.passage_tokens, measure, |p| {
        passage_line(p)
    })?;
    let mut passages_kept = passages.len();
    let mut events_dropped = 0usize;
    loop {
        let memory_text = memory_message(
            layers.memory,
            first_verbatim,
            events_dropped,
            budget,
            measure,
        )?;
        let messages = compose(
            &layers.system,
            &layers.passages[..passages_kept],
            memory_text.as_ref().map(|(text, _)| text.as_str()),
            &previous[first_verbatim..],
            current,
        );
        let total = measure.prompt_tokens(&messages)?;
        let over = total > cap;
        if over && first_verbatim < previous.len() {
            first_verbatim += 1;
            continue;
        }
        if over && passages_kept > 0 {
            passages_kept -= 1;
            continue;
        }
        let events_shown = memory_text.as_ref().map_or(0, |(_, shown)| *shown);
        if over && events_shown > 0 {
            events_dropped += 1;
            continue;
        }
        // Per layer: the growth of the rendered prompt as each layer is added.
        let system = measure.prompt_tokens(&messages[..1])?;
        let with_passages = 1 + usize::from(passages_kept > 0);
        let with_memory = with_passages + usize::from(memory_text.is_some());
        let recent_messages: usize = previous[first_verbatim..].iter().map(|t| t.len()).sum();
        let tokens_through = |count: usize| measure.prompt_tokens(&messages[..count]);
        let passages_end = tokens_through(with_passages)?;
        let memory_end = tokens_through(with_memory)?;
        let recent_end = tokens_through(with_memory + recent_messages)?;
        let usage = LayerTokens {
            system,
            // A template need not grow with each message (some print a default system
            // prompt only when none is given), so a layer's growth may be negative: shown as 0.
            passages: passages_end.saturating_sub(system),
            memory: memory_end.saturating_sub(passages_end),
            recent: recent_end.saturating_sub(memory_end),
            current: total.saturating_sub(recent_end),
            total,
            budget: cap,
            passages_used: passages_kept,
            key_events_used: events_shown,
            recent_turns: previous.len() - first_verbatim,
            dropped_turns: first_verbatim - window_start,
        };
        return Ok((messages, usage));
    }
}

fn compose(
    system: &Message,
    passages: &[Passage],
    memory: Option<&str>,
    recent: &[&[Message]],
    current: &[Message],
) -> Vec<Message> {
    let mut messages = vec![system.clone()];
    if !passages.is_empty() {
        let mut text = String::from(
            "Passages from the company's documents that may help. Cite a passage by its id in \
             square brackets, e.g. [S1], when you use it; ignore those that do not apply.\n",
        );
        for passage in passages {
            text.push('\n');
            text.push_str(&passage_line(passage));
        }
        messages.push(Message::system(text));
    }
    if let Some(memory) = memory {
        messages.push(Message::system(memory));
    }
    for turn in recent {
        messages.extend(turn.iter().cloned());
    }
    messages.extend(current.iter().cloned());
    messages
}

fn passage_line(passage: &Passage) -> String {
    format!(
        "[{}] {} — {}\n{}",
        passage.id, passage.source, passage.section, passage.text
    )
}

/// The leading items of `items` whose texts fit in `limit` tokens together.
fn within<'a, T>(
    items: &'a [T],
    limit: usize,
    measure: &dyn Measure,
    text: impl Fn(&T) -> String,
) -> Result<&'a [T], AgentError> {
    let mut used = 0;
    for (index, item) in items.iter().enumerate() {
        used += measure.text_tokens(&text(item))?;
        if used > limit {
            return Ok(&items[..index]);
        }
    }
    Ok(items)
}

/// The memory layer: the summary, then the key events of the turns no longer shown verbatim
/// (newest kept when they do not all fit). Returns the text and the number of events shown.
fn memory_message(
    memory: &SessionMemory,
    first_verbatim: usize,
    dropped: usize,
    budget: &ContextBudget,
    measure: &dyn Measure,
) -> Result<Option<(String, usize)>, AgentError> {
    let older: Vec<_> = memory
        .events
        .iter()
        .filter(|event| event.turn <= first_verbatim)
        .collect();
    let summary = memory.summary.as_deref().filter(|s| !s.trim().is_empty());
    if summary.is_none() && older.is_empty() {
        return Ok(None);
    }
    let mut text = String::from(
        "Memory of this conversation's earlier turns (no longer shown in full; trust it as \
         you would the turns themselves):",
    );
    if let Some(summary) = summary {
        text.push_str("\nSummary: ");
        text.push_str(summary.trim());
    }
    let mut room = budget
        .memory_tokens
        .saturating_sub(measure.text_tokens(&text)?);
    let mut shown: Vec<String> = Vec::new();
    for event in older.iter().rev().skip(dropped) {
        let line = format!("- (turn {}) {}", event.turn, event.text);
        let cost = measure.text_tokens(&line)?;
        if cost > room {
            break;
        }
        room -= cost;
        shown.push(line);
    }
    if !shown.is_empty() {
        text.push_str("\nKey events:");
        for line in shown.iter().rev() {
            text.push('\n');
            text.push_str(line);
        }
    }
    Ok(Some((text, shown.len())))
}

/// A key event in words: the call and what it returned, cut to a line.
pub fn key_event(tool: &str, arguments: &serde_json::Value, ok: bool, output: &str) -> String {
    const MAX_OUTPUT_CHARS: usize = 240;
    let mut result: String = output.chars().take(MAX_OUTPUT_CHARS).collect();
    if output.chars().count() > MAX_OUTPUT_CHARS {
        result.push('…');
    }
    let verdict = if ok { "returned" } else { "failed" };
    format!("{tool}({arguments}) {verdict} {result}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template that prints a long default system prompt when the prompt holds only the
    /// system message: fewer messages, more tokens.
    struct ShrinkingTemplate;

    impl Measure for ShrinkingTemplate {
        fn prompt_tokens(&self, messages: &[Message]) -> Result<usize, AgentError> {
            Ok(if messages.len() == 1 {
                500
            } else {
                10 * messages.len()
            })
        }
        fn text_tokens(&self, text: &str) -> Result<usize, AgentError> {
            Ok(text.split_whitespace().count())
        }
    }

    #[test]
    fn a_template_that_shrinks_as_messages_are_added_is_measured_without_overflow() {
        let memory = SessionMemory::default();
        let messages = [
            Message::user("first"),
            Message::assistant("one"),
            Message::user("second"),
        ];
        let layers = Layers {
            system: Message::system("You help."),
            passages: &[],
            memory: &memory,
            messages: &messages,
        };
        let (prompt, usage) = assemble(
            &layers,
            &ContextBudget::default(),
            1_000,
            &ShrinkingTemplate,
        )
        .expect("fits");
        assert_eq!(prompt.len(), 4);
        assert_eq!((usage.system, usage.recent, usage.total), (500, 0, 40));
    }
}
