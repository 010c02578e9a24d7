//! The swap journal, `<volume>/.holdfast/swap/<id>/journal.json`: what is replaced,
//! where the stage and the old copy live, and how far the swap got. It is written whole
//! to a temp name, fsynced, renamed over the previous version and the directory fsynced,
//! so a reader finds either the previous phase or the next one, never a torn file.

use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SwapError;
use super::fsops;

/// File name of the journal inside a swap's work directory.
pub const JOURNAL: &str = "journal.json";
const JOURNAL_TMP: &str = "journal.json.tmp";

/// How far a swap got; recovery decides from this alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The new data is being written to the stage; nothing live was touched. Recovery
    /// rolls back: the stage is deleted.
    Staging,
    /// The stage is complete and durable and the entry lists are final; live entries
    /// may be moving. Recovery rolls forward.
    Staged,
    /// The new data is in place and durable; only the old copy and the journal remain
    /// to be removed (or the old copy kept).
    Swapped,
}

/// One relative path, as text when it is UTF-8, else as hex bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Name {
    /// A UTF-8 path.
    Text(String),
    /// Any other path, hex-encoded.
    Bytes {
        /// The path's bytes in lowercase hex.
        hex: String,
    },
}

impl Name {
    /// Encodes a relative path.
    pub fn of(path: &Path) -> Name {
        match path.to_str() {
            Some(s) => Name::Text(s.to_string()),
            None => Name::Bytes {
                hex: path
                    .as_os_str()
                    .as_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            },
        }
    }

    /// Decodes it; `None` for malformed hex.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Name::Text(s) => Some(PathBuf::from(s)),
            Name::Bytes { hex } => {
                let bytes: Option<Vec<u8>> = (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .collect();
                bytes.map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
            }
        }
    }
}

/// The journal of one swap.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    /// Format version (1).
    pub version: u32,
    /// The swap's id (its work directory's name).
    pub id: String,
    /// What the swap does, in words (`in-place restore of snapshot 1a2b3c4d`).
    pub what: String,
    /// The volume whose entries are replaced.
    pub target: PathBuf,
    /// Where the new entries are staged (laid out like the volume).
    pub stage: PathBuf,
    /// Where the old entries are moved aside (laid out like the volume).
    pub old: PathBuf,
    /// Where the old copy is kept once the swap is done; `None`: it is deleted.
    pub keep: Option<PathBuf>,
    /// How far the swap got.
    pub phase: Phase,
    /// Live entries moved aside, relative to the volume (set from `staged` on).
    pub old_entries: Vec<Name>,
    /// Staged entries moved in, relative to the volume (set from `staged` on).
    pub new_entries: Vec<Name>,
    /// When the swap began (RFC 3339).
    pub started: String,
}

impl Journal {
    /// The decoded old entries.
    pub fn old_paths(&self, path: &Path) -> Result<Vec<PathBuf>, SwapError> {
        decode(&self.old_entries, path)
    }

    /// The decoded new entries.
    pub fn new_paths(&self, path: &Path) -> Result<Vec<PathBuf>, SwapError> {
        decode(&self.new_entries, path)
    }

    /// Writes the journal into `work` crash-safely (temp, fsync, rename, fsync dir).
    pub fn write(&self, work: &Path) -> Result<(), SwapError> {
        let path = work.join(JOURNAL);
        let tmp = work.join(JOURNAL_TMP);
        let text = serde_json::to_vec_pretty(self).map_err(|e| SwapError::Journal {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let io = |e| SwapError::io(&tmp, e);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags_nofollow()
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| SwapError::io(&path, e))?;
        let dir = fsops::open_dir(work).map_err(|e| SwapError::io(work, e))?;
        fsops::sync(dir).map_err(|e| SwapError::io(work, e))
    }

    /// Reads the journal of the work directory `work`; `Ok(None)` when it has none.
    pub fn read(work: &Path) -> Result<Option<Journal>, SwapError> {
        let path = work.join(JOURNAL);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SwapError::io(&path, e)),
        };
        let j: Journal = serde_json::from_slice(&text).map_err(|e| SwapError::Journal {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if j.version != 1 {
            return Err(SwapError::Journal {
                path,
                reason: format!("unknown version {}", j.version),
            });
        }
        Ok(Some(j))
    }

    /// Removes the journal and its temp file, then fsyncs `work`.
    pub fn remove(work: &Path) -> Result<(), SwapError> {
        for name in [JOURNAL_TMP, JOURNAL] {
            fsops::remove_tree(&work.join(name)).map_err(|e| SwapError::io(&work.join(name), e))?;
        }
        let dir = fsops::open_dir(work).map_err(|e| SwapError::io(work, e))?;
        fsops::sync(dir).map_err(|e| SwapError::io(work, e))
    }
}

fn decode(names: &[Name], path: &Path) -> Result<Vec<PathBuf>, SwapError> {
    names
        .iter()
        .map(|n| {
            n.path().ok_or_else(|| SwapError::Journal {
                path: path.to_path_buf(),
                reason: format!("malformed entry {n:?}"),
            })
        })
        .collect()
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_text_and_bytes() {
        let odd = PathBuf::from(std::ffi::OsString::from_vec(vec![b'a', 0xff, b'/', b'b']));
        for p in [PathBuf::from("db/app.db"), odd] {
            assert_eq!(Name::of(&p).path(), Some(p.clone()));
        }
        assert_eq!(Name::Bytes { hex: "zz".into() }.path(), None);
    }

    #[test]
    fn a_journal_is_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal {
            version: 1,
            id: "x".into(),
            what: "test".into(),
            target: dir.path().into(),
            stage: dir.path().join("new"),
            old: dir.path().join("old"),
            keep: None,
            phase: Phase::Staging,
            old_entries: vec![],
            new_entries: vec![],
            started: String::new(),
        };
        j.write(dir.path()).expect("write");
        j.phase = Phase::Staged;
        j.new_entries.push(Name::of(Path::new("a")));
        j.write(dir.path()).expect("rewrite");
        let back = Journal::read(dir.path()).expect("read").expect("some");
        assert_eq!(back.phase, Phase::Staged);
        assert!(!dir.path().join(JOURNAL_TMP).exists());
        Journal::remove(dir.path()).expect("remove");
        assert!(Journal::read(dir.path()).expect("read").is_none());
    }
}
