//! Rendering a conversation into prompt text with the model's own Jinja chat template.
//!
//! Chat templates are code shipped inside model files, so they run sandboxed: minijinja has no
//! file system access unless given a loader (none is), rendering is bounded by a fuel budget,
//! and the environment mirrors the one Hugging Face renders with (`trim_blocks`,
//! `lstrip_blocks`, Python string methods, `raise_exception`, `strftime_now`, Python-style
//! `tojson`) so the prompt matches the one the model was trained on.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use minijinja::value::Kwargs;
use minijinja::{Environment, ErrorKind, Value};
use serde_json::{Map, Value as Json};

use crate::error::ChatError;
use crate::json::to_python_json;
use crate::message::{Message, ToolDefinition};
use crate::special::SpecialTokenGuard;

/// The template used when a model carries none: ChatML, which Qwen and SmolLM use.
pub const CHATML_TEMPLATE: &str = "{%- for message in messages %}\
{{- '<|im_start|>' + message.role + '\\n' + (message.content or '') + '<|im_end|>\\n' }}\
{%- endfor %}\
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// Rendering steps allowed for one prompt. Real templates use a few thousand per message;
/// this bounds a malicious or broken template without limiting real conversations.
const FUEL: u64 = 50_000_000;

const TEMPLATE_NAME: &str = "chat";

/// Context variables callers may not override through `chat_template_kwargs`.
const RESERVED: [&str; 5] = [
    "messages",
    "tools",
    "add_generation_prompt",
    "bos_token",
    "eos_token",
];

/// Options of one render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub add_generation_prompt: bool,
    /// Extra template variables (OpenAI-compatible servers call them `chat_template_kwargs`,
    /// e.g. `enable_thinking` for Qwen3).
    pub extra: Map<String, Json>,
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    /// Applied to every string a render is given: messages, tools and extra variables.
    special_tokens: Option<SpecialTokenGuard>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` and `eos_token` are exposed to it as variables.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, ChatError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|err| ChatError::InvalidTemplate(describe(&err)))?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            special_tokens: None,
        })
    }

    /// Renders untrusted strings so that none of the model's special tokens can arise from
    /// them: only the template's own markup is read as control tokens.
    pub fn with_special_token_guard(mut self, guard: Option<SpecialTokenGuard>) -> Self {
        self.special_tokens = guard;
        self
    }

    /// The ChatML fallback for models without a template.
    pub fn chatml() -> Self {
        // The constant is a valid template; a failure here is a bug caught by the tests.
        Self::new(CHATML_TEMPLATE, "", "<|im_end|>")
            .unwrap_or_else(|err| panic!("built-in ChatML template: {err}"))
    }

    /// Renders `messages` (and `tools`, when any) into the prompt text.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[ToolDefinition],
        options: &RenderOptions,
    ) -> Result<String, ChatError> {
        let guard = |value: Json| match &self.special_tokens {
            Some(guard) => guard.guard_json(value),
            None => value,
        };
        let mut context = Map::new();
        for (key, value) in &options.extra {
            if !RESERVED.contains(&key.as_str()) {
                context.insert(key.clone(), guard(value.clone()));
            }
        }
        context.insert(
            "messages".into(),
            guard(Json::Array(
                messages.iter().map(Message::template_value).collect(),
            )),
        );
        let tools = if tools.is_empty() {
            Json::Null
        } else {
            guard(Json::Array(
                tools.iter().map(ToolDefinition::template_value).collect(),
            ))
        };
        context.insert("tools".into(), tools);
        context.insert(
            "add_generation_prompt".into(),
            Json::Bool(options.add_generation_prompt),
        );
        context.insert("bos_token".into(), Json::String(self.bos_token.clone()));
        context.insert("eos_token".into(), Json::String(self.eos_token.clone()));

        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|err| ChatError::InvalidTemplate(describe(&err)))?;
        template
            .render(Value::from_serialize(&context))
            .map_err(|err| match err.kind() {
                ErrorKind::OutOfFuel => ChatError::OutOfFuel,
                _ => ChatError::Rejected(describe(&err)),
            })
    }
}

/// minijinja's `Display` adds template positions; keep the first line, which says what failed.
fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

fn tojson(value: Value, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    // Accept and ignore the other keyword arguments Hugging Face's filter takes; Fulcrum
    // always writes what `ensure_ascii=False, sort_keys=False` would.
    let _: Option<Value> = kwargs.get("ensure_ascii")?;
    let _: Option<Value> = kwargs.get("sort_keys")?;
    let _: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let text = match indent {
        Some(width) => {
            let indent = " ".repeat(width);
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(&value, &mut serializer)
                .map(|()| String::from_utf8_lossy(&out).into_owned())
        }
        None => to_python_json(&value),
    };
    text.map_err(|err| minijinja::Error::new(ErrorKind::InvalidOperation, format!("tojson: {err}")))
}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

fn strftime_now(format: String) -> Result<String, minijinja::Error> {
    // chrono panics when displaying an invalid format, so validate it first.
    let items: Vec<Item<'_>> = StrftimeItems::new(&format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: invalid format {format:?}"),
        ));
    }
    let mut out = String::new();
    write!(
        out,
        "{}",
        chrono::Local::now().format_with_items(items.into_iter())
    )
    .map_err(|_| {
        minijinja::Error::new(ErrorKind::InvalidOperation, "strftime_now: cannot format")
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_fallback_renders_roles_and_generation_prompt() {
        let template = ChatTemplate::chatml();
        let out = template
            .render(
                &[Message::system("S"), Message::user("Hi")],
                &[],
                &RenderOptions {
                    add_generation_prompt: true,
                    ..Default::default()
                },
            )
            .expect("render");
        assert_eq!(
            out,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_is_a_rejection_with_the_message() {
        let template =
            ChatTemplate::new("{{ raise_exception('only user and assistant') }}", "", "")
                .expect("compile");
        let err = template
            .render(&[], &[], &RenderOptions::default())
            .expect_err("must fail");
        assert!(
            matches!(&err, ChatError::Rejected(m) if m.contains("only user and assistant")),
            "{err}"
        );
    }

    #[test]
    fn endless_template_runs_out_of_fuel() {
        let source =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        let template = ChatTemplate::new(source, "", "").expect("compile");
        let err = template
            .render(&[], &[], &RenderOptions::default())
            .expect_err("must fail");
        assert!(matches!(err, ChatError::OutOfFuel), "{err}");
    }

    #[test]
    fn templates_cannot_read_files() {
        let template = ChatTemplate::new("{% include '/etc/passwd' %}", "", "").expect("compile");
        assert!(template
            .render(&[], &[], &RenderOptions::default())
            .is_err());
    }

    #[test]
    fn broken_template_is_reported_at_load() {
        let err = ChatTemplate::new("{% for x in %}", "", "").expect_err("must fail");
        assert!(matches!(err, ChatError::InvalidTemplate(_)), "{err}");
    }

    #[test]
    fn python_string_methods_and_kwargs_work() {
        let template = ChatTemplate::new(
            "{{ messages[0].content.strip().startswith('a') }} {{ enable_thinking }} {{ strftime_now('%Y') | length }}",
            "",
            "",
        )
        .expect("compile");
        let mut options = RenderOptions::default();
        options
            .extra
            .insert("enable_thinking".into(), Json::Bool(false));
        options.extra.insert("messages".into(), Json::Null);
        let out = template
            .render(&[Message::user("  abc ")], &[], &options)
            .expect("render");
        // Booleans print as Python prints them, as in the reference renderer.
        assert_eq!(out, "True False 4");
    }

    #[test]
    fn invalid_strftime_format_is_an_error_not_a_panic() {
        let template = ChatTemplate::new("{{ strftime_now('%Q%') }}", "", "").expect("compile");
        assert!(template
            .render(&[], &[], &RenderOptions::default())
            .is_err());
    }
}
