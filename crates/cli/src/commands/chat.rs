//! `fulcrum chat`: an interactive conversation in the terminal, streamed token by token.

use std::io::{BufRead, Write};

use anyhow::{Context, Result};
use fulcrum_agent::LoadedModel;
use fulcrum_chat::{Message, RenderOptions};
use fulcrum_engine::{GenerationEvent, GenerationRequest, SamplingParams};

use crate::config::{Config, ModelFlags};
use crate::model_source::load_backend;

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// System prompt
    #[arg(long)]
    system: Option<String>,
    /// Sampling temperature (0 = greedy)
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Most tokens per answer
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
}

pub fn run(config: &Config, args: &ChatArgs) -> Result<()> {
    eprintln!("loading {}…", config.model);
    let LoadedModel {
        backend: engine,
        template,
        ..
    } = LoadedModel::new(load_backend(config)?)?;
    let info = engine.info();
    let fresh = || -> Vec<Message> { args.system.iter().map(Message::system).collect() };
    let mut messages = fresh();
    eprintln!(
        "chatting with {} — /reset starts over, /exit quits",
        info.id
    );

    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("> ");
        std::io::stdout()
            .flush()
            .context("cannot write to the terminal")?;
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read from the terminal")?;
        let input = line.trim();
        match input {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                messages = fresh();
                println!("(conversation reset)");
                continue;
            }
            _ => {}
        }
        messages.push(Message::user(input));
        let prompt = template.render(
            &messages,
            &[],
            &RenderOptions {
                add_generation_prompt: true,
                ..Default::default()
            },
        )?;
        let sampling = SamplingParams {
            temperature: args.temperature,
            ..SamplingParams::default()
        };
        let request = GenerationRequest::new(prompt, sampling, Some(args.max_tokens));
        let mut stream = match engine.generate(request) {
            Ok(stream) => stream,
            Err(err) => {
                // Too long a conversation is the usual cause: say so and keep the session.
                messages.pop();
                eprintln!("error: {err} (use /reset to start over)");
                continue;
            }
        };
        let mut answer = String::new();
        while let Some(event) = stream.blocking_next() {
            match event? {
                GenerationEvent::Text(piece) => {
                    print!("{piece}");
                    std::io::stdout()
                        .flush()
                        .context("cannot write to the terminal")?;
                    answer.push_str(&piece);
                }
                GenerationEvent::Finished { .. } => break,
            }
        }
        println!();
        messages.push(Message::assistant(answer));
    }
    Ok(())
}
