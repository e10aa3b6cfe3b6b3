//! The one way a monthly report is made, whoever asks: `fulcrum report monthly`, the
//! `POST /v1/reports/monthly` route and the `generate_report` tool of the agent loop (the
//! `monthly_report` host function) all call [`write_monthly_report`]. The data is read as the
//! caller (so their role needs `query_sales_data`), the served model writes the prose beside the
//! strategy passages the caller may read, and the files go into the request's folder.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

use fulcrum_agent::LoadedModel;
use fulcrum_retrieval::PassageSource;
use fulcrum_tools::{CallContext, HostFunction, HostFuture, Policy, Principal};
use serde_json::{json, Value};

use crate::prose::{EngineProse, ProseModel};
use crate::render::section_note;
use crate::{Format, Month, Report, ReportError, ReportRequest, Template};

/// The name policy files give the function (`executor = { kind = "host", function = … }`).
pub const MONTHLY_REPORT: &str = "monthly_report";

/// Who writes the prose when no model is given.
const NO_MODEL: &str = "the facts alone (no model)";

/// The built-in template in `formats`, written into `out_dir`.
pub fn builtin_request(formats: Vec<Format>, out_dir: PathBuf) -> ReportRequest {
    ReportRequest {
        template: Template::builtin(),
        formats,
        out_dir,
        font: crate::font_path(),
        progress: None,
    }
}

/// Reads the month's data as `context`'s principal, has `model` write the prose (each section
/// from the facts alone when it is `None`) beside the strategy passages that principal may read,
/// and writes the files into the request's folder. The writing runs on a blocking thread that
/// holds `guard` until it is done, even if the caller goes away (an admission slot, say).
pub async fn write_monthly_report<G: Send + 'static>(
    policy: &Policy,
    context: &CallContext,
    model: Option<&LoadedModel>,
    month: Month,
    request: ReportRequest,
    passages: Option<Arc<dyn PassageSource>>,
    guard: G,
) -> Result<Report, ReportError> {
    let gathered = crate::gather(policy, context, month).await?;
    let prose = model.map(|model| {
        EngineProse::new(Arc::clone(&model.backend), Arc::clone(&model.template))
            .for_caller(&context.principal.user)
    });
    let model_name = model.map_or_else(|| NO_MODEL.to_string(), |m| m.backend.info().id.clone());
    tokio::task::spawn_blocking(move || {
        let report = crate::compose(
            gathered,
            prose.as_ref().map(|p| p as &dyn ProseModel),
            passages.as_deref(),
            &model_name,
            &request,
        );
        drop(guard);
        report
    })
    .await
    .map_err(|err| ReportError::Model(format!("the report task failed: {err}")))?
}

/// The `monthly_report` host function: what the policy file's `generate_report` tool runs. Its
/// output tells the model what was written.
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
            Some(model),
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
            "revenue": crate::money(report.facts.revenue),
            "sections": report.sections.iter().map(|s| json!({
                "title": s.title,
                "note": section_note(s),
            })).collect::<Vec<_>>(),
        }))
    }
}

impl HostFunction for MonthlyReportFunction {
    fn call<'a>(&'a self, caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a> {
        Box::pin(self.run(caller, arguments))
    }
}
