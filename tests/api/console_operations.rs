//! Every GraphQL operation the console sends is valid against the schema the server serves.
//!
//! The console sends operations by name, taking their text from `playground/operations/*.graphql`
//! (see `playground/README.md`). Here each of those operations is cut out with the fragments it
//! uses, exactly as `playground/js/graphql.js` does, and validated by the real schema
//! (`build_schema`): unknown fields, arguments, types or variables, and queries over the depth
//! and complexity limits, fail the test. Operations staged in `playground/operations/next/`
//! (API that is not served yet) are only parsed. Names are unique, and the console's code calls
//! exactly the operations that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use async_graphql::Request;
use portal_admin::graphql::build_schema;

use crate::common::test_config;

const SENTINEL: &str = "__console_validation_only__";

#[derive(Debug, Clone)]
struct Definition {
    kind: String,
    name: String,
    text: String,
    fragments: Vec<String>,
    file: String,
}

fn playground() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playground")
}

fn graphql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "graphql"))
        .collect();
    files.sort();
    files
}

/// The top-level definitions of a document, split by matching braces outside comments and
/// strings (the same cut as `splitDefinitions` in `playground/js/graphql.js`).
fn split_definitions(source: &str, file: &str) -> Vec<Definition> {
    let bytes = source.as_bytes();
    let mut definitions = Vec::new();
    let mut depth = 0usize;
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if source[i..].starts_with("\"\"\"") => {
                i = source[i + 3..]
                    .find("\"\"\"")
                    .map_or(bytes.len(), |end| i + 3 + end + 2);
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => {
                if depth == 0 && start.is_none() {
                    start = Some(i); // an anonymous operation; `describe` reports it
                }
                depth += 1;
            }
            b'}' => {
                depth = depth
                    .checked_sub(1)
                    .unwrap_or_else(|| panic!("{file}: unbalanced }}"));
                if depth == 0 {
                    let begin = start
                        .take()
                        .unwrap_or_else(|| panic!("{file}: stray braces"));
                    definitions.push(describe(&source[begin..=i], file));
                }
            }
            c if depth == 0 && start.is_none() && !c.is_ascii_whitespace() && c != b',' => {
                start = Some(i);
            }
            _ => {}
        }
        i += 1;
    }
    assert!(
        depth == 0 && start.is_none(),
        "{file}: unterminated definition"
    );
    definitions
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn describe(text: &str, file: &str) -> Definition {
    let mut words = text
        .split(|c: char| !is_name_char(c))
        .filter(|w| !w.is_empty());
    let kind = words.next().unwrap_or_default().to_owned();
    let name = words.next().unwrap_or_default().to_owned();
    assert!(
        matches!(kind.as_str(), "query" | "mutation" | "fragment")
            && !text[kind.len()..].trim_start().starts_with(['{', '(']),
        "{file}: every operation needs a name (found `{}`)",
        text.lines().next().unwrap_or_default()
    );
    let without_comments: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let fragments = without_comments
        .split("...")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|&c| is_name_char(c))
                .collect();
            (!name.is_empty() && name != "on").then_some(name)
        })
        .collect();
    Definition {
        kind,
        name,
        text: text.to_owned(),
        fragments,
        file: file.to_owned(),
    }
}

fn load(dir: &Path, label: &str) -> Vec<Definition> {
    graphql_files(dir)
        .iter()
        .flat_map(|path| {
            let source = std::fs::read_to_string(path).expect("readable");
            let file = format!("{label}{}", path.file_name().unwrap().to_string_lossy());
            async_graphql::parser::parse_query(&source)
                .unwrap_or_else(|e| panic!("playground/operations/{file} does not parse: {e}"));
            split_definitions(&source, &file)
        })
        .collect()
}

/// The document sent for `operation`: it and, transitively, the fragments it spreads.
fn document_for(operation: &Definition, known: &BTreeMap<String, Definition>) -> String {
    let mut parts = vec![operation.text.clone()];
    let mut seen = BTreeSet::new();
    let mut queue: Vec<String> = operation.fragments.clone();
    while let Some(fragment) = queue.pop() {
        if !seen.insert(fragment.clone()) {
            continue;
        }
        let definition = known.get(&fragment).unwrap_or_else(|| {
            panic!(
                "{} ({}): fragment {fragment} is not defined where it is served",
                operation.name, operation.file
            )
        });
        assert_eq!(definition.kind, "fragment", "{fragment} is not a fragment");
        parts.push(definition.text.clone());
        queue.extend(definition.fragments.iter().cloned());
    }
    parts.join("\n\n")
}

fn by_name(definitions: &[Definition]) -> BTreeMap<String, Definition> {
    let mut map = BTreeMap::new();
    for definition in definitions {
        if let Some(previous) = map.insert(definition.name.clone(), definition.clone()) {
            panic!(
                "{} is defined twice: in {} and in {}",
                definition.name, previous.file, definition.file
            );
        }
    }
    map
}

/// Validation errors of `document` against the served schema; nothing is executed (the request
/// names an operation the document does not have, which async-graphql checks only after
/// validating the whole document).
async fn validation_errors(document: &str) -> Vec<String> {
    let schema = build_schema(&test_config("sqlite://unused.db"));
    let response = schema
        .execute(Request::new(document).operation_name(SENTINEL))
        .await;
    let messages: Vec<String> = response.errors.iter().map(|e| e.message.clone()).collect();
    let unknown = format!(r#"Unknown operation named "{SENTINEL}""#);
    if messages == [unknown] {
        Vec::new()
    } else {
        messages
    }
}

#[tokio::test]
async fn the_check_catches_invalid_operations() {
    for bad in [
        "query Bad { viewer { user { noSuchField } } }",
        "query Bad { noSuchQuery }",
        "mutation Bad($input: NoSuchInput!) { signIn(input: $input) { token } }",
        "mutation Bad { signIn(input: { email: \"a\", password: \"b\", extra: 1 }) { token } }",
    ] {
        assert!(
            !validation_errors(bad).await.is_empty(),
            "not rejected: {bad}"
        );
    }
    assert!(
        validation_errors("query Good { viewer { user { id } } }")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn served_operations_are_valid_against_the_served_schema() {
    let operations_dir = playground().join("operations");
    let served = load(&operations_dir, "");
    assert!(
        !served.is_empty(),
        "no operations under playground/operations/"
    );
    let served_by_name = by_name(&served);

    let mut failures = Vec::new();
    for operation in served.iter().filter(|d| d.kind != "fragment") {
        let document = document_for(operation, &served_by_name);
        let errors = validation_errors(&document).await;
        if !errors.is_empty() {
            failures.push(format!(
                "{} ({}):\n    {}",
                operation.name,
                operation.file,
                errors.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "console operations the server rejects (if they wait for API that is not served yet, \
         move them to playground/operations/next/):\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn staged_operations_parse_and_names_are_unique() {
    let operations_dir = playground().join("operations");
    let mut all = load(&operations_dir, "");
    all.extend(load(&operations_dir.join("next"), "next/"));
    let all_by_name = by_name(&all);
    for operation in all.iter().filter(|d| d.kind != "fragment") {
        let document = document_for(operation, &all_by_name);
        async_graphql::parser::parse_query(&document)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", operation.name, operation.file));
    }
}

fn js_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            js_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "js") {
            out.push(path);
        }
    }
}

/// Operation names the console's code sends: the string literal after `request(`.
fn requested_names(source: &str) -> Vec<String> {
    source
        .split("request(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.strip_prefix('\'')?;
            let name: String = rest.chars().take_while(|&c| is_name_char(c)).collect();
            (rest[name.len()..].starts_with('\'') && !name.is_empty()).then_some(name)
        })
        .collect()
}

#[test]
fn the_console_sends_exactly_the_defined_operations() {
    let operations_dir = playground().join("operations");
    let mut all = load(&operations_dir, "");
    all.extend(load(&operations_dir.join("next"), "next/"));
    let defined: BTreeSet<String> = all
        .iter()
        .filter(|d| d.kind != "fragment")
        .map(|d| d.name.clone())
        .collect();

    let mut files = Vec::new();
    js_files(&playground().join("js"), &mut files);
    let mut used = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable");
        for name in requested_names(&source) {
            assert!(
                defined.contains(&name),
                "{} sends `{name}`, which no playground/operations file defines",
                file.display()
            );
            used.insert(name);
        }
    }
    let unused: Vec<&String> = defined.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "operations no page sends (remove them): {unused:?}"
    );
}
