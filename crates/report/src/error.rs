//! Errors of report generation.

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid month `{0}`: give it as YYYY-MM, e.g. 2024-03")]
    InvalidMonth(String),
    #[error("no sales data for {0}: the report needs that month, the one before and the same month a year before")]
    NoData(String),
    #[error("cannot read the sales data: {0}")]
    Data(String),
    #[error("the `query_sales_data` call was not permitted: {0}")]
    NotPermitted(String),
    #[error("unknown report format `{0}`: use md, docx or pdf")]
    UnknownFormat(String),
    #[error("invalid report template: {0}")]
    Template(String),
    #[error("cannot draw the {chart} chart: {reason}")]
    Chart { chart: &'static str, reason: String },
    #[error("the model failed while writing the prose: {0}")]
    Model(String),
    #[error("cannot render the {format} file: {reason}")]
    Render {
        format: &'static str,
        reason: String,
    },
    #[error("cannot summarize the document: {0}")]
    Summary(String),
    #[error("no font for the PDF and charts at {0}: install Debian's fonts-wqy-microhei (scripts/setup does) or set FULCRUM_REPORT_FONT to a .ttf/.ttc file")]
    FontMissing(String),
}
