//! Checkpoints on disk: the engine's snapshot (keyed state, timers, dedup memory, watermark)
//! written atomically — a temporary file, fsync, rename — so a restart resumes the state that
//! covers the committed Kafka offsets, and records read again after a crash are caught by dedup.

use crate::engine::snapshot::{RestoreReport, SnapshotError};
use crate::engine::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a checkpoint could not be read, restored or written.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// Reading or writing the checkpoint file failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The checkpoint file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but does not restore into the engine.
    #[error("checkpoint {path}: {source}")]
    Snapshot {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it does not restore.
        source: SnapshotError,
    },
}

impl crate::error::Classified for CheckpointError {
    /// The disk failing is external; a checkpoint that does not restore is bad input.
    fn fault(&self) -> crate::error::Fault {
        match self {
            CheckpointError::Io { .. } => crate::error::Fault::External,
            CheckpointError::Snapshot { .. } => crate::error::Fault::Input,
        }
    }
}

/// The engine's checkpoint file: restored at start, then saved atomically once per interval.
pub struct Checkpointer {
    path: PathBuf,
    interval: Duration,
    last: Instant,
    buf: Vec<u8>,
}

impl Checkpointer {
    /// A checkpointer for `path`, first due `interval` after its creation.
    pub fn new(path: &Path, interval: Duration) -> Self {
        Checkpointer { path: path.to_path_buf(), interval, last: Instant::now(), buf: Vec::new() }
    }

    /// Restores `engine` from the checkpoint file if there is one.
    pub fn load(&self, engine: &mut Engine) -> Result<Option<RestoreReport>, CheckpointError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path: self.path.clone(), source }),
        };
        engine
            .restore(&bytes)
            .map(Some)
            .map_err(|source| CheckpointError::Snapshot { path: self.path.clone(), source })
    }

    /// True when the interval since the last save has passed.
    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.interval
    }

    /// Writes the engine's snapshot atomically.
    pub fn save(&mut self, engine: &Engine) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io { path: self.path.clone(), source };
        engine.snapshot(&mut self.buf);
        let tmp = self.path.with_extension("tmp");
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&self.buf).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        self.last = Instant::now();
        Ok(())
    }
}
