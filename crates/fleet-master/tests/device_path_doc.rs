//! The crate docs walk one device from `fleet run` to its `results.jsonl`
//! line through named functions. This test keeps that walk true: every
//! name it cites (`module::Type::function`, `dispatch/finish.rs`) must
//! still exist in the workspace, so a rename cannot leave the newcomer's
//! map pointing at nothing.

use std::path::{Path, PathBuf};

/// The workspace root (this crate is `crates/fleet-master`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `# One device ...` section of the crate docs.
fn path_section() -> String {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read src/lib.rs");
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let start = docs
        .iter()
        .position(|l| l.starts_with("# One device"))
        .expect("the crate docs have a `# One device ...` section");
    docs[start..].join(" ")
}

/// The backticked names in `text` (`a::b`, `c`), links' brackets removed.
fn cited(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.trim_matches(['[', ']']).to_string())
        .collect()
}

/// Whether `name` is defined somewhere in `sources`: a function, type,
/// module or enum variant of that name.
fn defined(name: &str, sources: &[String]) -> bool {
    let decls = [
        format!("fn {name}("),
        format!("fn {name}<"),
        format!("struct {name}"),
        format!("enum {name}"),
        format!("type {name}"),
        format!("mod {name}"),
    ];
    let variants = [format!("    {name} {{"), format!("    {name}(")];
    sources.iter().any(|s| {
        decls.iter().any(|d| s.contains(d.as_str()))
            || variants.iter().any(|v| s.contains(v.as_str()))
    })
}

#[test]
fn every_name_on_the_device_path_exists() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["crates", "bin"] {
        rust_files(&root.join(dir), &mut files);
    }
    let sources: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    assert!(sources.len() > 50, "read the workspace sources");

    let section = path_section();
    let mut checked = 0;
    let mut missing = Vec::new();
    for name in cited(&section) {
        if name.ends_with(".rs") || name.ends_with(".md") {
            let found = root.join(&name).exists()
                || root.join("crates/fleet-master/src").join(&name).exists();
            if !found {
                missing.push(name);
            }
            checked += 1;
        } else if name.contains("::") {
            let last = name.rsplit("::").next().unwrap_or(&name);
            if !defined(last, &sources) {
                missing.push(name);
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "the path cites its functions ({checked} names)"
    );
    assert!(
        missing.is_empty(),
        "named in lib.rs but not found: {missing:?}"
    );
}
