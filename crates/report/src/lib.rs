//! Monthly sales reports. The numbers come from the sales database through the governed
//! `query_sales_data` tool and are analysed in code (`facts`); charts are drawn from those
//! facts; the model writes only the prose, from the facts it is shown, and every number in it
//! is checked against them (`numbers`, `prose`). The result is written as Markdown, DOCX and
//! PDF. Nothing here knows about HTTP.

pub mod charts;
mod error;
mod facts;
mod month;
mod numbers;
mod prose;
pub mod render;
mod sales;
mod service;
mod strategy;
pub mod summary;
mod template;
mod wording;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_retrieval::{Passage, PassageSource};
use fulcrum_tools::{CallContext, Policy, Principal};

pub use charts::Chart;
pub use error::ReportError;
pub use facts::{Breakdown, Facts, Notable, TREND_MONTHS};
pub use month::Month;
pub use numbers::NumberCheck;
pub use prose::{EngineProse, ProseModel, Section, ATTEMPTS};
pub use sales::{SalesRow, SALES_TOOL};
pub use service::{builtin_request, write_monthly_report, MonthlyReportFunction, MONTHLY_REPORT};
pub use strategy::Citation;
pub use template::{SectionSpec, Template};
pub use wording::money;

/// Where the CJK-capable font comes from unless `FULCRUM_REPORT_FONT` names another
/// (Debian's fonts-wqy-microhei, installed by scripts/setup).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

pub fn font_path() -> PathBuf {
    std::env::var_os("FULCRUM_REPORT_FONT")
        .map_or_else(|| PathBuf::from(DEFAULT_FONT), PathBuf::from)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Docx,
    Pdf,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        match text.trim() {
            "md" | "markdown" => Ok(Format::Markdown),
            "docx" => Ok(Format::Docx),
            "pdf" => Ok(Format::Pdf),
            other => Err(ReportError::UnknownFormat(other.to_string())),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Docx => "docx",
            Format::Pdf => "pdf",
        }
    }
}

/// What to produce.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub template: Template,
    pub formats: Vec<Format>,
    pub out_dir: PathBuf,
    pub font: PathBuf,
    /// Told of each finished stage and section as the report is written (a client's
    /// progress display); nothing when `None`.
    pub progress: Option<ProgressSink>,
}

/// A step of a report being written.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A stage (`data`, `analysis`, `charts`, `strategy`, `prose`, then one per format) ended.
    Stage { name: &'static str, took: Duration },
    /// The prose of one section (`index` of `total`, from 1) was written and checked.
    Section {
        index: usize,
        total: usize,
        title: String,
        needs_review: bool,
    },
}

/// Where [`Progress`] goes: a callback, called on the writing thread.
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn Fn(Progress) + Send + Sync>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

impl ReportRequest {
    fn tell(&self, progress: Progress) {
        if let Some(sink) = &self.progress {
            (sink.0)(progress);
        }
    }
}

/// A finished report and where its files are.
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    /// Who wrote the prose: the model's id, or "the facts alone".
    pub model: String,
    pub facts: Facts,
    pub sections: Vec<Section>,
    pub charts: Vec<Chart>,
    pub files: Vec<PathBuf>,
    /// Each stage and how long it took, in order.
    pub timings: Vec<(&'static str, Duration)>,
}

impl Report {
    /// Time of every stage but the model's writing.
    pub fn time_without_model(&self) -> Duration {
        self.timings
            .iter()
            .filter(|(stage, _)| *stage != "prose")
            .map(|(_, d)| *d)
            .sum()
    }
}

/// The figures of a month, read and analysed, with the time each step took.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub facts: Facts,
    pub timings: Vec<(&'static str, Duration)>,
    /// Who the data was read as: the strategy passages are read as them too.
    pub reader: Principal,
}

/// Reads the sales of `month` and the months it is compared with through the governed tool,
/// as `context`'s principal, and computes the facts.
pub async fn gather(
    policy: &Policy,
    context: &CallContext,
    month: Month,
) -> Result<Gathered, ReportError> {
    let started = Instant::now();
    let mut months = month.window(TREND_MONTHS);
    if !months.contains(&month.year_before()) {
        months.push(month.year_before());
    }
    let data = sales::fetch(policy, context, &months).await?;
    let fetched = started.elapsed();
    let facts = Facts::compute(month, &data)?;
    Ok(Gathered {
        facts,
        timings: vec![("data", fetched), ("analysis", started.elapsed() - fetched)],
        reader: context.principal.clone(),
    })
}

/// Draws the charts, retrieves each section's strategy passages (those the reader may read),
/// has the prose written and
/// checked, and writes the files. Without a model each section states its facts, one sentence
/// each (and nothing is retrieved). Blocking (the model runs here): call it off any async
/// runtime's worker threads.
pub fn compose(
    gathered: Gathered,
    prose_model: Option<&dyn ProseModel>,
    strategy: Option<&dyn PassageSource>,
    model_name: &str,
    request: &ReportRequest,
) -> Result<Report, ReportError> {
    let Gathered {
        facts,
        mut timings,
        reader,
    } = gathered;
    for (name, took) in &timings {
        request.tell(Progress::Stage { name, took: *took });
    }
    let mut stage = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, Duration)>| {
        let took = stage.elapsed();
        timings.push((name, took));
        request.tell(Progress::Stage { name, took });
        stage = Instant::now();
    };
    let check = NumberCheck::new(&facts);
    let charts = charts::draw_all(&facts, &request.out_dir.join("charts"), &request.font)?;
    lap("charts", &mut timings);
    let passages: Vec<Vec<Passage>> = request
        .template
        .sections
        .iter()
        .map(|spec| match (prose_model, strategy) {
            (Some(_), Some(source)) => source
                .passages(&reader, &prose::strategy_query(&facts, spec))
                .unwrap_or_else(|err| {
                    // The report is still right without them: its numbers come from the data.
                    tracing::warn!(section = %spec.title, "strategy passages unavailable: {err}");
                    Vec::new()
                }),
            _ => Vec::new(),
        })
        .collect();
    lap("strategy", &mut timings);
    let total = request.template.sections.len();
    let sections = request
        .template
        .sections
        .iter()
        .zip(&passages)
        .enumerate()
        .map(|(index, (spec, passages))| {
            let section = prose::write_section(prose_model, &facts, &check, spec, passages)?;
            request.tell(Progress::Section {
                index: index + 1,
                total,
                title: section.title.clone(),
                needs_review: section.needs_review(),
            });
            Ok(section)
        })
        .collect::<Result<Vec<_>, ReportError>>()?;
    lap("prose", &mut timings);
    let mut report = Report {
        title: format!("{} — {}", request.template.title, facts.month.long_name()),
        model: model_name.to_string(),
        facts,
        sections,
        charts,
        files: Vec::new(),
        timings: Vec::new(),
    };
    for &format in &request.formats {
        let bytes = match format {
            Format::Markdown => render::markdown::render(&report).into_bytes(),
            Format::Docx => render::docx::render(&report)?,
            Format::Pdf => render::pdf::render(&report, &request.font)?,
        };
        let path = request.out_dir.join(format!(
            "sales-report-{}.{}",
            report.facts.month,
            format.extension()
        ));
        write_atomically(&path, &bytes)?;
        report.files.push(path);
        lap(format.extension(), &mut timings);
    }
    report.timings = timings;
    Ok(report)
}

/// Writes through a temporary file and a rename, so a crash leaves no half-written report.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let failed = |err: std::io::Error| ReportError::Render {
        format: "any",
        reason: format!("cannot write {}: {err}", path.display()),
    };
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}
