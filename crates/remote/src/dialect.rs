//! What differs between engines: how a grammar, a tokenizer check and a health check are
//! asked for. Everything else is the OpenAI completions API they all serve.

use fulcrum_engine::{BiasWhen, GenerationRequest, TOKEN_BREAK};
use serde_json::{json, Map, Value};

use crate::config::UpstreamKind;

/// The request's biases an upstream can take: OpenAI's `logit_bias` applies at every step,
/// so biases tied to a position (the first token, the token after another) are left out.
pub(crate) struct TokenBias {
    pub token: i32,
    pub bias: f32,
}

impl UpstreamKind {
    /// How a grammar reaches this engine (`/v1/models` and start-up report it).
    pub fn grammar_support(self) -> &'static str {
        match self {
            UpstreamKind::Vllm | UpstreamKind::Sglang | UpstreamKind::LlamaServer => "llguidance",
            UpstreamKind::Openai => "none",
        }
    }

    /// The path answered 200 while the engine can serve.
    pub(crate) fn health_path(self) -> &'static str {
        match self {
            UpstreamKind::Vllm | UpstreamKind::Sglang | UpstreamKind::LlamaServer => "/health",
            UpstreamKind::Openai => "/v1/models",
        }
    }

    /// Whether the engine has a tokenize endpoint: its tokenizer is then checked against the
    /// local one at connect, and it is sent prompts as token ids.
    fn has_tokenize_endpoint(self) -> bool {
        matches!(self, UpstreamKind::LlamaServer | UpstreamKind::Vllm)
    }

    /// The engine's tokenize endpoint and body for `text` as a prompt, when it has one.
    pub(crate) fn tokenize_request(self, model: &str, text: &str) -> Option<(&'static str, Value)> {
        match self {
            // Special tags parsed and a BOS token added when the model wants one, as for a
            // completions prompt.
            UpstreamKind::LlamaServer => Some((
                "/tokenize",
                json!({"content": text, "add_special": true, "parse_special": true}),
            )),
            UpstreamKind::Vllm => Some((
                "/tokenize",
                json!({"model": model, "prompt": text, "add_special_tokens": true}),
            )),
            UpstreamKind::Sglang | UpstreamKind::Openai => None,
        }
    }

    /// The streamed completions request for `request`, whose prompt may generate
    /// `max_tokens`. The prompt goes as `prompt_ids` where the engine takes token ids and its
    /// tokenizer is checked against the local one at connect: the engine then reads special
    /// tokens exactly where the chat template put them. Elsewhere it goes as text, with every
    /// break of a special-token text in untrusted content made a zero-width space, so the
    /// engine's tokenizer cannot join it back into a control token.
    pub(crate) fn completion_body(
        self,
        model: &str,
        request: &GenerationRequest,
        prompt_ids: &[i32],
        max_tokens: u32,
        biases: &[TokenBias],
    ) -> Value {
        let sampling = &request.sampling;
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        let prompt = if self.has_tokenize_endpoint() {
            json!(prompt_ids)
        } else {
            json!(request.prompt.replace(TOKEN_BREAK, "\u{200b}"))
        };
        body.insert("prompt".into(), prompt);
        body.insert("max_tokens".into(), json!(max_tokens));
        body.insert("temperature".into(), json!(sampling.temperature));
        body.insert("top_p".into(), json!(sampling.top_p));
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
        if let Some(seed) = sampling.seed {
            body.insert("seed".into(), json!(seed));
        }
        if !request.stop.is_empty() {
            body.insert("stop".into(), json!(request.stop));
        }
        if !biases.is_empty() {
            let bias: Map<String, Value> = biases
                .iter()
                .map(|b| (b.token.to_string(), json!(b.bias)))
                .collect();
            body.insert("logit_bias".into(), Value::Object(bias));
        }
        if self != UpstreamKind::Openai {
            // Extensions every engine here accepts; OpenAI's own API refuses them.
            if sampling.top_k > 0 {
                body.insert("top_k".into(), json!(sampling.top_k));
            }
            if request.ignore_eos {
                body.insert("ignore_eos".into(), json!(true));
            }
        }
        if let Some(lark) = &request.grammar {
            match self {
                // llama.cpp takes llguidance grammars in its `grammar` field behind this tag.
                UpstreamKind::LlamaServer => {
                    body.insert("grammar".into(), json!(format!("%llguidance {{}}\n{lark}")));
                }
                UpstreamKind::Vllm => {
                    body.insert("structured_outputs".into(), json!({"grammar": lark}));
                }
                UpstreamKind::Sglang => {
                    body.insert("ebnf".into(), json!(lark));
                }
                UpstreamKind::Openai => {}
            }
        }
        Value::Object(body)
    }
}

/// The biases of `request` an upstream can apply, as token ids of the model's vocabulary.
///
/// OpenAI's `logit_bias` applies at every step. A bias meant for the first token only goes
/// along as one at every step when the upstream enforces the request's grammar: Fulcrum's tool
/// grammars allow the opening call tag only where the call-or-text decision is made (the start)
/// or where nothing else may follow (between parallel calls), so there it acts exactly where the
/// first-token bias would. Biases after a given token cannot be expressed and are left out.
pub(crate) fn token_biases(
    request: &GenerationRequest,
    grammar_enforced: bool,
    single_token: impl Fn(&str) -> Option<i32>,
) -> Vec<TokenBias> {
    let at_start_everywhere = grammar_enforced && request.grammar.is_some();
    request
        .logit_bias
        .iter()
        .filter(|entry| match entry.when {
            BiasWhen::Always => true,
            BiasWhen::AtStart => at_start_everywhere,
            BiasWhen::After(_) => false,
        })
        .filter_map(|entry| {
            single_token(&entry.text).map(|token| TokenBias {
                token,
                bias: entry.bias,
            })
        })
        .collect()
}

/// The token ids of a tokenize answer (`{"tokens": [...]}` in llama-server and vLLM; a
/// llama-server asked `with_pieces` gives objects with an `id`).
pub(crate) fn tokens_of(answer: &Value) -> Option<Vec<i32>> {
    answer
        .get("tokens")?
        .as_array()?
        .iter()
        .map(|token| {
            token
                .as_i64()
                .or_else(|| token.get("id").and_then(Value::as_i64))
                .and_then(|id| i32::try_from(id).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_engine::LogitBias;

    #[test]
    fn each_engine_gets_the_grammar_in_its_own_parameter() {
        let request = GenerationRequest {
            grammar: Some("start: \"a\"".into()),
            ..GenerationRequest::greedy("hi".into(), 4)
        };
        let llama = UpstreamKind::LlamaServer.completion_body("m", &request, &[1, 2], 4, &[]);
        assert_eq!(llama["grammar"], "%llguidance {}\nstart: \"a\"");
        let vllm = UpstreamKind::Vllm.completion_body("m", &request, &[1, 2], 4, &[]);
        assert_eq!(vllm["structured_outputs"]["grammar"], "start: \"a\"");
        let sglang = UpstreamKind::Sglang.completion_body("m", &request, &[1, 2], 4, &[]);
        assert_eq!(sglang["ebnf"], "start: \"a\"");
        let openai = UpstreamKind::Openai.completion_body("m", &request, &[1, 2], 4, &[]);
        assert!(openai.get("grammar").is_none() && openai.get("top_k").is_none());
        assert_eq!(
            vllm["prompt"],
            json!([1, 2]),
            "token ids where the tokenizer is checked"
        );
        assert_eq!(openai["prompt"], "hi", "text elsewhere");
        let forged = GenerationRequest::greedy(format!("<{TOKEN_BREAK}|im_start|>"), 4);
        let openai = UpstreamKind::Openai.completion_body("m", &forged, &[], 4, &[]);
        assert_eq!(
            openai["prompt"], "<\u{200b}|im_start|>",
            "a break stays a break there"
        );
        assert_eq!(openai["max_tokens"], 4);
        assert_eq!(openai["stream"], true);
    }

    #[test]
    fn only_biases_at_every_step_of_single_tokens_are_sent() {
        let request = GenerationRequest {
            logit_bias: vec![
                LogitBias::always("<tool_call>", 2.0),
                LogitBias::at_start("<tool_call>", 5.0),
                LogitBias::always("two tokens", 1.0),
            ],
            ..GenerationRequest::greedy("hi".into(), 4)
        };
        let biases = token_biases(&request, true, |text| (text == "<tool_call>").then_some(7));
        assert_eq!(
            biases.len(),
            1,
            "no grammar: the first-token bias is left out"
        );
        let body = UpstreamKind::Vllm.completion_body("m", &request, &[], 4, &biases);
        assert_eq!(body["logit_bias"]["7"], 2.0);
        let constrained = GenerationRequest {
            grammar: Some("start: \"a\"".into()),
            ..request
        };
        let biases = token_biases(&constrained, true, |text| {
            (text == "<tool_call>").then_some(7)
        });
        assert_eq!(
            biases.len(),
            2,
            "under an enforced grammar it applies at every step"
        );
        let unenforced = token_biases(&constrained, false, |_| Some(7));
        assert!(
            unenforced.iter().all(|b| b.bias != 5.0),
            "a grammar not enforced upstream gets no first-token bias"
        );
    }

    #[test]
    fn tokenize_answers_of_both_shapes_are_read() {
        assert_eq!(tokens_of(&json!({"tokens": [1, 2]})), Some(vec![1, 2]));
        assert_eq!(
            tokens_of(&json!({"tokens": [{"id": 3, "piece": "a"}]})),
            Some(vec![3])
        );
        assert_eq!(tokens_of(&json!({"count": 2})), None);
    }
}
