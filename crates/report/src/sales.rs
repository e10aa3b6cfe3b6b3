//! The sales rows a report is computed from, fetched through the governed `query_sales_data`
//! tool: the same role check, audit rows and output caps as any call the model makes.

use std::collections::BTreeMap;

use fulcrum_tools::{CallContext, Decision, Policy};
use serde::Deserialize;
use serde_json::json;

use crate::error::ReportError;
use crate::month::Month;

/// The tool the report reads its numbers from.
pub const SALES_TOOL: &str = "query_sales_data";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SalesRow {
    pub region: String,
    pub channel: String,
    pub product: String,
    pub units: i64,
    /// CNY.
    pub revenue: f64,
}

#[derive(Debug, Deserialize)]
struct ToolRows {
    rows: Vec<SalesRow>,
    #[serde(default)]
    more_rows: bool,
}

/// Rows of every month of `months`, one governed tool call per month.
pub async fn fetch(
    policy: &Policy,
    context: &CallContext,
    months: &[Month],
) -> Result<BTreeMap<Month, Vec<SalesRow>>, ReportError> {
    let mut by_month = BTreeMap::new();
    for &month in months {
        let arguments = json!({"month": month.to_string()});
        let decision = policy
            .authorize(context, SALES_TOOL, &arguments)
            .map_err(|err| ReportError::Data(err.to_string()))?;
        let permit = match decision {
            Decision::Permit(permit) => permit,
            Decision::Deny(reason) => return Err(ReportError::NotPermitted(reason)),
            Decision::Confirm(_) => {
                return Err(ReportError::NotPermitted(format!(
                    "`{SALES_TOOL}` is marked sensitive: a report cannot wait for a confirmation"
                )))
            }
        };
        let output = policy
            .execute(context, permit)
            .await
            .map_err(|err| ReportError::Data(err.to_string()))?;
        if output.truncated {
            return Err(ReportError::Data(format!(
                "the {month} rows were cut at the tool's output cap (raise `max_output_bytes`)"
            )));
        }
        let parsed: ToolRows = serde_json::from_str(&output.text).map_err(|err| {
            ReportError::Data(format!("unexpected tool output for {month}: {err}"))
        })?;
        if parsed.more_rows {
            return Err(ReportError::Data(format!(
                "the {month} rows were cut at the tool's row limit (raise `max_rows`)"
            )));
        }
        by_month.insert(month, parsed.rows);
    }
    Ok(by_month)
}
