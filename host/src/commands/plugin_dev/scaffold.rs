//! `live-shopper plugin new NAME`: writes a plugin crate against the SDK — a small working
//! plugin (visits per shopper, with a timer), its native unit tests and a golden fixture — from
//! the templates in `template/`.

use anyhow::{bail, Context};
use std::path::{Component, Path, PathBuf};

const CARGO_TOML: &str = include_str!("template/Cargo.toml.in");
const LIB_RS: &str = include_str!("template/lib.rs.in");
const README: &str = include_str!("template/README.md.in");
const GITIGNORE: &str = include_str!("template/gitignore");
const FIXTURE_INPUT: &str = include_str!("template/basic.input.jsonl");
const FIXTURE_EXPECTED: &str = include_str!("template/basic.expected.jsonl.in");

/// Writes the crate `parent/name` against the SDK at `sdk`, asking for the entity `schema` if
/// given; returns its folder.
pub fn scaffold(name: &str, parent: &Path, sdk: &Path, schema: Option<&str>) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    if let Some(uri) = schema {
        live_shopper_abi::SchemaCriterion::parse(uri).map_err(|e| anyhow::anyhow!("--schema: {e}"))?;
    }
    let entities = match schema {
        Some(uri) => format!("entities: vec![live_shopper_sdk::schema({uri:?})],\n            "),
        None => String::new(),
    };
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists; pick another name or folder (--dir)", dir.display());
    }
    let sdk = sdk.canonicalize().with_context(|| format!("cannot find the SDK at {}", sdk.display()))?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!("{} is not the Live Shopper SDK (no Cargo.toml)", sdk.display());
    }
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("fixtures"))?;
    let dir = dir.canonicalize()?;
    let sdk_path = relative_path(&dir, &sdk).unwrap_or(sdk);
    let fill = |template: &str| {
        template
            .replace("__NAME__", name)
            .replace("__TYPE__", &type_name(name))
            .replace("__CRATE__", &name.replace('-', "_"))
            .replace("__SDK__", &sdk_path.display().to_string())
            .replace("__ENTITIES__", &entities)
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_string()),
        ("fixtures/basic.input.jsonl", FIXTURE_INPUT.to_string()),
        ("fixtures/basic.expected.jsonl", fill(FIXTURE_EXPECTED)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir)
}

/// Names cargo refuses for a package (Rust keywords, the built-in crates) or that would be the
/// plugin's own dependencies.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "std",
    "core",
    "alloc",
    "test",
    "proc-macro",
    "live-shopper-sdk",
    "live-shopper-abi",
    "wit-bindgen",
];

/// A plugin name is also the crate name and part of Redis keys: lowercase ASCII letters, digits
/// and dashes, starting with a letter, and not a name cargo reserves.
fn check_name(name: &str) -> anyhow::Result<()> {
    if RESERVED.contains(&name) {
        bail!("{name:?} is reserved (a Rust keyword or a crate the plugin depends on); pick another name");
    }
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "{name:?} is not a valid plugin name: use lowercase letters, digits and dashes, starting with \
             a letter (at most 40 characters), e.g. `visits` or `wishlist-adds`"
        );
    }
    Ok(())
}

/// `wishlist-adds` → `WishlistAdds`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `to` relative to `from` (both absolute), e.g. `../../sdk`; `None` when they share nothing
/// below the root (an absolute path reads better then).
fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    let (from, to): (Vec<Component>, Vec<Component>) =
        (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common < 2 {
        return None;
    }
    let mut path: PathBuf = std::iter::repeat_n(Component::ParentDir, from.len() - common).collect();
    path.extend(&to[common..]);
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_type_names() {
        for good in ["visits", "wishlist-adds", "a1"] {
            check_name(good).unwrap();
        }
        for bad in ["", "Visits", "1st", "with space", "under_score", "trailing-", &"x".repeat(41)] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("not a valid plugin name"), "{bad:?}: {err}");
        }
        for reserved in ["fn", "test", "live-shopper-sdk"] {
            assert!(check_name(reserved).unwrap_err().to_string().contains("reserved"), "{reserved}");
        }
        assert_eq!(type_name("wishlist-adds"), "WishlistAdds");
        assert_eq!(type_name("visits"), "Visits");
    }

    #[test]
    fn the_sdk_path_is_written_relative_when_it_can_be() {
        let rel = relative_path(Path::new("/repo/plugins/visits"), Path::new("/repo/sdk"));
        assert_eq!(rel, Some(PathBuf::from("../../sdk")));
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/b/c")), Some(PathBuf::from("c")));
        assert_eq!(relative_path(Path::new("/tmp/x"), Path::new("/work/sdk")), None);
    }

    #[test]
    fn an_existing_folder_is_not_overwritten() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir(parent.path().join("visits")).unwrap();
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        let err = scaffold("visits", parent.path(), &sdk, None).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn a_schema_is_declared_in_the_descriptor_and_a_malformed_one_refused() {
        let parent = tempfile::tempdir().unwrap();
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        let dir =
            scaffold("loyal", parent.path(), &sdk, Some("iglu:com.acme/loyalty/jsonschema/1-*-*")).unwrap();
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains(
                r#"entities: vec![live_shopper_sdk::schema("iglu:com.acme/loyalty/jsonschema/1-*-*")],"#
            ),
            "{lib}"
        );
        let err = scaffold("other", parent.path(), &sdk, Some("com.acme/loyalty")).unwrap_err().to_string();
        assert!(err.contains("--schema") && err.contains("iglu:"), "{err}");
    }
}
