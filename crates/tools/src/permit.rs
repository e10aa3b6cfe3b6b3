//! The leave to run one call. Its fields are private and its constructor is the crate's own:
//! only [`crate::Policy`] makes one (after the decision row is committed to the audit log), and
//! every executor takes one, so no tool runs without a decision.

use serde_json::Value;

use crate::identity::Principal;

/// Leave to run one call with these exact arguments. Only [`crate::Policy`] makes one.
#[derive(Debug)]
pub struct Permit {
    tool: String,
    arguments: Value,
    /// Who the call runs for (SQL tools can bind it as `:caller_user` / `:caller_role`).
    principal: Principal,
    /// The audit row that records the decision.
    decision_seq: i64,
    /// The confirmed action this permit carries out, if any.
    action_id: Option<String>,
}

impl Permit {
    pub fn tool(&self) -> &str {
        &self.tool
    }

    pub fn arguments(&self) -> &Value {
        &self.arguments
    }

    pub fn decision_seq(&self) -> i64 {
        self.decision_seq
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The confirmed action this permit carries out, if any.
    pub fn action_id(&self) -> Option<&str> {
        self.action_id.as_deref()
    }
}

impl Permit {
    /// Called by the policy only, once the decision is durable.
    pub(crate) fn new(
        tool: String,
        arguments: Value,
        principal: Principal,
        decision_seq: i64,
        action_id: Option<String>,
    ) -> Permit {
        Permit {
            tool,
            arguments,
            principal,
            decision_seq,
            action_id,
        }
    }
}
