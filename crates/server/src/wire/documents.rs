//! `POST /v1/documents/summarize`: the request (a knowledge document, an uploaded file or a
//! text) and the summary, read from the `summarize_document` tool's output.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizeRequest {
    /// A document already ingested: its collection (the caller's role must be allowed to read
    /// it) and its name, with `document`.
    #[serde(default)]
    pub collection: Option<String>,
    #[serde(default)]
    pub document: Option<String>,
    /// Or a file: its name (the extension says how to read it: .md, .txt, .docx, .pdf) and
    /// its bytes in base64, with `content_base64`.
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_base64: Option<String>,
    /// Or the text itself (Markdown or plain).
    #[serde(default)]
    pub text: Option<String>,
    /// What the summary is for; by default the key financial indicators, their trends and
    /// the risks.
    #[serde(default)]
    pub task: Option<String>,
    /// `map_reduce` (the default: any length) or `whole` (one prompt, when it fits the window).
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentSummary {
    /// Always `document.summary`.
    #[serde(default = "summary_object")]
    pub object: String,
    pub title: String,
    pub mode: String,
    pub task: String,
    /// Absent when every draft of it failed the number check.
    pub overview: Option<String>,
    pub indicators: Vec<SummaryPoint>,
    pub risks: Vec<SummaryPoint>,
    /// Other distinctive figures, neither indicators nor risks.
    #[serde(default)]
    pub other: Vec<SummaryPoint>,
    pub stats: SummaryStats,
    /// The summary as Markdown, each point citing its section as `(§ heading)`.
    pub markdown: String,
}

fn summary_object() -> String {
    "document.summary".into()
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SummaryPoint {
    pub text: String,
    /// The heading of the section it comes from.
    pub section: String,
    /// Drafts it took to pass the number check.
    pub attempts: usize,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SummaryStats {
    pub document_tokens: usize,
    pub sections: usize,
    /// The distinctive sentences with figures the model was asked about (map-reduce).
    #[serde(default)]
    pub candidate_sentences: usize,
    /// Those past the limit of sentences asked about (trends are kept first).
    #[serde(default)]
    pub candidates_left_out: usize,
    pub parts: usize,
    pub model_calls: usize,
    pub largest_prompt_tokens: usize,
    /// Findings the model proposed; those dropped after failing the number check every time,
    /// with numbers written nowhere in the document or misattributed.
    pub findings: usize,
    pub dropped: usize,
    pub dropped_invented: usize,
    pub dropped_misattributed: usize,
    pub unreadable_answers: usize,
    pub seconds: f64,
}
