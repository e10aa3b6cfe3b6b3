//! How a sequence picks its next token: the sampler chain (logit biases, the grammar's mask,
//! then greedy or top-k/top-p/temperature), biases that depend on the previous token, and a
//! plain arg-max for greedy decoding without either.

use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

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

/// Samples from `logits` with some tokens' logits moved first (llama.cpp's own `sample` reads
/// the context's logits itself, so this goes through a candidate array built as it builds
/// its own), then accepts the token as `sample` would. With `redirect`, its replacement is
/// taken when the grammar refuses its first choice and allows the replacement.
pub(super) fn sample_with_bias(
    sampler: &mut LlamaSampler,
    logits: &[f32],
    biases: &[FollowupBias],
    redirect: Option<RefusedStartRedirect>,
) -> LlamaToken {
    let mut candidates = LlamaTokenDataArray::from_iter(
        (0_i32..)
            .zip(logits)
            .map(|(id, &logit)| LlamaTokenData::new(LlamaToken(id), logit, 0.0)),
        false,
    );
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
    let mut token = candidates
        .selected_token()
        .unwrap_or_else(|| argmax(logits));
    if let Some(RefusedStartRedirect {
        first_choice,
        instead,
    }) = redirect
    {
        // The grammar stage leaves the logits of the tokens it refuses at minus infinity;
        // a later stage (top-k) may have dropped them altogether.
        let allowed = |id: LlamaToken| {
            candidates
                .data
                .iter()
                .any(|entry| entry.id() == id && entry.logit().is_finite())
        };
        if token != first_choice && !allowed(first_choice) && allowed(instead) {
            token = instead;
        }
    }
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

/// `token`'s log-probability in `logits` (their log-softmax) and the `top` most likely tokens.
pub(super) fn token_logprob(
    logits: &[f32],
    token: LlamaToken,
    top: u32,
    vocab: &llama_cpp_2::vocab::LlamaVocab<'_>,
) -> TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits
        .iter()
        .map(|&logit| f64::from(logit - max).exp())
        .sum();
    let log_normalizer = f64::from(max) + sum.ln();
    let logprob_of = |index: usize| -> f32 {
        logits.get(index).map_or(f32::NEG_INFINITY, |&logit| {
            (f64::from(logit) - log_normalizer) as f32
        })
    };
    let bytes_of = |id: i32| vocab.token_to_piece(LlamaToken(id), true, None);
    let index = usize::try_from(token.0).unwrap_or(usize::MAX);
    TokenLogprob {
        token: u32::try_from(token.0).unwrap_or(0),
        bytes: bytes_of(token.0),
        logprob: logprob_of(index),
        top: most_likely(logits, top as usize)
            .into_iter()
            .map(|index| TopLogprob {
                token: index as u32,
                bytes: bytes_of(i32::try_from(index).unwrap_or(0)),
                logprob: logprob_of(index),
            })
            .collect(),
        end_of_text: false,
    }
}

/// The indexes of the `n` largest logits, largest first (the first index on ties).
pub(super) fn most_likely(logits: &[f32], n: usize) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::with_capacity(n + 1);
    if n == 0 {
        return best;
    }
    for (index, &logit) in logits.iter().enumerate() {
        if best.len() == n && logit <= logits[best[n - 1]] {
            continue;
        }
        let at = best
            .iter()
            .position(|&other| logits[other] < logit)
            .unwrap_or(best.len());
        best.insert(at, index);
        best.truncate(n);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::most_likely;

    #[test]
    fn the_most_likely_come_largest_first_and_ties_keep_the_first() {
        let logits = [0.5, 3.0, -1.0, 3.0, 2.0];
        assert_eq!(most_likely(&logits, 3), [1, 3, 4]);
        assert_eq!(most_likely(&logits, 1), [1]);
        assert!(most_likely(&logits, 0).is_empty());
        assert_eq!(most_likely(&logits, 9), [1, 3, 4, 0, 2]);
    }
}
