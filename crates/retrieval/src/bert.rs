//! The BERT encoder of all-MiniLM-L6-v2 on candle's tensors: embeddings, then self-attention
//! and feed-forward layers, each followed by a residual and a layer norm; the last hidden
//! states are returned for pooling.
//!
//! Adapted from candle-transformers' `models::bert` (MIT or Apache-2.0, © the candle
//! authors), kept to what sentence embeddings use: that crate compiles 83,000 lines of other
//! models at opt-level 3 for these 150.

use candle_core::{DType, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, Module, VarBuilder};

/// The architecture's sizes (all-MiniLM-L6-v2's `config.json`).
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

impl Config {
    pub const ALL_MINILM_L6_V2: Config = Config {
        vocab_size: 30522,
        hidden_size: 384,
        num_hidden_layers: 6,
        num_attention_heads: 12,
        intermediate_size: 1536,
        max_position_embeddings: 512,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
    };
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        Ok(Embeddings {
            words: embedding(
                config.vocab_size,
                config.hidden_size,
                vb.pp("word_embeddings"),
            )?,
            positions: embedding(
                config.max_position_embeddings,
                config.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            token_types: embedding(
                config.type_vocab_size,
                config.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    fn forward(&self, ids: &Tensor, type_ids: &Tensor) -> Result<Tensor> {
        let (_batch, length) = ids.dims2()?;
        let positions = Tensor::new(&(0..length as u32).collect::<Vec<_>>()[..], ids.device())?;
        let sum = (self.words.forward(ids)? + self.token_types.forward(type_ids)?)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        self.norm.forward(&sum)
    }
}

/// A dense layer, then the residual and a layer norm (attention's output and the feed-forward's).
struct Residual {
    dense: Linear,
    norm: LayerNorm,
}

impl Residual {
    fn load(vb: VarBuilder, from: usize, config: &Config) -> Result<Self> {
        Ok(Residual {
            dense: linear(from, config.hidden_size, vb.pp("dense"))?,
            norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    fn forward(&self, hidden: &Tensor, input: &Tensor) -> Result<Tensor> {
        self.norm.forward(&(self.dense.forward(hidden)? + input)?)
    }
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
    head_size: usize,
}

impl SelfAttention {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let size = config.hidden_size;
        Ok(SelfAttention {
            query: linear(size, size, vb.pp("query"))?,
            key: linear(size, size, vb.pp("key"))?,
            value: linear(size, size, vb.pp("value"))?,
            heads: config.num_attention_heads,
            head_size: size / config.num_attention_heads,
        })
    }

    /// (batch, length, hidden) → (batch, heads, length, head size).
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (batch, length, _) = xs.dims3()?;
        xs.reshape((batch, length, self.heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn forward(&self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let query = self.split_heads(&self.query.forward(hidden)?)?;
        let key = self.split_heads(&self.key.forward(hidden)?)?;
        let value = self.split_heads(&self.value.forward(hidden)?)?;
        let scores = (query.matmul(&key.t()?)? / (self.head_size as f64).sqrt())?;
        let probabilities = candle_nn::ops::softmax(&scores.broadcast_add(mask)?, D::Minus1)?;
        probabilities
            .matmul(&value)?
            .transpose(1, 2)?
            .contiguous()?
            .flatten_from(D::Minus2)
    }
}

struct Layer {
    attention: SelfAttention,
    attention_output: Residual,
    intermediate: Linear,
    output: Residual,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        Ok(Layer {
            attention: SelfAttention::load(vb.pp("attention").pp("self"), config)?,
            attention_output: Residual::load(
                vb.pp("attention").pp("output"),
                config.hidden_size,
                config,
            )?,
            intermediate: linear(
                config.hidden_size,
                config.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            output: Residual::load(vb.pp("output"), config.intermediate_size, config)?,
        })
    }

    fn forward(&self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let attended = self
            .attention_output
            .forward(&self.attention.forward(hidden, mask)?, hidden)?;
        // BERT's "gelu" is the exact one (erf), not the tanh approximation.
        let expanded = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output.forward(&expanded, &attended)
    }
}

pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl BertModel {
    /// Weights named as in the sentence-transformers checkpoint (`embeddings.…`,
    /// `encoder.layer.N.…`), with or without a `bert.` prefix.
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(BertModel {
            embeddings: Embeddings::load(vb.pp("embeddings"), config)?,
            layers,
        })
    }

    /// The last hidden states, (batch, length, hidden); `mask` is 1 for real tokens, 0 for
    /// padding, which no token attends to.
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let mut hidden = self.embeddings.forward(ids, type_ids)?;
        let mask = mask.unsqueeze(1)?.unsqueeze(1)?.to_dtype(DType::F32)?;
        let mask =
            (mask.ones_like()? - &mask)?.broadcast_mul(&Tensor::new(f32::MIN, mask.device())?)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &mask)?;
        }
        Ok(hidden)
    }
}
