//! The import rule of docs/architecture.md: a module imports only modules of lower layers
//! (its own submodules aside), so the crate has no import cycle. Read from the sources:
//! every `crate::NAME` outside a `#[cfg(test)]` module.
//!
//! The library is the pipeline; the command line (`cli`) and the synthetic-org generator
//! (`synth`) are the binary's modules (`src/main.rs` declares them and imports the library's
//! modules at its root, so they too name them `crate::NAME`). They form the top layers, so
//! no library module may name them.

use std::path::Path;

use crate::common::root;

/// From the bottom. A module may import any module of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["diag", "pool"],
    &["load"],
    &["model"],
    &["resolve"],
    &["validate", "explain", "live"],
    &["diff", "export"],
    &["plan"],
    &["provider"],
    &["apply"],
    &["policytest", "review"],
    // The binary's modules, above the whole library.
    &["synth"],
    &["cli"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|names| names.contains(&module))
}

/// The top-level module a source file belongs to: `src/provider/scim/map.rs` → `provider`.
fn module_of(path: &Path, src: &Path) -> String {
    let relative = path.strip_prefix(src).expect("under src/");
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let src = root().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    for file in &files {
        let module = module_of(file, &src);
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(own) = layer(&module) else {
            broken.push(format!(
                "{}: module `{module}` has no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source");
        // Test modules may build fixtures with anything; the rule is for the product.
        let product = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in product.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    broken.push(format!(
                        "{}:{}: write one `crate::module` path per import, not a group",
                        file.display(),
                        number + 1
                    ));
                    continue;
                }
                if name == module {
                    continue;
                }
                match layer(&name) {
                    Some(other) if other < own => {}
                    _ => broken.push(format!(
                        "{}:{}: `{module}` imports `{name}`",
                        file.display(),
                        number + 1
                    )),
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layers:\n{}",
        broken.join("\n")
    );
}

/// The environment is read once, at the edge: the CLI gathers it into
/// `provider::Settings` (and the binary decides colour), so no library module calls
/// `std::env::var` and a provider is configured only by what it is handed.
#[test]
fn only_the_cli_reads_the_environment() {
    let src = root().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut readers = Vec::new();
    for file in &files {
        if ["cli", "main", "bin"].contains(&module_of(file, &src).as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("source");
        // Tests may set up what they like; the rule is for the product.
        let product = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in product.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("env::var") {
                readers.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        readers.is_empty(),
        "the environment is read outside the CLI (read it into `provider::Settings`):\n{}",
        readers.join("\n")
    );
}
