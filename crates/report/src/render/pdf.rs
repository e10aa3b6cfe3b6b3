//! PDF through Typst, compiled in process: the report is written as Typst markup (every piece
//! of data as a string literal, so no text from the data or the model is read as markup), the
//! charts are served as files, and the fonts are Typst's bundled ones plus a CJK font for
//! Chinese text; the PDF embeds the subsets it uses.

use std::path::Path;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_kit::fonts::FontStore;
use typst_layout::PagedDocument;

use super::{section_note, section_sources, subtitle, tables, Table};
use crate::error::ReportError;
use crate::Report;

pub fn render(report: &Report, cjk_font: &Path) -> Result<Vec<u8>, ReportError> {
    let world = ReportWorld::new(markup(report), report, cjk_font)?;
    let document = typst::compile::<PagedDocument>(&world)
        .output
        .map_err(failed)?;
    typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(failed)
}

/// Typst's errors as one reason.
fn failed(errors: typst::ecow::EcoVec<typst::diag::SourceDiagnostic>) -> ReportError {
    ReportError::Render {
        format: "pdf",
        reason: errors
            .iter()
            .map(|e| e.message.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A Typst string literal: data shown as text, never read as markup.
fn lit(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn markup(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "#set document(title: {})\n\
         #set page(paper: \"a4\", margin: (x: 2.2cm, y: 2cm), numbering: \"1 / 1\")\n\
         #set text(font: (\"Libertinus Serif\", \"WenQuanYi Micro Hei\"), size: 11pt, lang: \"en\")\n\
         #set par(justify: true)\n\
         #show heading: set text(fill: rgb(\"#1F3864\"))\n\
         #show heading.where(level: 1): set text(size: 22pt)\n\
         = #({})\n\
         #text(style: \"italic\", fill: luma(90), size: 9pt)[#({})]\n\n",
        lit(&report.title),
        lit(&report.title),
        lit(&subtitle(report))
    ));
    for section in &report.sections {
        out.push_str(&format!(
            "== #({})\n#({})\n\n",
            lit(&section.title),
            lit(&section.text)
        ));
        if let Some(sources) = section_sources(section) {
            out.push_str(&format!(
                "#text(size: 0.85em, fill: rgb(\"#555555\"), style: \"italic\")[#({})]\n\n",
                lit(&sources)
            ));
        }
        if let Some(note) = section_note(section) {
            out.push_str(&format!(
                "#block(fill: rgb(\"#FDECEA\"), inset: 8pt, radius: 3pt)[#text(fill: rgb(\"#B00020\"), weight: \"bold\")[#({})]]\n\n",
                lit(&note)
            ));
        }
    }
    out.push_str("== Charts\n");
    for chart in &report.charts {
        out.push_str(&format!(
            "#figure(image({}, width: 100%), caption: [#({})])\n",
            lit(&chart.file_name),
            lit(&chart.title)
        ));
    }
    out.push_str("\n== Data\n");
    for table in tables(&report.facts) {
        out.push_str(&typst_table(&table));
    }
    out
}

fn typst_table(table: &Table) -> String {
    let header: Vec<String> = table
        .header
        .iter()
        .map(|h| format!("[*#({})*]", lit(h)))
        .collect();
    let cells: Vec<String> = table.rows.iter().flatten().map(|c| lit(c)).collect();
    format!(
        "=== #({})\n#table(columns: {}, stroke: 0.5pt + luma(180), fill: (x, y) => if y == 0 {{ rgb(\"#D9E2F3\") }}, align: (x, y) => if x == 0 {{ left }} else {{ right }},\n  {},\n  {})\n\n",
        lit(&table.title),
        table.header.len(),
        header.join(", "),
        cells.join(", ")
    )
}

/// Everything Typst may read: the one source, the charts, the fonts.
struct ReportWorld {
    library: LazyHash<Library>,
    fonts: FontStore,
    main: Source,
    files: Vec<(FileId, Bytes)>,
}

fn file_id(name: &str) -> Result<FileId, ReportError> {
    let path = VirtualPath::new(name).map_err(|err| ReportError::Render {
        format: "pdf",
        reason: format!("bad file name {name}: {err:?}"),
    })?;
    Ok(FileId::new(RootedPath::new(VirtualRoot::Project, path)))
}

impl ReportWorld {
    fn new(markup: String, report: &Report, cjk_font: &Path) -> Result<Self, ReportError> {
        let mut fonts = FontStore::new();
        fonts.extend(typst_kit::fonts::embedded());
        let data = std::fs::read(cjk_font)
            .map_err(|_| ReportError::FontMissing(cjk_font.display().to_string()))?;
        let cjk: Vec<(Font, _)> = Font::iter(Bytes::new(data))
            .map(|font| {
                let info = font.info().clone();
                (font, info)
            })
            .collect();
        if cjk.is_empty() {
            return Err(ReportError::FontMissing(cjk_font.display().to_string()));
        }
        fonts.extend(cjk);
        let files = report
            .charts
            .iter()
            .map(|chart| Ok((file_id(&chart.file_name)?, Bytes::new(chart.png.clone()))))
            .collect::<Result<_, ReportError>>()?;
        Ok(ReportWorld {
            library: LazyHash::new(Library::default()),
            fonts,
            main: Source::new(file_id("report.typ")?, markup),
            files,
        })
    }
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        self.fonts.book()
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files
            .iter()
            .find(|(file, _)| *file == id)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| FileError::NotFound(id.get().vpath().get_without_slash().into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.font(index)
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}
