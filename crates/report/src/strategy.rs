//! The company's strategy for the prose: passages retrieved per section, shown to the model
//! with ids to cite ([S1]…), and the citations found in what it wrote. The passages give
//! context, never figures: a number taken from them fails the number check like any other
//! number that is not a fact. They come from `fulcrum_retrieval::PassageSource`, read as the
//! report's reader, like the agent's per-turn passages.

use serde::Serialize;

/// A passage a section cites: the id its text uses and where the passage comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    pub id: String,
    pub source: String,
    pub section: String,
}

/// The id the model sees for the passage at `index` (0-based).
pub fn passage_id(index: usize) -> String {
    format!("S{}", index + 1)
}

/// `text` on one line with every figure in it replaced by "…": the notes a section is shown
/// carry the plan, not numbers the prose could take (numbers come only from the data).
pub fn without_figures(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            if !word.bytes().any(|b| b.is_ascii_digit()) {
                return word.to_string();
            }
            let trailing: String = word
                .chars()
                .rev()
                .take_while(|c| matches!(c, '.' | ',' | ';' | ':' | ')'))
                .collect();
            format!("…{}", trailing.chars().rev().collect::<String>())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ids a text cites (`[S1]`, `[S2, S3]`…), in order of first appearance, each once.
pub fn cited_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (_, inside) in citation_marks(text) {
        for id in inside.split(',').map(str::trim) {
            if !ids.iter().any(|seen| seen == id) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// The text with its citation marks taken out: their digits are not figures.
pub fn without_citations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (range, _) in citation_marks(text) {
        out.push_str(&text[rest..range.start]);
        rest = range.end;
    }
    out.push_str(&text[rest..]);
    out
}

/// Each `[S<digits>(, S<digits>)*]` in `text`: its byte range and what is between the brackets.
fn citation_marks(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut marks = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('[').map(|i| from + i) {
        let Some(close) = text[open..].find(']').map(|i| open + i) else {
            break;
        };
        let inside = &text[open + 1..close];
        let is_citation = !inside.is_empty()
            && inside.split(',').map(str::trim).all(|id| {
                id.strip_prefix('S').is_some_and(|digits| {
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                })
            });
        if is_citation {
            marks.push((open..close + 1, inside));
            from = close + 1;
        } else {
            from = open + 1;
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_are_found_once_each_and_taken_out_of_the_text() {
        let text = "Southwest grew 4.0% [S1], as planned [S2, S1]. See [note] and [S] and [x1].";
        assert_eq!(cited_ids(text), ["S1", "S2"]);
        assert_eq!(
            without_citations(text),
            "Southwest grew 4.0% , as planned . See [note] and [S] and [x1]."
        );
        assert!(cited_ids("No marks here [1].").is_empty());
        assert_eq!(passage_id(0), "S1");
        assert_eq!(
            without_figures("Reach 45% of revenue by\n December 2024. Twelve stores."),
            "Reach … of revenue by December …. Twelve stores."
        );
    }
}
