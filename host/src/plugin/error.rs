//! Why a plugin could not be loaded.

use crate::error::{Classified, Fault};
use thiserror::Error;

/// Why a plugin (or a set of them) could not be loaded; the origin names the file.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read plugin file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{origin}: not a valid WebAssembly component: {reason}")]
    Compile { origin: String, reason: String },
    #[error("{origin}: does not match the plugin contract {contract}: {reason}")]
    Contract { origin: String, contract: &'static str, reason: String },
    #[error("{origin}: `describe` failed: {reason}")]
    Describe { origin: String, reason: String },
    #[error("{origin}: invalid descriptor: {reason}")]
    Descriptor { origin: String, reason: String },
    #[error("two plugins are named {name:?} ({first} and {second})")]
    DuplicateName { name: String, first: String, second: String },
    #[error("no plugins found in {dir}")]
    Empty { dir: String },
    #[error("cannot set up the WebAssembly runtime: {0}")]
    Runtime(String),
    #[error("no plugin named {name:?}; loaded: {loaded}")]
    NoSuchPlugin { name: String, loaded: String },
    #[error("cannot start the plugin directory watcher")]
    Watcher(#[source] std::io::Error),
}

impl Classified for LoadError {
    fn fault(&self) -> Fault {
        match self {
            LoadError::Read { .. } | LoadError::Watcher(_) => Fault::External,
            LoadError::Runtime(_) => Fault::Internal,
            _ => Fault::Input,
        }
    }
}
