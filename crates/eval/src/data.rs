//! BFCL data files: one JSON object per line, questions and possible answers line by line.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The categories Fulcrum evaluates (BFCL's non-live single-turn set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    SimplePython,
    Multiple,
    Parallel,
    ParallelMultiple,
    Irrelevance,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::SimplePython,
        Category::Multiple,
        Category::Parallel,
        Category::ParallelMultiple,
        Category::Irrelevance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::SimplePython => "simple_python",
            Category::Multiple => "multiple",
            Category::Parallel => "parallel",
            Category::ParallelMultiple => "parallel_multiple",
            Category::Irrelevance => "irrelevance",
        }
    }

    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.name() == name || (name == "simple" && *c == Category::SimplePython))
    }

    fn file_name(self) -> String {
        format!("BFCL_v4_{}.json", self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Format {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// One question with its function docs and, except for irrelevance, its possible answers.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub category: Category,
    /// The first turn's messages (OpenAI shape).
    pub messages: Vec<Value>,
    /// BFCL function docs, unconverted.
    pub functions: Vec<Value>,
    /// `ground_truth`: one `{name: {param: [acceptable…]}}` per expected call.
    pub ground_truth: Option<Vec<Value>>,
}

/// A JSON-lines file, one value per non-blank line; a bad line is named by its number.
pub(crate) fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|err| EvalError::Format {
                path: path.to_path_buf(),
                line: index + 1,
                reason: err.to_string(),
            })
        })
        .collect()
}

/// Loads one category from BFCL's data folder (with `possible_answer/` beside the questions).
pub fn load_category(dir: &Path, category: Category) -> Result<Vec<Entry>, EvalError> {
    let path = dir.join(category.file_name());
    let questions: Vec<Value> = read_lines(&path)?;
    let answers = if category == Category::Irrelevance {
        None
    } else {
        Some(read_lines::<Value>(
            &dir.join("possible_answer").join(category.file_name()),
        )?)
    };
    let format = |line: usize, reason: &str| EvalError::Format {
        path: path.clone(),
        line,
        reason: reason.to_string(),
    };
    questions
        .into_iter()
        .enumerate()
        .map(|(index, question)| {
            let id = question["id"]
                .as_str()
                .ok_or_else(|| format(index + 1, "no id"))?
                .to_string();
            let messages = question["question"][0]
                .as_array()
                .ok_or_else(|| format(index + 1, "no first turn"))?
                .clone();
            let functions = question["function"].as_array().cloned().unwrap_or_default();
            let ground_truth = match &answers {
                None => None,
                Some(answers) => {
                    let answer = answers
                        .get(index)
                        .ok_or_else(|| format(index + 1, "no possible answer"))?;
                    if answer["id"] != question["id"] {
                        return Err(format(index + 1, "question and answer ids differ"));
                    }
                    Some(
                        answer["ground_truth"]
                            .as_array()
                            .ok_or_else(|| format(index + 1, "no ground_truth"))?
                            .clone(),
                    )
                }
            };
            Ok(Entry {
                id,
                category,
                messages,
                functions,
                ground_truth,
            })
        })
        .collect()
}
