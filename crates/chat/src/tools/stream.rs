//! Reading a streamed output as it arrives: text goes out at once, except what might still turn
//! into a tag or a call, and each call is released whole, once it closed and parsed, so the
//! server can validate it before any of it leaves.

use super::cut::close_cut_block;
use super::parse::{calls_from_json, fenced_calls};
use super::{ParsedCall, CLOSE, OPEN, THINK_CLOSE, THINK_OPEN};

const FENCE: &str = "```";

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Reasoning(String),
    Content(String),
    Call(ParsedCall),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace yet: it may still open a `<think>` block or a bare JSON call.
    Start,
    Reasoning,
    Content,
    InCall,
    InFence,
    /// The answer began with `{` or `[`: it is a bare JSON call or text, known at the end.
    MaybeBare,
}

/// Incremental parser; feed it with [`StreamParser::push`], end with [`StreamParser::finish`].
pub struct StreamParser<'a> {
    state: State,
    pending: String,
    /// How much of `pending` was already searched for the closing marker (calls and fences
    /// are buffered whole; searching only new text keeps streaming linear).
    searched: usize,
    /// False when no tools were offered: only reasoning is split off, text streams as is.
    calls: bool,
    is_tool: &'a (dyn Fn(&str) -> bool + Sync),
}

impl<'a> StreamParser<'a> {
    pub fn new(is_tool: &'a (dyn Fn(&str) -> bool + Sync)) -> Self {
        StreamParser {
            state: State::Start,
            pending: String::new(),
            searched: 0,
            calls: true,
            is_tool,
        }
    }

    /// A parser for answers without tools: splits off `<think>`, passes all else through.
    pub fn reasoning_only() -> StreamParser<'static> {
        StreamParser {
            state: State::Start,
            pending: String::new(),
            searched: 0,
            calls: false,
            is_tool: &|_| false,
        }
    }

    pub fn push(&mut self, text: &str) -> Vec<StreamEvent> {
        self.pending.push_str(text);
        let mut events = Vec::new();
        // Each pass either changes state or stops; the text is scanned a bounded number of
        // times per state change, so the whole stream is linear.
        loop {
            let before = self.state;
            match self.state {
                State::Start => self.start(),
                State::Reasoning => self.reasoning(&mut events),
                State::Content => self.content(&mut events),
                State::InCall => self.in_call(&mut events),
                State::InFence => self.in_fence(&mut events),
                State::MaybeBare => {}
            }
            if self.state == before {
                break;
            }
        }
        events
    }

    /// As [`Self::finish`], for a generation the engine stopped (its end of turn, a stop
    /// sequence or its loop check; not its token limit): a last call block cut short is closed
    /// after the last value it completed (see [`super::close_cut_call`]). Whether the call so
    /// closed is valid is the caller's to check, as for every call.
    pub fn finish_stopped(mut self) -> Vec<StreamEvent> {
        if self.state == State::InCall
            && calls_from_json(self.pending.trim(), self.is_tool).is_none()
        {
            if let Some(closed) = close_cut_block(&self.pending) {
                self.pending = closed.to_string();
            }
        }
        self.finish()
    }

    pub fn finish(mut self) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        let rest = std::mem::take(&mut self.pending);
        match self.state {
            State::Start | State::Content | State::InFence => {
                let fenced = if self.calls {
                    fenced_calls(&rest, self.is_tool)
                } else {
                    None
                };
                if let Some((content, calls)) = fenced {
                    push_content(&mut events, content);
                    events.extend(calls.into_iter().map(StreamEvent::Call));
                } else {
                    push_content(&mut events, rest);
                }
            }
            State::Reasoning => {
                if !rest.is_empty() {
                    events.push(StreamEvent::Reasoning(rest));
                }
            }
            State::InCall => {
                if let Some(calls) = calls_from_json(rest.trim(), self.is_tool) {
                    events.extend(calls.into_iter().map(StreamEvent::Call));
                }
            }
            State::MaybeBare => match calls_from_json(rest.trim(), self.is_tool) {
                Some(calls) => events.extend(calls.into_iter().map(StreamEvent::Call)),
                None => push_content(&mut events, rest),
            },
        }
        events
    }

    /// Leading whitespace of an answer is dropped, as in the whole-output parser.
    fn start(&mut self) {
        let trimmed = self.pending.trim_start();
        if trimmed.is_empty() {
            self.pending.clear();
            return;
        }
        if let Some(after) = trimmed.strip_prefix(THINK_OPEN) {
            self.pending = after.to_string();
            self.state = State::Reasoning;
        } else if THINK_OPEN.starts_with(trimmed) {
            // Could still become `<think>`: wait.
        } else {
            let opens_json = self.calls && (trimmed.starts_with('{') || trimmed.starts_with('['));
            self.pending = trimmed.to_string();
            self.state = if opens_json {
                State::MaybeBare
            } else {
                State::Content
            };
        }
    }

    fn reasoning(&mut self, events: &mut Vec<StreamEvent>) {
        if let Some(end) = self.pending.find(THINK_CLOSE) {
            let text = self.pending[..end].to_string();
            if !text.is_empty() {
                events.push(StreamEvent::Reasoning(text));
            }
            self.pending.drain(..end + THINK_CLOSE.len());
            // The answer after the reasoning starts afresh (whitespace, bare JSON).
            self.state = State::Start;
        } else {
            let keep = held_suffix(&self.pending, &[THINK_CLOSE]);
            let release = self.pending.len() - keep;
            if release > 0 {
                events.push(StreamEvent::Reasoning(self.pending[..release].to_string()));
                self.pending.drain(..release);
            }
        }
    }

    fn content(&mut self, events: &mut Vec<StreamEvent>) {
        if !self.calls {
            push_content(events, std::mem::take(&mut self.pending));
            return;
        }
        let open = self.pending.find(OPEN);
        let fence = self.pending.find(FENCE);
        let (at, next) = match (open, fence) {
            (Some(o), Some(f)) if f < o => (f, State::InFence),
            (Some(o), _) => (o, State::InCall),
            (None, Some(f)) => (f, State::InFence),
            (None, None) => {
                let keep = held_suffix(&self.pending, &[OPEN, FENCE]);
                let release = self.pending.len() - keep;
                push_content(events, self.pending[..release].to_string());
                self.pending.drain(..release);
                return;
            }
        };
        push_content(events, self.pending[..at].to_string());
        let skip = if next == State::InCall { OPEN.len() } else { 0 };
        self.pending.drain(..at + skip);
        self.state = next;
    }

    /// Position of `marker` in `pending` at or after `from`, searching only text not yet seen.
    fn find_new(&mut self, marker: &str, from: usize) -> Option<usize> {
        let mut start = self.searched.saturating_sub(marker.len()).max(from);
        while !self.pending.is_char_boundary(start) {
            start -= 1;
        }
        let found = self.pending[start..].find(marker).map(|at| start + at);
        self.searched = if found.is_some() {
            0
        } else {
            self.pending.len()
        };
        found
    }

    fn in_call(&mut self, events: &mut Vec<StreamEvent>) {
        let Some(end) = self.find_new(CLOSE, 0) else {
            return;
        };
        if let Some(calls) = calls_from_json(self.pending[..end].trim(), self.is_tool) {
            events.extend(calls.into_iter().map(StreamEvent::Call));
        }
        self.pending.drain(..end + CLOSE.len());
        self.state = State::Content;
    }

    fn in_fence(&mut self, events: &mut Vec<StreamEvent>) {
        // `pending` starts with the opening fence; wait for the closing one.
        let Some(close) = self.find_new(FENCE, FENCE.len()) else {
            return;
        };
        let end = close + FENCE.len();
        let block = self.pending[..end].to_string();
        match fenced_calls(&block, self.is_tool) {
            Some((content, calls)) => {
                push_content(events, content);
                events.extend(calls.into_iter().map(StreamEvent::Call));
            }
            None => push_content(events, block),
        }
        self.pending.drain(..end);
        self.state = State::Content;
    }
}

fn push_content(events: &mut Vec<StreamEvent>, text: String) {
    if text.is_empty() {
        return;
    }
    if let Some(StreamEvent::Content(last)) = events.last_mut() {
        last.push_str(&text);
    } else {
        events.push(StreamEvent::Content(text));
    }
}

/// Bytes at the end of `text` that are a proper prefix of one of `markers`.
fn held_suffix(text: &str, markers: &[&str]) -> usize {
    let mut best = 0;
    for marker in markers {
        let max = (marker.len() - 1).min(text.len());
        for len in (best + 1..=max).rev() {
            let start = text.len() - len;
            if text.is_char_boundary(start) && marker.starts_with(&text[start..]) {
                best = len;
                break;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tools(name: &str) -> bool {
        name == "get_weather"
    }

    /// Feeds `text` in pieces of `size` bytes (on char boundaries) and collects the events,
    /// merging neighbouring text events.
    fn run(text: &str, size: usize) -> Vec<StreamEvent> {
        let is_tool: &(dyn Fn(&str) -> bool + Sync) = &tools;
        let mut parser = StreamParser::new(is_tool);
        let mut events = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(size) {
            events.extend(parser.push(&piece.iter().collect::<String>()));
        }
        events.extend(parser.finish());
        let mut merged: Vec<StreamEvent> = Vec::new();
        for event in events {
            match (merged.last_mut(), event) {
                (Some(StreamEvent::Content(a)), StreamEvent::Content(b)) => a.push_str(&b),
                (Some(StreamEvent::Reasoning(a)), StreamEvent::Reasoning(b)) => a.push_str(&b),
                (_, event) => merged.push(event),
            }
        }
        merged
    }

    fn call(city: &str) -> StreamEvent {
        StreamEvent::Call(ParsedCall {
            name: "get_weather".into(),
            arguments: json!({"city": city}),
        })
    }

    #[test]
    fn a_call_block_the_engine_stopped_is_closed_only_when_it_was_stopped() {
        let looped = "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"city\": \"Oslo\", \"ci";
        let is_tool: &(dyn Fn(&str) -> bool + Sync) = &tools;
        for size in [1, 5, 1000] {
            let chars: Vec<char> = looped.chars().collect();
            let mut stopped = StreamParser::new(is_tool);
            let mut cut = StreamParser::new(is_tool);
            for piece in chars.chunks(size) {
                let piece: String = piece.iter().collect();
                stopped.push(&piece);
                cut.push(&piece);
            }
            let mut calls: Vec<StreamEvent> = stopped.finish_stopped();
            calls.retain(|event| matches!(event, StreamEvent::Call(_)));
            assert_eq!(calls, vec![call("Oslo")], "chunk size {size}");
            assert!(
                !cut.finish()
                    .iter()
                    .any(|event| matches!(event, StreamEvent::Call(_))),
                "a cut by the token limit is no call (chunk size {size})"
            );
        }
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let text = "<think>hmm</think>\n\nChecking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>";
        let expected = vec![
            StreamEvent::Reasoning("hmm".into()),
            StreamEvent::Content("Checking.\n".into()),
            call("Oslo"),
            StreamEvent::Content("\n".into()),
            call("Rome"),
        ];
        for size in [1, 2, 3, 5, 7, 64, 1000] {
            assert_eq!(run(text, size), expected, "chunk size {size}");
        }
    }

    #[test]
    fn no_tag_or_fence_leaks_into_content() {
        let text =
            "Sure:\n```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Bonn\"}}\n```";
        for size in [1, 4, 100] {
            let events = run(text, size);
            assert_eq!(
                events,
                vec![StreamEvent::Content("Sure:\n".into()), call("Bonn")],
                "size {size}"
            );
        }
        // A fence that is code stays content, whole.
        assert_eq!(
            run("a ```py\nx<1\n``` b", 1),
            vec![StreamEvent::Content("a ```py\nx<1\n``` b".into())]
        );
        // Text that only looked like the start of a tag is released.
        assert_eq!(
            run("1 <tool 2", 1),
            vec![StreamEvent::Content("1 <tool 2".into())]
        );
    }

    #[test]
    fn bare_json_call_and_plain_json_text() {
        assert_eq!(
            run(
                "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Kyiv\"}}",
                3
            ),
            vec![call("Kyiv")]
        );
        assert_eq!(
            run("{\"x\": 1}", 3),
            vec![StreamEvent::Content("{\"x\": 1}".into())]
        );
    }

    proptest::proptest! {
        #[test]
        fn chunking_never_changes_the_result(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("<tool_call>".to_string()),
                    proptest::strategy::Just("</tool_call>".to_string()),
                    proptest::strategy::Just("<think>".to_string()),
                    proptest::strategy::Just("</think>".to_string()),
                    proptest::strategy::Just("```".to_string()),
                    proptest::strategy::Just("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"X\"}}".to_string()),
                    "[ a-z{}<>/\n\"é]{0,6}",
                ],
                0..24,
            ),
            size in 1usize..9,
        ) {
            let text: String = parts.concat();
            proptest::prop_assert_eq!(run(&text, size), run(&text, usize::MAX));
            // The whole-output parser never panics on the same inputs either.
            let _ = crate::tools::parse_output(&text, &tools);
        }
    }

    #[test]
    fn long_unclosed_blocks_stream_in_linear_time() {
        // Quadratic rescanning would take minutes here; linear takes milliseconds.
        let is_tool: &(dyn Fn(&str) -> bool + Sync) = &tools;
        for opener in ["<tool_call>", "```"] {
            let mut parser = StreamParser::new(is_tool);
            let mut events = parser.push(&format!("x {opener}"));
            for _ in 0..200_000 {
                events.extend(parser.push("ab "));
            }
            events.extend(parser.finish());
            // The block never closed: no call. An unfinished fence is the model's text and
            // comes back whole, in order; an unfinished call is not text and is dropped.
            let mut content = String::new();
            for event in events {
                match event {
                    StreamEvent::Content(text) => content.push_str(&text),
                    other => panic!("unexpected {other:?} after {opener}"),
                }
            }
            let expected = match opener {
                "```" => format!("x {opener}{}", "ab ".repeat(200_000)),
                _ => "x".to_string(),
            };
            assert_eq!(content.trim_end(), expected.trim_end());
        }
    }

    #[test]
    fn without_tools_only_reasoning_is_split() {
        let mut parser = StreamParser::reasoning_only();
        let mut events = parser.push("<think>a</think> {\"name\": \"get_weather\"} ```x");
        events.extend(parser.finish());
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("a".into()),
                StreamEvent::Content("{\"name\": \"get_weather\"} ```x".into())
            ]
        );
    }

    #[test]
    fn content_is_released_before_the_end() {
        let is_tool: &(dyn Fn(&str) -> bool + Sync) = &tools;
        let mut parser = StreamParser::new(is_tool);
        assert_eq!(
            parser.push("Hello "),
            vec![StreamEvent::Content("Hello ".into())]
        );
        assert_eq!(
            parser.push("world <"),
            vec![StreamEvent::Content("world ".into())]
        );
        assert_eq!(parser.push("b>"), vec![StreamEvent::Content("<b>".into())]);
    }
}
