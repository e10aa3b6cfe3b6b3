//! Reading an upstream's streamed completion: its SSE chunks as text pieces, the finish reason
//! and the usage.

use fulcrum_engine::FinishReason;
use serde::Deserialize;

/// One `data:` chunk of a streamed `/v1/completions` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionChunk {
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<ChunkUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
pub(crate) struct ChunkUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// What one SSE message says.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Text (possibly empty) and, on the last one, why the generation ended.
    Piece {
        text: String,
        finish: Option<FinishReason>,
        usage: Option<ChunkUsage>,
    },
    /// `[DONE]`: the stream is over.
    Done,
}

/// Reads one SSE `data` field of a completions stream.
pub(crate) fn parse(data: &str) -> Result<Chunk, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Chunk::Done);
    }
    let chunk: CompletionChunk = serde_json::from_str(data).map_err(|err| {
        let shown: String = data.chars().take(200).collect();
        format!("an unreadable stream chunk ({err}): {shown}")
    })?;
    let (text, finish) = match chunk.choices.into_iter().next() {
        Some(choice) => (
            choice.text,
            choice.finish_reason.as_deref().map(finish_reason),
        ),
        None => (String::new(), None),
    };
    Ok(Chunk::Piece {
        text,
        finish,
        usage: chunk.usage,
    })
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_give_text_finish_and_usage() {
        let Chunk::Piece {
            text,
            finish,
            usage,
        } = parse(r#"{"choices":[{"index":0,"text":"Hi","finish_reason":null}]}"#).expect("chunk")
        else {
            panic!("not a piece")
        };
        assert_eq!((text.as_str(), finish, usage.is_none()), ("Hi", None, true));
        let Chunk::Piece { finish, .. } =
            parse(r#"{"choices":[{"text":"","finish_reason":"length"}]}"#).expect("chunk")
        else {
            panic!("not a piece")
        };
        assert_eq!(finish, Some(FinishReason::Length));
        let Chunk::Piece { usage, .. } = parse(
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        )
        .expect("chunk") else {
            panic!("not a piece")
        };
        assert_eq!(
            usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((5, 2))
        );
        assert!(matches!(parse(" [DONE]"), Ok(Chunk::Done)));
        assert!(parse("{not json").is_err());
    }
}
