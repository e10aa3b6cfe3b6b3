//! Tools built into Fulcrum: a calculator (no variables, no I/O) and the current time.

use serde_json::{json, Value};

use crate::error::ToolsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Calculator,
    CurrentTime,
}

impl Builtin {
    pub fn parse(name: &str) -> Option<Builtin> {
        match name {
            "calculator" => Some(Builtin::Calculator),
            "current_time" => Some(Builtin::CurrentTime),
            _ => None,
        }
    }
}

/// Longest expression the calculator takes; bounds its work.
const MAX_EXPRESSION_LEN: usize = 1_000;

pub(crate) fn run(function: &str, arguments: &Value) -> Result<Value, ToolsError> {
    let failed = |reason: String| ToolsError::Execution {
        tool: function.to_string(),
        reason,
    };
    match Builtin::parse(function) {
        Some(Builtin::Calculator) => {
            let expression = arguments
                .get("expression")
                .and_then(Value::as_str)
                .ok_or_else(|| failed("needs a string argument `expression`".into()))?;
            calculate(expression)
                .map(|result| json!({"expression": expression, "result": result}))
                .map_err(failed)
        }
        Some(Builtin::CurrentTime) => {
            let now = chrono::Utc::now();
            Ok(json!({
                "utc": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "unix": now.timestamp(),
                "weekday": now.format("%A").to_string(),
            }))
        }
        None => Err(failed(format!("unknown builtin `{function}`"))),
    }
}

/// Writes integer literals as floats, so `7/2` is 3.5 as a person means it, not integer
/// division. Digits inside names (`math::log2`) are left alone.
fn floats_only(expression: &str) -> String {
    let mut out = String::with_capacity(expression.len() + 8);
    let mut chars = expression.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        let in_name = previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == ':');
        if c.is_ascii_digit() && !in_name && previous != Some('.') {
            let mut literal = String::from(c);
            while let Some(&next) = chars.peek() {
                if next.is_ascii_digit() || next == '.' {
                    literal.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            let is_integer = !literal.contains('.');
            out.push_str(&literal);
            if is_integer {
                out.push_str(".0");
            }
            previous = literal.chars().last();
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// Evaluates arithmetic: numbers, `+ - * / % ^`, parentheses and `math::` functions.
pub fn calculate(expression: &str) -> Result<f64, String> {
    if expression.len() > MAX_EXPRESSION_LEN {
        return Err(format!(
            "the expression is longer than {MAX_EXPRESSION_LEN} characters"
        ));
    }
    // Only arithmetic: no assignments, strings or sequences.
    if expression.contains(['=', ';', '"']) {
        return Err("only arithmetic is allowed (no `=`, `;` or strings)".into());
    }
    let value = evalexpr::eval(&floats_only(expression))
        .map_err(|err| format!("cannot evaluate: {err}"))?;
    let number = match value {
        evalexpr::Value::Float(f) => f,
        evalexpr::Value::Int(i) => i as f64,
        other => return Err(format!("the result is not a number: {other}")),
    };
    if number.is_finite() {
        // 15 significant digits: binary noise (1104.1499999999999) is not shown as a result.
        Ok(format!("{number:.14e}").parse().unwrap_or(number))
    } else {
        Err("the result is not a finite number".into())
    }
}
