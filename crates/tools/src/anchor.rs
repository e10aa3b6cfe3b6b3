//! Anchoring the audit chain outside its database.
//!
//! Anyone who can write the database file can rewrite rows N onward with a consistent chain,
//! cut its tail, or empty it. Checkpoints of the chain's head (sequence number and hash),
//! appended to a separate file and signed with an HMAC key kept outside the database (an
//! environment variable or a 0600 key file), make each of these show: a rewritten row no
//! longer has its checkpointed hash, a cut or emptied log ends before its last checkpoint,
//! and without the key no checkpoint can be forged to match.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ToolsError;

/// The environment variable an audit key may come from.
pub const AUDIT_KEY_ENV: &str = "FULCRUM_AUDIT_KEY";

/// The secret checkpoints are signed with.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

impl AuditKey {
    /// The key in `$FULCRUM_AUDIT_KEY`, when set and not empty.
    pub fn from_env() -> Option<AuditKey> {
        std::env::var(AUDIT_KEY_ENV)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .map(|key| AuditKey(key.trim().as_bytes().to_vec()))
    }

    /// The key in a file only its owner may read (mode 0600 or stricter).
    pub fn from_file(path: &Path) -> Result<AuditKey, ToolsError> {
        let refuse = |reason: String| ToolsError::AuditKey(format!("{}: {reason}", path.display()));
        let metadata = std::fs::metadata(path).map_err(|err| refuse(err.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(refuse(format!(
                    "readable by others (mode {mode:o}); run `chmod 600` on it"
                )));
            }
        }
        let _ = metadata;
        let text = std::fs::read_to_string(path).map_err(|err| refuse(err.to_string()))?;
        if text.trim().len() < 16 {
            return Err(refuse("the key is shorter than 16 characters".into()));
        }
        Ok(AuditKey(text.trim().as_bytes().to_vec()))
    }

    fn sign(&self, checkpoint: &Checkpoint) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(checkpoint.signed_text().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// One recorded head of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// HMAC-SHA256 of seq, hash and time under the audit key; absent when none was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Checkpoint {
    fn signed_text(&self) -> String {
        format!("{}\n{}\n{}", self.seq, self.hash, self.at)
    }
}

/// Where checkpoints are written, how often, and the key that signs them.
#[derive(Debug)]
pub struct AuditAnchor {
    path: PathBuf,
    key: Option<AuditKey>,
    /// A checkpoint after every this many rows.
    every: u64,
    file: Mutex<()>,
}

impl AuditAnchor {
    pub fn new(path: PathBuf, key: Option<AuditKey>, every: u64) -> AuditAnchor {
        AuditAnchor {
            path,
            key,
            every: every.max(1),
            file: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_signed(&self) -> bool {
        self.key.is_some()
    }

    /// The key that signs its checkpoints, when there is one.
    pub fn key(&self) -> Option<&AuditKey> {
        self.key.as_ref()
    }

    /// Whether the row `seq` is one a checkpoint follows.
    pub(crate) fn due(&self, seq: i64) -> bool {
        u64::try_from(seq).is_ok_and(|seq| seq % self.every == 0)
    }

    /// Appends (and syncs) a checkpoint of the head `seq` / `hash`.
    pub fn checkpoint(&self, seq: i64, hash: &str) -> Result<Checkpoint, ToolsError> {
        let mut checkpoint = Checkpoint {
            seq,
            hash: hash.to_string(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            mac: None,
        };
        checkpoint.mac = self.key.as_ref().map(|key| key.sign(&checkpoint));
        let line = serde_json::to_string(&checkpoint)
            .map_err(|err| ToolsError::Database(err.to_string()))?;
        let failed = |err: std::io::Error| {
            ToolsError::Database(format!(
                "cannot write the audit checkpoint to {}: {err}",
                self.path.display()
            ))
        };
        let _guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(failed)?;
        writeln!(file, "{line}").map_err(failed)?;
        file.sync_data().map_err(failed)?;
        Ok(checkpoint)
    }
}

/// The checkpoints in `path`, oldest first.
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, ToolsError> {
    let failed = |reason: String| {
        ToolsError::Database(format!("audit checkpoints {}: {reason}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(|err| failed(err.to_string()))?;
    let mut out = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|err| failed(err.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|err| failed(format!("line {} is not a checkpoint: {err}", index + 1)))?,
        );
    }
    Ok(out)
}

/// The first problem with `checkpoint`'s signature: a signed one needs the key, and an
/// unsigned one is refused when a key is given (it could have been written by anyone).
pub fn check_signature(checkpoint: &Checkpoint, key: Option<&AuditKey>) -> Option<String> {
    match (key, &checkpoint.mac) {
        (Some(key), Some(mac)) if key.sign(checkpoint) == *mac => None,
        (Some(_), Some(_)) => Some(format!(
            "the checkpoint of row {} has a wrong signature: forged, or another key",
            checkpoint.seq
        )),
        (Some(_), None) => Some(format!(
            "the checkpoint of row {} is not signed",
            checkpoint.seq
        )),
        (None, Some(_)) => Some(format!(
            "the checkpoints are signed: set {AUDIT_KEY_ENV} (or give the key file) to check them"
        )),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_only_for_its_own_checkpoint_and_key() {
        let dir = tempfile::tempdir().expect("dir");
        let key = AuditKey(b"0123456789abcdef-secret".to_vec());
        let anchor = AuditAnchor::new(dir.path().join("cp.jsonl"), Some(key.clone()), 1);
        let written = anchor.checkpoint(7, "abc").expect("write");
        let read = read_checkpoints(anchor.path()).expect("read");
        assert_eq!(read, vec![written.clone()]);
        assert_eq!(check_signature(&written, Some(&key)), None);
        let mut moved = written.clone();
        moved.seq = 6;
        assert!(check_signature(&moved, Some(&key)).is_some());
        let other = AuditKey(b"another-key-0123456789".to_vec());
        assert!(check_signature(&written, Some(&other)).is_some());
        assert!(check_signature(&written, None).is_some(), "needs the key");
    }
}
