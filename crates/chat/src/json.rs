//! JSON text the way Python's `json.dumps` writes it, which chat templates were written for.
//!
//! Hugging Face renders templates with a `tojson` filter that calls
//! `json.dumps(x, ensure_ascii=False)`: `", "` between items, `": "` after keys, no HTML escaping.
//! The model was trained on prompts built that way, so Fulcrum reproduces it byte for byte
//! rather than using minijinja's compact, HTML-safe `tojson`.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// Serialises `value` as Python's `json.dumps(value, ensure_ascii=False)` would.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut serializer)?;
    // serde_json only ever writes valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_separators_and_keeps_unicode() {
        let value = serde_json::json!({"a": [1, 2.5, "<b>"], "b": {"城市": null, "t": true}});
        assert_eq!(
            to_python_json(&value).expect("serialise"),
            r#"{"a": [1, 2.5, "<b>"], "b": {"城市": null, "t": true}}"#
        );
        assert_eq!(
            to_python_json(&serde_json::json!([])).expect("serialise"),
            "[]"
        );
        assert_eq!(
            to_python_json(&serde_json::json!({})).expect("serialise"),
            "{}"
        );
    }
}
