//! The reference under `docs/` stays true to the binary: every diagnostic code has its
//! section in `docs/diagnostics.md`, with the fixture that triggers it and the output
//! `orgplan validate` really prints for it; and nothing in the repository points at a
//! file outside it.

use std::path::{Path, PathBuf};

use crate::common::{fixture, orgplan, root, run};

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `## heading` sections of a markdown page: (heading, body up to the next one).
fn sections(page: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    let mut in_fence = false;
    for line in page.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && let Some(heading) = line.strip_prefix("## ") {
            out.push((heading.trim(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The fenced ```` ```console ```` blocks of a section, each as its lines.
fn console_blocks(body: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```console" => current = Some(Vec::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(lines) => lines.push(line),
        }
    }
    blocks
}

fn is_code_like(heading: &str) -> bool {
    !heading.is_empty()
        && heading
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
}

/// What `orgplan ARGS…` prints, run in `dir` without colour: its stdout, or its stderr
/// alone when the command ends like a shell's `2>&1 >/dev/null`.
fn printed_by(command: &str, dir: &Path) -> String {
    const STDERR_ONLY: &str = " 2>&1 >/dev/null";
    let (args, stderr_only) = match command.strip_suffix(STDERR_ONLY) {
        Some(args) => (args, true),
        None => (command, false),
    };
    let output = orgplan()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args.split_whitespace())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let printed = if stderr_only {
        output.stderr
    } else {
        output.stdout
    };
    String::from_utf8_lossy(&printed).trim_end().to_owned()
}

/// Run the ```` ```console ```` blocks of the page at `path` (relative to the root) whose
/// first line is `$ orgplan ARGS…` in `dir`, and report each whose shown output is not
/// what the binary prints. With `ORGPLAN_BLESS_DOCS=1`, rewrite the page with the real
/// output instead (review the diff as if it were code).
fn check_console_blocks(path: &str, page: &str, dir: &Path, problems: &mut Vec<String>) {
    let bless = std::env::var_os("ORGPLAN_BLESS_DOCS").is_some_and(|v| v == "1");
    let mut rewritten = String::with_capacity(page.len());
    let mut lines = page.lines();
    let mut changed = false;
    while let Some(line) = lines.next() {
        rewritten.push_str(line);
        rewritten.push('\n');
        if line.trim_end() != "```console" {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_end() != "```")
            .collect();
        let command = block
            .first()
            .and_then(|first| first.strip_prefix("$ orgplan "));
        let shown = block.get(1..).unwrap_or_default().join("\n");
        let body = match command {
            Some(command) => {
                let printed = printed_by(command, dir);
                if printed != shown {
                    changed = true;
                    problems.push(format!(
                        "{path}: `orgplan {command}` does not print what is shown; it prints:\n{printed}"
                    ));
                }
                format!("{}\n{printed}", block[0])
            }
            None => block.join("\n"),
        };
        if !body.is_empty() {
            rewritten.push_str(&body);
            rewritten.push('\n');
        }
        rewritten.push_str("```\n");
    }
    if bless && changed {
        std::fs::write(root().join(path), rewritten).unwrap_or_else(|e| panic!("{path}: {e}"));
        problems.retain(|p| !p.starts_with(&format!("{path}: `orgplan ")));
    }
}

/// Every code of `orgplan::diag::CODES` has a `## CODE` section (its anchor is
/// `#CODE`) that states its severity and shows `orgplan validate` on the fixture folder
/// that triggers it; every command shown prints exactly what the page shows. Every
/// problem is collected and reported at once.
#[test]
fn every_code_has_a_documented_section_with_a_fixture_and_its_real_output() {
    let page = read("docs/diagnostics.md");
    let sections = sections(&page);
    let mut problems = Vec::new();
    for info in orgplan::diag::CODES {
        let code = info.code.as_str();
        let Some((_, body)) = sections.iter().find(|(heading, _)| *heading == code) else {
            problems.push(format!("docs/diagnostics.md has no `## {code}` section"));
            continue;
        };
        let severity = match info.severity {
            orgplan::diag::Severity::Error => "error",
            orgplan::diag::Severity::Warning => "warning",
        };
        if !body.contains(&format!("**Severity:** {severity}")) {
            problems.push(format!(
                "`## {code}` does not say `**Severity:** {severity}`"
            ));
        }
        let folder = fixture(&format!("diagnostics/{code}"));
        if !root().join(&folder).is_dir() {
            problems.push(format!("`{code}` has no fixture folder `{folder}/`"));
            continue;
        }
        let command = format!("$ orgplan validate -p {folder}");
        if !console_blocks(body)
            .iter()
            .any(|b| b.first() == Some(&command.as_str()))
        {
            problems.push(format!(
                "`## {code}` has no ```console block starting with `{command}`"
            ));
        }
        let (stdout, _, _) = run(&["validate", "-p", &folder]);
        if !stdout.contains(&format!("[{code}]")) {
            problems.push(format!("{folder} does not yield `{code}`:\n{stdout}"));
        }
    }
    check_console_blocks("docs/diagnostics.md", &page, &root(), &mut problems);
    // A section named like a code must be one: no page for a code that no longer exists.
    for (heading, _) in &sections {
        if is_code_like(heading)
            && !orgplan::diag::CODES
                .iter()
                .any(|c| c.code.as_str() == *heading)
        {
            problems.push(format!(
                "docs/diagnostics.md has a section `## {heading}` for no code"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The files of "A complete example" in `docs/policy.md`: each ```` ```yaml ```` block
/// there, named by the `` `NAME`: `` line before it.
fn example_files(page: &str) -> Vec<(String, String)> {
    let (_, body) = sections(page)
        .into_iter()
        .find(|(heading, _)| *heading == "A complete example")
        .unwrap_or_else(|| panic!("docs/policy.md has no `## A complete example`"));
    let mut files = Vec::new();
    let mut name: Option<String> = None;
    let mut content: Option<String> = None;
    for line in body.lines() {
        match content.as_mut() {
            Some(text) if line.trim_end() == "```" => {
                let file = name
                    .take()
                    .unwrap_or_else(|| panic!("a yaml block without a name"));
                files.push((file, std::mem::take(text)));
                content = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None if line.trim_end() == "```yaml" => content = Some(String::new()),
            None => {
                if let Some(file) = line.strip_prefix('`').and_then(|l| l.strip_suffix("`:")) {
                    name = Some(file.to_owned());
                }
            }
        }
    }
    files
}

/// The example policy of `docs/policy.md` is valid without a warning, and every command on
/// the page, run in a folder that holds it as `policies/`, prints what the page shows.
#[test]
fn the_policy_page_example_is_valid_and_its_commands_print_what_is_shown() {
    let page = read("docs/policy.md");
    let files = example_files(&page);
    assert!(files.len() >= 2, "{files:?}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.path().join("policies")).unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in &files {
        std::fs::write(dir.path().join("policies").join(name), text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let output = orgplan()
        .current_dir(dir.path())
        .args(["validate"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("; 0 warnings)"), "{stdout}");
    let mut problems = Vec::new();
    check_console_blocks("docs/policy.md", &page, dir.path(), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The commands shown on the other pages run from the repository root and print what is
/// shown.
#[test]
fn commands_on_the_other_pages_print_what_is_shown() {
    let mut problems = Vec::new();
    for page in [
        "plan.md",
        "providers.md",
        "formats.md",
        "exit-codes.md",
        "README.md",
    ] {
        let path = format!("docs/{page}");
        check_console_blocks(&path, &read(&path), &root(), &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The index links every page of the reference, and every page exists.
#[test]
fn the_docs_index_links_every_page() {
    let index = read("docs/README.md");
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap_or_else(|e| panic!("docs/: {e}"))
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md") && name != "README.md")
        .collect();
    pages.sort();
    assert!(!pages.is_empty());
    for page in &pages {
        assert!(
            index.contains(&format!("]({page})")),
            "docs/README.md does not link `{page}`"
        );
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if dir == root() && (name == "target" || name == ".git") {
                continue;
            }
            walk(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// Someone who clones orgplan has only the repository: no file in it (outside `target/`
/// and `.git/`) may point at the engineering notes beside it.
#[test]
fn no_file_refers_outside_the_repository() {
    // Spelt in pieces so that this file does not match itself.
    let needles = [
        ["..", "/shared"].concat(),
        ["SPEC", ".md"].concat(),
        ["SPEC", " §"].concat(),
    ];
    let mut files = Vec::new();
    walk(&root(), &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in &files {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (number, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle.as_str())) {
                let relative = file.strip_prefix(root()).unwrap_or(file);
                found.push(format!(
                    "{}:{}: {}",
                    relative.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} references to files outside the repository:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn code_like_headings_are_recognised() {
    assert!(is_code_like("unknown-reference"));
    assert!(is_code_like("schema"));
    assert!(!is_code_like("How to read a diagnostic"));
    assert!(!is_code_like("yaml-"));
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped (but `-` and `_`), spaces
/// as `-`; a repeated anchor gets `-1`, `-2` …
fn anchors(page: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in page.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if in_fence {
            continue;
        }
        let text = heading.trim_start_matches('#').trim();
        let slug: String = text
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let repeats = seen
            .iter()
            .filter(|s| {
                **s == slug
                    || s.strip_prefix(&format!("{slug}-"))
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        seen.push(if repeats == 0 {
            slug
        } else {
            format!("{slug}-{repeats}")
        });
    }
    seen
}

/// Every relative link of the docs pages leads to a file that exists, and a `#anchor` to a
/// heading of that page.
#[test]
fn links_between_the_docs_pages_resolve() {
    let docs = root().join("docs");
    let mut problems = Vec::new();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&docs)
        .unwrap_or_else(|e| panic!("docs/: {e}"))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{e}"));
        let name = page
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else {
                continue;
            };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                docs.join(file)
            };
            if !path.exists() {
                problems.push(format!("{name}: `{target}`: no such file"));
                continue;
            }
            if let Some(anchor) = anchor {
                let linked = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&linked).iter().any(|a| a == anchor) {
                    problems.push(format!("{name}: `{target}`: no such heading"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn anchors_follow_github() {
    let page = "# The plan\n## `org.defaults`\n## Limits\n```\n# not a heading\n```\n### Limits\n## Identity: emails and names\n";
    assert_eq!(
        anchors(page),
        [
            "the-plan",
            "orgdefaults",
            "limits",
            "limits-1",
            "identity-emails-and-names"
        ]
    );
}
