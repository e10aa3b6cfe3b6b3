//! The messages of a conversation and the tools offered to the model.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

// Serialize/Deserialize are for storing conversations (agent sessions); the OpenAI wire
// format is the server's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A call the assistant made to a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as OpenAI's API carries them.
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Option<String>,
    /// The model's reasoning (Qwen3 `<think>`), kept apart from the content.
    pub reasoning_content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// For `tool` messages: the id of the call this message answers.
    pub tool_call_id: Option<String>,
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(content.into()),
            reasoning_content: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// The shape chat templates expect (that of Hugging Face's `apply_chat_template`).
    /// Tool-call arguments are given as objects when they parse, since templates such as
    /// Qwen's apply `tojson` to them.
    pub(crate) fn template_value(&self) -> Value {
        let mut value = json!({ "role": self.role.as_str(), "content": self.content });
        if let Some(reasoning) = &self.reasoning_content {
            value["reasoning_content"] = json!(reasoning);
        }
        if !self.tool_calls.is_empty() {
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .map(|call| {
                    let arguments = serde_json::from_str::<Value>(&call.arguments)
                        .unwrap_or_else(|_| Value::String(call.arguments.clone()));
                    json!({
                        "id": call.id,
                        "type": "function",
                        "function": { "name": call.name, "arguments": arguments },
                    })
                })
                .collect();
            value["tool_calls"] = Value::Array(calls);
        }
        if let Some(id) = &self.tool_call_id {
            value["tool_call_id"] = json!(id);
        }
        if let Some(name) = &self.name {
            value["name"] = json!(name);
        }
        value
    }
}

/// A function the model may call, described by a JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    /// OpenAI's `strict`: the schema is enforced exactly as written, or the tool is refused;
    /// otherwise a schema the grammar cannot enforce is relaxed (see `ToolSet::relaxations`).
    pub strict: bool,
}

impl ToolDefinition {
    /// OpenAI's tool shape, which tool-aware templates print into the system prompt.
    pub(crate) fn template_value(&self) -> Value {
        let mut function = json!({ "name": self.name });
        if let Some(description) = &self.description {
            function["description"] = json!(description);
        }
        function["parameters"] = self.parameters.clone();
        json!({ "type": "function", "function": function })
    }
}
