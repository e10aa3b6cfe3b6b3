//! The calls of one step: each decided by the policy, the permitted ones run concurrently,
//! the results recorded as tool messages.

use super::*;

impl Agent {
    /// Decides on every call of one step, runs the permitted ones concurrently, and records
    /// the assistant message and the results. Returns the actions left waiting.
    pub(super) async fn act(
        &self,
        context: &CallContext,
        session_id: &str,
        content: Option<String>,
        calls: Vec<Call>,
        events: Events<'_>,
    ) -> Result<Vec<Action>, AgentError> {
        let mut assistant = Message::assistant(content.unwrap_or_default());
        assistant.tool_calls = calls
            .iter()
            .map(|call| ToolCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.to_string(),
            })
            .collect();
        let mut permitted = Vec::new();
        let mut results: Vec<(usize, bool, String)> = Vec::new();
        let mut pending = Vec::new();
        let mut pending_calls = Vec::new();
        for (index, call) in calls.iter().enumerate() {
            emit(
                events,
                AgentEvent::ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                },
            );
            if let Some(error) = &call.invalid {
                results.push((
                    index,
                    false,
                    error_result(&format!("invalid arguments: {error}")),
                ));
                continue;
            }
            match self
                .policy
                .authorize(context, &call.name, &call.arguments)?
            {
                Decision::Permit(permit) => permitted.push((index, permit)),
                Decision::Deny(reason) => {
                    results.push((index, false, error_result(&format!("denied: {reason}"))))
                }
                Decision::Confirm(action) => {
                    emit(
                        events,
                        AgentEvent::ConfirmationRequired {
                            call_id: call.id.clone(),
                            action_id: action.id.clone(),
                            tool: action.tool.clone(),
                            summary: action.summary.clone(),
                            arguments_sha256: action.arguments_sha256.clone(),
                            expires_at: action.expires_at.clone(),
                        },
                    );
                    pending_calls.push(PendingCall {
                        action_id: action.id.clone(),
                        call_id: call.id.clone(),
                        tool: call.name.clone(),
                    });
                    pending.push(*action);
                }
            }
        }
        // Independent calls of one step run at the same time.
        let runs = permitted.into_iter().map(|(index, permit)| async move {
            (index, self.policy.execute(context, permit).await)
        });
        let turn = self.turn_number(session_id)?;
        for (index, result) in futures::future::join_all(runs).await {
            let (ok, content) = tool_content(&result);
            let call = &calls[index];
            self.sessions.add_key_event(
                session_id,
                turn,
                &key_event(&call.name, &call.arguments, ok, &content),
            )?;
            results.push((index, ok, content));
        }
        results.sort_by_key(|(index, ..)| *index);
        let mut messages = vec![assistant];
        for (index, ok, content) in results {
            let call = &calls[index];
            emit(
                events,
                AgentEvent::ToolResult {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    ok,
                    output: content.clone(),
                },
            );
            messages.push(tool_message(&call.id, &call.name, &content));
        }
        self.sessions
            .append(session_id, &messages, &pending_calls)?;
        Ok(pending)
    }
}

/// A call with its id, and why its arguments failed the schema if they did.
pub(super) struct Call {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) arguments: Value,
    pub(super) invalid: Option<String>,
}

/// A tool result that tells the model the call failed, and why.
pub(super) fn error_result(text: &str) -> String {
    json!({ "error": text }).to_string()
}

/// Whether a tool message holds an error result (`{"error": …}`, as [`error_result`] writes).
pub(super) fn is_error_result(content: &str) -> bool {
    serde_json::from_str::<Value>(content).is_ok_and(|value| value.get("error").is_some())
}

pub(super) fn tool_content(
    result: &Result<ToolOutput, fulcrum_tools::ToolsError>,
) -> (bool, String) {
    match result {
        Ok(output) => (true, output.text.clone()),
        Err(err) => (false, error_result(&err.to_string())),
    }
}

/// The tool message for a call; its text cannot pose as the model's own markup.
pub(super) fn tool_message(call_id: &str, name: &str, content: &str) -> Message {
    let mut message = Message::new(Role::Tool, neutralize_markup(content));
    message.tool_call_id = Some(call_id.to_string());
    message.name = Some(name.to_string());
    message
}
