//! Repeated calls: small models sometimes emit the same call again and again until the token
//! limit. A call identical to an earlier one of the same answer (name and arguments) asks for
//! nothing new, so it is dropped.

use std::collections::HashSet;

use super::ParsedCall;

/// Remembers the calls of one answer; `first_time` is false for a repeat.
#[derive(Debug, Default)]
pub struct CallDeduper {
    seen: HashSet<(String, String)>,
}

impl CallDeduper {
    pub fn first_time(&mut self, call: &ParsedCall) -> bool {
        // serde_json's maps keep insertion order; sorting keys makes `{"a":1,"b":2}` and
        // `{"b":2,"a":1}` the same call.
        let arguments = canonical(&call.arguments);
        self.seen.insert((call.name.clone(), arguments))
    }
}

/// Drops repeated calls, keeping the first of each.
pub fn dedupe_calls(calls: Vec<ParsedCall>) -> Vec<ParsedCall> {
    let mut deduper = CallDeduper::default();
    calls
        .into_iter()
        .filter(|call| deduper.first_time(call))
        .collect()
}

fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(key.as_str()),
                        canonical(value)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(name: &str, arguments: serde_json::Value) -> ParsedCall {
        ParsedCall {
            name: name.into(),
            arguments,
        }
    }

    #[test]
    fn repeats_go_and_distinct_calls_stay() {
        let calls = vec![
            call("get_weather", json!({"city": "Paris", "unit": "c"})),
            call("get_weather", json!({"unit": "c", "city": "Paris"})),
            call("get_weather", json!({"city": "London", "unit": "c"})),
            call("get_time", json!({"city": "Paris", "unit": "c"})),
            call("get_weather", json!({"city": "Paris", "unit": "c"})),
        ];
        let kept = dedupe_calls(calls);
        let names: Vec<_> = kept
            .iter()
            .map(|c| (c.name.as_str(), c.arguments["city"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            names,
            vec![
                ("get_weather", "Paris"),
                ("get_weather", "London"),
                ("get_time", "Paris")
            ]
        );
    }
}
