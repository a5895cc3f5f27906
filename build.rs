//! Embeds the admin console. Lists every file under `playground/` into
//! `$OUT_DIR/playground_assets.rs` (one `include_bytes!` each), which `src/http/playground.rs`
//! includes. Not embedded: `playground/README.md`, dotfiles and editor backups, and
//! `playground/operations/next/` (operations staged for API the server does not serve yet).
//!
//! A generated list rather than a hand-kept one: the console is some forty small files
//! (pages, styles, operation documents), and a file missing from a hand-kept list only shows in
//! the browser (a module answered with index.html). Std only, no dependency.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir.join("playground");
    // A directory: cargo rescans the whole tree for changes.
    println!("cargo:rerun-if-changed=playground");

    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();

    let mut out = String::from("const ASSETS: &[Asset] = &[\n");
    for rel in &files {
        let content_type = content_type(rel).unwrap_or_else(|| {
            panic!("playground/{rel}: unknown file type; add it to content_type() in build.rs")
        });
        let abs = root.join(rel);
        writeln!(
            out,
            "    Asset {{ path: {rel:?}, content_type: {content_type:?}, body: include_bytes!({:?}) }},",
            abs.display().to_string()
        )
        .expect("write to string");
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"))
        .join("playground_assets.rs");
    std::fs::write(dest, out).expect("write playground_assets.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("under playground/")
            .to_str()
            .expect("UTF-8 path")
            .replace('\\', "/");
        if rel == "README.md" || rel == "operations/next" {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            files.push(rel);
        }
    }
}

fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "graphql" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}
