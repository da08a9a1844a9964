//! [`FileWatcher`]: reloads the inventory file when its content changes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{yaml, InventoryError, InventoryProblem, Snapshot};

/// A write within this long of our read may not have changed the modification time we saw
/// (coarse timestamps), so until the file is older than that, its content is checked on every
/// poll.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Polls an inventory file and parses it again when its content changes.
///
/// The cheap check is the modification time and size; the content's hash decides, so touching
/// the file or rewriting it identically does not reload. When the file cannot be read or is not
/// YAML, [`FileWatcher::poll`] returns `None` (the caller keeps its previous index), logs a
/// warning once per distinct failure and keeps the error for [`FileWatcher::last_error`].
#[derive(Debug)]
pub struct FileWatcher {
    path: PathBuf,
    /// Modification time and size seen at the last read.
    stamp: Option<(SystemTime, u64)>,
    /// When that read happened.
    read_at: Option<SystemTime>,
    /// Hash of the content last parsed, successfully or not.
    content_hash: Option<u64>,
    /// Whether that content parsed.
    content_ok: bool,
    last_error: Option<InventoryError>,
}

impl FileWatcher {
    /// Watches `path`; the first [`FileWatcher::poll`] loads it.
    pub fn new(path: impl Into<PathBuf>) -> FileWatcher {
        FileWatcher {
            path: path.into(),
            stamp: None,
            read_at: None,
            content_hash: None,
            content_ok: false,
            last_error: None,
        }
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The snapshot and per-object problems when the file's content changed since the last
    /// poll (always on the first successful poll); `None` when it did not change, or when the
    /// new content cannot be used (see [`FileWatcher::last_error`]).
    pub fn poll(&mut self) -> Option<(Snapshot, Vec<InventoryProblem>)> {
        match self.check() {
            Ok(loaded) => loaded,
            Err(error) => {
                let message = error.to_string();
                if self.last_error.as_ref().map(ToString::to_string) != Some(message) {
                    tracing::warn!(%error, "inventory file unusable; keeping the previous inventory");
                }
                self.last_error = Some(error);
                None
            }
        }
    }

    /// Why the latest poll that found a change could not use it; cleared by a successful load.
    pub fn last_error(&self) -> Option<&InventoryError> {
        self.last_error.as_ref()
    }

    fn check(&mut self) -> Result<Option<(Snapshot, Vec<InventoryProblem>)>, InventoryError> {
        let read_error = |source| InventoryError::Read {
            path: self.path.clone(),
            source,
        };
        let meta = std::fs::metadata(&self.path).map_err(read_error)?;
        let stamp = (meta.modified().map_err(read_error)?, meta.len());
        if Some(stamp) == self.stamp && !self.racy(stamp.0) {
            return Ok(None);
        }
        let now = SystemTime::now();
        let bytes = std::fs::read(&self.path).map_err(read_error)?;
        self.stamp = Some(stamp);
        self.read_at = Some(now);
        let hash = {
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            h.finish()
        };
        if Some(hash) == self.content_hash {
            if self.content_ok {
                // Readable again with the content in use: an earlier read error is over.
                self.last_error = None;
            }
            return Ok(None);
        }
        // Remember the content even if it fails to parse: retrying it would fail again.
        self.content_hash = Some(hash);
        self.content_ok = false;
        let text = String::from_utf8(bytes)
            .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let loaded = yaml::parse_str(&text, &self.path.display().to_string())?;
        self.content_ok = true;
        self.last_error = None;
        Ok(Some(loaded))
    }

    /// True when a write could have happened after our read without moving `mtime`.
    fn racy(&self, mtime: SystemTime) -> bool {
        match self.read_at {
            Some(read_at) => mtime + RACY_WINDOW >= read_at,
            None => true,
        }
    }
}
