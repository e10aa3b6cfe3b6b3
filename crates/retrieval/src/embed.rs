//! Sentence embeddings for dense retrieval: all-MiniLM-L6-v2 (a 6-layer BERT) run with candle
//! on the CPU, mean-pooled over the real tokens and L2-normalised, as sentence-transformers
//! does, so a dot product is the cosine similarity.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::bert::{BertModel, Config};
use crate::error::RetrievalError;

/// sentence-transformers' limit for this model; longer texts are cut (chunks are ~200 tokens).
pub const MAX_TOKENS: usize = 256;

/// Texts encoded per forward pass: padding to the longest of a batch wastes little at this size.
const BATCH: usize = 16;

/// Dimensions of one embedding.
pub const DIMENSIONS: usize = 384;

/// The name clients give the model (`/v1/embeddings`), the catalogue's name of its weights.
pub const MODEL_ID: &str = "all-minilm-l6-v2";

pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl Embedder {
    /// Loads the weights (`model.safetensors`) and the tokenizer (`tokenizer.json`).
    pub fn load(weights: &Path, tokenizer: &Path) -> Result<Self, RetrievalError> {
        let device = Device::Cpu;
        let embedding_error = |what: &str, path: &Path, err: &dyn std::fmt::Display| {
            RetrievalError::EmbeddingModel(format!(
                "cannot load {what} from {}: {err}. Run `fulcrum models pull all-minilm-l6-v2` and `fulcrum models pull all-minilm-l6-v2-tokenizer`",
                path.display()
            ))
        };
        let tensors = candle_core::safetensors::load(weights, &device)
            .map_err(|err| embedding_error("the embedding weights", weights, &err))?;
        let model = BertModel::load(
            VarBuilder::from_tensors(tensors, DType::F32, &device),
            // Fixed by the weights the catalogue verifies by checksum, so it travels with the
            // code rather than as a third downloaded file.
            &Config::ALL_MINILM_L6_V2,
        )
        .map_err(|err| embedding_error("the embedding weights", weights, &err))?;
        let mut tokenizer = Tokenizer::from_file(tokenizer)
            .map_err(|err| embedding_error("the tokenizer", tokenizer, &err))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|err| {
                RetrievalError::EmbeddingModel(format!("tokenizer truncation: {err}"))
            })?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        Ok(Embedder {
            model,
            tokenizer,
            device,
        })
    }

    /// One unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        Ok(self.embed_counted(texts)?.0)
    }

    /// One unit-length vector per text, in order, and the tokens read (a text longer than
    /// the model's 256 tokens is cut there, as sentence-transformers does).
    pub fn embed_counted(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, usize), RetrievalError> {
        let mut vectors = Vec::with_capacity(texts.len());
        let mut tokens = 0;
        for batch in texts.chunks(BATCH) {
            let (batch_vectors, batch_tokens) = self.embed_batch(batch)?;
            vectors.extend(batch_vectors);
            tokens += batch_tokens;
        }
        Ok((vectors, tokens))
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, usize), RetrievalError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|err| RetrievalError::Embedding(format!("tokenizing failed: {err}")))?;
        let rows = |field: fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor, RetrievalError> {
            let rows = encodings
                .iter()
                .map(|encoding| Tensor::new(field(encoding), &self.device))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Tensor::stack(&rows, 0)?)
        };
        let tokens = encodings
            .iter()
            .map(|encoding| {
                encoding
                    .get_attention_mask()
                    .iter()
                    .filter(|&&m| m == 1)
                    .count()
            })
            .sum();
        let ids = rows(tokenizers::Encoding::get_ids)?;
        let type_ids = rows(tokenizers::Encoding::get_type_ids)?;
        let mask = rows(tokenizers::Encoding::get_attention_mask)?;
        let hidden = self.model.forward(&ids, &type_ids, &mask)?;
        // Mean over the real tokens only: padding must not pull short texts towards each other.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok((mean.broadcast_div(&norms)?.to_vec2::<f32>()?, tokens))
    }
}

/// Cosine similarity of two unit vectors.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Little-endian bytes of a vector, as stored in the database.
pub(crate) fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

pub(crate) fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
