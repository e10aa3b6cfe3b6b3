//! PDF through krilla (the PDF writer under Typst's own PDF export), laid out here: A4 pages,
//! headings, wrapped paragraphs, the charts as images, the data tables, page numbers. One
//! font (the CJK-capable one the charts use) sets every script; the PDF embeds the subset it
//! uses, with the text layer that `pdftotext` and search read.
//!
//! Why not Typst itself: its compiler and the 152 crates only it needed were the largest part
//! of a cold build, for a report whose layout is a column of blocks.

use std::path::Path;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Paint, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::Document;

use super::{section_note, section_sources, subtitle, tables, Table};
use crate::error::ReportError;
use crate::Report;

// A4 in points, with the margins the report has always had (2.2 cm × 2 cm).
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN_X: f32 = 62.36;
const MARGIN_Y: f32 = 56.69;
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
const BOTTOM: f32 = PAGE_HEIGHT - MARGIN_Y;

const BODY: f32 = 11.0;
const TABLE_ROW: f32 = 19.0;
const LEADING: f32 = 1.45;
const HEADING_BLUE: Colour = Colour(0x1F, 0x38, 0x64);
const BLACK: Colour = Colour(0, 0, 0);
const GREY: Colour = Colour(0x55, 0x55, 0x55);
const NOTE_RED: Colour = Colour(0xB0, 0x00, 0x20);
const NOTE_FILL: Colour = Colour(0xFD, 0xEC, 0xEA);
const HEADER_FILL: Colour = Colour(0xD9, 0xE2, 0xF3);
const RULE: Colour = Colour(180, 180, 180);

pub fn render(report: &Report, font_path: &Path) -> Result<Vec<u8>, ReportError> {
    let missing = || ReportError::FontMissing(font_path.display().to_string());
    let data = std::fs::read(font_path).map_err(|_| missing())?;
    let metrics = Metrics::new(&data).ok_or_else(missing)?;
    let font = Font::new(data.clone().into(), 0).ok_or_else(missing)?;
    let images = report
        .charts
        .iter()
        .map(chart_image)
        .collect::<Result<Vec<_>, _>>()?;
    let pages = layout(report, &images, &metrics);
    draw(report, pages, &images, font)
}

/// An sRGB colour.
#[derive(Clone, Copy, PartialEq)]
struct Colour(u8, u8, u8);

impl Colour {
    fn paint(self) -> Paint {
        rgb::Color::new(self.0, self.1, self.2).into()
    }

    fn fill(self) -> Fill {
        Fill {
            paint: self.paint(),
            ..Fill::default()
        }
    }

    fn stroke(self, width: f32) -> Stroke {
        Stroke {
            paint: self.paint(),
            width,
            ..Stroke::default()
        }
    }
}

/// What a page holds, in page coordinates (origin top left, y down, text at its baseline).
enum Item {
    Text {
        at: (f32, f32),
        size: f32,
        colour: Colour,
        bold: bool,
        text: String,
    },
    Rect {
        frame: (f32, f32, f32, f32),
        fill: Option<Colour>,
        stroke: Option<Colour>,
    },
    Image {
        at: (f32, f32),
        size: (f32, f32),
        chart: usize,
    },
}

/// Text widths from the font's advances, shaped as krilla will draw them.
struct Metrics<'a> {
    face: rustybuzz::Face<'a>,
    units_per_em: f32,
}

impl<'a> Metrics<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let face = rustybuzz::Face::from_slice(data, 0)?;
        let units_per_em = face.units_per_em() as f32;
        Some(Metrics { face, units_per_em })
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(&self.face, &[], buffer);
        let units: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
        units as f32 * size / self.units_per_em
    }

    /// The lines `text` takes within `width`: greedy, breaking at spaces, between CJK
    /// characters (which need none) and, for a word longer than a line, anywhere.
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for piece in pieces(paragraph) {
                let candidate = format!("{line}{piece}");
                if !line.trim().is_empty() && self.width(candidate.trim_end(), size) > width {
                    lines.push(line.trim_end().to_string());
                    line = piece.trim_start().to_string();
                } else {
                    line = candidate;
                }
                while self.width(line.trim_end(), size) > width
                    && line.trim_end().chars().count() > 1
                {
                    let (head, tail) = self.split_to_fit(&line, size, width);
                    lines.push(head.trim_end().to_string());
                    line = tail;
                }
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }

    /// The longest head of `word` (one character at least) that fits, and the rest.
    fn split_to_fit(&self, word: &str, size: f32, width: f32) -> (String, String) {
        let mut end = word.chars().next().map_or(0, char::len_utf8);
        for (index, c) in word.char_indices().skip(1) {
            if self.width(&word[..index + c.len_utf8()], size) > width {
                break;
            }
            end = index + c.len_utf8();
        }
        (word[..end].to_string(), word[end..].to_string())
    }
}

/// Where a line may break: after a run of spaces, and around every CJK character.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_spaces = false;
    for (index, c) in text.char_indices() {
        if is_cjk(c) {
            if start < index {
                out.push(&text[start..index]);
            }
            out.push(&text[index..index + c.len_utf8()]);
            start = index + c.len_utf8();
            in_spaces = false;
        } else if c == ' ' {
            in_spaces = true;
        } else {
            if in_spaces && start < index {
                out.push(&text[start..index]);
                start = index;
            }
            in_spaces = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF      // radicals, punctuation, kana, CJK ideographs
        | 0xAC00..=0xD7AF    // Hangul
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x3FFFF) // extension ideographs
}

/// Blocks placed down the pages, a new page when the next one does not fit.
struct Pages<'a> {
    metrics: &'a Metrics<'a>,
    pages: Vec<Vec<Item>>,
    y: f32,
}

impl<'a> Pages<'a> {
    fn new(metrics: &'a Metrics<'a>) -> Self {
        Pages {
            metrics,
            pages: vec![Vec::new()],
            y: MARGIN_Y,
        }
    }

    fn current(&mut self) -> &mut Vec<Item> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room for `height` more points on this page, or a new one.
    fn reserve(&mut self, height: f32) {
        if self.y + height > BOTTOM && self.y > MARGIN_Y {
            self.pages.push(Vec::new());
            self.y = MARGIN_Y;
        }
    }

    fn space(&mut self, height: f32) {
        self.y += height;
    }

    fn text_line(&mut self, x: f32, text: String, size: f32, colour: Colour, bold: bool) {
        let line = size * LEADING;
        self.reserve(line);
        if !text.is_empty() {
            let baseline = self.y + size;
            self.current().push(Item::Text {
                at: (x, baseline),
                size,
                colour,
                bold,
                text,
            });
        }
        self.y += line;
    }

    fn paragraph(&mut self, text: &str, size: f32, colour: Colour, bold: bool) {
        for line in self.metrics.wrap(text, size, TEXT_WIDTH) {
            self.text_line(MARGIN_X, line, size, colour, bold);
        }
    }

    /// A heading kept on the page of the first `next` points of what follows it.
    fn heading(&mut self, text: &str, size: f32, next: f32) {
        self.space(size * 0.8);
        self.reserve(size * LEADING + next);
        self.paragraph(text, size, HEADING_BLUE, true);
        self.space(size * 0.2);
    }

    /// Text in a tinted box (a section's review note).
    fn note(&mut self, text: &str) {
        const INSET: f32 = 8.0;
        let lines = self.metrics.wrap(text, BODY, TEXT_WIDTH - 2.0 * INSET);
        let height = lines.len() as f32 * BODY * LEADING + 2.0 * INSET;
        self.reserve(height);
        let top = self.y;
        self.current().push(Item::Rect {
            frame: (MARGIN_X, top, TEXT_WIDTH, height),
            fill: Some(NOTE_FILL),
            stroke: None,
        });
        self.y += INSET;
        for line in lines {
            self.text_line(MARGIN_X + INSET, line, BODY, NOTE_RED, true);
        }
        self.y = top + height;
        self.space(BODY * 0.6);
    }

    fn figure(&mut self, chart: usize, image: &Image, caption: &str) {
        let height = chart_height(image);
        // The caption stays with its chart.
        self.reserve(height + 2.0 * BODY * LEADING);
        let top = self.y;
        self.current().push(Item::Image {
            at: (MARGIN_X, top),
            size: (TEXT_WIDTH, height),
            chart,
        });
        self.y += height + 4.0;
        let size = 10.0;
        for line in self.metrics.wrap(caption, size, TEXT_WIDTH) {
            let x = MARGIN_X + (TEXT_WIDTH - self.metrics.width(&line, size)) / 2.0;
            self.text_line(x, line, size, BLACK, false);
        }
        self.space(BODY * 0.6);
    }

    /// A ruled table: the header shaded, the first column left-aligned and the others right.
    fn table(&mut self, table: &Table) {
        const SIZE: f32 = 10.0;
        const PAD: f32 = 5.0;
        let columns = table.header.len().max(1);
        let mut widths: Vec<f32> = (0..columns)
            .map(|c| {
                std::iter::once(&table.header)
                    .chain(&table.rows)
                    .filter_map(|row| row.get(c))
                    .map(|cell| self.metrics.width(cell, SIZE) + 2.0 * PAD)
                    .fold(0.0, f32::max)
            })
            .collect();
        let natural: f32 = widths.iter().sum();
        let scale = if natural > 0.0 {
            TEXT_WIDTH / natural
        } else {
            1.0
        };
        // Wider than the page: shrink every column alike; narrower: the first takes the rest.
        if scale < 1.0 {
            widths.iter_mut().for_each(|w| *w *= scale);
        } else {
            widths[0] += TEXT_WIDTH - natural;
        }
        let rows =
            std::iter::once((&table.header, true)).chain(table.rows.iter().map(|r| (r, false)));
        for (row, header) in rows {
            self.reserve(TABLE_ROW);
            let top = self.y;
            let mut x = MARGIN_X;
            for (c, width) in widths.iter().enumerate() {
                self.current().push(Item::Rect {
                    frame: (x, top, *width, TABLE_ROW),
                    fill: header.then_some(HEADER_FILL),
                    stroke: Some(RULE),
                });
                if let Some(cell) = row.get(c) {
                    let text_width = self.metrics.width(cell, SIZE);
                    let left = if c == 0 {
                        x + PAD
                    } else {
                        x + width - PAD - text_width
                    };
                    self.current().push(Item::Text {
                        at: (left, top + (TABLE_ROW + SIZE * 0.7) / 2.0),
                        size: SIZE,
                        colour: BLACK,
                        bold: header,
                        text: cell.clone(),
                    });
                }
                x += width;
            }
            self.y += TABLE_ROW;
        }
        self.space(BODY);
    }
}

fn layout(report: &Report, images: &[Image], metrics: &Metrics) -> Vec<Vec<Item>> {
    let mut pages = Pages::new(metrics);
    pages.paragraph(&report.title, 22.0, HEADING_BLUE, true);
    pages.space(2.0);
    pages.paragraph(&subtitle(report), 9.0, GREY, false);
    pages.space(BODY * 0.6);
    for section in &report.sections {
        pages.heading(&section.title, 15.0, 2.0 * BODY * LEADING);
        pages.paragraph(&section.text, BODY, BLACK, false);
        pages.space(BODY * 0.5);
        if let Some(sources) = section_sources(section) {
            pages.paragraph(&sources, 9.35, GREY, false);
            pages.space(BODY * 0.5);
        }
        if let Some(note) = section_note(section) {
            pages.note(&note);
        }
    }
    pages.heading("Charts", 15.0, images.first().map_or(0.0, chart_height));
    for (index, (chart, image)) in report.charts.iter().zip(images).enumerate() {
        let caption = format!("Figure {}: {}", index + 1, chart.title);
        pages.figure(index, image, &caption);
    }
    pages.heading("Data", 15.0, 12.5 * LEADING + 2.0 * TABLE_ROW);
    for table in tables(&report.facts) {
        pages.heading(&table.title, 12.5, 2.0 * TABLE_ROW);
        pages.table(&table);
    }
    let mut pages = pages.pages;
    let count = pages.len();
    for (number, items) in pages.iter_mut().enumerate() {
        let footer = format!("{} / {}", number + 1, count);
        let size = 9.0;
        items.push(Item::Text {
            at: (
                (PAGE_WIDTH - metrics.width(&footer, size)) / 2.0,
                PAGE_HEIGHT - MARGIN_Y / 2.0,
            ),
            size,
            colour: GREY,
            bold: false,
            text: footer,
        });
    }
    pages
}

/// A chart's height at the text's full width.
fn chart_height(image: &Image) -> f32 {
    let (width, height) = image.size();
    TEXT_WIDTH * height as f32 / width.max(1) as f32
}

fn chart_image(chart: &crate::charts::Chart) -> Result<Image, ReportError> {
    Image::from_png(chart.png.clone().into(), true).map_err(|reason| ReportError::Render {
        format: "pdf",
        reason: format!("chart {}: {reason}", chart.file_name),
    })
}

fn draw(
    report: &Report,
    pages: Vec<Vec<Item>>,
    images: &[Image],
    font: Font,
) -> Result<Vec<u8>, ReportError> {
    let failed = |reason: String| ReportError::Render {
        format: "pdf",
        reason,
    };
    let mut document = Document::new();
    document.set_metadata(Metadata::new().title(report.title.clone()));
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or_else(|| failed("bad page size".into()))?;
    for items in pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for item in items {
            match item {
                Item::Text {
                    at,
                    size,
                    colour,
                    bold,
                    text,
                } => {
                    surface.set_fill(Some(colour.fill()));
                    // No bold face in the font: a thin outline in the text's colour thickens it.
                    surface.set_stroke(bold.then(|| colour.stroke(size * 0.035)));
                    surface.draw_text(
                        Point::from_xy(at.0, at.1),
                        font.clone(),
                        size,
                        &text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Item::Rect {
                    frame,
                    fill,
                    stroke,
                } => {
                    let Some(rect) = Rect::from_xywh(frame.0, frame.1, frame.2, frame.3) else {
                        continue;
                    };
                    let mut builder = PathBuilder::new();
                    builder.push_rect(rect);
                    let Some(path) = builder.finish() else {
                        continue;
                    };
                    surface.set_fill(fill.map(Colour::fill));
                    surface.set_stroke(stroke.map(|colour| colour.stroke(0.5)));
                    surface.draw_path(&path);
                }
                Item::Image { at, size, chart } => {
                    let (Some(image), Some(size)) =
                        (images.get(chart), Size::from_wh(size.0, size.1))
                    else {
                        continue;
                    };
                    surface.push_transform(&Transform::from_translate(at.0, at.1));
                    surface.draw_image(image.clone(), size);
                    surface.pop();
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|err| failed(format!("{err:?}")))
}

#[cfg(test)]
mod tests {
    use super::{pieces, Metrics};

    #[test]
    fn wrapped_lines_fit_and_keep_every_character() {
        let data = std::fs::read(crate::font_path()).expect("scripts/setup installs the CJK font");
        let metrics = Metrics::new(&data).expect("a font");
        let text =
            "Revenue rose in East China while the Southwest fell; 华东区收入增长而西南区下降。\n\
                    https://example.com/an/address/too/long/for/one/line/is/cut/where/it/must/be";
        let lines = metrics.wrap(text, 11.0, 150.0);
        assert!(lines.len() >= 5, "{lines:?}");
        for line in &lines {
            assert!(metrics.width(line, 11.0) <= 150.0, "{line}");
        }
        let without_spaces = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(without_spaces(&lines.concat()), without_spaces(text));
    }

    #[test]
    fn lines_break_at_spaces_and_between_chinese_characters() {
        assert_eq!(pieces("Sales rose  8%."), vec!["Sales ", "rose  ", "8%."]);
        assert_eq!(
            pieces("销售增长 8%"),
            vec!["销", "售", "增", "长", " ", "8%"]
        );
        assert_eq!(pieces("Q1 华东区"), vec!["Q1 ", "华", "东", "区"]);
    }
}
