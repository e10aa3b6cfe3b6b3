//! Chat completions under the policy: which roles may use the model directly, and one audit
//! row per completion (caller, model, token counts, tools offered, calls returned, and the
//! messages and output when the policy's `audit_chat_content` is `full`).

use std::sync::Arc;

use fulcrum_agent::{CheckReport, CheckReportSlot};
use fulcrum_chat::tools::{dedupe_calls, ToolSet};
use fulcrum_engine::{FinishReason, GenerationStream, Usage};
use fulcrum_tools::{CallContext, ChatAuditContent, Policy, Principal};
use serde_json::{json, Value};

use super::completion::read_answer;
use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::ValidRequest;

/// What a completion's audit row needs, taken before the request is consumed.
pub(crate) struct ChatAudit {
    policy: Arc<Policy>,
    context: CallContext,
    content: ChatAuditContent,
    model: String,
    stream: bool,
    tools_offered: Vec<String>,
    messages: Option<Value>,
}

/// Refuses a caller whose role the policy's `chat_roles` leave out of the model's direct use
/// (`what`: chat completions, embeddings), and logs the refusal.
pub(crate) fn check_allowed(
    state: &AppState,
    caller: Option<&Principal>,
    what: &str,
) -> Result<(), ApiError> {
    let (Some(governance), Some(caller)) = (&state.governance, caller) else {
        return Ok(());
    };
    if governance.policy.registry().config().may_chat(&caller.role) {
        return Ok(());
    }
    let reason = format!(
        "role `{}` may not use {what} (the policy's `chat_roles`); use the agent API",
        caller.role
    );
    let kind = if what == "embeddings" {
        "embeddings"
    } else {
        "chat_completion"
    };
    let context = CallContext {
        principal: caller.clone(),
        request_id: None,
        session_id: None,
    };
    governance
        .policy
        .audit()
        .append(context.event(kind, json!({"refused": reason})))?;
    Err(ApiError::forbidden(reason))
}

/// Appends one row of `kind` for `caller`'s request (an embeddings call, say); a failure to
/// write it is logged, the answer already computed is still given.
pub(crate) fn audit_event(state: &AppState, caller: &Principal, kind: &str, data: Value) {
    let Some(governance) = &state.governance else {
        return;
    };
    let context = CallContext {
        principal: caller.clone(),
        request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
        session_id: None,
    };
    if let Err(err) = governance.policy.audit().append(context.event(kind, data)) {
        tracing::error!(%err, kind, "a request was not audited");
    }
}

impl ChatAudit {
    /// `None` without a policy (nothing to audit to) or without a caller.
    pub(crate) fn for_request(
        state: &AppState,
        caller: Option<&Principal>,
        request: &ValidRequest,
        model: &str,
    ) -> Option<ChatAudit> {
        let (governance, caller) = (state.governance.as_ref()?, caller?);
        let content = governance.policy.registry().config().audit_chat_content;
        Some(ChatAudit {
            policy: Arc::clone(&governance.policy),
            context: CallContext {
                principal: caller.clone(),
                request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
                session_id: None,
            },
            content,
            model: model.to_string(),
            stream: request.stream,
            tools_offered: request.tools.iter().map(|t| t.name.clone()).collect(),
            messages: (content == ChatAuditContent::Full)
                .then(|| serde_json::to_value(&request.messages).unwrap_or(Value::Null)),
        })
    }

    /// Writes the row when the generation finishes (streamed or not, whoever reads it).
    pub(crate) fn attach(
        self,
        generation: GenerationStream,
        tools: Option<Arc<ToolSet>>,
        checks: Option<CheckReportSlot>,
    ) -> GenerationStream {
        generation.on_complete(move |text, reason, usage| {
            let checks = checks.and_then(|slot| slot.take());
            self.record(text, reason, usage, tools, checks)
        })
    }

    fn record(
        self,
        text: &str,
        reason: FinishReason,
        usage: &Usage,
        tools: Option<Arc<ToolSet>>,
        checks: Option<CheckReport>,
    ) {
        let calls: Vec<Value> = tools
            .map(|tools| {
                dedupe_calls(read_answer(text, reason, &tools).0.calls)
                    .into_iter()
                    .map(|call| match self.content {
                        ChatAuditContent::Full => {
                            json!({"name": call.name, "arguments": call.arguments})
                        }
                        ChatAuditContent::Metadata => json!({"name": call.name}),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut data = json!({
            "model": self.model,
            "stream": self.stream,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "finish_reason": format!("{reason:?}").to_lowercase(),
            "tools_offered": self.tools_offered,
            "tool_calls": calls,
        });
        if let Some(checks) = checks {
            // What the call checks dropped or added; the model's own answer only where the
            // content is audited.
            data["call_checks"] = match self.content {
                ChatAuditContent::Full => json!(checks),
                ChatAuditContent::Metadata => json!({
                    "dropped": checks.dropped.iter().map(|c| json!({"name": c.name, "reason": c.reason})).collect::<Vec<_>>(),
                    "added": checks.added.iter().map(|c| json!({"name": c.name, "reason": c.reason})).collect::<Vec<_>>(),
                    "dropped_arguments": checks.dropped_arguments.iter().map(|d| json!({"function": d.function, "argument": d.argument, "reason": d.reason})).collect::<Vec<_>>(),
                    "dropped_items": checks.dropped_items.iter().map(|d| json!({"function": d.function, "argument": d.argument, "count": d.items.len(), "reason": d.reason})).collect::<Vec<_>>(),
                    "rewritten_arguments": checks.rewritten_arguments.iter().map(|t| json!({"function": t.function, "argument": t.argument, "reason": t.reason})).collect::<Vec<_>>(),
                    "rescaled_arguments": checks.rescaled_arguments.iter().map(|r| json!({"function": r.function, "argument": r.argument, "reason": r.reason})).collect::<Vec<_>>(),
                    "answered_in_text": checks.answered_in_text,
                    "redirected_start": checks.redirected_start,
                    "closed_cut_call": checks.closed_cut_call,
                }),
            };
        }
        if let Some(messages) = self.messages {
            data["messages"] = messages;
            data["output"] = json!(text);
        }
        if let Err(err) = self
            .policy
            .audit()
            .append(self.context.event("chat_completion", data))
        {
            tracing::error!(%err, "a chat completion was not audited");
        }
    }
}
