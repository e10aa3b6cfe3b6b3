//! DOCX: headings, paragraphs, tables and the charts as pictures, in Word's own styles.

use docx_rs::{
    Docx, Paragraph, Pic, Run, RunFonts, Shading, ShdType, Style, StyleType, Table as DocxTable,
    TableCell, TableRow,
};

use super::{section_note, section_sources, subtitle, tables, Table};
use crate::error::ReportError;
use crate::Report;

/// Body text font; Chinese text falls to the East Asian font.
const LATIN_FONT: &str = "Calibri";
const CJK_FONT: &str = "WenQuanYi Micro Hei";
/// A chart 16 cm wide, in EMU (914,400 per inch).
const CHART_WIDTH_EMU: u32 = 5_760_000;

pub fn render(report: &Report) -> Result<Vec<u8>, ReportError> {
    let mut docx = Docx::new()
        .default_fonts(
            RunFonts::new()
                .ascii(LATIN_FONT)
                .hi_ansi(LATIN_FONT)
                .east_asia(CJK_FONT),
        )
        .add_style(heading("Title", "Title", 48))
        .add_style(heading("Heading1", "Heading 1", 32))
        .add_style(heading("Heading2", "Heading 2", 26));
    docx = docx
        .add_paragraph(
            Paragraph::new()
                .style("Title")
                .add_run(Run::new().add_text(&report.title)),
        )
        .add_paragraph(
            Paragraph::new().add_run(
                Run::new()
                    .add_text(subtitle(report))
                    .italic()
                    .color("555555"),
            ),
        );
    for section in &report.sections {
        docx = docx
            .add_paragraph(
                Paragraph::new()
                    .style("Heading1")
                    .add_run(Run::new().add_text(&section.title)),
            )
            .add_paragraph(Paragraph::new().add_run(Run::new().add_text(&section.text)));
        if let Some(sources) = section_sources(section) {
            docx = docx.add_paragraph(
                Paragraph::new().add_run(Run::new().add_text(sources).italic().color("555555")),
            );
        }
        if let Some(note) = section_note(section) {
            docx = docx.add_paragraph(
                Paragraph::new().add_run(Run::new().add_text(note).bold().color("B00020")),
            );
        }
    }
    docx = docx.add_paragraph(
        Paragraph::new()
            .style("Heading1")
            .add_run(Run::new().add_text("Charts")),
    );
    for chart in &report.charts {
        let (width, height) = png_size(&chart.png).ok_or_else(|| ReportError::Render {
            format: "docx",
            reason: format!("{} is not a PNG file", chart.file_name),
        })?;
        let height_emu =
            (u64::from(CHART_WIDTH_EMU) * u64::from(height) / u64::from(width.max(1))) as u32;
        docx =
            docx.add_paragraph(Paragraph::new().add_run(
                Run::new().add_image(Pic::new(&chart.png).size(CHART_WIDTH_EMU, height_emu)),
            ));
    }
    docx = docx.add_paragraph(
        Paragraph::new()
            .style("Heading1")
            .add_run(Run::new().add_text("Data")),
    );
    for table in tables(&report.facts) {
        docx = docx
            .add_paragraph(
                Paragraph::new()
                    .style("Heading2")
                    .add_run(Run::new().add_text(&table.title)),
            )
            .add_table(docx_table(&table));
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    docx.build()
        .pack(&mut bytes)
        .map_err(|err| ReportError::Render {
            format: "docx",
            reason: err.to_string(),
        })?;
    Ok(bytes.into_inner())
}

fn heading(id: &str, name: &str, half_points: usize) -> Style {
    Style::new(id, StyleType::Paragraph)
        .name(name)
        .size(half_points)
        .bold()
        .color("1F3864")
}

fn docx_table(table: &Table) -> DocxTable {
    let cell = |text: &str, header: bool| {
        let run = Run::new().add_text(text);
        let cell = TableCell::new().add_paragraph(Paragraph::new().add_run(if header {
            run.bold()
        } else {
            run
        }));
        if header {
            cell.shading(Shading::new().shd_type(ShdType::Clear).fill("D9E2F3"))
        } else {
            cell
        }
    };
    let mut rows = vec![TableRow::new(
        table.header.iter().map(|h| cell(h, true)).collect(),
    )];
    rows.extend(
        table
            .rows
            .iter()
            .map(|row| TableRow::new(row.iter().map(|c| cell(c, false)).collect())),
    );
    DocxTable::new(rows)
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let width = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(png[20..24].try_into().ok()?);
    Some((width, height))
}
