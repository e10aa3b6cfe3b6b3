//! `POST /v1/reports/monthly`: the monthly sales report for the caller, its files in the
//! response. The route is the report tool's (a tool running the `monthly_report` host
//! function, `generate_report` in the demo) called directly: the policy decides on that tool
//! for the caller and logs it, and the data is read as the caller (their role must allow
//! `query_sales_data`), so the same rules and audit rows apply as to the model's own calls.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use fulcrum_report::{
    builtin_request, write_monthly_report, Format, Month, ProgressSink, ReportError, MONTHLY_REPORT,
};
use fulcrum_tools::{CallContext, Policy, Principal};
use serde_json::json;

use crate::auth::caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::routes::sse::sse_with_done;
use crate::state::AppState;
use crate::wire::reports::{
    MonthlyReport, MonthlyReportRequest, ReportEvent, ReportFile, ReportSection,
};
use crate::wire::{ApiErrors, ErrorResponse};

fn media_type(format: Format) -> &'static str {
    match format {
        Format::Markdown => "text/markdown",
        Format::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Format::Pdf => "application/pdf",
    }
}

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> Self {
        match err {
            ReportError::InvalidMonth(_) => ApiError::invalid_value("month", err.to_string()),
            ReportError::UnknownFormat(_) => ApiError::invalid_value("formats", err.to_string()),
            ReportError::NotPermitted(_) => ApiError::forbidden(err.to_string()),
            ReportError::NoData(_) => {
                ApiError::not_found(err.to_string(), "no_data").with_param("month")
            }
            _ => {
                tracing::error!(%err, "report failed");
                ApiError::internal()
            }
        }
    }
}

/// Whether `role` may have reports written through this route: a tool running
/// `monthly_report` is open to it without a confirmation.
pub(crate) fn may_write_reports(policy: &Policy, role: &str) -> bool {
    super::host_tool::may_call_directly(policy, MONTHLY_REPORT, role)
}

#[utoipa::path(post, path = "/v1/reports/monthly", tag = "reports", request_body = MonthlyReportRequest, responses((status = 200, description = "the report (or, with `stream`, its progress events and then the report)", content((MonthlyReport = "application/json"), (ReportEvent = "text/event-stream"))), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn monthly(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(body): ApiJson<MonthlyReportRequest>,
) -> Result<Response, ApiError> {
    let principal = caller(principal)?;
    let governance = state.governance.clone().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    let model = state.model.get().cloned().ok_or_else(ApiError::not_ready)?;
    let month = Month::parse(&body.month)?;
    let formats = match &body.formats {
        None => vec![Format::Markdown, Format::Docx, Format::Pdf],
        Some(list) if list.is_empty() => {
            return Err(ApiError::invalid_value(
                "formats",
                "`formats` names no format: use md, docx or pdf",
            ))
        }
        Some(list) => list
            .iter()
            .map(|f| Format::parse(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| ApiError::invalid_value("formats", err.to_string()))?,
    };
    let context = CallContext {
        principal,
        request_id: Some(format!("report-{}", uuid::Uuid::new_v4().simple())),
        session_id: None,
    };
    let arguments = json!({
        "month": month.to_string(),
        "formats": formats.iter().map(|f| f.extension()).collect::<Vec<_>>(),
    });
    super::host_tool::authorize(
        &governance.policy,
        &context,
        MONTHLY_REPORT,
        &arguments,
        "ask for the report through the agent",
    )?;
    let admission = match state.admit(Some(&context.principal)) {
        Ok(admission) => admission,
        Err(refused) => return Ok(*refused),
    };
    let job = ReportJob {
        governance,
        model,
        context,
        month,
        formats,
    };
    if !body.stream {
        return Ok(Json(job.run(admission, None).await?).into_response());
    }
    // Progress goes out as it happens; the report (or its error) is the last event. The job
    // runs to its end even if the client goes away: its audit rows and files stay whole.
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let progress = {
        let sender = sender.clone();
        ProgressSink(Arc::new(move |step| {
            let _ = sender.send(ReportEvent::from(step));
        }))
    };
    tokio::spawn(async move {
        let last = match job.run(admission, Some(progress)).await {
            Ok(report) => ReportEvent::Report {
                report: Box::new(report),
            },
            Err(err) => ReportEvent::Error {
                error: err.body().error,
            },
        };
        let _ = sender.send(last);
    });
    Ok(
        sse_with_done(tokio_stream::wrappers::UnboundedReceiverStream::new(
            receiver,
        ))
        .into_response(),
    )
}

/// A report the caller was authorized and admitted for.
struct ReportJob {
    governance: Arc<crate::state::Governance>,
    model: fulcrum_agent::LoadedModel,
    context: CallContext,
    month: Month,
    formats: Vec<Format>,
}

impl ReportJob {
    async fn run<G: Send + 'static>(
        self,
        admission: G,
        progress: Option<ProgressSink>,
    ) -> Result<MonthlyReport, ApiError> {
        let out = tempfile::tempdir().map_err(|err| {
            tracing::error!(%err, "cannot create a folder for the report");
            ApiError::internal()
        })?;
        let mut request = builtin_request(self.formats.clone(), out.path().to_path_buf());
        request.progress = progress;
        let report = write_monthly_report(
            &self.governance.policy,
            &self.context,
            Some(&self.model),
            self.month,
            request,
            self.governance.passages.clone(),
            admission,
        )
        .await?;
        let mut files = Vec::new();
        for (path, format) in report.files.iter().zip(&self.formats) {
            let bytes = std::fs::read(path).map_err(|err| {
                tracing::error!(%err, path = %path.display(), "cannot read a written report file");
                ApiError::internal()
            })?;
            files.push(ReportFile {
                name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                media_type: media_type(*format),
                content_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            });
        }
        let timings_ms = report
            .timings
            .iter()
            .map(|(stage, took)| {
                (
                    (*stage).to_string(),
                    serde_json::Value::from(took.as_secs_f64() * 1000.0),
                )
            })
            .collect();
        Ok(MonthlyReport {
            object: "report",
            month: self.month.to_string(),
            title: report.title,
            model: report.model,
            sections: report
                .sections
                .into_iter()
                .map(ReportSection::from)
                .collect(),
            files,
            timings_ms,
        })
    }
}
