//! The session's summary: the turns that leave the verbatim window, folded in by the model
//! after an answered turn.

use super::prompt::render_prompt;
use super::*;

impl Agent {
    /// Folds the turns that have left the verbatim window into the session's summary, with
    /// the model. Run after a turn's answer (it does not delay it); until it is done those
    /// turns stay verbatim. Returns whether the summary changed.
    pub async fn remember(&self, caller: &Principal, session_id: &str) -> Result<bool, AgentError> {
        let session = self.sessions.get_owned(session_id, caller)?;
        if !self.sessions.pending_calls(&session.id)?.is_empty() {
            return Ok(false);
        }
        let stored = self.sessions.messages(&session.id)?;
        let memory = self.sessions.memory(&session.id)?;
        let turns = split_turns(&stored);
        // Every turn is complete here (the last one answered): the window is the last
        // `recent_turns` of them, the older ones go to the summary.
        let leaving = turns
            .len()
            .saturating_sub(self.options.context.recent_turns);
        if leaving <= memory.summarized_turns {
            return Ok(false);
        }
        let mut transcript = String::new();
        for (offset, turn) in turns[memory.summarized_turns..leaving].iter().enumerate() {
            let _ = std::fmt::Write::write_fmt(
                &mut transcript,
                format_args!("Turn {}:\n", memory.summarized_turns + offset + 1),
            );
            for message in turn.iter() {
                transcript.push_str(&transcript_line(message));
            }
        }
        let previous = memory
            .summary
            .as_deref()
            .unwrap_or("(nothing yet: this is the start of the conversation)");
        let messages = [
            Message::system(
                "You keep the memory of a conversation between a user and a company assistant. \
                 Write a short summary (at most 6 sentences) that merges the summary so far with \
                 the new turns. Keep names, numbers, order ids, dates and decisions exactly as \
                 written. Write only the summary.",
            ),
            Message::user(format!(
                "Summary so far: {previous}\n\nNew turns:\n{transcript}"
            )),
        ];
        let prompt = render_prompt(&self.template, &messages, &[])?;
        let request = GenerationRequest {
            timeout: self.options.generation_timeout,
            caller: Some(caller.user.clone()),
            ..GenerationRequest::greedy(prompt, SUMMARY_MAX_TOKENS)
        };
        let stream = start_generation(&self.backend, request).await?;
        let (text, _, _) = stream.collect().await?;
        let summary = parse_output(&text, &|_| false)
            .content
            .unwrap_or_default()
            .trim()
            .to_string();
        if summary.is_empty() {
            return Ok(false);
        }
        self.sessions.set_summary(&session.id, leaving, &summary)?;
        let context = CallContext {
            principal: caller.clone(),
            request_id: None,
            session_id: Some(session.id.clone()),
        };
        self.policy
            .audit()
            .append(context.event("summary", json!({"through_turn": leaving, "text": summary})))?;
        Ok(true)
    }
}

/// Tokens of a summary at most.
const SUMMARY_MAX_TOKENS: u32 = 256;

/// One message of a transcript to summarize, as plain text.
fn transcript_line(message: &Message) -> String {
    let content = message.content.as_deref().unwrap_or("").trim();
    match message.role {
        Role::User => format!("User: {content}\n"),
        Role::Assistant if !message.tool_calls.is_empty() => {
            let calls: Vec<String> = message
                .tool_calls
                .iter()
                .map(|call| format!("{}({})", call.name, call.arguments))
                .collect();
            format!("Assistant called: {}\n", calls.join(", "))
        }
        Role::Assistant => format!("Assistant: {content}\n"),
        Role::Tool => format!(
            "Result of {}: {content}\n",
            message.name.as_deref().unwrap_or("a tool")
        ),
        Role::System => String::new(),
    }
}
