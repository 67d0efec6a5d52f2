//! `live-shopper dev`: the host on the embedded default (generated traffic, in-memory store,
//! HTTP API) running plugins built from source folders. A watcher thread polls the sources; a
//! change rebuilds that crate and copies the component into the plugin directory, where the
//! host's own directory watcher hot-reloads it between steps (state kept when its schema is
//! unchanged). A failed build leaves the running version in place.

use super::cargo_build::build_plugin;
use crate::config::{Overrides, Settings};
use anyhow::{bail, Context};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Arguments of `live-shopper dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// A plugin crate to build, watch and hot-reload (repeatable) [default: every crate in ./plugins].
    #[arg(long = "plugin-src", value_name = "DIR")]
    pub sources: Vec<PathBuf>,
    /// The host's plugin directory, where the built components are copied. `dev` owns it: its
    /// `.wasm` files are replaced at start, so it refuses a folder it did not create.
    #[arg(long, value_name = "DIR", default_value = "target/live-shopper-dev/plugins")]
    pub out: PathBuf,
    /// How often the sources (and the plugin directory) are checked for changes, in ms.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_ms: u64,
    /// Address of the HTTP API [default 127.0.0.1:8080].
    #[arg(long)]
    pub http_addr: Option<String>,
    /// Generated events per second [default 500].
    #[arg(long)]
    pub rate: Option<u64>,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
}

/// Builds every source crate into `--out`, then runs the host while a watcher thread rebuilds
/// changed crates; a failed first build stops it.
pub fn run(args: DevArgs) -> anyhow::Result<()> {
    let sources = match args.sources.is_empty() {
        false => args.sources.clone(),
        true => crates_in(Path::new("plugins"))?,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    remove_components(&args.out)?;
    for source in &sources {
        rebuild(source, &args.out)?;
    }
    let every = Duration::from_millis(args.poll_ms);
    let overrides = Overrides {
        http_addr: args.http_addr.clone(),
        rate: args.rate,
        plugins_dir: Some(args.out.clone()),
        ..Overrides::default()
    };
    let mut settings = Settings::load(None, overrides)?;
    settings.plugins_watch = Some(every);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, out) = (stop.clone(), args.out.clone());
        std::thread::Builder::new()
            .name("source-watch".into())
            .spawn(move || watch(sources, &out, every, &stop))?
    };
    let result = crate::app::serve(settings, args.duration_secs.map(Duration::from_secs));
    stop.store(true, Ordering::Relaxed);
    if watcher.join().is_err() {
        eprintln!("dev: the source watcher panicked; its last rebuild may be missing");
    }
    result
}

/// Every folder with a `Cargo.toml` directly under `dir`, sorted.
fn crates_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!("no plugin sources: {} is not readable; pass --plugin-src DIR", dir.display())
    })?;
    let mut crates: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("Cargo.toml").is_file()).collect();
    crates.sort();
    if crates.is_empty() {
        bail!("no plugin crates in {}; pass --plugin-src DIR", dir.display());
    }
    Ok(crates)
}

/// Marks a plugin directory as `dev`'s own.
const MARKER: &str = ".live-shopper-dev";

/// Clears components of earlier sessions out of the plugin directory — only one `dev` made (or
/// an empty one), never a real plugin folder given by mistake.
fn remove_components(out: &Path) -> anyhow::Result<()> {
    let has_components =
        std::fs::read_dir(out)?.flatten().any(|e| e.path().extension().is_some_and(|x| x == "wasm"));
    if has_components && !out.join(MARKER).exists() {
        bail!(
            "{} holds plugins that `dev` did not put there; pick an empty or new folder for --out",
            out.display()
        );
    }
    std::fs::write(
        out.join(MARKER),
        "a plugin directory of `live-shopper dev`; its .wasm files are replaced\n",
    )?;
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Builds `source` and moves its component into `out` in one rename, so the directory watcher
/// never sees a half-written file.
fn rebuild(source: &Path, out: &Path) -> anyhow::Result<()> {
    eprintln!("dev: building {}…", source.display());
    let built = build_plugin(source)?;
    let file_name = built.wasm.file_name().context("a component path has a file name")?;
    let (target, bytes) = (out.join(file_name), std::fs::read(&built.wasm)?);
    if std::fs::read(&target).is_ok_and(|running| running == bytes) {
        eprintln!("dev: {} built the same component as before; nothing to reload", source.display());
        return Ok(());
    }
    let staged = out.join(format!(".{}.tmp", file_name.to_string_lossy()));
    std::fs::write(&staged, &bytes).with_context(|| format!("cannot write {}", staged.display()))?;
    std::fs::rename(&staged, &target)?;
    eprintln!("dev: built {} in {:.1} s; swapping it in", source.display(), built.took.as_secs_f64());
    Ok(())
}

/// Polls the sources every `every`; a changed one is rebuilt.
fn watch(sources: Vec<PathBuf>, out: &Path, every: Duration, stop: &AtomicBool) {
    let mut seen: Vec<u64> = sources.iter().map(|s| fingerprint(s)).collect();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(every);
        for (source, last) in sources.iter().zip(seen.iter_mut()) {
            let now = fingerprint(source);
            if now == *last {
                continue;
            }
            *last = now;
            eprintln!("dev: {} changed", source.display());
            if let Err(e) = rebuild(source, out) {
                eprintln!("dev: {e:#}\ndev: the running version of {} stays", source.display());
            }
        }
    }
}

/// A hash of the names, sizes and modification times of a crate's files (skipping `target/`
/// and hidden entries).
fn fingerprint(dir: &Path) -> u64 {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    hasher.finish()
}

fn collect_files(dir: &Path, files: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect_files(&entry.path(), files);
        } else {
            files.push((entry.path(), meta.len(), meta.modified().ok()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_of_plugins_dev_did_not_make_is_not_cleared() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("product.wasm"), "a real plugin").unwrap();
        let err = remove_components(dir.path()).unwrap_err().to_string();
        assert!(err.contains("did not put there"), "{err}");
        assert!(dir.path().join("product.wasm").exists());

        let own = tempfile::tempdir().unwrap();
        remove_components(own.path()).unwrap();
        std::fs::write(own.path().join("visits.wasm"), "built earlier").unwrap();
        remove_components(own.path()).unwrap();
        assert!(!own.path().join("visits.wasm").exists(), "dev's own folder is cleared");
    }

    #[test]
    fn a_fingerprint_changes_with_a_source_file_and_ignores_target() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "a").unwrap();
        let before = fingerprint(dir.path());
        std::fs::write(dir.path().join("target/out.wasm"), "built").unwrap();
        assert_eq!(fingerprint(dir.path()), before, "build output is not a change");
        std::fs::write(dir.path().join("src/lib.rs"), "ab").unwrap();
        assert_ne!(fingerprint(dir.path()), before);
    }
}
