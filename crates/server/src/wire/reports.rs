//! `POST /v1/reports/monthly`: the request and the report with its files.

use fulcrum_report::{Citation, Section};
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
