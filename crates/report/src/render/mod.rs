//! The written report in each output format. All read the same [`Report`]; the tables are
//! built once here so every format shows the same cells.

pub mod docx;
pub mod markdown;
pub mod pdf;

use crate::facts::{Breakdown, Facts};
use crate::wording::{change, count, money, share};
use crate::{Report, Section};

/// A table: header and rows of cell text.
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn key_figures(facts: &Facts) -> Table {
    Table {
        title: "Key figures".into(),
        header: vec!["Measure".into(), "Value".into()],
        rows: vec![
            vec!["Revenue".into(), money(facts.revenue)],
            vec!["Units sold".into(), count(facts.units)],
            vec![
                format!("Change from {}", facts.month.previous().long_name()),
                change(facts.mom_pct),
            ],
            vec![
                format!("Change from {}", facts.month.year_before().long_name()),
                change(facts.yoy_pct),
            ],
        ],
    }
}

fn breakdown_table(title: &str, first: &str, list: &[Breakdown]) -> Table {
    Table {
        title: title.into(),
        header: vec![
            first.into(),
            "Revenue".into(),
            "Share".into(),
            "Year on year".into(),
        ],
        rows: list
            .iter()
            .map(|b| {
                vec![
                    b.name.clone(),
                    money(b.revenue),
                    share(b.share_pct),
                    b.yoy_pct.map_or_else(|| "n/a".into(), change),
                ]
            })
            .collect(),
    }
}

pub fn tables(facts: &Facts) -> Vec<Table> {
    vec![
        key_figures(facts),
        breakdown_table("Regions", "Region", &facts.regions),
        breakdown_table("Channels", "Channel", &facts.channels),
        breakdown_table("Products", "Product", &facts.products),
    ]
}

/// The line under the title.
pub fn subtitle(report: &Report) -> String {
    format!(
        "Period: {} · Prepared by Fulcrum from the sales database; prose by {}, every number checked against the data",
        report.facts.month.long_name(),
        report.model
    )
}

/// The strategy passages a section cites, as a line under it: "Sources: [S1] strategy-2024.md,
/// Southwest recovery; …".
pub fn section_sources(section: &Section) -> Option<String> {
    (!section.citations.is_empty()).then(|| {
        let cited: Vec<String> = section
            .citations
            .iter()
            .map(|c| format!("[{}] {}, {}", c.id, c.source, c.section))
            .collect();
        format!("Sources: {}.", cited.join("; "))
    })
}

/// The note a section gets when its numbers could not all be matched to the data, or when
/// it states the facts because no draft of the model passed the checks.
pub fn section_note(section: &Section) -> Option<String> {
    if section.needs_review() {
        return Some(format!(
            "Needs review: these numbers were not found in the data: {}.",
            section.unsupported_numbers.join(", ")
        ));
    }
    section.rejected_draft.as_ref().map(|problems| {
        format!(
            "Stated from the data: the model's {} drafts did not pass the checks (the last: {}).",
            section.attempts,
            problems.join("; ")
        )
    })
}
