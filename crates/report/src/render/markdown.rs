//! Markdown: the report as text, charts linked as files beside it.

use std::fmt::Write;

use super::{section_note, section_sources, subtitle, tables, Table};
use crate::Report;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n\n_{}_\n", report.title, subtitle(report));
    for section in &report.sections {
        let _ = writeln!(out, "## {}\n\n{}\n", section.title, section.text);
        if let Some(sources) = section_sources(section) {
            let _ = writeln!(out, "_{sources}_\n");
        }
        if let Some(note) = section_note(section) {
            let _ = writeln!(out, "> **{note}**\n");
        }
    }
    let _ = writeln!(out, "## Charts\n");
    for chart in &report.charts {
        let _ = writeln!(out, "![{}](charts/{})\n", chart.title, chart.file_name);
    }
    let _ = writeln!(out, "## Data\n");
    for table in tables(&report.facts) {
        table_markdown(&mut out, &table);
    }
    out
}

fn table_markdown(out: &mut String, table: &Table) {
    let _ = writeln!(out, "### {}\n", table.title);
    let _ = writeln!(out, "| {} |", table.header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(table.header.len()));
    for row in &table.rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}
