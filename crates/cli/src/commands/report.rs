//! `fulcrum report monthly`: the monthly sales report as Markdown, DOCX and PDF, its data read
//! through the governed `query_sales_data` tool as one of the policy's users.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use fulcrum_agent::LoadedModel;
use fulcrum_report::{write_monthly_report, Format, Month, ReportRequest, Template};
use fulcrum_retrieval::{KnowledgePassages, PassageSource, SharedEmbedder};
use fulcrum_tools::{CallContext, Principal};

use crate::config::{Config, ModelFlags, PolicyFlags};
use crate::model_source::{load_backend, load_embedder};

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// A month's sales: figures, charts and model-written prose checked against the data
    Monthly(MonthlyArgs),
}

#[derive(Debug, clap::Args)]
pub struct MonthlyArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub policy: PolicyFlags,
    /// The month, as YYYY-MM
    #[arg(long)]
    month: String,
    /// Output formats, comma-separated: md, docx, pdf
    #[arg(long, value_delimiter = ',', default_value = "md,docx,pdf")]
    format: Vec<String>,
    /// Report template (TOML: title and sections) [default: the built-in one]
    #[arg(long)]
    template: Option<PathBuf>,
    /// Folder for the files (created if missing)
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// The policy's user the data is read as (their role must allow `query_sales_data`)
    #[arg(long, default_value = "admin")]
    user: String,
    /// Write the sections from the facts alone, without the model
    #[arg(long)]
    no_model: bool,
}

impl ReportCommand {
    /// The configuration flags given to this command.
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        let ReportCommand::Monthly(args) = self;
        vec![
            crate::config::layer(&args.model),
            crate::config::layer(&args.policy),
        ]
    }
}

pub fn run(config: &Config, command: ReportCommand) -> Result<()> {
    let ReportCommand::Monthly(args) = command;
    let month = Month::parse(&args.month)?;
    let formats = args
        .format
        .iter()
        .map(|f| Format::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    if formats.is_empty() {
        bail!("--format names no format: use md, docx or pdf");
    }
    let template = match &args.template {
        Some(path) => Template::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the template {}", path.display()))?,
        )?,
        None => Template::builtin(),
    };
    let governance = crate::governance::load(config)?;
    let principal = governance
        .policy
        .registry()
        .config()
        .users
        .iter()
        .find(|u| u.name == args.user)
        .map(|u| Principal {
            user: u.name.clone(),
            role: u.role.clone(),
        })
        .with_context(|| {
            format!(
                "no user `{}` in the policy file: pass --user NAME",
                args.user
            )
        })?;
    // The strategy documents the prose relates the figures to: the configured knowledge
    // collections, as this user's role may read them (nothing to load when none was ingested).
    let knowledge = config.home_dir().join("knowledge.db");
    let passages =
        (!args.no_model && !config.context_collections.is_empty() && knowledge.is_file())
            .then(|| -> Result<Arc<dyn PassageSource>> {
                let embedder = SharedEmbedder::default();
                embedder.set(load_embedder(config)?);
                Ok(Arc::new(KnowledgePassages::new(
                    knowledge,
                    config.context_collections.clone(),
                    embedder,
                )))
            })
            .transpose()?;
    let context = CallContext {
        principal,
        request_id: Some(format!("report-{month}")),
        session_id: None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let model = if args.no_model {
        None
    } else {
        Some(LoadedModel::new(load_backend(config)?)?)
    };
    let request = ReportRequest {
        template,
        formats,
        out_dir: args.out.clone(),
        font: fulcrum_report::font_path(),
        progress: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The same code path as the report route and the agent's report tool.
    let report = runtime.block_on(write_monthly_report(
        &governance.policy,
        &context,
        model.as_ref(),
        month,
        request,
        passages,
        (),
    ))?;
    for (stage, took) in &report.timings {
        eprintln!("report: {stage:<8} {:>8.1} ms", took.as_secs_f64() * 1000.0);
    }
    eprintln!(
        "report: all but the model's writing: {:.1} ms",
        report.time_without_model().as_secs_f64() * 1000.0
    );
    for section in report.sections.iter().filter(|s| s.needs_review()) {
        eprintln!(
            "report: section `{}` is marked for review (numbers not in the data: {})",
            section.title,
            section.unsupported_numbers.join(", ")
        );
    }
    for file in &report.files {
        println!("{}", file.display());
    }
    Ok(())
}
