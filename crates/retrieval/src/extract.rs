//! The text of a document file, ready for chunking: Markdown and text as they are, DOCX with
//! its heading paragraphs turned into Markdown headings (so chunks keep their section), PDF as
//! its text layer.

use std::path::Path;

use docx_rs::{
    DocumentChild, Paragraph, ParagraphChild, RunChild, Table, TableCellContent, TableChild,
    TableRowChild,
};

use crate::error::RetrievalError;

/// The largest document file read, in bytes: past it, ingestion refuses the file unread.
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The most a DOCX may expand to when unzipped (all its parts together), and the most it may
/// expand relative to its size: a zip bomb is refused before anything is inflated.
const MAX_DOCX_EXPANDED_BYTES: u64 = 256 * 1024 * 1024;
const MAX_DOCX_EXPANSION_RATIO: u64 = 100;
/// The most text one document may yield (a PDF's compressed streams can inflate far beyond
/// its size); past it the document is refused rather than chunked and embedded for hours.
const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

/// File extensions `extract_text` reads (lower case).
pub const SUPPORTED_EXTENSIONS: [&str; 5] = ["md", "markdown", "txt", "docx", "pdf"];

/// Whether `path` names a file kind ingestion reads.
pub fn is_supported(path: &Path) -> bool {
    extension(path).is_some_and(|e| SUPPORTED_EXTENSIONS.contains(&e.as_str()))
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
}

/// The text of the document at `path`, by its extension.
pub fn extract_text(path: &Path) -> Result<String, RetrievalError> {
    let unreadable = |reason: String| RetrievalError::Unreadable {
        path: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|err| unreadable(err.to_string()))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large(path, size));
    }
    let bytes = std::fs::read(path).map_err(|err| unreadable(err.to_string()))?;
    extract_bytes(path, bytes)
}

fn too_large(path: &Path, size: u64) -> RetrievalError {
    RetrievalError::Unreadable {
        path: path.display().to_string(),
        reason: format!(
            "it is {size} bytes, more than the {MAX_DOCUMENT_BYTES} a document may have: split it"
        ),
    }
}

/// The text of a document given as its bytes (an upload), by the extension of `name`, under
/// the same limits as a file.
pub fn extract_bytes(name: &Path, bytes: Vec<u8>) -> Result<String, RetrievalError> {
    let path = name;
    let unreadable = |reason: String| RetrievalError::Unreadable {
        path: path.display().to_string(),
        reason,
    };
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large(path, size));
    }
    let text = match extension(path).as_deref() {
        Some("md" | "markdown" | "txt") => {
            String::from_utf8(bytes).map_err(|_| unreadable("it is not UTF-8 text".into()))
        }
        Some("docx") => docx_text(&bytes).map_err(unreadable),
        Some("pdf") => pdf_text(&bytes).map_err(unreadable),
        _ => Err(unreadable(format!(
            "unsupported file kind (supported: .{})",
            SUPPORTED_EXTENSIONS.join(", .")
        ))),
    }?;
    if text.len() > MAX_TEXT_BYTES {
        return Err(unreadable(format!(
            "it holds {} bytes of text, more than the {MAX_TEXT_BYTES} one document may: split it",
            text.len()
        )));
    }
    Ok(text)
}

/// Refuses a DOCX whose parts would unzip to more than the limits allow, from the sizes its
/// zip directory declares, before anything is inflated.
fn check_docx_expansion(bytes: &[u8]) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|err| format!("not a readable DOCX: {err}"))?;
    let mut expanded = 0u64;
    for index in 0..archive.len() {
        let part = archive
            .by_index_raw(index)
            .map_err(|err| format!("not a readable DOCX: {err}"))?;
        expanded = expanded.saturating_add(part.size());
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX).max(1);
    if expanded > MAX_DOCX_EXPANDED_BYTES || expanded / size > MAX_DOCX_EXPANSION_RATIO {
        return Err(format!(
            "it would unzip to {expanded} bytes from {size} (at most {MAX_DOCX_EXPANDED_BYTES}, and {MAX_DOCX_EXPANSION_RATIO} times its size): a zip bomb, or split it"
        ));
    }
    Ok(())
}

fn docx_text(bytes: &[u8]) -> Result<String, String> {
    check_docx_expansion(bytes)?;
    let docx = docx_rs::read_docx(bytes).map_err(|err| format!("not a readable DOCX: {err}"))?;
    let mut out = String::new();
    for child in &docx.document.children {
        match child {
            DocumentChild::Paragraph(paragraph) => push_paragraph(&mut out, paragraph),
            DocumentChild::Table(table) => push_table(&mut out, table),
            _ => {}
        }
    }
    Ok(out)
}

fn push_paragraph(out: &mut String, paragraph: &Paragraph) {
    let text = paragraph_text(&paragraph.children);
    if text.trim().is_empty() {
        return;
    }
    let level = paragraph
        .property
        .style
        .as_ref()
        .and_then(|style| heading_level(&style.val));
    match level {
        Some(level) => {
            out.push_str(&"#".repeat(level));
            out.push(' ');
            out.push_str(text.trim());
            out.push_str("\n\n");
        }
        None => {
            out.push_str(text.trim_end());
            out.push_str("\n\n");
        }
    }
}

/// `Heading1` … `Heading6` (Word's style ids; `Title` counts as a top heading).
fn heading_level(style: &str) -> Option<usize> {
    if style == "Title" {
        return Some(1);
    }
    let digits = style.strip_prefix("Heading")?;
    digits.parse::<usize>().ok().filter(|n| (1..=6).contains(n))
}

fn paragraph_text(children: &[ParagraphChild]) -> String {
    let mut text = String::new();
    for child in children {
        match child {
            ParagraphChild::Run(run) => {
                for piece in &run.children {
                    match piece {
                        RunChild::Text(t) => text.push_str(&t.text),
                        RunChild::Tab(_) => text.push('\t'),
                        RunChild::Break(_) => text.push('\n'),
                        _ => {}
                    }
                }
            }
            ParagraphChild::Hyperlink(link) => text.push_str(&paragraph_text(&link.children)),
            _ => {}
        }
    }
    text
}

/// A table as one line per row, cells separated by ` | `: rows stay whole in a chunk.
fn push_table(out: &mut String, table: &Table) {
    for TableChild::TableRow(row) in &table.rows {
        let cells: Vec<String> = row
            .cells
            .iter()
            .map(|TableRowChild::TableCell(cell)| {
                cell.children
                    .iter()
                    .filter_map(|content| match content {
                        TableCellContent::Paragraph(p) => Some(paragraph_text(&p.children)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim()
                    .to_string()
            })
            .collect();
        if cells.iter().any(|cell| !cell.is_empty()) {
            out.push_str(&cells.join(" | "));
            out.push('\n');
        }
    }
    out.push('\n');
}

fn pdf_text(bytes: &[u8]) -> Result<String, String> {
    // The PDF parser panics on some malformed files: a bad upload must be an error, not a crash.
    let extracted = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes))
        .map_err(|_| "the PDF could not be parsed".to_string())?;
    let text = extracted.map_err(|err| format!("not a readable PDF: {err}"))?;
    if text.trim().is_empty() {
        return Err("the PDF has no text layer (a scan?): run OCR on it first".into());
    }
    Ok(text)
}
