//! `POST /v1/reports/monthly`: the request and the report with its files.

use fulcrum_report::{Citation, Progress, Section};

use super::ErrorDetail;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthlyReportRequest {
    /// YYYY-MM.
    pub month: String,
    /// `md`, `docx`, `pdf`; all three when absent.
    #[serde(default)]
    pub formats: Option<Vec<String>>,
    /// Progress events (`text/event-stream`) as the report is written, the report last.
    #[serde(default)]
    pub stream: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MonthlyReport {
    /// Always `report`.
    pub object: &'static str,
    pub month: String,
    pub title: String,
    pub model: String,
    pub sections: Vec<ReportSection>,
    pub files: Vec<ReportFile>,
    /// Milliseconds per stage, in order.
    pub timings_ms: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportSection {
    pub title: String,
    pub text: String,
    pub attempts: usize,
    pub needs_review: bool,
    pub unsupported_numbers: Vec<String>,
    pub rejected_draft: Option<Vec<String>>,
    pub citations: Vec<ReportCitation>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportCitation {
    pub id: String,
    pub source: String,
    pub section: String,
}

impl From<Citation> for ReportCitation {
    fn from(citation: Citation) -> Self {
        ReportCitation {
            id: citation.id,
            source: citation.source,
            section: citation.section,
        }
    }
}

impl From<Section> for ReportSection {
    fn from(section: Section) -> Self {
        ReportSection {
            needs_review: section.needs_review(),
            title: section.title,
            text: section.text,
            attempts: section.attempts,
            unsupported_numbers: section.unsupported_numbers,
            rejected_draft: section.rejected_draft,
            citations: section
                .citations
                .into_iter()
                .map(ReportCitation::from)
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportFile {
    pub name: Option<String>,
    pub media_type: &'static str,
    pub content_base64: String,
}

/// One event of a streamed report (an SSE `data:` line).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReportEvent {
    /// A stage ended: `data`, `analysis`, `charts`, `strategy`, `prose`, then each format.
    Stage { stage: String, ms: f64 },
    /// A section's prose was written and checked.
    Section {
        index: usize,
        total: usize,
        title: String,
        needs_review: bool,
    },
    /// The finished report, last.
    Report { report: Box<MonthlyReport> },
    /// Why no report was written, last.
    Error { error: ErrorDetail },
}

impl From<Progress> for ReportEvent {
    fn from(progress: Progress) -> Self {
        match progress {
            Progress::Stage { name, took } => ReportEvent::Stage {
                stage: name.to_string(),
                ms: took.as_secs_f64() * 1000.0,
            },
            Progress::Section {
                index,
                total,
                title,
                needs_review,
            } => ReportEvent::Section {
                index,
                total,
                title,
                needs_review,
            },
        }
    }
}
