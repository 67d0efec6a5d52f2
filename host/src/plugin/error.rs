//! Why a plugin could not be loaded.

use crate::error::{Classified, Fault};
use thiserror::Error;

/// Why a plugin (or a set of them) could not be loaded; the origin names the file.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A plugin file or the plugin directory could not be read.
    #[error("cannot read plugin file {path}: {source}")]
    Read {
        /// The file or directory.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not a valid WebAssembly component.
    #[error("{origin}: not a valid WebAssembly component: {reason}")]
    Compile {
        /// The plugin file.
        origin: String,
        /// Why compilation failed.
        reason: String,
    },
    /// The component does not match the plugin contract the host implements.
    #[error("{origin}: does not match the plugin contract {contract}: {reason}")]
    Contract {
        /// The plugin file.
        origin: String,
        /// The contract the component was checked against ([`super::CONTRACT_VERSION`]).
        contract: &'static str,
        /// What does not match.
        reason: String,
    },
    /// The plugin's `describe` call failed.
    #[error("{origin}: `describe` failed: {reason}")]
    Describe {
        /// The plugin file.
        origin: String,
        /// Why the call failed.
        reason: String,
    },
    /// The descriptor the plugin returned is invalid.
    #[error("{origin}: invalid descriptor: {reason}")]
    Descriptor {
        /// The plugin file.
        origin: String,
        /// What is wrong with the descriptor.
        reason: String,
    },
    /// The plugin's configured settings do not fit what it declares.
    #[error("{origin}: refused settings: {reason}")]
    Settings {
        /// The plugin file.
        origin: String,
        /// The setting and what is wrong with it (`plugins.<name>.settings.<key>: ...`).
        reason: String,
    },
    /// The plugin declares a signal the operator has not mapped to a Kafka topic.
    #[error("{origin}: signal {signal:?} has no topic: map it in `[kafka.signal_topics]` ({signal} = \"<topic>\")")]
    UnmappedSignal {
        /// The plugin file.
        origin: String,
        /// The signal's name.
        signal: String,
    },
    /// Two plugins of one set have the same name.
    #[error("two plugins are named {name:?} ({first} and {second})")]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The file loaded first.
        first: String,
        /// The file loaded second.
        second: String,
    },
    /// The plugin directory holds no `.wasm` files.
    #[error("no plugins found in {dir}")]
    Empty {
        /// The directory.
        dir: String,
    },
    /// The WebAssembly engine, linker or epoch ticker could not be set up.
    #[error("cannot set up the WebAssembly runtime: {0}")]
    Runtime(String),
    /// A plugin asked for by name is not among those loaded.
    #[error("no plugin named {name:?}; loaded: {loaded}")]
    NoSuchPlugin {
        /// The name asked for.
        name: String,
        /// The names of the loaded plugins, comma-separated.
        loaded: String,
    },
    /// The plugin directory watcher could not be started.
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
