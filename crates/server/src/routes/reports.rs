//! `POST /v1/reports/monthly`: the monthly sales report for the caller, its files in the
//! response. The data is read as the caller (their role must allow `query_sales_data`), so
//! the same rules and audit rows apply as to the model's own calls.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use fulcrum_report::{Format, Month, ReportError};
use fulcrum_tools::{CallContext, Principal};
use serde::Deserialize;
use serde_json::json;

use crate::auth::caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::report_tool::{builtin_request, write_monthly_report};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthlyReportRequest {
    /// YYYY-MM.
    month: String,
    /// `md`, `docx`, `pdf`; all three when absent.
    #[serde(default)]
    formats: Option<Vec<String>>,
}

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
            ReportError::NotPermitted(_) => ApiError {
                status: StatusCode::FORBIDDEN,
                message: err.to_string(),
                kind: "invalid_request_error",
                param: None,
                code: Some("not_allowed"),
            },
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

pub async fn monthly(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(body): ApiJson<MonthlyReportRequest>,
) -> Result<Response, ApiError> {
    let principal = caller(principal)?;
    let governance = state.governance.clone().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
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
    let Some(admission) = state.admit_generation() else {
        return Ok(ApiError::busy(1));
    };
    let context = CallContext {
        principal,
        request_id: Some(format!("report-{}", uuid::Uuid::new_v4().simple())),
        session_id: None,
    };
    let out = tempfile::tempdir().map_err(|err| {
        tracing::error!(%err, "cannot create a folder for the report");
        ApiError::internal()
    })?;
    let report = write_monthly_report(
        &governance.policy,
        &context,
        model,
        month,
        builtin_request(formats.clone(), out.path().to_path_buf()),
        governance.passages.clone(),
        admission,
    )
    .await?;
    let mut files = Vec::new();
    for (path, format) in report.files.iter().zip(&formats) {
        let bytes = std::fs::read(path).map_err(|err| {
            tracing::error!(%err, path = %path.display(), "cannot read a written report file");
            ApiError::internal()
        })?;
        files.push(json!({
            "name": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "media_type": media_type(*format),
            "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }));
    }
    let sections: Vec<_> = report
        .sections
        .iter()
        .map(|s| json!({"title": s.title, "text": s.text, "attempts": s.attempts, "needs_review": s.needs_review(), "unsupported_numbers": s.unsupported_numbers, "rejected_draft": s.rejected_draft, "citations": s.citations}))
        .collect();
    let timings: serde_json::Map<String, serde_json::Value> = report
        .timings
        .iter()
        .map(|(stage, took)| ((*stage).to_string(), json!(took.as_secs_f64() * 1000.0)))
        .collect();
    Ok(Json(json!({
        "object": "report",
        "month": month.to_string(),
        "title": report.title,
        "model": report.model,
        "sections": sections,
        "files": files,
        "timings_ms": timings,
    }))
    .into_response())
}
