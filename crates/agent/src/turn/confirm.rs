//! After a confirmation: the approval (which runs the action once) or the denial, the result
//! written as the waiting call's tool message, and the turn continued.

use super::step::{tool_content, tool_message};
use super::*;

impl Agent {
    /// Approves (and runs) or denies a pending action, tells the model what came of it, and
    /// continues the turn once no call of it waits any more.
    pub async fn decide(
        &self,
        caller: &Principal,
        action_id: &str,
        approve: bool,
        expected_hash: Option<&str>,
        events: Events<'_>,
    ) -> Result<(Resolution, Option<TurnOutcome>), AgentError> {
        let session_id = self.sessions.session_of_action(action_id)?;
        let context = CallContext {
            principal: caller.clone(),
            request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
            session_id: session_id.clone(),
        };
        let resolution = if approve {
            self.policy
                .approve(&context, action_id, expected_hash)
                .await?
        } else {
            self.policy.deny(&context, action_id)?
        };
        let report = match &resolution {
            Resolution::Ran(action, result) => Some((action, tool_content(result))),
            Resolution::Denied(action) => Some((
                action,
                (
                    false,
                    json!({"error": "the user denied this action; it was not run"}).to_string(),
                ),
            )),
            Resolution::Expired(action) => Some((
                action,
                (
                    false,
                    json!({"error": "the confirmation expired; the action was not run"})
                        .to_string(),
                ),
            )),
            Resolution::AlreadyDecided(action) if action.state == ActionState::Expired => Some((
                action,
                (
                    false,
                    json!({"error": "the confirmation expired; the action was not run"})
                        .to_string(),
                ),
            )),
            _ => None,
        };
        let (Some(session_id), Some((action, (ok, content)))) = (session_id, report) else {
            return Ok((resolution, None));
        };
        let Some(call) = self
            .sessions
            .pending_calls(&session_id)?
            .into_iter()
            .find(|call| call.action_id == action.id)
        else {
            return Ok((resolution, None));
        };
        emit(
            events,
            AgentEvent::ToolResult {
                id: call.call_id.clone(),
                name: call.tool.clone(),
                ok,
                output: content.clone(),
            },
        );
        if matches!(resolution, Resolution::Ran(..)) {
            let turn = self.turn_number(&session_id)?;
            self.sessions.add_key_event(
                &session_id,
                turn,
                &key_event(&call.tool, &action.arguments, ok, &content),
            )?;
        }
        let message = tool_message(&call.call_id, &call.tool, &content);
        if !self
            .sessions
            .resolve_pending(&session_id, &action.id, &message)?
        {
            return Ok((resolution, None));
        }
        if !self.sessions.pending_calls(&session_id)?.is_empty() {
            return Ok((resolution, None));
        }
        // The session's owner continues the turn with their own role's tools.
        let session = self.sessions.get_owned(
            &session_id,
            &Principal {
                user: action.user.clone(),
                role: action.role.clone(),
            },
        )?;
        let owner_context = CallContext {
            principal: Principal {
                user: session.user,
                role: action.role.clone(),
            },
            ..context
        };
        let outcome = self.run(&owner_context, events).await?;
        Ok((resolution, Some(outcome)))
    }
}
