//! The policy: the one place that decides whether a proposed call runs, and records that
//! decision durably before anything runs.
//!
//! Invariant: a tool runs only with a [`Permit`]; a `Permit` is made only here, and only after
//! the decision row is committed to the audit log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::{Action, ActionState, Actions, ApprovalOutcome};
use crate::audit::{AuditEvent, AuditLog};
use crate::error::ToolsError;
use crate::executor::{Executors, ToolOutput};
use crate::identity::Principal;
use crate::permit::Permit;
use crate::registry::{RegisteredTool, Registry};

/// The answer to a proposed call.
#[derive(Debug)]
pub enum Decision {
    Permit(Permit),
    /// A sensitive tool: the call waits as a pending action for approval.
    Confirm(Box<Action>),
    /// Refused; the reason is what the model and the log are told.
    Deny(String),
}

/// Who is asking, within what request.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub principal: Principal,
    pub request_id: Option<String>,
    pub session_id: Option<String>,
}

impl CallContext {
    pub fn event(&self, kind: &str, data: Value) -> AuditEvent {
        AuditEvent {
            request_id: self.request_id.clone(),
            session_id: self.session_id.clone(),
            user: Some(self.principal.user.clone()),
            role: Some(self.principal.role.clone()),
            kind: kind.to_string(),
            data,
        }
    }
}

/// What an approval or denial led to.
#[derive(Debug)]
pub enum Resolution {
    /// Approved now and run: the output or the tool's error.
    Ran(Action, Result<ToolOutput, ToolsError>),
    Denied(Action),
    Expired(Action),
    /// Decided before; nothing ran this time.
    AlreadyDecided(Action),
    /// The approval named other arguments than the stored ones; nothing ran.
    HashMismatch(Action),
    /// This caller may not decide on the action.
    NotAllowed(String),
}

pub struct Policy {
    registry: Arc<Registry>,
    audit: Arc<AuditLog>,
    actions: Arc<Actions>,
    executors: Executors,
    confirmation_ttl: Duration,
}

/// What an approver reads after the summary of a call that repeats an earlier one.
fn repeat_note(earlier: &Action) -> String {
    const SHOWN: usize = 200;
    let mut note = format!(
        " (REPEAT: asked for before in this session as {} at {}, {}",
        earlier.id,
        earlier.created_at,
        earlier.state.as_str()
    );
    if let Some(result) = &earlier.result {
        let cut: String = result.chars().take(SHOWN).collect();
        let more = if cut.len() < result.len() { "…" } else { "" };
        note.push_str(&format!(": {cut}{more}"));
    }
    note.push(')');
    note
}

impl Policy {
    pub fn new(
        registry: Arc<Registry>,
        audit: Arc<AuditLog>,
        actions: Arc<Actions>,
        confirmation_ttl: Duration,
    ) -> Result<Policy, ToolsError> {
        let executors = Executors::new(Arc::clone(&registry))?;
        Ok(Policy {
            registry,
            audit,
            actions,
            executors,
            confirmation_ttl,
        })
    }

    /// The policy over a state database file: its audit log and pending actions.
    pub fn open(
        registry: Registry,
        state: &std::path::Path,
        durability: crate::Durability,
        confirmation_ttl: Duration,
    ) -> Result<Policy, ToolsError> {
        let audit = AuditLog::new(crate::open_state_database_with(state, durability)?)?;
        let actions = Actions::new(crate::open_state_database_with(state, durability)?)?;
        Policy::new(
            Arc::new(registry),
            Arc::new(audit),
            Arc::new(actions),
            confirmation_ttl,
        )
    }

    /// Opens the connections tools need before the first call (MCP servers) and checks them.
    pub async fn connect(&self) -> Result<(), ToolsError> {
        self.executors.connect().await
    }

    /// Whether a tool of the policy file runs the host function `name`.
    pub fn runs_host_function(&self, name: &str) -> bool {
        self.executors.runs_host_function(name)
    }

    /// Provides a function the policy file's `host` tools run (see [`crate::executor::host`]).
    pub fn provide(
        &self,
        name: &str,
        function: Arc<dyn crate::executor::host::HostFunction>,
    ) -> Result<(), ToolsError> {
        self.executors.provide(name, function)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub fn actions(&self) -> &Actions {
        &self.actions
    }

    /// Decides on one proposed call and records the decision (durably) before returning.
    pub fn authorize(
        &self,
        context: &CallContext,
        tool_name: &str,
        arguments: &Value,
    ) -> Result<Decision, ToolsError> {
        let refusal = match self.registry.get(tool_name) {
            None => Some(format!("`{tool_name}` is not a registered tool")),
            Some(tool) if !tool.allows_role(&context.principal.role) => Some(format!(
                "role `{}` may not call `{tool_name}`",
                context.principal.role
            )),
            Some(tool) => tool.check_arguments(arguments).err().map(|e| e.to_string()),
        };
        let record = |decision: &str, extra: Value| {
            let mut data = json!({"tool": tool_name, "arguments": arguments, "decision": decision});
            if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
                data.extend(extra.clone());
            }
            self.audit.append(context.event("decision", data))
        };
        if let Some(reason) = refusal {
            record("deny", json!({"reason": reason}))?;
            return Ok(Decision::Deny(reason));
        }
        let Some(tool) = self.registry.get(tool_name) else {
            return Ok(Decision::Deny(format!(
                "`{tool_name}` is not a registered tool"
            )));
        };
        if tool.config.sensitive {
            let repeat_of = self.earlier_call_on_the_same_object(context, tool, arguments)?;
            let mut summary = tool.summary(arguments);
            if let Some(earlier) = &repeat_of {
                summary.push_str(&repeat_note(earlier));
            }
            let action = self.actions.create(
                &context.principal,
                context.session_id.as_deref(),
                tool_name,
                arguments,
                &summary,
                self.confirmation_ttl,
            )?;
            record(
                "confirm",
                json!({
                    "action_id": action.id,
                    "arguments_sha256": action.arguments_sha256,
                    "repeat_of": repeat_of.as_ref().map(|earlier| &earlier.id),
                }),
            )?;
            return Ok(Decision::Confirm(Box::new(action)));
        }
        let row = record("permit", json!({}))?;
        Ok(Decision::Permit(Permit::new(
            tool_name.to_string(),
            arguments.clone(),
            context.principal.clone(),
            row.seq,
            None,
        )))
    }

    /// The session's latest earlier call of `tool` on the object `arguments` name (by the
    /// tool's `idempotency_keys`), when there is one.
    fn earlier_call_on_the_same_object(
        &self,
        context: &CallContext,
        tool: &RegisteredTool,
        arguments: &Value,
    ) -> Result<Option<Action>, ToolsError> {
        let Some(session) = context.session_id.as_deref() else {
            return Ok(None);
        };
        if tool.config.idempotency_keys.is_empty() {
            return Ok(None);
        }
        Ok(self
            .actions
            .in_session(session, &tool.config.name)?
            .into_iter()
            .filter(|earlier| tool.same_object(arguments, &earlier.arguments))
            .max_by(|a, b| a.created_at.cmp(&b.created_at)))
    }

    /// Runs a permitted call and records its result or error with its timing.
    pub async fn execute(
        &self,
        context: &CallContext,
        permit: Permit,
    ) -> Result<ToolOutput, ToolsError> {
        let started = Instant::now();
        let result = self.executors.run(&permit).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let data = match &result {
            Ok(output) => json!({
                "tool": permit.tool(),
                "decision_seq": permit.decision_seq(),
                "action_id": permit.action_id(),
                "ok": true,
                "output": output.text,
                "truncated": output.truncated,
                "elapsed_ms": elapsed_ms,
            }),
            Err(err) => json!({
                "tool": permit.tool(),
                "decision_seq": permit.decision_seq(),
                "action_id": permit.action_id(),
                "ok": false,
                "error": err.to_string(),
                "elapsed_ms": elapsed_ms,
            }),
        };
        self.audit.append(context.event("execution", data))?;
        if let Some(id) = permit.action_id() {
            match &result {
                Ok(output) => self.actions.finish(id, true, &output.text)?,
                Err(err) => self.actions.finish(id, false, &err.to_string())?,
            }
        }
        result
    }

    /// The actions waiting for `principal`'s role to approve them: pending calls of the tools
    /// that name the role among their approvers, asked for by someone else, oldest first.
    pub fn approval_queue(&self, principal: &Principal) -> Result<Vec<Action>, ToolsError> {
        let mut queue = Vec::new();
        for tool in self.registry.tools() {
            if tool.config.approver_roles.contains(&principal.role) {
                queue.extend(
                    self.actions
                        .pending_on_tool(&tool.config.name)?
                        .into_iter()
                        .filter(|action| action.user != principal.user),
                );
            }
        }
        queue.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(queue)
    }

    /// Whether `principal` may approve (`approving`) or deny the action: an approver role of its
    /// tool, or the requester — who may always withdraw it, but approve it only where the tool
    /// allows self-approval.
    fn may_decide(&self, principal: &Principal, action: &Action, approving: bool) -> bool {
        let tool = self.registry.get(&action.tool);
        let own = principal.user == action.user;
        if approving && own && tool.is_some_and(|tool| !tool.config.self_approval) {
            return false;
        }
        own || tool.is_some_and(|tool| tool.config.approver_roles.contains(&principal.role))
    }

    /// Whether the policy as it is now still lets the action's requester run its tool: the user
    /// still exists with a role the tool allows (a role stored with the action is the one they
    /// had when they asked; they may have been demoted or removed since, or the tool changed).
    /// Returns the requester's current role.
    fn still_permitted(&self, action: &Action) -> Result<String, String> {
        let Some(user) = self
            .registry
            .config()
            .users
            .iter()
            .find(|u| u.name == action.user)
        else {
            return Err(format!(
                "user `{}` who asked for action {} is no longer in the policy: it will not run",
                action.user, action.id
            ));
        };
        let Some(tool) = self.registry.get(&action.tool) else {
            return Err(format!(
                "tool `{}` of action {} is no longer in the policy: it will not run",
                action.tool, action.id
            ));
        };
        if !tool.allows_role(&user.role) {
            return Err(format!(
                "user `{}` now has role `{}`, which may not use `{}`: action {} will not run",
                user.name, user.role, action.tool, action.id
            ));
        }
        Ok(user.role.clone())
    }

    /// Approves a pending action and runs it, exactly once however often this is called.
    pub async fn approve(
        &self,
        context: &CallContext,
        action_id: &str,
        expected_hash: Option<&str>,
    ) -> Result<Resolution, ToolsError> {
        let action = self
            .actions
            .get(action_id)?
            .ok_or_else(|| ToolsError::UnknownAction(action_id.to_string()))?;
        if !self.may_decide(&context.principal, &action, true) {
            let reason = format!(
                "user `{}` (role `{}`) may not approve action {action_id}{}",
                context.principal.user,
                context.principal.role,
                if context.principal.user == action.user {
                    " (its tool needs someone else's approval: four eyes)"
                } else {
                    ""
                }
            );
            self.audit.append(context.event(
                "confirmation",
                json!({"action_id": action_id, "event": "approve_refused", "reason": reason}),
            ))?;
            return Ok(Resolution::NotAllowed(reason));
        }
        // The role the action runs with: the requester's now (checked while it is pending).
        let mut current_role = action.role.clone();
        if action.state == ActionState::Pending {
            match self.still_permitted(&action) {
                Ok(role) => current_role = role,
                Err(reason) => {
                    // The policy no longer lets the requester run it: it is closed, not left
                    // pending for someone to approve after the policy is restored.
                    self.actions.deny(action_id, "policy")?;
                    self.audit.append(context.event(
                        "confirmation",
                        json!({"action_id": action_id, "event": "refused_by_current_policy",
                           "tool": action.tool, "reason": reason}),
                    ))?;
                    return Ok(Resolution::NotAllowed(reason));
                }
            }
        }
        let outcome = self
            .actions
            .claim(action_id, &context.principal.user, expected_hash)?;
        let event = match &outcome {
            ApprovalOutcome::Claimed(_) => "approved",
            ApprovalOutcome::AlreadyDecided(_) => "approve_after_decision",
            ApprovalOutcome::Expired(_) => "expired",
            ApprovalOutcome::HashMismatch(_) => "approve_hash_mismatch",
            ApprovalOutcome::Denied(_) => "denied",
        };
        let row = self.audit.append(context.event(
            "confirmation",
            json!({"action_id": action_id, "event": event, "tool": action.tool,
                   "arguments_sha256": action.arguments_sha256}),
        ))?;
        match outcome {
            ApprovalOutcome::Claimed(claimed) => {
                // It runs for the user who asked for it, whoever approved it, with the role the
                // policy gives them now.
                let permit = Permit::new(
                    claimed.tool.clone(),
                    claimed.arguments.clone(),
                    Principal {
                        user: claimed.user.clone(),
                        role: current_role,
                    },
                    row.seq,
                    Some(claimed.id.clone()),
                );
                // The action ran in the session of the user who asked for it.
                let run_context = CallContext {
                    session_id: claimed.session_id.clone().or(context.session_id.clone()),
                    ..context.clone()
                };
                let result = self.execute(&run_context, permit).await;
                let done = self.actions.get(action_id)?.unwrap_or(claimed);
                Ok(Resolution::Ran(done, result))
            }
            ApprovalOutcome::AlreadyDecided(action) | ApprovalOutcome::Denied(action) => {
                Ok(Resolution::AlreadyDecided(action))
            }
            ApprovalOutcome::Expired(action) => Ok(Resolution::Expired(action)),
            ApprovalOutcome::HashMismatch(action) => Ok(Resolution::HashMismatch(action)),
        }
    }

    /// Denies a pending action.
    pub fn deny(&self, context: &CallContext, action_id: &str) -> Result<Resolution, ToolsError> {
        let action = self
            .actions
            .get(action_id)?
            .ok_or_else(|| ToolsError::UnknownAction(action_id.to_string()))?;
        if !self.may_decide(&context.principal, &action, false) {
            return Ok(Resolution::NotAllowed(format!(
                "user `{}` (role `{}`) may not deny action {action_id}",
                context.principal.user, context.principal.role
            )));
        }
        let outcome = self.actions.deny(action_id, &context.principal.user)?;
        let event = match &outcome {
            ApprovalOutcome::Denied(_) => "denied",
            ApprovalOutcome::Expired(_) => "expired",
            _ => "deny_after_decision",
        };
        self.audit.append(context.event(
            "confirmation",
            json!({"action_id": action_id, "event": event, "tool": action.tool}),
        ))?;
        Ok(match outcome {
            ApprovalOutcome::Denied(action) => Resolution::Denied(action),
            ApprovalOutcome::Expired(action) => Resolution::Expired(action),
            ApprovalOutcome::Claimed(action)
            | ApprovalOutcome::AlreadyDecided(action)
            | ApprovalOutcome::HashMismatch(action) => Resolution::AlreadyDecided(action),
        })
    }
}
