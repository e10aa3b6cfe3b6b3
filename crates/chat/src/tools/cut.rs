//! Closing a call the generation was stopped inside.
//!
//! The grammar lets a call end only when it is whole, so an answer whose last `<tool_call>`
//! block never closes was stopped from outside: by the engine's loop check (a small model
//! listing `"cumin", "pepper", "garlic", "basil"` over and over) or by a stop sequence. Its
//! JSON is whole up to the last value it completed; the rest is the degenerate part. Closing
//! it there, with an array's repeated items written once, gives the call the model was making,
//! which the tool's schema then judges like any other.

use serde_json::Value;

use super::{parse_output, ParsedOutput, ToolSet, CLOSE, OPEN};

/// An answer read for its calls. When the engine `stopped` it (the model's end of turn, a
/// stop sequence or the loop check; not the token limit, whose cut stays a cut), a last call
/// block cut short is closed (see [`close_cut_call`]) and the call so closed is kept only if
/// `tools` accepts it, as it may lack what the model had not written yet. Returns the output
/// and whether a block was closed.
pub fn parse_answer(
    text: &str,
    stopped: bool,
    is_tool: &dyn Fn(&str) -> bool,
    tools: &ToolSet,
) -> (ParsedOutput, bool) {
    let Some(closed) = close_cut_call(text).filter(|_| stopped) else {
        return (parse_output(text, is_tool), false);
    };
    let mut output = parse_output(&closed, is_tool);
    // Calls of tools outside `tools` (another role's) are the caller's to refuse as such.
    output
        .calls
        .retain(|call| !tools.contains(&call.name) || tools.validate(call).is_ok());
    (output, true)
}

/// `text` with its last call block, when that block was cut short, closed after the last
/// value it completed and its arrays' repeated items left out; `None` when no block is cut
/// short or nothing of it reads as a call's JSON.
pub fn close_cut_call(text: &str) -> Option<String> {
    let open = text.rfind(OPEN)?;
    let body = &text[open + OPEN.len()..];
    if body.contains(CLOSE) {
        return None;
    }
    let value = close_cut_block(body)?;
    Some(format!("{}{OPEN}\n{value}\n{CLOSE}", &text[..open]))
}

/// The JSON of a call block's text `body` that was cut short, closed after the last value it
/// completed and with its arrays' repeated items left out; `None` when it is whole or nothing
/// of it reads as JSON.
pub(super) fn close_cut_block(body: &str) -> Option<Value> {
    let json = closed_json(body.trim_start())?;
    let mut value: Value = serde_json::from_str(&json).ok()?;
    drop_repeated_items(&mut value);
    Some(value)
}

/// The longest prefix of the JSON text `cut` that ends after a complete member or item, with
/// its open brackets closed; `None` when `cut` does not open an object or an array, completes
/// nothing in it, or is whole.
fn closed_json(cut: &str) -> Option<String> {
    if !cut.starts_with(['{', '[']) {
        return None;
    }
    let mut open: Vec<char> = Vec::new();
    // The open brackets at the last place the text could end, and that place.
    let mut last_end: Option<(usize, Vec<char>)> = None;
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in cut.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            // Not a place to end: an emptied object or list is no value the model wrote.
            '{' => open.push('}'),
            '[' => open.push(']'),
            '}' | ']' => {
                if open.pop() != Some(c) {
                    return None;
                }
                if open.is_empty() {
                    // Whole: only the closing tag is missing, and the parser reads an unclosed
                    // last block to its end.
                    return None;
                }
                last_end = Some((at + 1, open.clone()));
            }
            ',' => last_end = Some((at, open.clone())),
            _ => {}
        }
    }
    let (end, open) = last_end?;
    let mut closed = cut[..end].trim_end().to_string();
    closed.extend(open.iter().rev());
    Some(closed)
}

/// Leaves out, in every array, the items equal to an earlier item: the loop the generation
/// was stopped in wrote them again and again.
fn drop_repeated_items(value: &mut Value) {
    match value {
        Value::Array(items) => {
            let mut kept: Vec<Value> = Vec::with_capacity(items.len());
            for mut item in std::mem::take(items) {
                drop_repeated_items(&mut item);
                if !kept.contains(&item) {
                    kept.push(item);
                }
            }
            *items = kept;
        }
        Value::Object(members) => members.values_mut().for_each(drop_repeated_items),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call_of(text: &str) -> Value {
        let body = text
            .split(OPEN)
            .nth(1)
            .and_then(|rest| rest.split(CLOSE).next())
            .expect("a closed block");
        serde_json::from_str(body.trim()).expect("JSON")
    }

    #[test]
    fn a_list_stopped_in_its_loop_is_closed_after_its_last_whole_item_and_written_once() {
        let looped = r#"<tool_call>
{"name": "find_recipes", "arguments": {"diet": "gluten-free", "meal_type": "dinner", "ingredients": ["flour", "cumin", "pepper", "cumin", "pepper", "cumin", "pep"#;
        let closed = close_cut_call(looped).expect("closed");
        assert_eq!(
            call_of(&closed),
            json!({"name": "find_recipes", "arguments": {
                "diet": "gluten-free", "meal_type": "dinner",
                "ingredients": ["flour", "cumin", "pepper"]}})
        );
    }

    #[test]
    fn a_member_cut_in_its_key_value_or_number_is_left_out() {
        for (cut, arguments) in [
            (
                r#"<tool_call>{"name": "f", "arguments": {"a": 1, "b"#,
                json!({"a": 1}),
            ),
            (
                r#"<tool_call>{"name": "f", "arguments": {"a": 1, "b": "
half"#,
                json!({"a": 1}),
            ),
            (
                r#"<tool_call>{"name": "f", "arguments": {"a": 1, "b": 12"#,
                json!({"a": 1}),
            ),
            (
                r#"<tool_call>{"name": "f", "arguments": {"a": 1, "b": "x, y", "#,
                json!({"a": 1, "b": "x, y"}),
            ),
        ] {
            let closed = close_cut_call(cut).expect("closed");
            assert_eq!(call_of(&closed)["arguments"], arguments, "{cut}");
        }
    }

    #[test]
    fn brackets_and_escapes_inside_strings_are_text() {
        let cut =
            r#"<tool_call>{"name": "f", "arguments": {"q": "a \"[b\" {c", "n": [1, [2, 3], [{"#;
        let closed = close_cut_call(cut).expect("closed");
        assert_eq!(
            call_of(&closed),
            json!({"name": "f", "arguments": {"q": "a \"[b\" {c", "n": [1, [2, 3]]}})
        );
    }

    #[test]
    fn text_before_the_cut_block_and_earlier_whole_calls_are_kept() {
        let text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 1, 1";
        let closed = close_cut_call(text).expect("closed");
        assert!(closed.starts_with(
            "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n"
        ));
        assert_eq!(
            call_of(&closed[closed.rfind(OPEN).expect("two blocks")..]),
            json!({"name": "b", "arguments": {"x": [1]}})
        );
    }

    #[test]
    fn whole_blocks_text_and_unreadable_cuts_are_left_alone() {
        assert_eq!(close_cut_call("plain text"), None);
        assert_eq!(
            close_cut_call("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>"),
            None
        );
        assert_eq!(
            close_cut_call("<tool_call>{\"name\": \"a\", \"arguments\": {}}"),
            None
        );
        assert_eq!(close_cut_call("<tool_call>\nname: a"), None);
        assert_eq!(close_cut_call("<tool_call>{\"name\": \"a\"]"), None);
        assert_eq!(close_cut_call("<tool_call>{\"name\": \"a"), None);
    }

    #[test]
    fn a_stopped_answer_keeps_a_closed_call_only_when_its_schema_accepts_it() {
        use crate::message::ToolDefinition;
        let tool = |name: &str, required: &[&str]| ToolDefinition {
            name: name.into(),
            description: None,
            parameters: json!({"type": "object", "required": required,
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                               "tags": {"type": "array", "items": {"type": "string"}}}}),
            strict: false,
        };
        let tools = ToolSet::new(vec![
            tool("forecast", &["city"]),
            tool("history", &["city", "days"]),
        ])
        .expect("valid tools");
        let is_tool = |name: &str| tools.contains(name);
        // Cut in the optional list after the required city: closed, and valid.
        let looped = "<tool_call>\n{\"name\": \"forecast\", \"arguments\": {\"city\": \"Oslo\", \"tags\": [\"rain\", \"wind\", \"rain\", \"wind\", \"ra";
        let (output, closed) = parse_answer(looped, true, &is_tool, &tools);
        assert!(closed);
        assert_eq!(output.calls.len(), 1);
        assert_eq!(
            output.calls[0].arguments,
            json!({"city": "Oslo", "tags": ["rain", "wind"]})
        );
        // The same text cut by the token limit is not closed.
        let (output, closed) = parse_answer(looped, false, &is_tool, &tools);
        assert!(!closed);
        assert!(output.calls.is_empty());
        // Cut before a required argument was written: closed, but no call the tool accepts.
        let early = "Let me look.<tool_call>\n{\"name\": \"history\", \"arguments\": {\"city\": \"Oslo\", \"tags\": [\"a\", \"a";
        let (output, closed) = parse_answer(early, true, &is_tool, &tools);
        assert!(closed);
        assert!(output.calls.is_empty());
        assert_eq!(output.content.as_deref(), Some("Let me look."));
        // A whole answer is read as it is.
        let whole = "<tool_call>\n{\"name\": \"history\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        let (output, closed) = parse_answer(whole, true, &is_tool, &tools);
        assert!(!closed);
        assert_eq!(
            output.calls.len(),
            1,
            "validation is the caller's for whole calls"
        );
    }
}
