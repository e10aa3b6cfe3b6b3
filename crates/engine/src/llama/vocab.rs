//! A GGUF's tokenizer and chat template without its weights (llama.cpp's `vocab_only` load:
//! megabytes, milliseconds). A remote engine serving the same model renders and counts its
//! prompts with it, exactly as the embedded engine would.

use std::path::{Path, PathBuf};

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use llama_cpp_2::token_type::LlamaTokenAttr;

use super::{backend, special_text};
use crate::backend::TOKEN_BREAK;
use crate::error::EngineError;

pub struct GgufVocabulary {
    model: LlamaModel,
    path: PathBuf,
    bos_token: String,
    eos_token: String,
}

impl GgufVocabulary {
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        if !path.is_file() {
            return Err(EngineError::ModelNotFound {
                path: path.to_path_buf(),
            });
        }
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend()?, path, &params).map_err(|_| {
            EngineError::ModelLoad {
                path: path.to_path_buf(),
            }
        })?;
        let bos_token = special_text(&model, model.vocab().bos());
        let eos_token = special_text(&model, model.vocab().eos());
        Ok(GgufVocabulary {
            model,
            path: path.to_path_buf(),
            bos_token,
            eos_token,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokens of a prompt, as the embedded engine tokenizes it (a BOS token first when
    /// the model wants one and the template did not print it; special tags parsed).
    pub fn tokenize(&self, text: &str) -> Vec<i32> {
        tokenize(&self.model, &self.bos_token, text)
            .into_iter()
            .map(|token| token.0)
            .collect()
    }

    /// `text`'s token ids as a client's tokenizer endpoint gives them (special tags parsed,
    /// a BOS token only when asked for and the model uses one).
    pub fn tokenize_plain(&self, text: &str, add_bos: bool) -> Vec<u32> {
        plain_tokens(&self.model, text, add_bos)
    }

    /// The text of `tokens`, special tokens written out.
    pub fn detokenize(&self, tokens: &[u32]) -> Result<String, EngineError> {
        detokenize(&self.model, tokens)
    }

    /// The token `text` is, when it is exactly one (a special tag such as `<tool_call>`).
    pub fn single_token(&self, text: &str) -> Option<i32> {
        match self
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, true)
            .as_slice()
        {
            [token] => Some(token.0),
            _ => None,
        }
    }

    pub fn chat_template(&self) -> Option<String> {
        self.model.meta_val_str("tokenizer.chat_template").ok()
    }

    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// The context length the model was trained with (from the GGUF's metadata: a
    /// vocabulary-only load leaves llama.cpp's own field at 0); 0 when the file does not say.
    pub fn train_context_size(&self) -> u32 {
        let loaded = self.model.n_ctx_train();
        if loaded > 0 {
            return loaded;
        }
        self.model
            .meta_val_str("general.architecture")
            .ok()
            .and_then(|arch| {
                self.model
                    .meta_val_str(&format!("{arch}.context_length"))
                    .ok()
            })
            .and_then(|length| length.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The texts its tokenizer reads as special tokens.
    pub fn special_tokens(&self) -> Vec<String> {
        special_token_texts(&self.model)
    }

    /// Whether the model's tokenizer puts a BOS token before every prompt.
    pub fn adds_bos(&self) -> bool {
        self.model.vocab().should_add_bos()
    }
}

/// `text`'s tokens for a prompt: the one rule the engine and the vocabulary share. Special
/// tags are parsed, and each [`TOKEN_BREAK`] cuts the text into parts tokenized apart, so a
/// special tag broken by one is read as plain text.
pub(super) fn tokenize(model: &LlamaModel, bos_token: &str, text: &str) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    // Templates that print the BOS token themselves must not get a second one.
    let add_bos = vocab.should_add_bos() && (bos_token.is_empty() || !text.starts_with(bos_token));
    let mut tokens = Vec::new();
    for (index, part) in text.split(TOKEN_BREAK).enumerate() {
        if part.is_empty() && index > 0 {
            continue;
        }
        tokens.extend(vocab.tokenize(part.as_bytes(), add_bos && index == 0, true));
    }
    tokens
}

/// `text`'s token ids, special tags parsed, a BOS token first only when `add_bos` and the
/// model uses one.
pub(super) fn plain_tokens(model: &LlamaModel, text: &str, add_bos: bool) -> Vec<u32> {
    let vocab = model.vocab();
    vocab
        .tokenize(text.as_bytes(), add_bos && vocab.should_add_bos(), true)
        .into_iter()
        .filter_map(|token| u32::try_from(token.0).ok())
        .collect()
}

/// `tokens` checked against the vocabulary's size.
pub(super) fn known_tokens(
    model: &LlamaModel,
    tokens: &[u32],
) -> Result<Vec<LlamaToken>, EngineError> {
    let vocabulary = usize::try_from(model.n_vocab()).unwrap_or(0);
    tokens
        .iter()
        .map(|&id| match i32::try_from(id) {
            Ok(token) if (id as usize) < vocabulary => Ok(LlamaToken(token)),
            _ => Err(EngineError::UnknownToken { id, vocabulary }),
        })
        .collect()
}

/// The text of `tokens`, special tokens written out (invalid UTF-8 replaced).
pub(super) fn detokenize(model: &LlamaModel, tokens: &[u32]) -> Result<String, EngineError> {
    let vocab = model.vocab();
    let mut bytes = Vec::new();
    for token in known_tokens(model, tokens)? {
        bytes.extend(vocab.token_to_piece(token, true, None));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The texts of the vocabulary's control and user-defined tokens: those a tokenizer that
/// parses special tokens turns into one token.
pub(super) fn special_token_texts(model: &LlamaModel) -> Vec<String> {
    let vocab = model.vocab();
    let mut texts: Vec<String> = vocab
        .tokens()
        .filter(|&token| {
            let attrs = vocab.attr(token);
            attrs.contains(LlamaTokenAttr::Control) || attrs.contains(LlamaTokenAttr::UserDefined)
        })
        .map(|token| String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned())
        .filter(|text| !text.is_empty())
        .collect();
    texts.sort();
    texts.dedup();
    texts
}
