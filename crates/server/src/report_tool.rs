//! The `monthly_report` host function: what the policy file's `generate_report` tool runs in
//! the agent loop. The report reads its data as the caller (so their role also needs
//! `query_sales_data`), the served model writes the prose, and the files go under the
//! configured reports folder; the tool's output tells the model what was written.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

use fulcrum_agent::PassageSource;
use fulcrum_report::render::section_note;
use fulcrum_report::{
    EngineProse, Format, Month, Report, ReportError, ReportRequest, StrategyPassage,
    StrategySource, Template,
};
use fulcrum_tools::{CallContext, HostFunction, HostFuture, Policy, Principal};
use serde_json::{json, Value};

use crate::state::LoadedModel;

/// The name policy files give the function (`executor = { kind = "host", function = … }`).
pub const MONTHLY_REPORT: &str = "monthly_report";

pub struct MonthlyReportFunction {
    /// Weak: the policy owns this function through its executors.
    policy: Weak<Policy>,
    model: Arc<OnceLock<LoadedModel>>,
    folder: PathBuf,
    /// The knowledge the prose may relate the figures to (the strategy documents).
    passages: Option<Arc<dyn PassageSource>>,
}

impl MonthlyReportFunction {
    pub fn new(
        policy: &Arc<Policy>,
        model: Arc<OnceLock<LoadedModel>>,
        folder: PathBuf,
        passages: Option<Arc<dyn PassageSource>>,
    ) -> Self {
        MonthlyReportFunction {
            policy: Arc::downgrade(policy),
            model,
            folder,
            passages,
        }
    }

    async fn run(&self, caller: &Principal, arguments: &Value) -> Result<Value, String> {
        let month = arguments["month"]
            .as_str()
            .ok_or("`month` (YYYY-MM) is missing")?;
        let month = Month::parse(month).map_err(|err| err.to_string())?;
        let formats = match arguments.get("formats").and_then(Value::as_array) {
            None => vec![Format::Markdown, Format::Docx, Format::Pdf],
            Some(list) => list
                .iter()
                .map(|f| Format::parse(f.as_str().unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| err.to_string())?,
        };
        let policy = self.policy.upgrade().ok_or("the server is shutting down")?;
        let model = self
            .model
            .get()
            .ok_or("the model is still loading: try again in a moment")?;
        let context = CallContext {
            principal: caller.clone(),
            request_id: None,
            session_id: None,
        };
        let out_dir = self
            .folder
            .join(format!("{month}-{}", uuid::Uuid::new_v4().simple()));
        let report = write_monthly_report(
            &policy,
            &context,
            model,
            month,
            builtin_request(formats, out_dir),
            self.passages.clone(),
            (),
        )
        .await
        .map_err(|err| err.to_string())?;
        Ok(json!({
            "report": report.title,
            "files": report.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "revenue": fulcrum_report::money(report.facts.revenue),
            "sections": report.sections.iter().map(|s| json!({
                "title": s.title,
                "note": section_note(s),
            })).collect::<Vec<_>>(),
        }))
    }
}

/// The built-in template in `formats`, written into `out_dir`.
pub(crate) fn builtin_request(formats: Vec<Format>, out_dir: PathBuf) -> ReportRequest {
    ReportRequest {
        template: Template::builtin(),
        formats,
        out_dir,
        font: fulcrum_report::font_path(),
    }
}

/// Reads the month's data as `context`'s principal, has the served model write the prose
/// beside the strategy passages that principal may read (on a blocking thread, holding
/// `guard` until it is done, even if the caller goes away) and writes the files into
/// `out_dir`.
pub(crate) async fn write_monthly_report<G: Send + 'static>(
    policy: &Policy,
    context: &CallContext,
    model: &LoadedModel,
    month: Month,
    request: ReportRequest,
    passages: Option<Arc<dyn PassageSource>>,
    guard: G,
) -> Result<Report, ReportError> {
    let gathered = fulcrum_report::gather(policy, context, month).await?;
    let prose = EngineProse::new(Arc::clone(&model.backend), Arc::clone(&model.template));
    let model_id = model.backend.info().id.clone();
    let strategy = passages.map(|source| ReaderPassages {
        source,
        reader: context.principal.clone(),
    });
    tokio::task::spawn_blocking(move || {
        let report = fulcrum_report::compose(
            gathered,
            Some(&prose),
            strategy.as_ref().map(|s| s as &dyn StrategySource),
            &model_id,
            &request,
        );
        drop(guard);
        report
    })
    .await
    .map_err(|err| ReportError::Model(format!("the report task failed: {err}")))?
}

/// The knowledge passages one reader may read, as a report's strategy source: the same
/// collections and role checks as the agent's per-turn passages.
pub struct ReaderPassages {
    pub source: Arc<dyn PassageSource>,
    pub reader: Principal,
}

impl StrategySource for ReaderPassages {
    fn passages(&self, query: &str) -> Result<Vec<StrategyPassage>, String> {
        Ok(self
            .source
            .passages(&self.reader, query)?
            .into_iter()
            .map(|p| StrategyPassage {
                source: p.source,
                section: p.section,
                text: p.text,
            })
            .collect())
    }
}

impl HostFunction for MonthlyReportFunction {
    fn call<'a>(&'a self, caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a> {
        Box::pin(self.run(caller, arguments))
    }
}
