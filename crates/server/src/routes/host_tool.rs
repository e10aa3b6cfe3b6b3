//! Routes that are a policy tool called directly (the monthly report, the document summary):
//! the tool running the route's host function that the caller's role may use is authorized
//! through the policy — the decision logged like the model's own calls — so the same rules
//! and audit rows apply whoever asks.

use fulcrum_tools::{CallContext, Decision, ExecutorConfig, Permit, Policy, RegisteredTool};
use serde_json::Value;

use crate::error::ApiError;

fn runs(tool: &RegisteredTool, function: &str) -> bool {
    matches!(&tool.config.executor, ExecutorConfig::Host { function: f } if f == function)
}

/// Whether `role` may call the tool running `function` through a route: open to it, and
/// without a confirmation (which only the agent can wait for).
pub(crate) fn may_call_directly(policy: &Policy, function: &str, role: &str) -> bool {
    policy
        .registry()
        .tools()
        .any(|tool| runs(tool, function) && tool.allows_role(role) && !tool.config.sensitive)
}

/// The policy's decision, logged, on the tool running `function` that the caller's role may
/// use; 403 when none is open to it, or it needs a confirmation (`instead` says what to do).
pub(crate) fn authorize(
    policy: &Policy,
    context: &CallContext,
    function: &str,
    arguments: &Value,
    instead: &str,
) -> Result<Permit, ApiError> {
    let role = &context.principal.role;
    let tools: Vec<&RegisteredTool> = policy
        .registry()
        .tools()
        .filter(|tool| runs(tool, function))
        .collect();
    let tool = tools
        .iter()
        .find(|tool| tool.config.roles.contains(role))
        .or_else(|| tools.first())
        .ok_or_else(|| {
            ApiError::forbidden(format!(
                "no tool of the policy runs `{function}`: this route is not enabled"
            ))
        })?;
    let needs_confirmation = || {
        ApiError::forbidden(format!(
            "`{}` needs a confirmation: {instead}",
            tool.config.name
        ))
    };
    if tool.config.sensitive {
        return Err(needs_confirmation());
    }
    match policy.authorize(context, &tool.config.name, arguments)? {
        Decision::Permit(permit) => Ok(permit),
        Decision::Deny(reason) => Err(ApiError::forbidden(reason)),
        Decision::Confirm(_) => Err(needs_confirmation()),
    }
}
