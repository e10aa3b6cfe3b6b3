//! Calls a model wrote into a text answer: a JSON object or markup naming an offered tool
//! ("you can use the following function call: ```xml <name>geo_distance_calulate</name>"),
//! which no client parses as a call. The text is streamed line by line; a block that may hold
//! such a call (a fence, or lines opening with `<` or `{`) is held until it closes or names a
//! tool, so that the answer can still take the call path without having sent the block.

/// Names shorter than this must be written exactly; longer ones may be misspelled by the
/// model (`geo_distance_calulate`) by one letter in ten.
const FUZZY_NAME_LENGTH: usize = 8;

/// Keys under which call formats write the function's name.
const NAME_KEYS: [&str; 4] = ["name", "function", "tool", "tool_name"];

/// Watches a text answer as it is generated: what may be sent, and whether it writes a call.
#[derive(Debug)]
pub struct WrittenCalls {
    /// The offered tools' names, lowercased, dots as underscores.
    names: Vec<String>,
    text: String,
    /// Bytes of `text` released to the client.
    released: usize,
    /// Bytes of `text` whose lines were taken (the next line starts here).
    scanned: usize,
    /// Where the block being held opens, and whether it is a fence.
    block: Option<(usize, bool)>,
    /// The name of the tool the held block writes a call of.
    called: Option<String>,
}

impl WrittenCalls {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        WrittenCalls {
            names: names.into_iter().map(normalized).collect(),
            text: String::new(),
            released: 0,
            scanned: 0,
            block: None,
            called: None,
        }
    }

    /// Adds a piece of the answer; returns the text that may be sent now.
    pub fn push(&mut self, piece: &str) -> String {
        self.text.push_str(piece);
        while let Some(end) = self.text[self.scanned..].find('\n') {
            let line_end = self.scanned + end + 1;
            self.take_line(self.scanned, line_end);
            self.scanned = line_end;
            if self.called.is_some() {
                break;
            }
        }
        if let Some((start, _)) = self.block {
            return self.release(start);
        }
        let partial = self.text[self.scanned..].trim_start();
        let safe = !partial.is_empty() && !opens_block(partial) && !"```".starts_with(partial);
        self.release(if safe { self.text.len() } else { self.scanned })
    }

    /// The name of the offered tool the held block writes a call of, once it does.
    pub fn called(&self) -> Option<&str> {
        self.called.as_deref()
    }

    /// The answer so far, sent or held.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text sent so far.
    pub fn sent(&self) -> &str {
        &self.text[..self.released]
    }

    /// What is left to send once the answer ended: everything held, unless it writes a call
    /// (then nothing).
    pub fn finish(&mut self) -> String {
        if let Some((start, _)) = self.block {
            self.called = self.call_in(start);
            if self.called.is_some() {
                return self.release(start);
            }
        }
        self.release(self.text.len())
    }

    /// Takes a whole line: opens, closes or extends the held block, whose call is looked for
    /// once per line (not per piece: a long block is read once a line, not once a token).
    fn take_line(&mut self, start: usize, end: usize) {
        let line = self.text[start..end].trim();
        let (block_start, closes) = match self.block {
            None if opens_block(line) => {
                let fence = line.starts_with("```");
                self.block = Some((start, fence));
                (start, false)
            }
            None => return,
            Some((block_start, fence)) => {
                let closes = if fence {
                    line.starts_with("```")
                } else {
                    line.is_empty()
                };
                (block_start, closes)
            }
        };
        self.called = self.call_in(block_start);
        if closes && self.called.is_none() {
            self.block = None;
        }
    }

    fn release(&mut self, to: usize) -> String {
        if to <= self.released {
            return String::new();
        }
        let sent = self.text[self.released..to].to_string();
        self.released = to;
        sent
    }

    /// The offered tool a call written from byte `start` on names, if any.
    fn call_in(&self, start: usize) -> Option<String> {
        written_names(&self.text[start..])
            .into_iter()
            .find(|written| self.names.iter().any(|name| same_name(written, name)))
    }
}

/// Whether a line opens a block that may hold a written call.
fn opens_block(line: &str) -> bool {
    line.starts_with("```") || line.starts_with('<') || line.starts_with('{')
}

/// The function names a text writes the way call formats do: `"name": "x"` (or `function`,
/// `tool`, `tool_name`), `<name>x</name>`, `<function=x>`, `<function name="x">`.
fn written_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for key in NAME_KEYS {
        let quoted = format!("\"{key}\"");
        for (at, _) in text.match_indices(&quoted) {
            let rest = text[at + quoted.len()..].trim_start();
            if let Some(value) = rest.strip_prefix(':').map(str::trim_start) {
                if let Some(value) = value.strip_prefix('"') {
                    if let Some(end) = value.find('"') {
                        names.push(normalized(&value[..end]));
                    }
                }
            }
        }
    }
    for (at, _) in text.match_indices("<name>") {
        let rest = &text[at + "<name>".len()..];
        if let Some(end) = rest.find("</name>") {
            names.push(normalized(rest[..end].trim()));
        }
    }
    for (at, _) in text.match_indices("<function") {
        let rest = text[at + "<function".len()..].trim_start_matches(['=', ' ']);
        // A quoted name is read whole: the model writes some with a space for an underscore
        // (`<function name="query_meeting room">`).
        if let Some(quoted) = rest.strip_prefix("name=\"") {
            if let Some(end) = quoted.find('"') {
                names.push(normalized(quoted[..end].trim()));
                continue;
            }
        }
        let rest = rest.trim_start_matches("name=").trim_start_matches('"');
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(rest.len());
        if end > 0 {
            names.push(normalized(&rest[..end]));
        }
    }
    names
}

fn normalized(name: &str) -> String {
    name.to_lowercase().replace(['.', '-'], "_")
}

/// Whether a written name is the tool's, allowing a long name a slip of one letter in ten.
fn same_name(written: &str, name: &str) -> bool {
    written == name
        || (name.len() >= FUZZY_NAME_LENGTH
            && strsim::levenshtein(written, name) <= (name.len() / 10).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(text: &str, piece_len: usize) -> (String, WrittenCalls) {
        let mut watch = WrittenCalls::new(["geo_distance.calculate", "get_weather"]);
        let mut sent = String::new();
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(piece_len) {
            sent.push_str(&watch.push(&piece.iter().collect::<String>()));
            if watch.called().is_some() {
                return (sent, watch);
            }
        }
        sent.push_str(&watch.finish());
        (sent, watch)
    }

    #[test]
    fn a_call_written_as_markup_is_found_and_its_block_never_sent() {
        let text = "To calculate it, you can use the following function call:\n\n```xml\n<tools>\n  <function>\n    <name>geo_distance_calulate</name>\n    <description>…";
        for piece_len in [1, 3, 40] {
            let (sent, watch) = watch(text, piece_len);
            assert_eq!(watch.called(), Some("geo_distance_calulate"));
            assert_eq!(
                sent,
                "To calculate it, you can use the following function call:\n\n"
            );
            assert_eq!(watch.sent(), sent);
        }
    }

    #[test]
    fn a_call_written_as_json_is_found_in_a_fence_or_on_its_own_line() {
        let fenced = "Here it is:\n```json\n{\n  \"name\": \"get_weather\",\n  \"arguments\": {}\n}\n```\nDone.";
        let (sent, watch) = watch(fenced, 2);
        assert_eq!(watch.called(), Some("get_weather"));
        assert_eq!(sent, "Here it is:\n");
        let bare = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n";
        assert_eq!(super::tests::watch(bare, 5).1.called(), Some("get_weather"));
    }

    #[test]
    fn a_quoted_name_is_read_whole() {
        // A space for an underscore is a slip of one letter.
        let text = "Use it:\n```xml\n<tools>\n  <function name=\"geo distance.calculate\">\n";
        let (sent, watch) = watch(text, 4);
        assert_eq!(watch.called(), Some("geo distance_calculate"));
        assert_eq!(sent, "Use it:\n");
        let camel = "```xml\n<function name=\"getWeather\" description=\"…\">\n```\n";
        assert_eq!(super::tests::watch(camel, 3).1.called(), Some("getweather"));
    }

    #[test]
    fn prose_code_and_other_names_are_text() {
        for text in [
            // A tool named in prose is talk about it, not a call.
            "You could use `get_weather` for that, but it is sunny.\nBye.",
            // Code defining or calling a function of its own is code.
            "Try this:\n```python\ndef get_weather(city):\n    return fetch(city)\n```\nThat is all.",
            // A JSON object naming something else.
            "```json\n{\"name\": \"Alice\", \"age\": 3}\n```\n",
            // A name off by more than a slip.
            "{\"name\": \"get_leather_goods\"}\n",
        ] {
            let (sent, watch) = watch(text, 3);
            assert_eq!(watch.called(), None, "{text}");
            assert_eq!(sent, text);
        }
    }

    #[test]
    fn a_call_in_markup_without_a_fence_is_found_lines_after_it_opens() {
        let text = "Call it like this:\n<tools>\n  <function>\n    <name>get_weather</name>\n";
        let (sent, watch) = watch(text, 4);
        assert_eq!(watch.called(), Some("get_weather"));
        assert_eq!(sent, "Call it like this:\n");
    }

    #[test]
    fn text_is_released_line_by_line_and_a_block_only_once_it_closes() {
        let mut watch = WrittenCalls::new(["get_weather"]);
        assert_eq!(watch.push("It is sunny"), "It is sunny");
        assert_eq!(watch.push(" today.\n`"), " today.\n");
        assert_eq!(watch.push("``\nprint(1)\n"), "");
        assert_eq!(watch.push("```\nok"), "```\nprint(1)\n```\nok");
        assert_eq!(watch.finish(), "");
    }
}
