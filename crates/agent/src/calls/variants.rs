//! One request made again with other options: "fetch the sequence, then fetch the same
//! sequence again but this time in 'genbank' format, and finally once more but now with 500
//! base pairs upstream"; "the shortest distance by bus, and then the shortest distance if we
//! allow transfers".
//!
//! A small model answers such a message with one call holding every option (`format:
//! "genbank", upstream: 500`). Where the message writes a lone call's optional values in
//! different requests (split at "then", "also", "finally"…) and each later one says it is a
//! variant ("again", "the same", "once more", "this time", "what if", "instead"), the call is
//! one per request: the required values with that request's options, after a call with the
//! required values alone where the message writes those before any option.

use serde_json::{Map, Value};

use super::grounding::{find_words, name_words, required_names};

/// Words where another request of a message starts (not "and", which joins the members of
/// a list as often as requests; compare `names`' cues).
const REQUEST_OPENERS: &[&str] = &[
    "then",
    "finally",
    "lastly",
    "also",
    "next",
    "again",
    "after that",
    "once more",
];

/// Words that say a request is a variant of one before it.
const VARIANT_WORDS: &[&str] = &[
    "again",
    "same",
    "once more",
    "repeat",
    "this time",
    "what if",
    "if we",
    "instead",
];

/// Name words shorter than this do not find a flag in the message ("is", "use").
const MIN_FLAG_WORD_CHARS: usize = 4;

/// The calls to make in place of a lone call with `arguments` (of a tool with parameter
/// schema `schema`) answering `message`, one per request that writes some of its optional
/// values (see the module's comment); `None` where the call stays as it is.
pub fn calls_per_variant(message: &str, arguments: &Value, schema: &Value) -> Option<Vec<Value>> {
    let arguments = arguments.as_object()?;
    let required = required_names(schema);
    let optional: Vec<(&String, &Value)> = arguments
        .iter()
        .filter(|(name, _)| !required.contains(&name.as_str()))
        .collect();
    if optional.len() < 2 {
        return None;
    }
    let text: Vec<char> = message.to_lowercase().chars().collect();
    let starts = request_starts(&text);
    let request_of = |at: usize| starts.iter().rposition(|&start| start <= at).unwrap_or(0);
    let mut requests: Vec<(usize, Vec<(&String, &Value)>)> = Vec::new();
    for (name, value) in &optional {
        let request = request_of(written_at(&text, name, value)?);
        match requests.iter_mut().find(|(index, _)| *index == request) {
            Some((_, options)) => options.push((name, value)),
            None => requests.push((request, vec![(name, value)])),
        }
    }
    if requests.len() < 2 {
        return None;
    }
    requests.sort_by_key(|(index, _)| *index);
    let text_of = |index: usize| -> String {
        let end = starts.get(index + 1).copied().unwrap_or(text.len());
        text[starts[index]..end].iter().collect()
    };
    let is_variant = |index: usize| {
        let request = text_of(index);
        VARIANT_WORDS
            .iter()
            .any(|word| find_words(&chars(&request), &chars(word)).is_some())
    };
    if !requests.iter().skip(1).all(|(index, _)| is_variant(*index)) {
        return None;
    }
    let base: Map<String, Value> = arguments
        .iter()
        .filter(|(name, _)| required.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // "Fetch XYZ123, then fetch it again in 'genbank' format": the first request is the call
    // with the required values alone.
    let first_option = requests[0].0;
    let base_first = is_variant(first_option)
        && !base.is_empty()
        && base.iter().all(|(name, value)| {
            written_at(&text, name, value).is_some_and(|at| request_of(at) < first_option)
        });
    let mut calls = Vec::new();
    if base_first {
        calls.push(Value::Object(base.clone()));
    }
    for (_, options) in requests {
        let mut call = base.clone();
        for (name, value) in options {
            call.insert(name.clone(), value.clone());
        }
        calls.push(Value::Object(call));
    }
    Some(calls)
}

/// Where each request of `text` starts: at 0, and at each word that opens another one.
fn request_starts(text: &[char]) -> Vec<usize> {
    let mut starts = vec![0];
    for word in REQUEST_OPENERS {
        let word = chars(word);
        let mut from = 0;
        while let Some(at) = find_words(&text[from..], &word) {
            starts.push(from + at);
            from += at + word.len();
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Where `text` (lowercased) first writes the value of the argument `name`: a string as it
/// is, a number in digits, a flag by a word of its name (`allow_transfer` at "allow" or
/// "allowed"); `None` for other values or where the text does not write it.
fn written_at(text: &[char], name: &str, value: &Value) -> Option<usize> {
    match value {
        Value::String(value) => find_words(text, &chars(&value.to_lowercase())),
        Value::Number(number) => {
            let written = match number.as_f64() {
                Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", n as i64),
                _ => number.to_string(),
            };
            find_words(text, &chars(&written))
        }
        Value::Bool(_) => name_words(name)
            .iter()
            .filter(|word| word.chars().count() >= MIN_FLAG_WORD_CHARS)
            .flat_map(|word| ["", "s", "ed", "ing"].map(|ending| format!("{word}{ending}")))
            .filter_map(|form| find_words(text, &chars(&form)))
            .min(),
        _ => None,
    }
}

fn chars(text: &str) -> Vec<char> {
    text.chars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fetch() -> Value {
        json!({
            "type": "object",
            "properties": {
                "DNA_id": {"type": "string"},
                "format": {"type": "string"},
                "upstream": {"type": "integer"}
            },
            "required": ["DNA_id"]
        })
    }

    #[test]
    fn each_variant_request_gets_its_own_options() {
        let message = "Can you fetch the DNA sequence with the ID 'XYZ123' from the public database, then fetch the same sequence again but this time in 'genbank' format, and finally fetch the sequence once more but now with 500 base pairs included upstream?";
        let call = json!({"DNA_id": "XYZ123", "format": "genbank", "upstream": 500});
        assert_eq!(
            calls_per_variant(message, &call, &fetch()),
            Some(vec![
                json!({"DNA_id": "XYZ123"}),
                json!({"DNA_id": "XYZ123", "format": "genbank"}),
                json!({"DNA_id": "XYZ123", "upstream": 500}),
            ])
        );
    }

    #[test]
    fn a_flag_in_a_what_if_request_is_its_own_call() {
        let schema = json!({
            "type": "object",
            "properties": {
                "start_city": {"type": "string"},
                "end_city": {"type": "string"},
                "transportation": {"type": "string"},
                "allow_transfer": {"type": "boolean"}
            },
            "required": ["start_city", "end_city"]
        });
        let message = "What is the shortest distance between New York and Los Angeles using a bus as the preferred mode of public transportation, and then what is the shortest distance if we allow transfer between different modes of transportation?";
        let call = json!({"start_city": "New York", "end_city": "Los Angeles", "transportation": "bus", "allow_transfer": true});
        assert_eq!(
            calls_per_variant(message, &call, &schema),
            Some(vec![
                json!({"start_city": "New York", "end_city": "Los Angeles", "transportation": "bus"}),
                json!({"start_city": "New York", "end_city": "Los Angeles", "allow_transfer": true}),
            ])
        );
    }

    #[test]
    fn options_of_one_request_or_of_requests_that_are_no_variants_stay_together() {
        let call = json!({"DNA_id": "XYZ123", "format": "genbank", "upstream": 5});
        // Both options in one request.
        assert_eq!(
            calls_per_variant(
                "Fetch the sequence of 'XYZ123' in 'genbank' format with 5 base pairs upstream.",
                &call,
                &fetch()
            ),
            None
        );
        // The second option's request adds to the first: no variant word in it ("this
        // time" belongs to a later request).
        assert_eq!(
            calls_per_variant(
                "After that, retrieve the sequence of 'XYZ123' in 'genbank' format? Also, include 5 base pairs upstream. Lastly, the power of 2 to 5, but this time with a modulus of 3.",
                &call,
                &fetch()
            ),
            None
        );
        // One option only.
        assert_eq!(
            calls_per_variant(
                "Fetch 'XYZ123', then fetch it again in 'genbank' format.",
                &json!({"DNA_id": "XYZ123", "format": "genbank"}),
                &fetch()
            ),
            None
        );
    }
}
