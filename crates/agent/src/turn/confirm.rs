//! After a confirmation: the approval (which runs the action once) or the denial, the result
//! written as the waiting call's tool message, and the turn continued.

use super::step::{error_result, tool_content, tool_message};
use super::*;

/// The result the model reads for an action a person denied.
pub(super) const DENIED: &str = "the user denied this action; it was not run";

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
        // A denied or expired action is told to the model as a stale one would be.
        let told = |action| {
            self.stale_outcome(action)
                .map(|(_, ok, content)| (ok, content))
        };
        let report = match &resolution {
            Resolution::Ran(action, result) => Some((action, tool_content(result))),
            Resolution::Denied(action) | Resolution::Expired(action) => {
                told(action).map(|outcome| (action, outcome))
            }
            Resolution::AlreadyDecided(action) if action.state == ActionState::Expired => {
                told(action).map(|outcome| (action, outcome))
            }
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

    /// Resolves the session's waiting calls whose actions can no longer be decided: one
    /// interrupted by a restart, caught `executing` long past any deadline (its instance
    /// died), run or denied without the session hearing of it, or expired. The model reads an
    /// error result (or the stored result) for each, and the audit log says why, so the
    /// session can go on instead of answering 409 forever.
    pub(super) fn settle_stale_calls(
        &self,
        context: &CallContext,
        session_id: &str,
    ) -> Result<(), AgentError> {
        for call in self.sessions.pending_calls(session_id)? {
            let outcome = match self.policy.actions().get(&call.action_id)? {
                Some(action) => self.stale_outcome(&action),
                None => Some((
                    "missing",
                    false,
                    error_result("this action is gone from the state database; it was not run by this session"),
                )),
            };
            if let Some((state, ok, content)) = outcome {
                self.settle(context, session_id, &call, state, ok, &content)?;
            }
        }
        Ok(())
    }

    /// What the model is told of an action that waits no more, or `None` while it may still
    /// be decided or is running.
    fn stale_outcome(&self, action: &Action) -> Option<(&'static str, bool, String)> {
        let now = chrono::Utc::now();
        let expires = chrono::DateTime::parse_from_rfc3339(&action.expires_at)
            .map(|at| at.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        let interrupted = || {
            (
                "interrupted",
                false,
                error_result("Fulcrum stopped while this action ran: it may have taken effect. Check before asking for it again."),
            )
        };
        match action.state {
            ActionState::Pending if expires > now => None,
            ActionState::Pending | ActionState::Expired => Some((
                "expired",
                false,
                error_result("the confirmation expired; the action was not run"),
            )),
            ActionState::Executing => {
                // Claimed before its expiry and bounded by the tool's timeout: past both, the
                // instance that ran it is gone.
                let timeout = self
                    .policy
                    .registry()
                    .get(&action.tool)
                    .map_or(0, |tool| tool.config.timeout_ms);
                let grace =
                    chrono::Duration::milliseconds(i64::try_from(timeout).unwrap_or(i64::MAX / 2))
                        + chrono::Duration::minutes(1);
                (now > expires + grace).then(interrupted)
            }
            ActionState::Interrupted => Some(interrupted()),
            ActionState::Executed => {
                Some(("executed", true, action.result.clone().unwrap_or_default()))
            }
            ActionState::Failed => Some((
                "failed",
                false,
                error_result(action.result.as_deref().unwrap_or("the action failed")),
            )),
            ActionState::Denied => Some(("denied", false, error_result(DENIED))),
        }
    }

    fn settle(
        &self,
        context: &CallContext,
        session_id: &str,
        call: &PendingCall,
        state: &str,
        ok: bool,
        content: &str,
    ) -> Result<(), AgentError> {
        self.policy.audit().append(context.event(
            "pending_call_settled",
            json!({"action_id": call.action_id, "tool": call.tool, "state": state, "ok": ok, "result": content}),
        ))?;
        let message = tool_message(&call.call_id, &call.tool, content);
        self.sessions
            .resolve_pending(session_id, &call.action_id, &message)?;
        Ok(())
    }
}
