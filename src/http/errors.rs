//! Codes for the errors async-graphql raises itself, so that every error a client sees carries a
//! contract code (the policy is in `crate::error`).
//!
//! Errors from our resolvers already have one (`From<AppError>`). What is left comes from
//! async-graphql: request errors (parse, validation, limits, variables, operation selection:
//! no path) are the client's doing, `BAD_USER_INPUT`; an argument that fails coercion while a
//! field runs (async-graphql coerces literals at execution: `first: 2147483648`,
//! `from: "not-a-date"`) is too, with the argument named; anything else without a code is a bug
//! of ours, `INTERNAL`, logged and replaced by the generic sentence.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, ServerError};

use crate::error::ErrorCode;
use crate::graphql::{MAX_COMPLEXITY, MAX_DEPTH};

/// The code an error carries, if any.
pub fn code_of(error: &ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

/// A request error (the request did not run): no path.
pub fn is_request_error(error: &ServerError) -> bool {
    error.path.is_empty()
}

/// Gives every error without a code its code and a message for people.
pub fn code_errors(errors: &mut [ServerError], document: Option<&ExecutableDocument>) {
    for error in errors.iter_mut().filter(|e| code_of(e).is_none()) {
        let coercion = coercion_detail(&error.message);
        if is_request_error(error) && coercion.is_none() {
            error.message = request_error_message(&error.message);
            set(error, "code", ErrorCode::BadUserInput.as_str());
        } else if let Some(detail) = coercion {
            // While a field runs, the error sits at the argument's value; during validation
            // (the complexity of a page reads its `first`) at the field itself.
            let argument = error
                .locations
                .first()
                .zip(document)
                .and_then(|(pos, doc)| {
                    argument_at(doc, *pos).or_else(|| page_argument_at(doc, *pos))
                });
            error.message = match &argument {
                Some((field, argument)) => {
                    format!("Invalid value for argument \"{argument}\" of \"{field}\": {detail}.")
                }
                None => format!("Invalid argument value: {detail}."),
            };
            set(error, "code", ErrorCode::BadUserInput.as_str());
            if let Some((_, argument)) = argument {
                set(error, "field", argument);
            }
        } else {
            tracing::error!(error = %error.message, path = ?error.path, "resolver error without a code");
            error.message = "Something went wrong on our side.".into();
            set(error, "code", ErrorCode::Internal.as_str());
        }
    }
}

/// A request-level error in the form every other one takes.
pub fn request_error(code: ErrorCode, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    set(&mut error, "code", code.as_str());
    error
}

fn set(error: &mut ServerError, name: &str, value: impl Into<async_graphql::Value>) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set(name, value);
}

/// async-graphql's own sentences for its limits, made explicit; validation messages already
/// name the field or argument and stay as they are.
fn request_error_message(message: &str) -> String {
    match message {
        "Query is too complex." => format!(
            "The query is too complex (at most {MAX_COMPLEXITY} points, lists counting their \
             page size). Ask for fewer records or fields."
        ),
        "Query is nested too deep." => {
            format!("The query is nested too deep (at most {MAX_DEPTH} levels).")
        }
        _ => message.to_owned(),
    }
}

/// `Failed to parse "Int": Only integers … (occurred while parsing "Filter")` as
/// `expected Int in Filter (Only integers …)`; `None` for anything that is not a coercion error.
fn coercion_detail(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Failed to parse \"")?;
    let (ty, rest) = rest.split_once("\": ")?;
    let (reason, within) = match rest.split_once(" (occurred while parsing \"") {
        Some((reason, within)) => (reason, within.trim_end_matches("\")").to_owned()),
        None => (rest, String::new()),
    };
    let reason = reason.trim_end_matches('.');
    Some(if within.is_empty() || within == ty {
        format!("expected {ty} ({reason})")
    } else {
        format!("expected {ty} in {within} ({reason})")
    })
}

/// The field and argument whose value starts at `pos` (async-graphql reports a coercion error
/// at the argument's value).
fn argument_at(document: &ExecutableDocument, pos: Pos) -> Option<(String, String)> {
    fn search(set: &SelectionSet, pos: Pos) -> Option<(String, String)> {
        set.items
            .iter()
            .find_map(|selection| match &selection.node {
                Selection::Field(field) => field
                    .node
                    .arguments
                    .iter()
                    .find(|(_, value)| value.pos == pos)
                    .map(|(name, _)| (field.node.name.node.to_string(), name.node.to_string()))
                    .or_else(|| search(&field.node.selection_set.node, pos)),
                Selection::InlineFragment(fragment) => {
                    search(&fragment.node.selection_set.node, pos)
                }
                Selection::FragmentSpread(_) => None,
            })
    }
    document
        .operations
        .iter()
        .find_map(|(_, operation)| search(&operation.node.selection_set.node, pos))
        .or_else(|| {
            document
                .fragments
                .values()
                .find_map(|fragment| search(&fragment.node.selection_set.node, pos))
        })
}

/// The page-size argument of the field that starts at `pos`: the only argument read before the
/// request runs (`connection::page_cost` counts it in the complexity limit).
fn page_argument_at(document: &ExecutableDocument, pos: Pos) -> Option<(String, String)> {
    fn search(set: &SelectionSet, pos: Pos) -> Option<(String, String)> {
        set.items
            .iter()
            .find_map(|selection| match &selection.node {
                Selection::Field(field) if selection.pos == pos => field
                    .node
                    .arguments
                    .iter()
                    .find(|(name, _)| name.node == "first")
                    .map(|(name, _)| (field.node.name.node.to_string(), name.node.to_string())),
                Selection::Field(field) => search(&field.node.selection_set.node, pos),
                Selection::InlineFragment(fragment) => {
                    search(&fragment.node.selection_set.node, pos)
                }
                Selection::FragmentSpread(_) => None,
            })
    }
    document
        .operations
        .iter()
        .find_map(|(_, operation)| search(&operation.node.selection_set.node, pos))
        .or_else(|| {
            document
                .fragments
                .values()
                .find_map(|fragment| search(&fragment.node.selection_set.node, pos))
        })
}

/// A syntax error as one sentence with its position, instead of the parser's drawing.
pub fn syntax_error(error: &async_graphql::parser::Error) -> ServerError {
    let message = match error {
        async_graphql::parser::Error::Syntax { message, start, .. } => {
            let expected = message
                .lines()
                .rev()
                .find_map(|line| line.trim().strip_prefix("= "))
                .unwrap_or("unexpected input");
            format!(
                "Syntax error at line {}, column {}: {expected}.",
                start.line, start.column
            )
        }
        other => format!("{other}."),
    };
    let mut coded = request_error(ErrorCode::BadUserInput, message);
    coded.locations = error.positions().collect();
    coded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coercion_messages_read_as_sentences() {
        assert_eq!(
            coercion_detail(
                "Failed to parse \"Int\": Only integers from -2147483648 to 2147483647 are accepted."
            )
            .as_deref(),
            Some("expected Int (Only integers from -2147483648 to 2147483647 are accepted)")
        );
        assert_eq!(
            coercion_detail(
                "Failed to parse \"DateTime\": input contains invalid characters (occurred while parsing \"AuditEventFilter\")"
            )
            .as_deref(),
            Some("expected DateTime in AuditEventFilter (input contains invalid characters)")
        );
        assert_eq!(coercion_detail("Something else"), None);
    }

    #[test]
    fn syntax_errors_name_the_position_without_the_drawing() {
        let err = async_graphql::parser::parse_query("{").expect_err("does not parse");
        let coded = syntax_error(&err);
        assert_eq!(
            coded.message,
            "Syntax error at line 1, column 2: expected selection."
        );
        assert_eq!(code_of(&coded), Some("BAD_USER_INPUT"));
    }

    #[test]
    fn arguments_are_found_by_position() {
        let doc = async_graphql::parser::parse_query(
            "query { viewer { user { id } } users(first: 5) { totalCount } }",
        )
        .expect("parses");
        assert_eq!(
            argument_at(
                &doc,
                Pos {
                    line: 1,
                    column: 45
                }
            ),
            Some(("users".into(), "first".into()))
        );
        assert_eq!(argument_at(&doc, Pos { line: 1, column: 3 }), None);
    }
}
