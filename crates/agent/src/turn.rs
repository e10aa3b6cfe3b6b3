//! One turn of the agent loop, and its continuation after a confirmation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_chat::tools::{
    dedupe_calls, parse_output, CallDeduper, StreamEvent, StreamParser, ToolChoice, ToolSet,
};
use fulcrum_chat::{neutralize_markup, ChatTemplate, Message, RenderOptions, Role, ToolCall};
use fulcrum_engine::{Backend, GenerationEvent, GenerationRequest, SamplingParams, Usage};
use fulcrum_tools::{
    Action, ActionState, CallContext, Decision, Policy, Principal, Resolution, ToolOutput,
};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::answer_cache::AnswerCache;
use crate::context::{
    assemble, key_event, split_turns, ContextBudget, LayerTokens, Layers, Measure, Passage,
    PassageSource,
};
use crate::error::AgentError;
use crate::events::AgentEvent;
use crate::session::{PendingCall, SessionInfo, SessionStore};
use crate::tuning::{add_call_guidance, step_biases, ToolCallTuning};

/// Closes the prompt of an answer after tool results.
const ANSWER_FROM_RESULTS: &str =
    "Now answer the user's question in plain sentences from the results above.";

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
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            max_steps: 8,
            max_tokens: 512,
            system_prompt: "You are a helpful assistant of the company. Use the tools to look \
                            things up and to act; answer from their results."
                .into(),
            tuning: ToolCallTuning {
                tool_call_bias: 0.0,
                parallel_call_bias: 0.0,
            },
            parallel_calls: true,
            generation_timeout: None,
            context: ContextBudget::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStop {
    /// The model answered.
    Answer,
    /// A sensitive call waits for approval; the turn continues after the decision.
    AwaitingConfirmation,
}

/// How a turn ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TurnOutcome {
    pub stop: TurnStop,
    pub answer: Option<String>,
    /// Actions waiting for approval.
    pub pending: Vec<Action>,
    /// Model generations this turn took.
    pub steps: usize,
    /// Tokens per prompt layer of the turn's last generation.
    pub context: Option<LayerTokens>,
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

/// A call with its id, and why its arguments failed the schema if they did.
struct Call {
    id: String,
    name: String,
    arguments: Value,
    invalid: Option<String>,
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
            let definitions = policy.registry().definitions_for_role(role);
            toolsets.insert(role.clone(), Arc::new(ToolSet::new(definitions)?));
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
        if let Some(pending) = self.sessions.pending_calls(&session.id)?.first() {
            return Err(AgentError::AwaitingConfirmation {
                session: session.id.clone(),
                action: pending.action_id.clone(),
            });
        }
        let context = CallContext {
            // The role is the caller's now, not the one the session was created with.
            principal: caller.clone(),
            request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
            session_id: Some(session.id.clone()),
        };
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
            if outcome.stop == TurnStop::Answer && outcome.steps == 1 && !answer.trim().is_empty() {
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
        })
    }

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
        // Calls already made this turn: a model that asks again has nothing new to ask, so
        // it is told to answer.
        let mut made = CallDeduper::default();
        let mut answer_now = false;
        let passages = self.retrieve(context, &session_id).await?;
        for step in 1..=max_steps {
            // The last step may only answer, so a turn always ends with words.
            let choice = if tools.is_empty() || step == max_steps || answer_now {
                ToolChoice::None
            } else {
                ToolChoice::Auto
            };
            let (text, usage, elapsed_ms, layers) = self
                .generate(&session_id, &tools, &choice, &passages, events)
                .await?;
            // Any registered tool is read as a call, also one this role may not use: the
            // policy refuses it and the refusal is logged, rather than it passing as text.
            let registry = self.policy.registry();
            let parsed = if choice == ToolChoice::None {
                parse_output(&text, &|_| false)
            } else {
                parse_output(&text, &|name| registry.get(name).is_some())
            };
            self.policy.audit().append(context.event(
                "model_output",
                json!({"step": step, "text": text, "prompt_tokens": usage.prompt_tokens,
                       "completion_tokens": usage.completion_tokens, "elapsed_ms": elapsed_ms,
                       "context": layers}),
            ))?;
            let last_context = Some(layers);
            let proposed = parsed.calls.len();
            let fresh: Vec<_> = dedupe_calls(parsed.calls)
                .into_iter()
                .filter(|call| made.first_time(call))
                .collect();
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
                .map(|call| Call {
                    id: format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]),
                    // Schema checks here for the role's tools; the policy checks every call
                    // again, and refuses the others.
                    invalid: tools
                        .contains(&call.name)
                        .then(|| tools.validate(&call).err().map(|err| err.to_string()))
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
                let answer = parsed.content.unwrap_or_default();
                let mut message = Message::assistant(answer.clone());
                message.reasoning_content = parsed.reasoning;
                self.sessions.append(&session_id, &[message], &[])?;
                self.policy
                    .audit()
                    .append(context.event("answer", json!({"step": step, "text": answer})))?;
                emit(
                    events,
                    AgentEvent::Answer {
                        text: answer.clone(),
                    },
                );
                return Ok(TurnOutcome {
                    stop: TurnStop::Answer,
                    answer: Some(answer),
                    pending: Vec::new(),
                    steps: step,
                    context: last_context,
                });
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
                });
            }
        }
        Err(AgentError::Incomplete)
    }

    /// The session's current turn, 1-based (its user messages so far).
    fn turn_number(&self, session_id: &str) -> Result<usize, AgentError> {
        Ok(self.sessions.message_counts(session_id)?.1)
    }

    /// Folds the turns that have left the verbatim window into the session's summary, with
    /// the model. Run after a turn's answer (it does not delay it); until it is done those
    /// turns stay verbatim. Returns whether the summary changed.
    pub async fn remember(&self, caller: &Principal, session_id: &str) -> Result<bool, AgentError> {
        let session = self.sessions.get_owned(session_id, caller)?;
        if !self.sessions.pending_calls(&session.id)?.is_empty() {
            return Ok(false);
        }
        let stored = self.sessions.messages(&session.id)?;
        let memory = self.sessions.memory(&session.id)?;
        let turns = split_turns(&stored);
        // Every turn is complete here (the last one answered): the window is the last
        // `recent_turns` of them, the older ones go to the summary.
        let leaving = turns
            .len()
            .saturating_sub(self.options.context.recent_turns);
        if leaving <= memory.summarized_turns {
            return Ok(false);
        }
        let mut transcript = String::new();
        for (offset, turn) in turns[memory.summarized_turns..leaving].iter().enumerate() {
            let _ = std::fmt::Write::write_fmt(
                &mut transcript,
                format_args!("Turn {}:\n", memory.summarized_turns + offset + 1),
            );
            for message in turn.iter() {
                transcript.push_str(&transcript_line(message));
            }
        }
        let previous = memory
            .summary
            .as_deref()
            .unwrap_or("(nothing yet: this is the start of the conversation)");
        let messages = [
            Message::system(
                "You keep the memory of a conversation between a user and a company assistant. \
                 Write a short summary (at most 6 sentences) that merges the summary so far with \
                 the new turns. Keep names, numbers, order ids, dates and decisions exactly as \
                 written. Write only the summary.",
            ),
            Message::user(format!(
                "Summary so far: {previous}\n\nNew turns:\n{transcript}"
            )),
        ];
        let prompt = render_prompt(&self.template, &messages, &[])?;
        let request = GenerationRequest {
            prompt,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            max_tokens: Some(SUMMARY_MAX_TOKENS),
            stop: Vec::new(),
            ignore_eos: false,
            timeout: self.options.generation_timeout,
            grammar: None,
            logit_bias: Vec::new(),
        };
        let backend = Arc::clone(&self.backend);
        let stream = tokio::task::spawn_blocking(move || backend.generate(request))
            .await
            .map_err(|err| AgentError::Store(format!("the summary task failed: {err}")))??;
        let (text, _, _) = stream.collect().await?;
        let summary = parse_output(&text, &|_| false)
            .content
            .unwrap_or_default()
            .trim()
            .to_string();
        if summary.is_empty() {
            return Ok(false);
        }
        self.sessions.set_summary(&session.id, leaving, &summary)?;
        let context = CallContext {
            principal: caller.clone(),
            request_id: None,
            session_id: Some(session.id.clone()),
        };
        self.policy
            .audit()
            .append(context.event("summary", json!({"through_turn": leaving, "text": summary})))?;
        Ok(true)
    }

    /// Passages for the current turn's message, when the agent has a passage source; the
    /// retrieval (what was found, for whom) is audited.
    async fn retrieve(
        &self,
        context: &CallContext,
        session_id: &str,
    ) -> Result<Vec<Passage>, AgentError> {
        let Some(source) = self.passages.clone() else {
            return Ok(Vec::new());
        };
        let messages = self.sessions.messages(session_id)?;
        let Some(query) = messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.content.clone())
        else {
            return Ok(Vec::new());
        };
        let caller = context.principal.clone();
        let found = tokio::task::spawn_blocking(move || source.passages(&caller, &query))
            .await
            .map_err(|err| AgentError::Store(format!("the retrieval task failed: {err}")))?;
        // Retrieval helps; it is not required: a failure is logged and the turn goes on.
        let passages = match found {
            Ok(passages) => passages,
            Err(error) => {
                self.policy
                    .audit()
                    .append(context.event("retrieval", json!({"error": error})))?;
                return Ok(Vec::new());
            }
        };
        let listed: Vec<Value> = passages
            .iter()
            .map(|p| json!({"id": p.id, "source": p.source, "section": p.section, "text": p.text}))
            .collect();
        self.policy
            .audit()
            .append(context.event("retrieval", json!({"passages": listed})))?;
        Ok(passages)
    }

    /// The token cap of a prompt: the configured budget, never more than the window leaves
    /// after the reply.
    fn prompt_cap(&self) -> usize {
        let window = self.backend.info().context_size as usize;
        self.options
            .context
            .max_prompt_tokens
            .min(window.saturating_sub(self.options.max_tokens as usize))
    }

    /// Renders the session and generates one reply, streaming its text as tokens.
    async fn generate(
        &self,
        session_id: &str,
        tools: &ToolSet,
        choice: &ToolChoice,
        passages: &[Passage],
        events: Events<'_>,
    ) -> Result<(String, Usage, f64, LayerTokens), AgentError> {
        let mut stored = self.sessions.messages(session_id)?;
        let memory = self.sessions.memory(session_id)?;
        let mut system = vec![Message::system(self.options.system_prompt.clone())];
        let offered = if *choice == ToolChoice::None {
            // Small models asked to answer after tool results tend to echo the results'
            // JSON; a closing instruction (not stored in the session) turns that into prose.
            if stored.last().is_some_and(|m| m.role == Role::Tool) {
                stored.push(Message::system(ANSWER_FROM_RESULTS));
            }
            &[][..]
        } else {
            add_call_guidance(&mut system);
            tools.definitions()
        };
        let measure = TemplateMeasure {
            template: &self.template,
            backend: self.backend.as_ref(),
            tools: offered,
        };
        let (messages, layers) = assemble(
            &Layers {
                system: system.remove(0),
                passages,
                memory: &memory,
                messages: &stored,
            },
            &self.options.context,
            self.prompt_cap(),
            &measure,
        )?;
        let prompt = render_prompt(&self.template, &messages, offered)?;
        let request = GenerationRequest {
            prompt,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            max_tokens: Some(self.options.max_tokens),
            stop: Vec::new(),
            ignore_eos: false,
            timeout: self.options.generation_timeout,
            grammar: (*choice != ToolChoice::None)
                .then(|| tools.grammar(choice, self.options.parallel_calls)),
            // Every step of a turn chooses between another call and the answer; a repeated
            // call ends the choosing (see `run`).
            logit_bias: if *choice == ToolChoice::None {
                Vec::new()
            } else {
                step_biases(
                    self.options.tuning,
                    choice,
                    self.options.parallel_calls,
                    true,
                )
            },
        };
        let started = Instant::now();
        let backend = Arc::clone(&self.backend);
        let mut stream = tokio::task::spawn_blocking(move || backend.generate(request))
            .await
            .map_err(|err| AgentError::Store(format!("the generation task failed: {err}")))??;
        let is_tool = |name: &str| tools.contains(name);
        let mut parser = StreamParser::new(&is_tool);
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            match event? {
                GenerationEvent::Text(piece) => {
                    text.push_str(&piece);
                    for parsed in parser.push(&piece) {
                        if let StreamEvent::Content(content) = parsed {
                            emit(events, AgentEvent::Token { text: content });
                        }
                    }
                }
                GenerationEvent::Finished { usage, .. } => {
                    for parsed in parser.finish() {
                        if let StreamEvent::Content(content) = parsed {
                            emit(events, AgentEvent::Token { text: content });
                        }
                    }
                    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                    return Ok((text, usage, elapsed_ms, layers));
                }
            }
        }
        Err(AgentError::Incomplete)
    }

    /// Decides on every call of one step, runs the permitted ones concurrently, and records
    /// the assistant message and the results. Returns the actions left waiting.
    async fn act(
        &self,
        context: &CallContext,
        session_id: &str,
        content: Option<String>,
        calls: Vec<Call>,
        events: Events<'_>,
    ) -> Result<Vec<Action>, AgentError> {
        let mut assistant = Message::assistant(content.unwrap_or_default());
        assistant.tool_calls = calls
            .iter()
            .map(|call| ToolCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.to_string(),
            })
            .collect();
        let mut permitted = Vec::new();
        let mut results: Vec<(usize, bool, String)> = Vec::new();
        let mut pending = Vec::new();
        let mut pending_calls = Vec::new();
        for (index, call) in calls.iter().enumerate() {
            emit(
                events,
                AgentEvent::ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                },
            );
            if let Some(error) = &call.invalid {
                results.push((
                    index,
                    false,
                    json!({"error": format!("invalid arguments: {error}")}).to_string(),
                ));
                continue;
            }
            match self
                .policy
                .authorize(context, &call.name, &call.arguments)?
            {
                Decision::Permit(permit) => permitted.push((index, permit)),
                Decision::Deny(reason) => results.push((
                    index,
                    false,
                    json!({"error": format!("denied: {reason}")}).to_string(),
                )),
                Decision::Confirm(action) => {
                    emit(
                        events,
                        AgentEvent::ConfirmationRequired {
                            call_id: call.id.clone(),
                            action_id: action.id.clone(),
                            tool: action.tool.clone(),
                            summary: action.summary.clone(),
                            arguments_sha256: action.arguments_sha256.clone(),
                            expires_at: action.expires_at.clone(),
                        },
                    );
                    pending_calls.push(PendingCall {
                        action_id: action.id.clone(),
                        call_id: call.id.clone(),
                        tool: call.name.clone(),
                    });
                    pending.push(*action);
                }
            }
        }
        // Independent calls of one step run at the same time.
        let runs = permitted.into_iter().map(|(index, permit)| async move {
            (index, self.policy.execute(context, permit).await)
        });
        let turn = self.turn_number(session_id)?;
        for (index, result) in futures::future::join_all(runs).await {
            let (ok, content) = tool_content(&result);
            let call = &calls[index];
            self.sessions.add_key_event(
                session_id,
                turn,
                &key_event(&call.name, &call.arguments, ok, &content),
            )?;
            results.push((index, ok, content));
        }
        results.sort_by_key(|(index, ..)| *index);
        let mut messages = vec![assistant];
        for (index, ok, content) in results {
            let call = &calls[index];
            emit(
                events,
                AgentEvent::ToolResult {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    ok,
                    output: content.clone(),
                },
            );
            messages.push(tool_message(&call.id, &call.name, &content));
        }
        self.sessions
            .append(session_id, &messages, &pending_calls)?;
        Ok(pending)
    }
}

/// A tool's result as the model will read it: its output, or the error, as data.
/// `messages` as the prompt of a generation (the assistant's turn opened).
fn render_prompt(
    template: &ChatTemplate,
    messages: &[Message],
    tools: &[fulcrum_chat::ToolDefinition],
) -> Result<String, AgentError> {
    Ok(template.render(
        messages,
        tools,
        &RenderOptions {
            add_generation_prompt: true,
            extra: serde_json::Map::new(),
        },
    )?)
}

/// Tokens of a summary at most.
const SUMMARY_MAX_TOKENS: u32 = 256;

/// One message of a transcript to summarize, as plain text.
fn transcript_line(message: &Message) -> String {
    let content = message.content.as_deref().unwrap_or("").trim();
    match message.role {
        Role::User => format!("User: {content}\n"),
        Role::Assistant if !message.tool_calls.is_empty() => {
            let calls: Vec<String> = message
                .tool_calls
                .iter()
                .map(|call| format!("{}({})", call.name, call.arguments))
                .collect();
            format!("Assistant called: {}\n", calls.join(", "))
        }
        Role::Assistant => format!("Assistant: {content}\n"),
        Role::Tool => format!(
            "Result of {}: {content}\n",
            message.name.as_deref().unwrap_or("a tool")
        ),
        Role::System => String::new(),
    }
}

/// Counts tokens of message lists as the engine's tokenizer sees the rendered prompt.
struct TemplateMeasure<'a> {
    template: &'a ChatTemplate,
    backend: &'a dyn Backend,
    tools: &'a [fulcrum_chat::ToolDefinition],
}

impl Measure for TemplateMeasure<'_> {
    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize, AgentError> {
        let prompt = render_prompt(self.template, messages, self.tools)?;
        Ok(self.backend.count_tokens(&prompt)?)
    }

    fn text_tokens(&self, text: &str) -> Result<usize, AgentError> {
        Ok(self.backend.count_tokens(text)?)
    }
}

fn tool_content(result: &Result<ToolOutput, fulcrum_tools::ToolsError>) -> (bool, String) {
    match result {
        Ok(output) => (true, output.text.clone()),
        Err(err) => (false, json!({ "error": err.to_string() }).to_string()),
    }
}

/// The tool message for a call; its text cannot pose as the model's own markup.
fn tool_message(call_id: &str, name: &str, content: &str) -> Message {
    let mut message = Message::new(Role::Tool, neutralize_markup(content));
    message.tool_call_id = Some(call_id.to_string());
    message.name = Some(name.to_string());
    message
}
