//! A plugin directory watched for changes (hot load, reload and unload). A background thread
//! looks at the `*.wasm` files every interval; a new or changed file is compiled and checked
//! there, off the hot path, and offered as a [`PluginChange`] that the pipeline applies between
//! steps. A file that fails to compile or validate is refused with the reason and the running
//! version stays; a removed file unloads its plugin.

use super::error::LoadError;
use super::limits::PluginPolicy;
use super::runtime::PluginRuntime;
use super::wasm_operator::WasmOperator;
use crate::engine::Operator;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Something that changed in the directory.
pub enum PluginChange {
    /// A new or changed file, compiled and checked (which took `prepared_in`): install it.
    Load {
        /// The file's path.
        origin: String,
        /// The compiled and checked plugin.
        op: Box<WasmOperator>,
        /// Time spent reading, compiling and checking the file.
        prepared_in: Duration,
    },
    /// A file is gone: stop its plugin.
    Remove {
        /// The file's path.
        origin: String,
        /// The plugin to stop.
        name: String,
    },
    /// A new or changed file that cannot run; whatever ran before keeps running.
    Refused {
        /// The file's path.
        origin: String,
        /// Why it cannot run.
        error: String,
    },
}

/// What is known of one file.
#[derive(Clone)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    hash: String,
    /// The plugin it provides, if it loaded.
    name: Option<String>,
}

/// A watched plugin directory: the files seen, and the runtime and limits new ones load with.
pub struct PluginDirectory {
    dir: PathBuf,
    runtime: PluginRuntime,
    policy: PluginPolicy,
    seen: BTreeMap<PathBuf, Seen>,
}

fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

impl PluginDirectory {
    /// Loads every plugin in `dir` (refusing the directory as [`super::embedded::load_dir`] does)
    /// and remembers the files, to watch for changes after.
    pub fn open(
        dir: &Path,
        runtime: PluginRuntime,
        policy: PluginPolicy,
    ) -> Result<(Self, Vec<WasmOperator>), LoadError> {
        let ops = super::embedded::load_dir(&runtime, dir, &policy)?;
        let mut this = PluginDirectory { dir: dir.to_path_buf(), runtime, policy, seen: BTreeMap::new() };
        let names: BTreeMap<String, String> =
            ops.iter().map(|op| (op.content_hash().to_string(), op.descriptor().name.clone())).collect();
        for path in
            wasm_files(dir).map_err(|source| LoadError::Read { path: dir.display().to_string(), source })?
        {
            if let Some(mut seen) = this.look(&path) {
                seen.name = names.get(&seen.hash).cloned();
                this.seen.insert(path, seen);
            }
        }
        Ok((this, ops))
    }

    /// The file's metadata and content hash, if it can be read.
    fn look(&self, path: &Path) -> Option<Seen> {
        let meta = std::fs::metadata(path).ok()?;
        let bytes = std::fs::read(path).ok()?;
        Some(Seen {
            modified: meta.modified().ok(),
            len: meta.len(),
            hash: hex::encode(Sha256::digest(&bytes)),
            name: None,
        })
    }

    /// Compares the directory with what was seen, loading what is new or changed.
    pub fn scan(&mut self) -> Vec<PluginChange> {
        let mut changes = Vec::new();
        let files = match wasm_files(&self.dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the plugin directory");
                return changes;
            }
        };
        for (path, seen) in self.seen.clone() {
            if !files.contains(&path) {
                self.seen.remove(&path);
                if let Some(name) = seen.name {
                    changes.push(PluginChange::Remove { origin: path.display().to_string(), name });
                }
            }
        }
        for path in files {
            let known = self.seen.get(&path);
            if let (Some(k), Ok(meta)) = (known, std::fs::metadata(&path)) {
                if k.modified == meta.modified().ok() && k.len == meta.len() {
                    continue;
                }
            }
            let Some(mut now) = self.look(&path) else { continue };
            let previous = known.cloned();
            if previous.as_ref().is_some_and(|p| p.hash == now.hash) {
                now.name = previous.and_then(|p| p.name);
                self.seen.insert(path, now);
                continue;
            }
            let origin = path.display().to_string();
            now.name = previous.as_ref().and_then(|p| p.name.clone());
            let preparing = Instant::now();
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|wasm| self.runtime.load(&origin, &wasm, &self.policy).map_err(|e| e.to_string()))
            {
                Ok(op) => {
                    let name = op.descriptor().name.clone();
                    let clash =
                        self.seen.iter().find(|(p, s)| **p != path && s.name.as_deref() == Some(&name));
                    if let Some((other, _)) = clash {
                        let error = format!("plugin {name:?} is already loaded from {}", other.display());
                        changes.push(PluginChange::Refused { origin, error });
                    } else {
                        if let Some(old) = now.name.replace(name.clone()).filter(|old| *old != name) {
                            changes.push(PluginChange::Remove { origin: origin.clone(), name: old });
                        }
                        let prepared_in = preparing.elapsed();
                        changes.push(PluginChange::Load { origin, op: Box::new(op), prepared_in });
                    }
                }
                Err(error) => changes.push(PluginChange::Refused { origin, error }),
            }
            self.seen.insert(path, now);
        }
        changes
    }

    /// Scans every `every` on a background thread until `stop`; changes arrive on the receiver.
    pub fn watch(
        mut self,
        every: Duration,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Receiver<PluginChange>> {
        let (tx, rx) = channel();
        std::thread::Builder::new().name("plugin-watch".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                for change in self.scan() {
                    if tx.send(change).is_err() {
                        return;
                    }
                }
            }
        })?;
        Ok(rx)
    }
}
