//! Grammar-constrained decoding with llguidance: compiling grammars (bounded in time and size)
//! and keeping recently compiled ones, since one tool set is typically used by many requests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory, TokenParser};

use crate::error::EngineError;

/// Compiled grammars kept for reuse.
const CACHE_ENTRIES: usize = 64;

/// Grammars larger than this (in bytes of Lark text) are refused before compiling.
const MAX_GRAMMAR_BYTES: usize = 512 * 1024;

/// Compiles Lark grammars against one model's vocabulary, with a cache keyed by the text.
pub(crate) struct GrammarCompiler {
    factory: OnceLock<Result<ParserFactory, String>>,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    parsers: HashMap<String, TokenParser>,
    order: VecDeque<String>,
}

impl GrammarCompiler {
    pub(crate) fn new() -> Self {
        GrammarCompiler {
            factory: OnceLock::new(),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The token-level environment walks the whole vocabulary (hundreds of ms for 152k
    /// tokens), so it is built on first use and kept.
    fn factory(&self, model: &LlamaModel) -> Result<&ParserFactory, EngineError> {
        self.factory
            .get_or_init(|| {
                let env = LlamaSampler::llguidance_tok_env(model);
                let mut factory = ParserFactory::new_simple(&env).map_err(|err| err.to_string())?;
                factory.quiet();
                let limits = factory.limits_mut();
                // Bounds on compile-time work: a pathological schema fails fast instead of
                // holding a worker (defaults are sized for megabyte schemas).
                limits.initial_lexer_fuel = 500_000;
                limits.max_grammar_size = 200_000;
                limits.max_lexer_states = 100_000;
                Ok(factory)
            })
            .as_ref()
            .map_err(|err| {
                EngineError::Grammar(format!("cannot prepare constrained decoding: {err}"))
            })
    }

    /// A fresh matcher for `lark`, compiled or from the cache.
    pub(crate) fn matcher(&self, model: &LlamaModel, lark: &str) -> Result<Matcher, EngineError> {
        if lark.len() > MAX_GRAMMAR_BYTES {
            return Err(EngineError::Grammar(format!(
                "the grammar is {} bytes, over the limit of {MAX_GRAMMAR_BYTES}: offer fewer or smaller tool schemas",
                lark.len()
            )));
        }
        if let Some(parser) = self.cached(lark) {
            return Ok(Matcher::new(Ok(parser)));
        }
        let factory = self.factory(model)?;
        let parser = factory
            .create_parser(TopLevelGrammar::from_lark(lark.to_string()))
            .map_err(|err| EngineError::Grammar(first_line(&err.to_string())))?;
        let matcher = Matcher::new(Ok(parser.deep_clone()));
        // Compute the first mask once: a grammar whose lexer is too complex fails here with a
        // clear error, instead of silently leaving generation unconstrained later.
        let mut probe = matcher.deep_clone();
        if let Err(err) = probe.compute_mask() {
            return Err(EngineError::Grammar(format!(
                "the grammar is too complex to enforce: {}",
                first_line(&err.to_string())
            )));
        }
        if let Some(error) = matcher.get_error() {
            return Err(EngineError::Grammar(first_line(&error)));
        }
        self.store(lark, parser);
        Ok(matcher)
    }

    fn cached(&self, lark: &str) -> Option<TokenParser> {
        let cache = self.cache.lock().ok()?;
        cache.parsers.get(lark).map(TokenParser::deep_clone)
    }

    fn store(&self, lark: &str, parser: TokenParser) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.parsers.contains_key(lark) {
            return;
        }
        while cache.order.len() >= CACHE_ENTRIES {
            if let Some(oldest) = cache.order.pop_front() {
                cache.parsers.remove(&oldest);
            }
        }
        cache.order.push_back(lark.to_string());
        cache.parsers.insert(lark.to_string(), parser);
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or(text)
        .chars()
        .take(500)
        .collect()
}
