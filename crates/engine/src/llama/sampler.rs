//! How a sequence picks its next token: the sampler chain (logit biases, the grammar's mask,
//! then greedy or top-k/top-p/temperature), biases that depend on the previous token, and a
//! plain arg-max for greedy decoding without either.

use super::*;

pub(super) fn build_sampler(
    params: &SamplingParams,
    grammar: Option<llguidance::Matcher>,
    logit_bias: &[LlamaLogitBias],
    needs_chain: bool,
    n_vocab: i32,
) -> Option<LlamaSampler> {
    let mut chain = Vec::with_capacity(6);
    if !logit_bias.is_empty() {
        chain.push(LlamaSampler::logit_bias(n_vocab, logit_bias));
    }
    // The grammar masks first, so every later stage only sees allowed tokens.
    if let Some(matcher) = grammar {
        chain.push(LlamaSampler::from(matcher));
    }
    if params.temperature <= 0.0 {
        if chain.is_empty() && !needs_chain {
            return None;
        }
        chain.push(LlamaSampler::greedy());
        return Some(LlamaSampler::chain_simple(chain));
    }
    let seed = params.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x5eed, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
    });
    if params.top_k > 0 {
        chain.push(LlamaSampler::top_k(params.top_k));
    }
    if params.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
    }
    chain.push(LlamaSampler::temp(params.temperature));
    chain.push(LlamaSampler::dist(seed));
    Some(LlamaSampler::chain_simple(chain))
}

/// Samples from the logits at `at` with some tokens' logits moved first (llama.cpp's own
/// `sample` reads the logits itself, so this goes through a candidate array), then accepts the
/// token as `sample` would.
pub(super) fn sample_with_bias(
    sampler: &mut LlamaSampler,
    ctx: &LlamaContext<'_>,
    at: i32,
    biases: &[FollowupBias],
) -> LlamaToken {
    let mut candidates = ctx.token_data_array_ith(at);
    for bias in biases {
        if let Some(entry) = candidates
            .data
            .iter_mut()
            .find(|entry| entry.id() == bias.token)
        {
            entry.set_logit(entry.logit() + bias.bias);
        }
    }
    candidates.apply_sampler(sampler);
    let token = candidates
        .selected_token()
        .unwrap_or_else(|| argmax(ctx.get_logits_ith(at)));
    sampler.accept(token);
    token
}

/// The highest-scoring token (the first one on ties, as llama.cpp's greedy sampler picks).
pub(super) fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0usize;
    let mut best_logit = f32::NEG_INFINITY;
    for (index, &logit) in logits.iter().enumerate() {
        if logit > best_logit {
            best = index;
            best_logit = logit;
        }
    }
    LlamaToken(i32::try_from(best).unwrap_or(0))
}
