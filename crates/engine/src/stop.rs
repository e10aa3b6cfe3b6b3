//! Turning a stream of token bytes into text that is safe to show: whole UTF-8 characters only,
//! and nothing that could still turn out to be the start of a stop string.

/// Accumulates token bytes and releases the longest valid UTF-8 prefix.
#[derive(Debug, Default)]
pub struct Utf8Assembler {
    pending: Vec<u8>,
}

impl Utf8Assembler {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(text) => {
                let out = text.to_string();
                self.pending.clear();
                out
            }
            Err(err) => {
                let valid = err.valid_up_to();
                // An invalid sequence (not merely an incomplete one) can never become valid:
                // replace it rather than holding text back forever.
                if err.error_len().is_some() {
                    let out = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    return out;
                }
                let out = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                out
            }
        }
    }

    /// Whatever is left at the end, with incomplete characters replaced.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// What the stop matcher decided about newly generated text.
#[derive(Debug, PartialEq, Eq)]
pub enum StopScan {
    /// Text that can be shown now (possibly empty while a stop prefix is pending).
    Continue(String),
    /// A stop string was found: show this text, then end.
    Stopped(String),
}

/// Finds stop strings across token boundaries, holding back only a possible stop prefix.
#[derive(Debug)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopScan {
        self.held.push_str(text);
        if self.stops.is_empty() {
            return StopScan::Continue(std::mem::take(&mut self.held));
        }
        // The earliest stop string wins.
        let earliest = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = earliest {
            let out = self.held[..at].to_string();
            self.held.clear();
            return StopScan::Stopped(out);
        }
        let keep = self.longest_stop_prefix_suffix();
        let release_to = self.held.len() - keep;
        let out = self.held[..release_to].to_string();
        self.held.drain(..release_to);
        StopScan::Continue(out)
    }

    /// The held text that was only held because it might begin a stop string.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length in bytes of the longest suffix of `held` that is a proper prefix of a stop string.
    fn longest_stop_prefix_suffix(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            let max = stop.len().saturating_sub(1).min(self.held.len());
            for len in (best + 1..=max).rev() {
                let start = self.held.len() - len;
                if self.held.is_char_boundary(start) && stop.starts_with(&self.held[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens_is_joined() {
        let mut asm = Utf8Assembler::default();
        let bytes = "北".as_bytes();
        assert_eq!(asm.push(&bytes[..1]), "");
        assert_eq!(asm.push(&bytes[1..2]), "");
        assert_eq!(asm.push(&bytes[2..]), "北");
        assert_eq!(asm.push(b"\xff"), "\u{fffd}");
        assert_eq!(asm.push(&bytes[..2]), "");
        assert_eq!(asm.finish(), "\u{fffd}");
    }

    #[test]
    fn stop_string_across_pieces_is_cut_and_prefix_released() {
        let mut m = StopMatcher::new(vec!["END".into()]);
        assert_eq!(m.push("hello E"), StopScan::Continue("hello ".into()));
        assert_eq!(m.push("x"), StopScan::Continue("Ex".into()));
        assert_eq!(m.push(" E"), StopScan::Continue(" ".into()));
        assert_eq!(m.push("N"), StopScan::Continue(String::new()));
        assert_eq!(m.push("D tail"), StopScan::Stopped("".into()));
    }

    #[test]
    fn earliest_stop_wins_and_finish_releases_held_text() {
        let mut m = StopMatcher::new(vec!["bb".into(), "a".into()]);
        assert_eq!(m.push("xxbbya"), StopScan::Stopped("xx".into()));
        let mut m = StopMatcher::new(vec!["<|end|>".into()]);
        assert_eq!(m.push("ok <|e"), StopScan::Continue("ok ".into()));
        assert_eq!(m.finish(), "<|e");
    }

    #[test]
    fn no_stops_passes_everything_through() {
        let mut m = StopMatcher::new(vec![String::new()]);
        assert_eq!(m.push("abc"), StopScan::Continue("abc".into()));
    }
}
