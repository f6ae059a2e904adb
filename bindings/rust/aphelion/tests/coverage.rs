//! Every function of include/aphelion.h is reachable through the safe crate or listed, with a
//! reason, in bindings/rust/BINDING_EXCLUSIONS; the exclusions name real functions that the
//! crate does not call; and aphelion-sys declares exactly the header's functions.

use std::collections::BTreeSet;
use std::path::Path;

mod common;

/// Identifiers `aph_*` in the crate's sources, comments left out.
fn called_functions(src: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().map_or(true, |e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap();
            let bytes = code.as_bytes();
            let mut i = 0;
            while let Some(pos) = code[i..].find("aph_") {
                let start = i + pos;
                let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
                let mut end = start;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                if boundary {
                    found.insert(code[start..end].to_string());
                }
                i = end;
            }
        }
    }
    found
}

#[test]
fn every_header_function_is_bound_or_excluded() {
    let header: BTreeSet<String> = aphelion::sys::FUNCTIONS.iter().map(|s| s.to_string()).collect();
    assert!(header.len() > 250, "the generated function list looks truncated ({})", header.len());

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let called = called_functions(&manifest.join("src"));
    let exclusions_text = std::fs::read_to_string(manifest.join("../BINDING_EXCLUSIONS")).unwrap();
    let mut excluded = BTreeSet::new();
    let mut problems = Vec::new();
    for line in exclusions_text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut parts = line.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap().to_string();
        let reason = parts.next().unwrap_or("").trim();
        if reason.is_empty() {
            problems.push(format!("BINDING_EXCLUSIONS: {name} has no reason"));
        }
        if !header.contains(&name) {
            problems.push(format!("BINDING_EXCLUSIONS: {name} is not a function of the header"));
        }
        if called.contains(&name) {
            problems.push(format!("BINDING_EXCLUSIONS: {name} is excluded but the crate calls it"));
        }
        excluded.insert(name);
    }
    for f in &header {
        if !called.contains(f) && !excluded.contains(f) {
            problems.push(format!("{f} is neither called by the aphelion crate nor listed in BINDING_EXCLUSIONS"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The generated list is the header's (bindings_generated_current checks the whole file; this
/// catches a stale aphelion-sys when python3 is at hand).
#[test]
fn generated_functions_are_the_headers() {
    let root = common::repo_root();
    let out = match std::process::Command::new("python3")
        .arg(root.join("tools/aphelion_header.py"))
        .arg("--functions")
        .output()
    {
        Ok(o) if o.status.success() => o,
        _ => {
            eprintln!("python3 tools/aphelion_header.py unavailable: comparison skipped");
            return;
        }
    };
    let from_header: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    let generated: Vec<String> = aphelion::sys::FUNCTIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(from_header, generated, "run python3 bindings/gen/generate.py rust");
}
