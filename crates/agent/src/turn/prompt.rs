//! One generation of a step: the turn's passages, the prompt assembled by layers under the
//! budget, and the model's reply streamed as tokens.

use super::*;
use crate::calls::{checked_generation, CallCheck, CheckReport};

impl Agent {
    /// Passages for the current turn's message, when the agent has a passage source; the
    /// retrieval (what was found, for whom) is audited.
    pub(super) async fn retrieve(
        &self,
        context: &CallContext,
        session_id: &str,
    ) -> Result<Vec<Passage>, AgentError> {
        let Some(source) = self.passages.clone() else {
            return Ok(Vec::new());
        };
        let messages = self.sessions.messages(session_id)?;
        let Some(query) = last_user_text(&messages).map(str::to_string) else {
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
    pub(super) fn prompt_cap(&self) -> usize {
        let window = self.backend.info().context_size as usize;
        self.options
            .context
            .max_prompt_tokens
            .min(window.saturating_sub(self.options.max_tokens as usize))
    }

    /// Renders the session and generates one reply for `caller` (the user whose turn it is;
    /// the engine serves waiting requests in turn across callers), streaming its text as tokens.
    pub(super) async fn generate(
        &self,
        caller: &str,
        session_id: &str,
        tools: &Arc<ToolSet>,
        choice: &ToolChoice,
        passages: &[Passage],
        events: Events<'_>,
    ) -> Result<Generated, AgentError> {
        let mut stored = self.sessions.messages(session_id)?;
        // After tool results the turn is under way: its next step waits ahead of new requests.
        let continues_turn = stored.last().is_some_and(|m| m.role == Role::Tool);
        let memory = self.sessions.memory(session_id)?;
        let mut system = vec![Message::system(self.options.system_prompt.clone())];
        let language = if self.options.answer_in_users_language {
            Language::of(last_user_text(&stored).unwrap_or_default())
        } else {
            Language::English
        };
        let closing = continues_turn
            .then(|| closing_instruction(language, *choice == ToolChoice::None))
            .flatten();
        if let Some(closing) = closing {
            stored.push(Message::system(closing));
        }
        let offered = if *choice == ToolChoice::None {
            &[][..]
        } else {
            let parallel = (*choice == ToolChoice::Auto && self.options.parallel_calls)
                .then_some(self.options.tuning.parallel_call_guidance);
            add_call_guidance(&mut system, parallel);
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
        emit(
            events,
            AgentEvent::Context {
                tokens: layers.clone(),
            },
        );
        let prompt = render_prompt(&self.template, &messages, offered)?;
        let check = CallCheck::new(
            &self.options.tuning,
            tools,
            &messages,
            choice,
            self.options.parallel_calls,
            true,
        )
        .map(|check| {
            if continues_turn {
                // A text answer instead of the calls after tool results is the turn's answer:
                // the prompt of the answer step, or the model, still shown the tools, writes
                // about the call it may not make ("Mark the row number in the response.").
                let answer = answer_step(&messages, language);
                render_prompt(&self.template, &answer, &[]).map(|p| check.with_answer_prompt(p))
            } else {
                check.with_plain_prompt(|| render_prompt(&self.template, &messages, &[]))
            }
        })
        .transpose()?;
        let request = GenerationRequest {
            timeout: self.options.generation_timeout,
            caller: Some(caller.to_string()),
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
            // Only on the user's message: after tool results a refused start is not a call
            // (the model may open its answer by quoting a result).
            instead_of_refused_start: call_instead_of_refused_start(
                self.options.tuning,
                choice,
                !continues_turn,
            ),
            follow_up: continues_turn,
            ..GenerationRequest::greedy(prompt, self.options.max_tokens)
        };
        let started = Instant::now();
        let report = check.as_ref().map(CallCheck::report);
        let mut stream = match check {
            Some(check) => checked_generation(&self.backend, request, check).await?,
            None => start_generation(&self.backend, request).await?,
        };
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
                GenerationEvent::Finished { reason, usage } => {
                    for parsed in parser.finish() {
                        if let StreamEvent::Content(content) = parsed {
                            emit(events, AgentEvent::Token { text: content });
                        }
                    }
                    return Ok(Generated {
                        text,
                        reason,
                        usage,
                        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
                        layers,
                        checks: report.and_then(|report| report.take()),
                    });
                }
            }
        }
        Err(AgentError::Incomplete)
    }
}

/// The messages of an answer step after tool results, from the assembled `messages` of a
/// step that may call: closed by the instruction of a step that may only answer instead of
/// the calling step's own (if it has one).
fn answer_step(messages: &[Message], language: Language) -> Vec<Message> {
    let mut answer = messages.to_vec();
    let calling_closing = closing_instruction(language, false);
    let closed_by_step = answer.last().is_some_and(|m| {
        m.role == Role::System
            && calling_closing.is_some()
            && m.content.as_deref() == calling_closing
    });
    if closed_by_step {
        answer.pop();
    }
    if let Some(instruction) = closing_instruction(language, true) {
        answer.push(Message::system(instruction));
    }
    answer
}

/// One step's generation.
pub(super) struct Generated {
    pub text: String,
    pub reason: FinishReason,
    pub usage: Usage,
    pub elapsed_ms: f64,
    pub layers: LayerTokens,
    /// What the call checks changed in the model's answer, if anything.
    pub checks: Option<CheckReport>,
}

/// `messages` as the prompt of a generation (the assistant's turn opened).
pub(super) fn render_prompt(
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
