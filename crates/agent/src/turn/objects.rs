//! One action per object in a turn: a tool with `idempotency_keys` called again on an object
//! the turn already acted on (run, waiting for its confirmation, or denied by a person) asks
//! for nothing new, whatever its other arguments say — a model continuing after an approval
//! re-asks for the refund with the reason written a little differently. A call that was
//! refused or failed leaves its object free: the model may put its mistake right. The user
//! asking again in a new message is a new turn, shown to the approver as a repeat.

use fulcrum_chat::tools::ParsedCall;
use fulcrum_tools::Registry;

/// The calls of the turn that acted on an object, and each new one as it is let through.
#[derive(Debug, Default)]
pub(super) struct ObjectsActedOn {
    calls: Vec<ParsedCall>,
}

impl ObjectsActedOn {
    pub(super) fn new(acted: impl IntoIterator<Item = ParsedCall>) -> Self {
        ObjectsActedOn {
            calls: acted.into_iter().collect(),
        }
    }

    /// False for a call on an object the turn acted on already; a first one is remembered.
    pub(super) fn first_time(&mut self, registry: &Registry, call: &ParsedCall) -> bool {
        let Some(tool) = registry.get(&call.name) else {
            return true;
        };
        if tool.config.idempotency_keys.is_empty() {
            return true;
        }
        let repeat = self.calls.iter().any(|earlier| {
            earlier.name == call.name && tool.same_object(&call.arguments, &earlier.arguments)
        });
        if !repeat {
            self.calls.push(call.clone());
        }
        !repeat
    }
}
