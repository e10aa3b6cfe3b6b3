//! One turn of the agent loop: the `Agent`, its options, and the loop of model steps until an
//! answer or a confirmation. The parts of a step live beside it: `prompt` (retrieval, the
//! prompt's layers, one generation), `step` (the policy's decisions on a step's calls and
//! their execution), `confirm` (the continuation after an approval or a denial) and `memory`
//! (the summary of turns leaving the window).

mod confirm;
mod memory;
mod objects;
mod prompt;
mod refusal;
mod step;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_chat::tools::{
    dedupe_calls, new_call_id, parse_answer, parse_output, CallDeduper, ParsedCall, StreamEvent,
    StreamParser, ToolChoice, ToolSet,
};
use fulcrum_chat::{neutralize_markup, ChatTemplate, Message, RenderOptions, Role, ToolCall};
use fulcrum_engine::{
    start_generation, Backend, FinishReason, GenerationEvent, GenerationRequest, Usage,
};
use fulcrum_tools::{
    Action, ActionState, CallContext, Decision, Policy, Principal, Resolution, ToolOutput,
};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::answer_cache::AnswerCache;
use crate::context::{
    assemble, key_event, split_turns, ContextBudget, LayerTokens, Layers, Measure,
};
use crate::error::AgentError;
use crate::events::AgentEvent;
use crate::language::Language;
use crate::session::{PendingCall, SessionInfo, SessionStore};
use crate::tuning::{
    add_call_guidance, call_instead_of_refused_start, step_biases, ToolCallTuning,
};
use fulcrum_retrieval::{Passage, PassageSource};

use objects::ObjectsActedOn;
use prompt::Generated;
use step::{is_error_result, Call};

/// A call the assistant made this turn; `failed` when its result was an error other than a
/// person's denial (one still waiting for a confirmation has no result yet).
struct MadeCall {
    call: ParsedCall,
    failed: bool,
}

/// Closes the prompt of a step after tool results (not stored in the session): small models
/// asked to answer after tool results tend to echo the results' JSON, and answer a Chinese
/// question in English once the results are English. `answer_only`: the step may not call.
fn closing_instruction(language: Language, answer_only: bool) -> Option<&'static str> {
    match (language, answer_only) {
        (Language::English, true) => {
            Some("Now answer the user's question in plain sentences from the results above.")
        }
        (Language::English, false) => None,
        (Language::Chinese, true) => Some("现在请根据上面的结果，用中文回答用户的问题。"),
        (Language::Chinese, false) => Some("请用中文回答。"),
    }
}

#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Model generations per turn at most; the last one may not call tools.
    pub max_steps: usize,
    /// Tokens per generation at most.
    pub max_tokens: u32,
    /// Used when the policy file gives none.
    pub system_prompt: String,
    pub tuning: ToolCallTuning,
    /// Several calls per model step (run concurrently), or one call per step.
    pub parallel_calls: bool,
    /// Time limit of each model generation of a turn (waiting for a slot included).
    pub generation_timeout: Option<std::time::Duration>,
    /// How the prompt's layers share the window.
    pub context: ContextBudget,
    /// What one user may store: sessions, messages per session, characters per message.
    pub limits: SessionLimits,
    /// Show the model, beside the role's tools, the tools that act which the role may not
    /// use: a request to do one is then called, refused by the policy and answered with a
    /// refusal, instead of answered as if it were done. Off, the model sees the role's tools
    /// alone (a call to another registered tool is still refused the same way).
    pub show_withheld_actions: bool,
    /// After tool results, ask for the answer in the language of the user's message (a small
    /// model answers a Chinese question in English once the results are English); off, the
    /// answer's language is the model's choice. Off by default: the default 0.5B model,
    /// asked to answer in Chinese, gets fewer Chinese answers right (EVAL.md, tickets).
    pub answer_in_users_language: bool,
}

/// Bounds on what users store, so no user can grow the state database without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub sessions_per_user: usize,
    /// The user's messages in one session.
    pub messages_per_session: usize,
    /// Characters of one message.
    pub message_chars: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            sessions_per_user: 1_000,
            messages_per_session: 500,
            message_chars: 32_000,
        }
    }
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            max_steps: 8,
            max_tokens: 512,
            system_prompt: "You are a helpful assistant of the company. Use the tools to look \
                            things up and to act; answer from their results."
                .into(),
            tuning: ToolCallTuning::default(),
            parallel_calls: true,
            generation_timeout: None,
            context: ContextBudget::default(),
            limits: SessionLimits::default(),
            show_withheld_actions: true,
            answer_in_users_language: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnStop {
    /// The model answered.
    Answer,
    /// A sensitive call waits for approval; the turn continues after the decision.
    AwaitingConfirmation,
}

/// How a turn ended.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub stop: TurnStop,
    pub answer: Option<String>,
    /// Actions waiting for approval.
    pub pending: Vec<Action>,
    /// Model generations this turn took.
    pub steps: usize,
    /// Tokens per prompt layer of the turn's last generation.
    pub context: Option<LayerTokens>,
    /// The tools the model called that the caller's role may not use: the answer is the
    /// refusal written for them, not the model's.
    pub refused: Vec<String>,
}

/// A turn's answer before it is recorded.
struct Answered {
    text: String,
    reasoning: Option<String>,
    /// The tools refused to the caller's role that the answer is a refusal for.
    refused: Vec<String>,
}

/// The text of the last user message of `messages`, if it has one.
fn last_user_text(messages: &[Message]) -> Option<&str> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .and_then(|m| m.content.as_deref())
}

/// Where a turn's events go (nowhere for a plain JSON response).
type Events<'a> = Option<&'a UnboundedSender<AgentEvent>>;

fn emit(events: Events<'_>, event: AgentEvent) {
    if let Some(sender) = events {
        // A client that went away does not stop the turn: its result is still persisted.
        let _ = sender.send(event);
    }
}

pub struct Agent {
    backend: Arc<dyn Backend>,
    template: Arc<ChatTemplate>,
    policy: Arc<Policy>,
    sessions: Arc<SessionStore>,
    options: AgentOptions,
    /// Each role's tools, compiled once (the registry cannot change while Fulcrum runs).
    toolsets: HashMap<String, Arc<ToolSet>>,
    /// Long-term memory: passages retrieved for each turn's message.
    passages: Option<Arc<dyn PassageSource>>,
    /// Answers to sessions' first questions that needed no tool.
    answers: Option<Arc<AnswerCache>>,
}

impl Agent {
    pub fn new(
        backend: Arc<dyn Backend>,
        template: Arc<ChatTemplate>,
        policy: Arc<Policy>,
        sessions: Arc<SessionStore>,
        options: AgentOptions,
    ) -> Result<Agent, AgentError> {
        let mut toolsets = HashMap::new();
        for role in &policy.registry().config().roles {
            let mut definitions = policy.registry().definitions_for_role(role);
            if options.show_withheld_actions {
                definitions.extend(policy.registry().actions_withheld_from(role));
            }
            let set = ToolSet::new(definitions)?.with_float_writing(options.tuning.float_writing());
            toolsets.insert(role.clone(), Arc::new(set));
        }
        let mut options = options;
        if let Some(prompt) = &policy.registry().config().system_prompt {
            options.system_prompt = prompt.clone();
        }
        Ok(Agent {
            backend,
            template,
            policy,
            sessions,
            options,
            toolsets,
            passages: None,
            answers: None,
        })
    }

    /// Answers a session's first question from `cache` when the same role asked it before
    /// (over the same document versions) and the answer needed no tool.
    pub fn with_answer_cache(mut self, cache: Arc<AnswerCache>) -> Self {
        self.answers = Some(cache);
        self
    }

    pub fn answer_cache(&self) -> Option<&AnswerCache> {
        self.answers.as_deref()
    }

    /// Retrieves passages for every turn from `source` into the prompt's passage layer.
    pub fn with_passages(mut self, source: Arc<dyn PassageSource>) -> Self {
        self.passages = Some(source);
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    pub fn create_session(&self, owner: &Principal) -> Result<SessionInfo, AgentError> {
        let most = self.options.limits.sessions_per_user;
        if self.sessions.count_owned(&owner.user)? >= most {
            return Err(AgentError::LimitReached(format!(
                "user `{}` has {most} sessions, the most one user may keep",
                owner.user
            )));
        }
        let info = self.sessions.create(owner)?;
        let context = CallContext {
            principal: owner.clone(),
            request_id: None,
            session_id: Some(info.id.clone()),
        };
        self.policy
            .audit()
            .append(context.event("session_created", json!({})))?;
        Ok(info)
    }

    /// Runs one turn for a new user message.
    pub async fn send(
        &self,
        caller: &Principal,
        session_id: &str,
        text: &str,
        events: Events<'_>,
    ) -> Result<TurnOutcome, AgentError> {
        let session = self.sessions.get_owned(session_id, caller)?;
        // Refused before anything is stored: an oversized or one-too-many message leaves no trace
        // but the error.
        let limits = self.options.limits;
        let chars = text.chars().count();
        if chars > limits.message_chars {
            return Err(AgentError::LimitReached(format!(
                "the message has {chars} characters, more than the {} one message may have",
                limits.message_chars
            )));
        }
        if self.sessions.message_counts(&session.id)?.1 >= limits.messages_per_session {
            return Err(AgentError::LimitReached(format!(
                "session `{}` holds {} messages of yours, the most one session may: start a new session",
                session.id, limits.messages_per_session
            )));
        }
        let context = CallContext {
            // The role is the caller's now, not the one the session was created with.
            principal: caller.clone(),
            request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
            session_id: Some(session.id.clone()),
        };
        self.settle_stale_calls(&context, &session.id)?;
        if let Some(pending) = self.sessions.pending_calls(&session.id)?.first() {
            return Err(AgentError::AwaitingConfirmation {
                session: session.id.clone(),
                action: pending.action_id.clone(),
            });
        }
        self.policy
            .audit()
            .append(context.event("user_input", json!({ "text": text })))?;
        self.sessions
            .append(&session.id, &[Message::user(text)], &[])?;
        // Only a session's first message can be answered from the cache: later ones depend on
        // the session's memory.
        let cacheable = match &self.answers {
            Some(cache) if self.sessions.message_counts(&session.id)?.0 == 1 => {
                Some((cache, self.document_versions().await?))
            }
            _ => None,
        };
        if let Some((cache, versions)) = &cacheable {
            if let Some(answer) = cache.get(text, &caller.role, versions) {
                return self.answer_from_cache(&context, &session.id, answer, events);
            }
        }
        let outcome = self.run(&context, events).await?;
        // A first step's answer used no tool: it holds nothing live, and can be reused.
        if let (Some((cache, versions)), Some(answer)) = (&cacheable, &outcome.answer) {
            if outcome.stop == TurnStop::Answer
                && outcome.steps == 1
                && outcome.refused.is_empty()
                && !answer.trim().is_empty()
            {
                cache.put(text, &caller.role, versions, answer);
            }
        }
        Ok(outcome)
    }

    /// The versions of the documents the passages come from ("" without passages).
    async fn document_versions(&self) -> Result<String, AgentError> {
        let Some(source) = self.passages.clone() else {
            return Ok(String::new());
        };
        tokio::task::spawn_blocking(move || source.versions())
            .await
            .map_err(|err| AgentError::Store(format!("the retrieval task failed: {err}")))?
            .map_err(AgentError::Store)
    }

    fn answer_from_cache(
        &self,
        context: &CallContext,
        session_id: &str,
        answer: String,
        events: Events<'_>,
    ) -> Result<TurnOutcome, AgentError> {
        self.sessions
            .append(session_id, &[Message::assistant(answer.clone())], &[])?;
        self.policy
            .audit()
            .append(context.event("answer", json!({"step": 0, "text": answer, "cached": true})))?;
        emit(
            events,
            AgentEvent::Answer {
                text: answer.clone(),
            },
        );
        Ok(TurnOutcome {
            stop: TurnStop::Answer,
            answer: Some(answer),
            pending: Vec::new(),
            steps: 0,
            context: None,
            refused: Vec::new(),
        })
    }

    /// Model → calls → policy → execution → results, until an answer or a confirmation.
    async fn run(
        &self,
        context: &CallContext,
        events: Events<'_>,
    ) -> Result<TurnOutcome, AgentError> {
        let session_id = context.session_id.clone().unwrap_or_default();
        let empty = Arc::new(ToolSet::new(Vec::new())?);
        let tools = self
            .toolsets
            .get(&context.principal.role)
            .cloned()
            .unwrap_or(empty);
        let max_steps = self.options.max_steps.max(1);
        // Calls already made this turn (also before a confirmation paused it): a model that
        // asks again has nothing new to ask, so it is told to answer.
        let mut made = CallDeduper::default();
        for made_call in self.calls_this_turn(&session_id)? {
            made.first_time(&made_call.call);
        }
        let mut answer_now = false;
        let passages = self.retrieve(context, &session_id).await?;
        if !passages.is_empty() {
            emit(
                events,
                AgentEvent::Passages {
                    passages: passages.clone(),
                },
            );
        }
        for step in 1..=max_steps {
            // The last step may only answer, so a turn always ends with words.
            let choice = if tools.is_empty() || step == max_steps || answer_now {
                ToolChoice::None
            } else {
                ToolChoice::Auto
            };
            let Generated {
                text,
                reason,
                usage,
                elapsed_ms,
                layers,
                checks,
            } = self
                .generate(
                    &context.principal.user,
                    &session_id,
                    &tools,
                    &choice,
                    &passages,
                    events,
                )
                .await?;
            // Any registered tool is read as a call, also one this role may not use: the
            // policy refuses it and the refusal is logged, rather than it passing as text.
            let registry = self.policy.registry();
            let is_registered = |name: &str| registry.get(name).is_some();
            let (parsed, closed_cut_call) = if choice == ToolChoice::None {
                (parse_output(&text, &|_| false), false)
            } else {
                // Stopped inside a call (the engine's loop check): the call it was making, if
                // what it had written is a valid call.
                parse_answer(&text, reason == FinishReason::Stop, &is_registered, &tools)
            };
            let mut output = json!({"step": step, "text": text, "prompt_tokens": usage.prompt_tokens,
                   "completion_tokens": usage.completion_tokens, "elapsed_ms": elapsed_ms,
                   "context": layers});
            if let Some(checks) = checks {
                // The model's own answer and what the call checks dropped or added.
                output["call_checks"] = json!(checks);
            }
            if closed_cut_call {
                output["closed_cut_call"] = json!(true);
            }
            self.policy
                .audit()
                .append(context.event("model_output", output))?;
            let last_context = Some(layers);
            let proposed = parsed.calls.len();
            let mut acted_on = ObjectsActedOn::new(
                self.calls_this_turn(&session_id)?
                    .into_iter()
                    .filter(|made_call| !made_call.failed)
                    .map(|made_call| made_call.call),
            );
            let fresh: Vec<_> = dedupe_calls(parsed.calls)
                .into_iter()
                .filter(|call| made.first_time(call) && acted_on.first_time(registry, call))
                .collect();
            if closed_cut_call && proposed == 0 {
                // Nothing of the cut call could be kept, and its text is only what led to it:
                // the next step answers, rather than leaving the user an empty answer.
                self.policy
                    .audit()
                    .append(context.event("cut_call", json!({"step": step, "next": "answer"})))?;
                answer_now = true;
                continue;
            }
            if proposed > 0 && fresh.is_empty() {
                self.policy.audit().append(context.event(
                    "repeated_calls",
                    json!({"step": step, "calls": proposed, "next": "answer"}),
                ))?;
                answer_now = true;
                continue;
            }
            let calls: Vec<Call> = fresh
                .into_iter()
                .map(|mut call| Call {
                    id: new_call_id(),
                    // Schema checks here for the role's tools; the policy checks every call
                    // again, and refuses the others.
                    invalid: tools
                        .contains(&call.name)
                        .then(|| tools.accept(&mut call).err().map(|err| err.to_string()))
                        .flatten(),
                    name: call.name,
                    arguments: call.arguments,
                })
                .collect();
            if !calls.is_empty() {
                let listed: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "name": c.name, "arguments": c.arguments,
                               "valid": c.invalid.is_none(), "validation_error": c.invalid})
                    })
                    .collect();
                self.policy.audit().append(
                    context.event("parsed_calls", json!({"step": step, "calls": listed})),
                )?;
            }
            if calls.is_empty() {
                let answer = Answered {
                    text: parsed.content.unwrap_or_default(),
                    reasoning: parsed.reasoning,
                    refused: Vec::new(),
                };
                return self.answer(context, &session_id, step, answer, last_context, events);
            }
            let role = &context.principal.role;
            let mut refused: Vec<String> = Vec::new();
            for call in &calls {
                let withheld = registry
                    .get(&call.name)
                    .is_some_and(|tool| !tool.allows_role(role));
                if withheld && !refused.contains(&call.name) {
                    refused.push(call.name.clone());
                }
            }
            let outcome = self
                .act(context, &session_id, parsed.content, calls, events)
                .await?;
            if !outcome.is_empty() {
                return Ok(TurnOutcome {
                    stop: TurnStop::AwaitingConfirmation,
                    answer: None,
                    pending: outcome,
                    steps: step,
                    context: last_context,
                    refused,
                });
            }
            if !refused.is_empty() {
                // The policy refused the calls; the answer says so in code, as a model told of
                // the refusal may still write that the thing was done.
                let messages = self.sessions.messages(&session_id)?;
                let request = last_user_text(&messages).unwrap_or_default();
                let text = refusal::text(registry, role, &refused, request);
                let answer = Answered {
                    text,
                    reasoning: None,
                    refused,
                };
                return self.answer(context, &session_id, step, answer, last_context, events);
            }
        }
        Err(AgentError::Incomplete)
    }

    /// Records and announces the turn's answer.
    fn answer(
        &self,
        context: &CallContext,
        session_id: &str,
        step: usize,
        answer: Answered,
        last_context: Option<LayerTokens>,
        events: Events<'_>,
    ) -> Result<TurnOutcome, AgentError> {
        let Answered {
            text,
            reasoning,
            refused,
        } = answer;
        let mut message = Message::assistant(text.clone());
        message.reasoning_content = reasoning;
        self.sessions.append(session_id, &[message], &[])?;
        let mut record = json!({"step": step, "text": text});
        if !refused.is_empty() {
            record["refused"] = json!(refused);
        }
        self.policy
            .audit()
            .append(context.event("answer", record))?;
        emit(events, AgentEvent::Answer { text: text.clone() });
        Ok(TurnOutcome {
            stop: TurnStop::Answer,
            answer: Some(text),
            pending: Vec::new(),
            steps: step,
            context: last_context,
            refused,
        })
    }

    /// The calls the session's assistant made since its last user message, each with whether
    /// its result was an error.
    fn calls_this_turn(&self, session_id: &str) -> Result<Vec<MadeCall>, AgentError> {
        let messages = self.sessions.messages(session_id)?;
        let start = messages
            .iter()
            .rposition(|m| m.role == Role::User)
            .map_or(0, |i| i + 1);
        let turn = &messages[start..];
        // A person's denial decided the call; other errors (a refusal, a failed run) did not.
        let failed = |id: &str| {
            turn.iter()
                .filter(|m| m.role == Role::Tool && m.tool_call_id.as_deref() == Some(id))
                .filter_map(|m| m.content.as_deref())
                .any(|content| is_error_result(content) && !content.contains(confirm::DENIED))
        };
        Ok(turn
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(|m| &m.tool_calls)
            .map(|call| MadeCall {
                call: ParsedCall {
                    name: call.name.clone(),
                    arguments: serde_json::from_str(&call.arguments).unwrap_or(Value::Null),
                },
                failed: failed(&call.id),
            })
            .collect())
    }

    /// The session's current turn, 1-based (its user messages so far).
    fn turn_number(&self, session_id: &str) -> Result<usize, AgentError> {
        Ok(self.sessions.message_counts(session_id)?.1)
    }
}
