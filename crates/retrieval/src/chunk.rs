//! Cutting a document into chunks: first along its Markdown headings (each chunk remembers
//! the headings above it), then by length at paragraph or word boundaries, each chunk starting
//! with the end of the one before.

/// How long chunks are, in characters.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    pub max_chars: usize,
    /// Characters of the previous chunk repeated at the start of the next one.
    pub overlap_chars: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        // About 200 tokens of English, 40 of overlap.
        ChunkLimits {
            max_chars: 900,
            overlap_chars: 180,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The headings above the chunk, outermost first, joined by " > " (empty before any).
    pub heading: String,
    pub text: String,
}

/// Chunks of `text` (Markdown or plain), in document order.
pub fn chunk_text(text: &str, limits: ChunkLimits) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut trail: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let flush = |trail: &[(usize, String)], body: &mut String, chunks: &mut Vec<Chunk>| {
        let heading = trail
            .iter()
            .map(|(_, title)| title.as_str())
            .collect::<Vec<_>>()
            .join(" > ");
        for piece in split_by_length(body.trim(), limits) {
            chunks.push(Chunk {
                heading: heading.clone(),
                text: piece,
            });
        }
        body.clear();
    };
    for line in text.lines() {
        if let Some((level, title)) = heading_of(line) {
            flush(&trail, &mut body, &mut chunks);
            trail.retain(|(l, _)| *l < level);
            trail.push((level, title.to_string()));
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(&trail, &mut body, &mut chunks);
    chunks
}

/// `## Title` → (2, "Title").
fn heading_of(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let rest = &line[level..];
    (1..=6).contains(&level).then_some(())?;
    rest.starts_with(' ').then(|| (level, rest.trim()))
}

fn split_by_length(text: &str, limits: ChunkLimits) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let hard_end = (start + limits.max_chars).min(chars.len());
        let end = if hard_end == chars.len() {
            hard_end
        } else {
            // Prefer a paragraph break, then a sentence end, then a space, in the second half.
            let floor = start + limits.max_chars / 2;
            let window = &chars[floor..hard_end];
            let at = |pattern: &dyn Fn(usize) -> bool| {
                (0..window.len())
                    .rev()
                    .find(|&i| pattern(i))
                    .map(|i| floor + i + 1)
            };
            at(&|i| window[i] == '\n' && i > 0 && window[i - 1] == '\n')
                .or_else(|| at(&|i| matches!(window[i], '.' | '!' | '?' | '。')))
                .or_else(|| at(&|i| window[i].is_whitespace()))
                .unwrap_or(hard_end)
        };
        pieces.push(
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim()
                .to_string(),
        );
        if end == chars.len() {
            break;
        }
        // The next chunk starts `overlap` characters back, at a word boundary.
        let mut next = end.saturating_sub(limits.overlap_chars).max(start + 1);
        while next < end && !chars[next - 1].is_whitespace() {
            next += 1;
        }
        start = next;
    }
    pieces.retain(|p| !p.is_empty());
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_split_and_are_remembered() {
        let text = "Intro line.\n# Guide\nAbout it.\n## Setup\nInstall it.\n## Use\nRun it.\n# Other\nMore.";
        let chunks = chunk_text(text, ChunkLimits::default());
        let pairs: Vec<(&str, &str)> = chunks
            .iter()
            .map(|c| (c.heading.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("", "Intro line."),
                ("Guide", "About it."),
                ("Guide > Setup", "Install it."),
                ("Guide > Use", "Run it."),
                ("Other", "More."),
            ]
        );
    }

    #[test]
    fn long_sections_are_cut_with_overlap_at_boundaries() {
        let sentence = "The quarterly margin held at twelve percent. ";
        let text = sentence.repeat(60);
        let limits = ChunkLimits {
            max_chars: 300,
            overlap_chars: 60,
        };
        let chunks = chunk_text(&text, limits);
        assert!(chunks.len() > 5);
        for pair in chunks.windows(2) {
            assert!(pair[0].text.chars().count() <= 300);
            assert!(pair[0].text.ends_with('.'), "{}", pair[0].text);
            // The start of the next chunk repeats the end of this one.
            let head: String = pair[1].text.chars().take(20).collect();
            assert!(pair[0].text.contains(head.trim()), "{head}");
        }
        // Nothing is lost: every sentence is in some chunk.
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert!(joined.matches("twelve percent").count() >= 60);
    }
}
