//! A parameter's schema narrowed to leave out given values: the grammar of a call that must
//! not repeat what earlier calls gave one argument. JSON Schema's `not` is beyond llguidance,
//! so each type says it its own way: an enum loses the values, a number becomes the ranges
//! between them, a boolean the other value, a free string a pattern matching every string
//! that does not start with one of them, in any case (held away from "Solar", a small model
//! writes "solar, wind" or "Solar energy": the same value again, with more).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::grammar::regex_escape;

/// The most values a string argument is narrowed against: the pattern grows with them.
const MAX_EXCLUDED_STRINGS: usize = 16;

/// How far, relative to its size, a float is kept from an excluded one.
const NUMBER_MARGIN: f64 = 1e-9;

/// The longest excluded string.
const MAX_EXCLUDED_CHARS: usize = 200;

/// `schema` (one parameter's) admitting none of `excluded`, and a number within ±`largest`
/// (held away from `3` alone, a small model goes on writing `3000…` for as long as the
/// grammar lets it); `None` where it cannot say so (a string already held to a pattern or
/// format, an object, an enum with nothing left).
pub(crate) fn excluding_within(
    schema: &Value,
    excluded: &[Value],
    largest: Option<f64>,
) -> Option<Value> {
    if excluded.is_empty() {
        return Some(schema.clone());
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        let left: Vec<Value> = choices
            .iter()
            .filter(|choice| !excluded.contains(choice))
            .cloned()
            .collect();
        if left.is_empty() {
            return None;
        }
        let mut narrowed = schema.clone();
        narrowed["enum"] = Value::Array(left);
        return Some(narrowed);
    }
    match schema.get("type").and_then(Value::as_str)? {
        "string" => excluding_strings(schema, excluded),
        kind @ ("integer" | "number") => excluding_numbers(kind, excluded, largest),
        "boolean" => match excluded {
            [Value::Bool(value)] => Some(json!({"type": "boolean", "const": !value})),
            _ => None,
        },
        _ => None,
    }
}

fn excluding_strings(schema: &Value, excluded: &[Value]) -> Option<Value> {
    if schema.get("pattern").is_some() || schema.get("format").is_some() {
        return None;
    }
    let strings: Vec<&str> = excluded.iter().map(Value::as_str).collect::<Option<_>>()?;
    if strings.len() > MAX_EXCLUDED_STRINGS
        || strings
            .iter()
            .any(|s| s.chars().count() > MAX_EXCLUDED_CHARS)
    {
        return None;
    }
    let mut trie = Trie::default();
    for string in strings {
        trie.insert(&string.to_lowercase());
    }
    if trie.ends_here {
        // Every string starts with the empty one.
        return None;
    }
    let mut narrowed = schema.clone();
    narrowed["pattern"] = json!(format!("^{}$", trie.none_of()));
    Some(narrowed)
}

/// A number narrowed away from every number whose writing starts as an excluded one's does:
/// held away from `5`, a small model writes `50` or `5.5` (its first token is still `5`, and
/// the grammar lets it go on), from `10.0` it writes `10.00000001`.
fn excluding_numbers(kind: &str, excluded: &[Value], largest: Option<f64>) -> Option<Value> {
    let numbers: Vec<f64> = excluded.iter().map(Value::as_f64).collect::<Option<_>>()?;
    let mut spans: Vec<Span> = numbers.iter().flat_map(|n| written_alike(*n)).collect();
    spans.sort_by(|a, b| a.low.total_cmp(&b.low));
    let mut merged: Vec<Span> = Vec::new();
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.low <= last.high => {
                if span.high > last.high || (span.high == last.high && span.high_closed) {
                    last.high = span.high;
                    last.high_closed = span.high_closed;
                }
            }
            _ => merged.push(span),
        }
    }
    // What is left between the excluded spans, from -∞ to ∞, within ±`largest`.
    let mut allowed: Vec<Span> = Vec::with_capacity(merged.len() + 1);
    let mut from = (f64::NEG_INFINITY, false);
    for span in &merged {
        allowed.push(Span {
            low: from.0,
            low_closed: from.1,
            high: span.low,
            high_closed: !span.low_closed,
        });
        from = (span.high, !span.high_closed);
    }
    allowed.push(Span {
        low: from.0,
        low_closed: from.1,
        high: f64::INFINITY,
        high_closed: false,
    });
    let ranges: Vec<Value> = allowed
        .into_iter()
        .map(|span| match largest {
            Some(largest) => span.within(largest.abs()),
            None => span,
        })
        .filter(|span| !span.is_empty())
        .map(|span| span.schema(kind))
        .collect();
    (!ranges.is_empty()).then(|| json!({ "anyOf": ranges }))
}

/// Numbers from `low` to `high`, each end in or out.
#[derive(Debug, Clone, Copy)]
struct Span {
    low: f64,
    low_closed: bool,
    high: f64,
    high_closed: bool,
}

impl Span {
    fn is_empty(&self) -> bool {
        self.low > self.high || (self.low == self.high && !(self.low_closed && self.high_closed))
    }

    /// The part of the span from `-largest` to `largest` (empty where it lies beyond).
    fn within(self, largest: f64) -> Span {
        let (low, low_closed) = if self.low < -largest {
            (-largest, true)
        } else {
            (self.low, self.low_closed)
        };
        let (high, high_closed) = if self.high > largest {
            (largest, true)
        } else {
            (self.high, self.high_closed)
        };
        Span {
            low,
            low_closed,
            high,
            high_closed,
        }
    }

    /// The JSON Schema of the numbers of `kind` in the span (an infinite end is no bound).
    fn schema(&self, kind: &str) -> Value {
        let mut schema = json!({ "type": kind });
        let mut bound = |at: f64, closed: bool, [inclusive, exclusive]: [&str; 2]| {
            if at.is_finite() {
                schema[if closed { inclusive } else { exclusive }] = json!(at);
            }
        };
        bound(self.low, self.low_closed, ["minimum", "exclusiveMinimum"]);
        bound(self.high, self.high_closed, ["maximum", "exclusiveMaximum"]);
        schema
    }
}

/// Beyond this no number is excluded as written alike (JSON readers lose whole numbers'
/// precision past 2^53).
const LARGEST_EXCLUDED: f64 = 1e15;

/// How many tens a whole number is also excluded at (`5`: 50–59, 500–599, …, 50000–59999).
/// More spans grow the grammar past what llguidance builds in time (at 12, the call ended
/// at its opening tag after seconds); a number further alike (`500000`) is left to the
/// check that the held argument took a value the user wrote.
const MAX_EXCLUDED_TENS: i32 = 4;

/// The numbers whose writing starts as `n`'s does: a whole `n` (`5`) is any number written
/// `5…` (5 to 6, 50 to 60, … up to [`MAX_EXCLUDED_TENS`]); a fraction (`2.5`) is `2.5…` (2.5
/// to 2.6); zero, and numbers too small or large to write plainly, the value alone (within
/// [`NUMBER_MARGIN`]).
fn written_alike(n: f64) -> Vec<Span> {
    let magnitude = n.abs();
    let decimals = format!("{magnitude}")
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    let plain =
        n.is_finite() && magnitude != 0.0 && (1e-6..1e12).contains(&magnitude) && decimals <= 6;
    if !plain {
        let margin = (magnitude * NUMBER_MARGIN).max(f64::MIN_POSITIVE);
        return vec![Span {
            low: n - margin,
            low_closed: true,
            high: n + margin,
            high_closed: true,
        }];
    }
    let spans: Vec<(f64, f64)> = if decimals == 0 {
        (0..=MAX_EXCLUDED_TENS)
            .map(|tens| {
                let scale = 10f64.powi(tens);
                (magnitude * scale, (magnitude + 1.0) * scale)
            })
            .take_while(|(_, high)| *high <= LARGEST_EXCLUDED)
            .collect()
    } else {
        let step = 10f64.powi(-(decimals as i32));
        vec![(magnitude, magnitude + step)]
    };
    spans
        .into_iter()
        .map(|(low, high)| {
            if n > 0.0 {
                Span {
                    low,
                    low_closed: true,
                    high,
                    high_closed: false,
                }
            } else {
                Span {
                    low: -high,
                    low_closed: false,
                    high: -low,
                    high_closed: true,
                }
            }
        })
        .collect()
}

/// The excluded strings by their lowercased characters.
#[derive(Default)]
struct Trie {
    ends_here: bool,
    next: BTreeMap<char, Trie>,
}

impl Trie {
    fn insert(&mut self, text: &str) {
        let mut node = self;
        for c in text.chars() {
            node = node.next.entry(c).or_default();
        }
        node.ends_here = true;
    }

    /// A regex of every string that, read from this node on (where no excluded string
    /// ends), reaches no end of one: it stops inside the trie, or leaves it by a character
    /// no excluded string has there, in either case.
    fn none_of(&self) -> String {
        let mut ways = vec![String::new()];
        let taken: String = self.next.keys().map(|c| either_case(*c)).collect();
        ways.push(format!(r"[^{taken}][\s\S]*"));
        for (c, node) in self.next.iter().filter(|(_, node)| !node.ends_here) {
            ways.push(format!("[{}](?:{})", either_case(*c), node.none_of()));
        }
        format!("(?:{})", ways.join("|"))
    }
}

/// `c` and its other case, escaped for a regex's character class.
fn either_case(c: char) -> String {
    let mut forms: Vec<char> = c.to_lowercase().chain(c.to_uppercase()).collect();
    forms.dedup();
    forms
        .into_iter()
        .map(|form| regex_escape(&form.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::relax::compile_error;

    fn excluding(schema: &Value, excluded: &[Value]) -> Option<Value> {
        excluding_within(schema, excluded, None)
    }

    fn matches(schema: &Value, text: &str) -> bool {
        assert!(schema["pattern"].is_string(), "a pattern");
        jsonschema::is_valid(schema, &json!(text))
    }

    #[test]
    fn a_free_string_admits_every_string_but_the_excluded() {
        let schema = json!({"type": "string", "description": "The city."});
        let narrowed = excluding(&schema, &[json!("San Francisco"), json!("San Jose")])
            .expect("a string can be narrowed");
        for other in [
            "Tokyo",
            "San",
            "San Jos",
            "",
            "s",
            "Santa Clara",
            "Oakland, CA",
        ] {
            assert!(matches(&narrowed, other), "{other:?} is another string");
        }
        for excluded in [
            "San Francisco",
            "San Jose",
            "san jose",
            "SAN FRANCISCO",
            "San Franciscos",
            "San Francisco.",
            "San Jose, San Francisco",
        ] {
            assert!(
                !matches(&narrowed, excluded),
                "{excluded:?} starts with one excluded"
            );
        }
        let marks = excluding(&schema, &[json!("a.b (c)*")]).expect("marks are escaped");
        assert!(!matches(&marks, "a.b (c)*") && matches(&marks, "axb (c)*"));
        assert_eq!(
            excluding(&schema, &[json!("")]),
            None,
            "every string starts with \"\""
        );
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"city": narrowed}})),
            None
        );
    }

    #[test]
    fn numbers_enums_and_booleans_are_narrowed_in_their_own_terms() {
        let integers =
            excluding(&json!({"type": "integer"}), &[json!(5), json!(3)]).expect("ranges");
        let admits = |schema: &Value, n: Value| jsonschema::is_valid(schema, &n);
        for other in [0, 1, 2, 4, 6, 29, 40, 49, 60, 299, 400, 60000, -3, -5] {
            assert!(
                admits(&integers, json!(other)),
                "{other} is written otherwise"
            );
        }
        for alike in [3, 5, 30, 39, 50, 55, 500, 599, 3999, 50000, 59999] {
            assert!(
                !admits(&integers, json!(alike)),
                "{alike} starts as 3 or 5 do"
            );
        }
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"base": integers}})),
            None
        );
        let floats =
            excluding(&json!({"type": "number"}), &[json!(10.0), json!(2.5)]).expect("ranges");
        for alike in [
            10.000000000000002,
            10.0,
            10.00000001,
            10.5,
            104.0,
            2.5,
            2.55,
            2.5999,
        ] {
            assert!(
                !admits(&floats, json!(alike)),
                "{alike} starts as 10 or 2.5 do"
            );
        }
        for other in [9.99, 11.0, 2.0, 2.6, 25.0, 3.0, 0.5, -10.0] {
            assert!(
                admits(&floats, json!(other)),
                "{other} is written otherwise"
            );
        }
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"x": floats}})),
            None
        );
        let within = excluding_within(&json!({"type": "integer"}), &[json!(3)], Some(200.0))
            .expect("ranges");
        for other in [2, 4, 29, 40, 200, -200] {
            assert!(
                admits(&within, json!(other)),
                "{other} is written otherwise, within 200"
            );
        }
        for beyond in [3, 30, 201, 3000, 400000, -201] {
            assert!(
                !admits(&within, json!(beyond)),
                "{beyond} is alike or beyond 200"
            );
        }
        assert_eq!(
            compile_error(&json!({"type": "object", "properties": {"base": within}})),
            None
        );
        let negative =
            excluding(&json!({"type": "integer"}), &[json!(-4), json!(0)]).expect("ranges");
        for alike in [-4, -40, -45, 0] {
            assert!(
                !admits(&negative, json!(alike)),
                "{alike} starts as -4 or 0 do"
            );
        }
        for other in [4, -5, -3, 1, -1, -50] {
            assert!(
                admits(&negative, json!(other)),
                "{other} is written otherwise"
            );
        }
        assert_eq!(
            excluding(
                &json!({"type": "string", "enum": ["a", "b", "c"]}),
                &[json!("b")]
            ),
            Some(json!({"type": "string", "enum": ["a", "c"]}))
        );
        assert_eq!(excluding(&json!({"enum": ["a"]}), &[json!("a")]), None);
        assert_eq!(
            excluding(&json!({"type": "boolean"}), &[json!(true)]),
            Some(json!({"type": "boolean", "const": false}))
        );
        assert_eq!(
            excluding(&json!({"type": "string", "format": "date"}), &[json!("x")]),
            None
        );
        assert_eq!(excluding(&json!({"type": "object"}), &[json!({})]), None);
    }
}
