//! BFCL's AST checker, rule for rule (`eval/bfcl/CHECKER.md`), on JSON values read
//! with Python's semantics: `type(x) == T` is strict (a bool is not an int), `==` is numeric
//! across ints, floats and bools, and the only coercion is int → float for top-level `float`
//! parameters.

use serde_json::{Map, Value};

use crate::convert::tool_name;
use crate::data::{Category, Entry};

/// What the model answered, as an OpenAI-compatible server returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelOutput {
    /// `tool_calls`: (name, arguments as JSON text).
    Calls(Vec<(String, String)>),
    /// No `tool_calls`: the text content.
    Text(String),
}

/// The checker's decision on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub correct: bool,
    /// BFCL's error type when wrong (e.g. `simple_function_checker:missing_required`).
    pub error: Option<String>,
}

impl Verdict {
    fn pass() -> Self {
        Verdict {
            correct: true,
            error: None,
        }
    }

    fn fail(error: impl Into<String>) -> Self {
        Verdict {
            correct: false,
            error: Some(error.into()),
        }
    }
}

type Call = (String, Map<String, Value>);

/// `decode_ast` for FC mode: every call's arguments must parse to an object. `None` when
/// decoding fails (text reply, invalid JSON), which BFCL counts as "no call".
fn decode(output: &ModelOutput) -> Option<Vec<Call>> {
    match output {
        ModelOutput::Text(_) => None,
        ModelOutput::Calls(calls) => calls
            .iter()
            .map(
                |(name, arguments)| match serde_json::from_str::<Value>(arguments) {
                    Ok(Value::Object(map)) => Some((name.clone(), map)),
                    _ => None,
                },
            )
            .collect(),
    }
}

/// Scores one entry.
pub fn check_entry(entry: &Entry, output: &ModelOutput) -> Verdict {
    let decoded = decode(output);
    if entry.category == Category::Irrelevance {
        // Correct iff no call: a text reply or an undecodable one both count as none.
        return match decoded {
            Some(calls) if !calls.is_empty() => Verdict::fail("irrelevance:contains_call"),
            _ => Verdict::pass(),
        };
    }
    let Some(calls) = decoded else {
        return Verdict::fail("ast_decoder:decoder_failed");
    };
    let Some(truth) = entry.ground_truth.as_deref() else {
        return Verdict::fail("no ground truth");
    };
    if calls.len() != truth.len() {
        return Verdict::fail(format!("{}:wrong_count", checker_name(entry.category)));
    }
    match entry.category {
        Category::SimplePython | Category::Multiple => {
            let (expected, answer) = expected_call(&truth[0]);
            match find_doc(&entry.functions, &expected) {
                Some(doc) => simple_check(doc, &calls[0], &expected, answer),
                None => Verdict::fail("function doc not found"),
            }
        }
        Category::Parallel | Category::ParallelMultiple => {
            parallel_no_order(&entry.functions, &calls, truth)
        }
        Category::Irrelevance => Verdict::pass(),
    }
}

fn checker_name(category: Category) -> &'static str {
    match category {
        Category::Parallel | Category::ParallelMultiple => "parallel_function_checker_no_order",
        Category::Multiple => "multiple_function_checker",
        _ => "simple_function_checker",
    }
}

fn expected_call(truth: &Value) -> (String, &Map<String, Value>) {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match truth.as_object().and_then(|o| o.iter().next()) {
        Some((name, Value::Object(params))) => (name.clone(), params),
        _ => (String::new(), EMPTY.get_or_init(Map::new)),
    }
}

fn find_doc<'a>(functions: &'a [Value], name: &str) -> Option<&'a Value> {
    functions
        .iter()
        .find(|doc| doc["name"].as_str() == Some(name))
}

/// Greedy, order-free matching: each expected call takes the first unmatched passing call.
fn parallel_no_order(functions: &[Value], calls: &[Call], truth: &[Value]) -> Verdict {
    let mut matched = vec![false; calls.len()];
    for expected in truth {
        let (name, answer) = expected_call(expected);
        let Some(doc) = find_doc(functions, &name) else {
            return Verdict::fail("function doc not found");
        };
        let mut last = Verdict::fail("parallel_function_checker_no_order:cannot_find_match");
        let mut found = false;
        for (index, call) in calls.iter().enumerate() {
            if matched[index] {
                continue;
            }
            last = simple_check(doc, call, &name, answer);
            if last.correct {
                matched[index] = true;
                found = true;
                break;
            }
        }
        if !found {
            return Verdict::fail(format!(
                "parallel_function_checker_no_order:cannot_find_match ({})",
                last.error.unwrap_or_default()
            ));
        }
    }
    Verdict::pass()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PyType {
    Str,
    Int,
    Float,
    Bool,
    None,
    List,
    Dict,
}

fn py_type(value: &Value) -> PyType {
    match value {
        Value::String(_) => PyType::Str,
        Value::Number(n) if n.is_f64() => PyType::Float,
        Value::Number(_) => PyType::Int,
        Value::Bool(_) => PyType::Bool,
        Value::Null => PyType::None,
        Value::Array(_) => PyType::List,
        Value::Object(_) => PyType::Dict,
    }
}

/// `PYTHON_TYPE_MAPPING`.
fn mapped_type(bfcl: &str) -> PyType {
    match bfcl {
        "integer" => PyType::Int,
        "float" => PyType::Float,
        "boolean" => PyType::Bool,
        "array" | "tuple" => PyType::List,
        "dict" => PyType::Dict,
        // `string`, `any`.
        _ => PyType::Str,
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Python's `==` on decoded JSON.
fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x == y;
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

fn py_in(value: &Value, list: &[Value]) -> bool {
    list.iter().any(|item| py_eq(value, item))
}

fn is_omit_marker(value: &Value) -> bool {
    value.as_str() == Some("")
}

/// `standardize_string`: drop ` ,./-_*^`, lower-case, `'` → `"`.
fn standardize(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .collect::<String>()
        .to_lowercase()
        .replace('\'', "\"")
}

fn standardized(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(standardize(text)),
        other => other.clone(),
    }
}

/// Python iterates a string by characters: the omit marker `""` becomes an empty list.
fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::String(text) => text.chars().map(|c| Value::String(c.to_string())).collect(),
        _ => Vec::new(),
    }
}

fn simple_check(
    doc: &Value,
    call: &Call,
    expected_name: &str,
    answer: &Map<String, Value>,
) -> Verdict {
    // FC mode through the OpenAI path: dots in names became underscores.
    let name = tool_name(doc["name"].as_str().unwrap_or(expected_name));
    if call.0 != name {
        return Verdict::fail("simple_function_checker:wrong_func_name");
    }
    let params = &call.1;
    let properties = doc["parameters"]["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(required) = doc["parameters"]["required"].as_array() {
        for required in required.iter().filter_map(Value::as_str) {
            if !params.contains_key(required) {
                return Verdict::fail("simple_function_checker:missing_required");
            }
        }
    }
    for (param, value) in params {
        let (Some(schema), Some(acceptable)) = (properties.get(param), answer.get(param)) else {
            return Verdict::fail("simple_function_checker:unexpected_param");
        };
        let acceptable = acceptable.as_array().cloned().unwrap_or_default();
        let type_desc = schema["type"].as_str().unwrap_or("string");
        let expected = mapped_type(type_desc);
        let nested = if matches!(type_desc, "array" | "tuple") {
            schema["items"]["type"].as_str().map(mapped_type)
        } else {
            None
        };
        let mut value = value.clone();
        if type_desc == "float" && py_type(&value) == PyType::Int {
            if let Some(number) = value.as_f64().and_then(serde_json::Number::from_f64) {
                value = Value::Number(number);
            }
        }
        let Some(is_variable) = type_check(&value, &acceptable, expected, nested) else {
            return Verdict::fail("type_error:simple");
        };
        if !is_variable {
            let verdict = match (expected, nested) {
                (PyType::Dict, _) => dict_check(&value, &acceptable),
                (PyType::List, Some(PyType::Dict)) => list_dict_check(&value, &acceptable),
                (PyType::Str, _) => string_check(&value, &acceptable),
                (PyType::List, _) => list_check(&value, &acceptable),
                _ => None,
            };
            if let Some(verdict) = verdict {
                if !verdict.correct {
                    return verdict;
                }
                continue;
            }
        }
        if !py_in(&value, &acceptable) {
            return Verdict::fail("value_error:others");
        }
    }
    for (param, acceptable) in answer {
        if !params.contains_key(param)
            && !acceptable
                .as_array()
                .is_some_and(|a| a.iter().any(is_omit_marker))
        {
            return Verdict::fail("simple_function_checker:missing_optional");
        }
    }
    Verdict::pass()
}

/// `type_checker`: `Some(is_variable)` when the type is acceptable, `None` when not.
fn type_check(
    value: &Value,
    acceptable: &[Value],
    expected: PyType,
    nested: Option<PyType>,
) -> Option<bool> {
    let answer_type = acceptable.iter().find(|a| !is_omit_marker(a)).map(py_type);
    let is_variable = answer_type.is_some_and(|t| t != expected);
    if py_type(value) == expected {
        let Some(nested) = nested else {
            return Some(is_variable);
        };
        for item in acceptable {
            let ok = match item {
                Value::Array(item_acceptable) => as_list(value)
                    .iter()
                    .all(|element| type_check(element, item_acceptable, nested, None).is_some()),
                _ => true,
            };
            if ok {
                return Some(is_variable);
            }
        }
        return None;
    }
    match answer_type {
        Some(t) if py_type(value) == t => Some(true),
        _ => None,
    }
}

fn string_check(value: &Value, acceptable: &[Value]) -> Option<Verdict> {
    let text = value.as_str()?;
    let model = standardize(text);
    let ok = acceptable
        .iter()
        .filter_map(Value::as_str)
        .any(|a| standardize(a) == model);
    Some(if ok {
        Verdict::pass()
    } else {
        Verdict::fail("value_error:string")
    })
}

fn list_check(value: &Value, acceptable: &[Value]) -> Option<Verdict> {
    let model: Vec<Value> = as_list(value).iter().map(standardized).collect();
    let model = Value::Array(model);
    let ok = acceptable.iter().any(|option| {
        py_eq(
            &model,
            &Value::Array(as_list(option).iter().map(standardized).collect()),
        )
    });
    Some(if ok {
        Verdict::pass()
    } else {
        Verdict::fail("value_error:list/tuple")
    })
}

fn dict_check(value: &Value, acceptable: &[Value]) -> Option<Verdict> {
    let model = value.as_object()?;
    for option in acceptable {
        if is_omit_marker(option) {
            continue;
        }
        let Some(option) = option.as_object() else {
            continue;
        };
        let keys_ok = model.iter().all(|(key, v)| {
            option.get(key).is_some_and(|allowed| {
                let allowed: Vec<Value> = allowed
                    .as_array()
                    .map(|a| a.iter().map(standardized).collect())
                    .unwrap_or_default();
                py_in(&standardized(v), &allowed)
            })
        });
        let omitted_ok = option.iter().all(|(key, allowed)| {
            model.contains_key(key)
                || allowed
                    .as_array()
                    .is_some_and(|a| a.iter().any(is_omit_marker))
        });
        if keys_ok && omitted_ok {
            return Some(Verdict::pass());
        }
    }
    Some(Verdict::fail("dict_checker:unclear"))
}

fn list_dict_check(value: &Value, acceptable: &[Value]) -> Option<Verdict> {
    let model = as_list(value);
    for option in acceptable {
        let option = as_list(option);
        if option.len() != model.len() {
            continue;
        }
        let all = model.iter().zip(&option).all(|(item, allowed)| {
            dict_check(item, std::slice::from_ref(allowed)).is_some_and(|v| v.correct)
        });
        if all {
            return Some(Verdict::pass());
        }
    }
    Some(Verdict::fail("list_dict_checker:unclear"))
}
