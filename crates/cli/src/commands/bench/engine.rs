//! `fulcrum bench engine`: prompt-processing and decode speed of the embedded engine, measured
//! the way llama.cpp's `llama-bench` measures them (pp: one prompt of N tokens; tg: N tokens
//! generated one at a time), so the two can be compared in one run.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use fulcrum_engine::{Backend, GenerationEvent, GenerationRequest, LlamaEngine};
use serde::Serialize;

use crate::config::{Config, ModelFlags};
use crate::model_source::{engine_config, ensure_model};

/// `fulcrum bench engine`.
#[derive(Debug, clap::Args)]
pub struct EngineBenchArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// Prompt length for the pp test
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens generated for the tg test
    #[arg(long, default_value_t = 128)]
    gen_tokens: u32,
    /// Measured repetitions (after one warm-up)
    #[arg(long, short = 'r', default_value_t = 5)]
    repetitions: usize,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Measurement {
    test: String,
    tokens: usize,
    tokens_per_second_mean: f64,
    tokens_per_second_stddev: f64,
}

pub fn run(config: &Config, args: &EngineBenchArgs) -> Result<()> {
    let EngineBenchArgs {
        prompt_tokens,
        gen_tokens,
        repetitions,
        json,
        ..
    } = *args;
    if repetitions == 0 || prompt_tokens < 2 || gen_tokens < 2 {
        bail!("repetitions must be ≥ 1, prompt and generated tokens ≥ 2");
    }
    let (path, id) = ensure_model(config)?;
    let mut engine_settings = engine_config(config, &path, id);
    // One batch holds the whole prompt, as in llama-bench; one sequence, as in a lone user.
    engine_settings.batch_size = engine_settings.batch_size.max(prompt_tokens as u32);
    engine_settings.slots = 1;
    let context = (prompt_tokens as u32 + gen_tokens + 64).max(512);
    engine_settings.context_size = Some(context);
    let engine = LlamaEngine::load(engine_settings)?;

    let prompt = prompt_of(&engine, prompt_tokens)?;
    let mut pp = Vec::with_capacity(repetitions);
    let mut tg = Vec::with_capacity(repetitions);
    for round in 0..=repetitions {
        let pp_seconds = time_prompt(&engine, &prompt)?;
        let tg_seconds = time_decode(&engine, gen_tokens)?;
        if round > 0 {
            pp.push(prompt_tokens as f64 / pp_seconds);
            tg.push(f64::from(gen_tokens - 1) / tg_seconds);
        }
    }
    let results = [
        measurement(format!("pp{prompt_tokens}"), prompt_tokens, &pp),
        measurement(format!("tg{gen_tokens}"), gen_tokens as usize, &tg),
    ];
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("| test | t/s |");
        println!("| --- | --- |");
        for m in &results {
            println!(
                "| {} | {:.2} ± {:.2} |",
                m.test, m.tokens_per_second_mean, m.tokens_per_second_stddev
            );
        }
    }
    Ok(())
}

fn measurement(test: String, tokens: usize, samples: &[f64]) -> Measurement {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Measurement {
        test,
        tokens,
        tokens_per_second_mean: mean,
        tokens_per_second_stddev: variance.sqrt(),
    }
}

/// Text that tokenizes to exactly `tokens` tokens (BOS included when the model adds one).
fn prompt_of(engine: &LlamaEngine, tokens: usize) -> Result<String> {
    let mut words = tokens;
    for _ in 0..8 {
        let text = " the".repeat(words);
        let count = engine.count_tokens(&text)?;
        if count == tokens {
            return Ok(text);
        }
        words = (words + tokens).saturating_sub(count).max(1);
    }
    bail!("cannot build a prompt of exactly {tokens} tokens for this tokenizer")
}

fn request(prompt: String, max_tokens: u32) -> GenerationRequest {
    GenerationRequest {
        ignore_eos: true,
        ..GenerationRequest::greedy(prompt, max_tokens)
    }
}

/// Seconds to read the prompt and sample one token.
fn time_prompt(engine: &LlamaEngine, prompt: &str) -> Result<f64> {
    let started = Instant::now();
    let mut stream = engine.generate(request(prompt.to_string(), 1))?;
    while let Some(event) = stream.blocking_next() {
        if let GenerationEvent::Finished { .. } = event? {
            return Ok(started.elapsed().as_secs_f64());
        }
    }
    bail!("the engine stopped during the prompt test")
}

/// Seconds to generate `tokens - 1` tokens after the first (the first includes the prompt).
fn time_decode(engine: &LlamaEngine, tokens: u32) -> Result<f64> {
    let mut stream = engine.generate(request(" the".into(), tokens))?;
    let mut first_at = None;
    while let Some(event) = stream.blocking_next() {
        match event? {
            GenerationEvent::Text(_) => {
                first_at.get_or_insert_with(Instant::now);
            }
            GenerationEvent::Finished { usage, .. } => {
                if usage.completion_tokens != tokens {
                    bail!(
                        "generated {} tokens instead of {tokens}",
                        usage.completion_tokens
                    );
                }
                let first = first_at.context("no text was generated")?;
                return Ok(first.elapsed().as_secs_f64());
            }
        }
    }
    bail!("the engine stopped during the decode test")
}
