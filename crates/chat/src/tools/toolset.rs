//! The tools of one request, checked once: unique valid names, compilable schemas, and a
//! validator per tool that every returned call passes before it leaves the server.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::bounded::{bound_free_values, ValueBounds};
use super::exclude::excluding_within;
use super::floats::{write_floats, FloatWriting};
use super::grammar::{closed, grammar};
use super::relax::{enforceable, Relaxation};
use super::{ParsedCall, ToolChoice};
use crate::error::ChatError;
use crate::message::ToolDefinition;

const MAX_NAME_LEN: usize = 64;

/// Why a call was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("the model called `{0}`, which is not an offered tool")]
    UnknownTool(String),
    #[error("the arguments of `{name}` do not match its schema: {reason}")]
    InvalidArguments { name: String, reason: String },
}

/// Validated tools with their compiled argument validators.
pub struct ToolSet {
    /// As the client sent them (the model reads these).
    tools: Vec<ToolDefinition>,
    /// With the schemas the grammar enforces and the calls are checked against.
    enforced: Vec<ToolDefinition>,
    relaxations: Vec<(String, Relaxation)>,
    validators: HashMap<String, jsonschema::Validator>,
    float_writing: FloatWriting,
}

impl std::fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSet")
            .field("tools", &self.tools)
            .finish_non_exhaustive()
    }
}

impl ToolSet {
    pub fn new(tools: Vec<ToolDefinition>) -> Result<Self, ChatError> {
        let mut validators = HashMap::with_capacity(tools.len());
        let mut enforced = Vec::with_capacity(tools.len());
        let mut relaxations = Vec::new();
        for (index, tool) in tools.iter().enumerate() {
            let valid_name = !tool.name.is_empty()
                && tool.name.len() <= MAX_NAME_LEN
                && tool
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid_name {
                return Err(ChatError::InvalidTool {
                    index,
                    reason: format!(
                        "name {:?} must be 1 to {MAX_NAME_LEN} characters of letters, digits, `_`, `-` or `.`",
                        tool.name
                    ),
                });
            }
            if !(tool.parameters.is_null() || tool.parameters.is_object()) {
                return Err(ChatError::InvalidTool {
                    index,
                    reason: "`parameters` must be a JSON Schema object".into(),
                });
            }
            let schema = closed(&tool.parameters);
            let invalid = |err: jsonschema::ValidationError<'_>| ChatError::InvalidTool {
                index,
                reason: format!("`parameters` is not a valid JSON Schema: {err}"),
            };
            jsonschema::meta::validate(&schema).map_err(invalid)?;
            let (schema, relaxed) = enforceable(&schema);
            if tool.strict {
                if let Some(first) = relaxed.first() {
                    return Err(ChatError::InvalidTool {
                        index,
                        reason: format!(
                            "`parameters` cannot be enforced as written, and the tool is `strict`: {first}; fix the schema or drop `strict`"
                        ),
                    });
                }
            }
            let validator = jsonschema::validator_for(&schema).map_err(invalid)?;
            relaxations.extend(relaxed.into_iter().map(|r| (tool.name.clone(), r)));
            enforced.push(ToolDefinition {
                parameters: schema,
                ..tool.clone()
            });
            if validators.insert(tool.name.clone(), validator).is_some() {
                return Err(ChatError::InvalidTool {
                    index,
                    reason: format!("the name `{}` is used twice", tool.name),
                });
            }
        }
        Ok(ToolSet {
            tools,
            enforced,
            relaxations,
            validators,
            float_writing: FloatWriting::ALL,
        })
    }

    pub fn definitions(&self) -> &[ToolDefinition] {
        &self.tools
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.validators.contains_key(name)
    }

    /// What was relaxed in the schemas of tools that are not `strict`, by tool name.
    pub fn relaxations(&self) -> &[(String, Relaxation)] {
        &self.relaxations
    }

    /// The generation grammar for this set under `choice`.
    pub fn grammar(&self, choice: &ToolChoice, parallel: bool) -> String {
        grammar(&self.enforced, choice, parallel)
    }

    /// The grammar of exactly one call of a tool `allowed` admits (at least one must).
    pub fn one_call_grammar(&self, allowed: &dyn Fn(&str) -> bool) -> String {
        grammar(&self.allowed_tools(allowed), &ToolChoice::Required, false)
    }

    /// [`Self::one_call_grammar`] with every free string and list of the schemas bounded
    /// (see [`ValueBounds`]): a call that has to end.
    pub fn bounded_call_grammar(
        &self,
        allowed: &dyn Fn(&str) -> bool,
        bounds: ValueBounds,
    ) -> String {
        let mut tools = self.allowed_tools(allowed);
        for tool in &mut tools {
            bound_free_values(&mut tool.parameters, bounds);
        }
        grammar(&tools, &ToolChoice::Required, false)
    }

    fn allowed_tools(&self, allowed: &dyn Fn(&str) -> bool) -> Vec<ToolDefinition> {
        self.enforced
            .iter()
            .filter(|tool| allowed(&tool.name))
            .cloned()
            .collect()
    }

    /// The grammar of exactly one call of `name` with its argument `property` set to `value`
    /// (the other arguments as the schema allows); `None` when `name` is not offered or has
    /// no such property.
    pub fn pinned_call_grammar(&self, name: &str, property: &str, value: &Value) -> Option<String> {
        self.narrowed_call_grammar(name, property, |_| Some(json!({ "const": value })))
    }

    /// The grammar of exactly one call of `name` whose argument `property` is one of
    /// `choices`, written first (a model fills the others from beside the value it chose),
    /// and whose arguments `given` are given too (the others as the schema allows); `None`
    /// when there is no choice, or `name` is not offered or has no such property.
    pub fn call_grammar_choosing(
        &self,
        name: &str,
        property: &str,
        choices: &[Value],
        given: &[&str],
    ) -> Option<String> {
        if choices.is_empty() {
            return None;
        }
        let mut tool = self.enforced.iter().find(|tool| tool.name == name)?.clone();
        let parameters = tool.parameters.as_object_mut()?;
        let properties = parameters.get_mut("properties")?.as_object_mut()?;
        properties.get(property)?;
        let rest = std::mem::take(properties);
        properties.insert(property.to_string(), json!({ "enum": choices }));
        properties.extend(rest.into_iter().filter(|(key, _)| key != property));
        require(parameters, property);
        for argument in given {
            if parameters["properties"].get(argument).is_some() {
                require(parameters, argument);
            }
        }
        Some(grammar(&[tool], &ToolChoice::Required, false))
    }

    /// The grammar of exactly one call of `name` whose argument `property` is given and is
    /// none of `excluded` (the values earlier calls gave it), nor written as one begins, and
    /// a number no larger in size than `largest`; `None` when `name` is not offered, has no
    /// such property, or its schema cannot be narrowed so (see `exclude`).
    pub fn call_grammar_without(
        &self,
        name: &str,
        property: &str,
        excluded: &[Value],
        largest: Option<f64>,
    ) -> Option<String> {
        self.narrowed_call_grammar(name, property, |schema| {
            excluding_within(schema, excluded, largest)
        })
    }

    /// The grammar of exactly one call of `name` with the schema of its argument `property`
    /// replaced by what `narrow` makes of it, and that argument required.
    fn narrowed_call_grammar(
        &self,
        name: &str,
        property: &str,
        narrow: impl FnOnce(&Value) -> Option<Value>,
    ) -> Option<String> {
        let mut tool = self.enforced.iter().find(|tool| tool.name == name)?.clone();
        let parameters = tool.parameters.as_object_mut()?;
        let properties = parameters.get_mut("properties")?.as_object_mut()?;
        let narrowed = properties.get_mut(property)?;
        *narrowed = narrow(narrowed)?;
        require(parameters, property);
        Some(grammar(&[tool], &ToolChoice::Required, false))
    }

    /// Which whole numbers [`Self::accept`] writes as floats (`2.0`), as the tool's language
    /// reads them: those a schema declares floats (`format: float` or `double`), and the
    /// items of arrays of plain `number`. Both unless switched off here.
    pub fn with_float_writing(mut self, writing: FloatWriting) -> Self {
        self.float_writing = writing;
        self
    }

    /// Makes `call` as it leaves: its floats written as floats (as [`Self::with_float_writing`]
    /// says), then checked against its tool's schema.
    pub fn accept(&self, call: &mut ParsedCall) -> Result<(), CallError> {
        if let Some(tool) = self.tools.iter().find(|tool| tool.name == call.name) {
            write_floats(&tool.parameters, &mut call.arguments, self.float_writing);
        }
        self.validate(call)
    }

    /// Checks a call against its tool's schema (with undeclared properties refused).
    pub fn validate(&self, call: &ParsedCall) -> Result<(), CallError> {
        let validator = self
            .validators
            .get(&call.name)
            .ok_or_else(|| CallError::UnknownTool(call.name.clone()))?;
        validator
            .validate(&call.arguments)
            .map_err(|err| CallError::InvalidArguments {
                name: call.name.clone(),
                reason: err.to_string(),
            })
    }
}

/// `parameters` (an object schema) with `property` among its required ones.
fn require(parameters: &mut serde_json::Map<String, Value>, property: &str) {
    match parameters.get_mut("required").and_then(Value::as_array_mut) {
        Some(required) if required.iter().any(|r| r == property) => {}
        Some(required) => required.push(json!(property)),
        None => {
            parameters.insert("required".into(), json!([property]));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    use crate::tools::test_tool as tool;

    #[test]
    fn accepted_calls_carry_declared_floats_unless_switched_off() {
        let schema = json!({"type": "object", "properties": {
            "interval": {"type": "array", "items": {"type": "number", "format": "float"}}
        }, "required": ["interval"]});
        let call = || ParsedCall {
            name: "area".into(),
            arguments: json!({"interval": [1, 3]}),
        };
        let set = ToolSet::new(vec![tool("area", schema.clone())]).expect("valid");
        let mut accepted = call();
        set.accept(&mut accepted).expect("valid call");
        assert_eq!(accepted.arguments.to_string(), r#"{"interval":[1.0,3.0]}"#);
        let as_written = ToolSet::new(vec![tool("area", schema)])
            .expect("valid")
            .with_float_writing(FloatWriting {
                declared: false,
                number_items: false,
            });
        let mut accepted = call();
        as_written.accept(&mut accepted).expect("valid call");
        assert_eq!(accepted.arguments.to_string(), r#"{"interval":[1,3]}"#);
        assert!(set
            .accept(&mut ParsedCall {
                name: "area".into(),
                arguments: json!({"interval": "1, 3"}),
            })
            .is_err());
    }

    #[test]
    fn a_chosen_argument_is_written_first_with_the_given_ones_required() {
        let set = ToolSet::new(vec![tool(
            "tax",
            json!({"type": "object", "properties": {
                "state": {"type": "string"},
                "gain": {"type": "number"},
                "year": {"type": "integer"}
            }, "required": ["gain"]}),
        )])
        .expect("valid");
        let grammar = set
            .call_grammar_choosing("tax", "gain", &[json!(20000), json!(50000)], &["state"])
            .expect("gain can be chosen");
        let gain = grammar.find("\"gain\"").expect("gain in the grammar");
        let state = grammar.find("\"state\"").expect("state in the grammar");
        assert!(gain < state, "the chosen argument comes first: {grammar}");
        assert!(grammar.contains("20000") && grammar.contains("50000"));
        assert!(
            grammar.contains(r#""required":["gain","state"]"#),
            "{grammar}"
        );
        assert!(set.call_grammar_choosing("tax", "gain", &[], &[]).is_none());
        assert!(set
            .call_grammar_choosing("tax", "rate", &[json!(1)], &[])
            .is_none());
    }

    #[test]
    fn calls_are_validated_against_closed_schemas() {
        let set = ToolSet::new(vec![tool(
            "get_weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )])
        .expect("valid");
        let call = |arguments: Value| ParsedCall {
            name: "get_weather".into(),
            arguments,
        };
        assert!(set.validate(&call(json!({"city": "Paris"}))).is_ok());
        assert!(set.validate(&call(json!({}))).is_err());
        assert!(set
            .validate(&call(json!({"city": "Paris", "extra": 1})))
            .is_err());
        assert_eq!(
            set.validate(&ParsedCall {
                name: "nope".into(),
                arguments: json!({})
            }),
            Err(CallError::UnknownTool("nope".into()))
        );
    }

    #[test]
    fn bad_tool_definitions_are_refused_with_their_index() {
        let duplicate = ToolSet::new(vec![tool("a", Value::Null), tool("a", Value::Null)]);
        assert!(matches!(
            duplicate,
            Err(ChatError::InvalidTool { index: 1, .. })
        ));
        let bad_name = ToolSet::new(vec![tool("has space", Value::Null)]);
        assert!(matches!(
            bad_name,
            Err(ChatError::InvalidTool { index: 0, .. })
        ));
        let bad_schema = ToolSet::new(vec![tool("a", json!({"type": "nonsense"}))]);
        assert!(matches!(
            bad_schema,
            Err(ChatError::InvalidTool { index: 0, .. })
        ));
        let not_object = ToolSet::new(vec![tool("a", json!([1]))]);
        assert!(matches!(
            not_object,
            Err(ChatError::InvalidTool { index: 0, .. })
        ));
    }
}
