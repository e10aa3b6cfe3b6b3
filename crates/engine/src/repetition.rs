//! Stops a generation caught in a loop: a small model sometimes writes the same line or
//! phrase again and again until its token limit (minutes of a slot, and an answer nobody can
//! use). The text generated last is watched; once it ends in one unit repeated past the
//! thresholds below, the generation ends as if the model had stopped.

/// Bytes of recent output that are watched.
const WINDOW: usize = 2048;
/// A unit this long (a phrase, a line) may repeat this many times in a row, no more.
const PHRASE_BYTES: usize = 16;
const PHRASE_REPEATS: usize = 4;
/// Shorter units (a word, a character) are let repeat longer: runs of dashes, table rules
/// and padding are legitimate text.
const RUN_BYTES: usize = 256;
const RUN_REPEATS: usize = 8;

/// Watches a generation's text for a degenerate repetition.
#[derive(Debug, Default, Clone)]
pub struct RepetitionGuard {
    tail: Vec<u8>,
}

impl RepetitionGuard {
    /// Takes the next piece of output; true when the output now ends in a loop.
    pub fn push(&mut self, text: &str) -> bool {
        if text.is_empty() {
            return false;
        }
        self.tail.extend_from_slice(text.as_bytes());
        if self.tail.len() > WINDOW {
            let excess = self.tail.len() - WINDOW;
            self.tail.drain(..excess);
        }
        self.looping()
    }

    /// Whether some suffix of the tail is a unit repeated past the thresholds. The suffixes
    /// of the text are the prefixes of the reversed text, whose smallest periods the prefix
    /// function gives in one pass.
    fn looping(&self) -> bool {
        let reversed: Vec<u8> = self.tail.iter().rev().copied().collect();
        let border = prefix_function(&reversed);
        (1..=reversed.len()).any(|length| {
            let period = length - border[length - 1];
            let repeats = length / period;
            (period >= PHRASE_BYTES && repeats >= PHRASE_REPEATS)
                || (length >= RUN_BYTES && repeats >= RUN_REPEATS)
        })
    }
}

/// Knuth–Morris–Pratt's prefix function: `border[i]` is the length of the longest proper
/// prefix of `text[..=i]` that is also its suffix.
fn prefix_function(text: &[u8]) -> Vec<usize> {
    let mut border = vec![0; text.len()];
    for i in 1..text.len() {
        let mut k = border[i - 1];
        while k > 0 && text[i] != text[k] {
            k = border[k - 1];
        }
        if text[i] == text[k] {
            k += 1;
        }
        border[i] = k;
    }
    border
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loops(pieces: &[&str]) -> Option<usize> {
        let mut guard = RepetitionGuard::default();
        pieces.iter().position(|piece| guard.push(piece))
    }

    #[test]
    fn a_phrase_written_over_and_over_is_caught_at_its_fourth_copy() {
        let room = "杭州商务中心会议室，";
        let pieces: Vec<&str> = std::iter::repeat_n(room, 24).collect();
        assert_eq!(loops(&pieces), Some(3));
        let line = "- The meeting room has a projector.\n";
        let pieces: Vec<&str> = std::iter::repeat_n(line, 10).collect();
        assert_eq!(loops(&pieces), Some(3));
    }

    #[test]
    fn a_short_unit_is_caught_only_after_a_long_run() {
        let dash: Vec<&str> = std::iter::repeat_n("-", 300).collect();
        assert_eq!(loops(&dash), Some(RUN_BYTES - 1));
        // A markdown table rule and a few repeated words are text, not a loop.
        assert_eq!(
            loops(&["| --- | --- | --- | --- |\n", "ha ha ha ha ha ha\n"]),
            None
        );
    }

    #[test]
    fn ordinary_text_and_lists_of_different_items_pass() {
        let text = [
            "Hangzhou has three rooms with a projector:\n",
            "- West Lake, floor 3, 12 people\n",
            "- Lingyin, floor 5, 20 people\n",
            "- Qiantang, floor 3, 6 people\n",
            "Each room can be booked from the console.\n",
            "杭州办公室有两间带投影仪的会议室：西湖和灵隐。",
        ];
        assert_eq!(loops(&text), None);
        // Three copies of a line are allowed (a refrain, a repeated heading).
        let line = "Order 12345 has been refunded.\n";
        assert_eq!(loops(&[line, line, line]), None);
    }

    #[test]
    fn the_prefix_function_finds_borders() {
        assert_eq!(prefix_function(b"abab"), vec![0, 0, 1, 2]);
        assert_eq!(prefix_function(b"aabaaab"), vec![0, 1, 0, 1, 2, 2, 3]);
    }
}
