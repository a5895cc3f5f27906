//! `/graphql` per GraphQL over HTTP: POST with a JSON body, GET for queries only.
//! Batches (a JSON array) and bodies over 1 MiB are refused before anything runs.

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use poem::http::{Method, StatusCode, header};
use poem::{IntoResponse, Request, Response};
use serde_json::json;

use super::{HttpState, RequestIdExt};
use crate::domain::viewer::RequestMeta;
use crate::error::ErrorCode;
use crate::graphql::{RequestContext, SENSITIVE_MUTATIONS};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(
            json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
                .to_string(),
        )
}

fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, message)
}

/// The operation `request` would run, parsed (None when the document does not parse or does
/// not name a single operation; execution then reports that).
fn selected_operation(
    request: &async_graphql::Request,
) -> Option<(ExecutableDocument, OperationDefinition)> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = {
        let operations = &document.operations;
        match &request.operation_name {
            Some(name) => {
                operations
                    .iter()
                    .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))?
                    .1
            }
            None => {
                let mut all = operations.iter();
                let (_, only) = all.next()?;
                if all.next().is_some() {
                    return None;
                }
                only
            }
        }
        .node
        .clone()
    };
    Some((document, operation))
}

/// How many sensitive mutations the operation's root selection holds, through fragments and
/// aliases (`@skip` is ignored: counted anyway, erring on the side of refusing).
fn sensitive_mutation_count(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
) -> usize {
    fn count(
        selection_set: &SelectionSet,
        document: &ExecutableDocument,
        seen_fragments: &mut Vec<String>,
    ) -> usize {
        selection_set
            .items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(SENSITIVE_MUTATIONS.contains(&field.node.name.node.as_str()))
                }
                Selection::InlineFragment(fragment) => {
                    count(&fragment.node.selection_set.node, document, seen_fragments)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.to_string();
                    if seen_fragments.contains(&name) {
                        return 0;
                    }
                    seen_fragments.push(name.clone());
                    document
                        .fragments
                        .get(spread.node.fragment_name.node.as_str())
                        .map_or(0, |f| {
                            count(&f.node.selection_set.node, document, seen_fragments)
                        })
                }
            })
            .sum()
    }
    if operation.ty != OperationType::Mutation {
        return 0;
    }
    count(&operation.selection_set.node, document, &mut Vec::new())
}

async fn read_request(req: &mut Request) -> Result<async_graphql::Request, Response> {
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or_default();
        return async_graphql::http::parse_query_string(query)
            .map_err(|e| bad_request(&format!("Invalid GraphQL request: {e}")));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json")
        && !content_type.starts_with("application/graphql-response+json")
    {
        return Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "Send the request as application/json.",
        ));
    }
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadUserInput,
            "The request body is larger than 1 MiB.",
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let body = req
        .take_body()
        .into_bytes_limit(MAX_BODY_BYTES)
        .await
        .map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => too_large(),
            _ => bad_request("The request body could not be read."),
        })?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| bad_request("The request body is not valid JSON."))?;
    if value.is_array() {
        return Err(bad_request(
            "Batched requests are not supported; send one operation per request.",
        ));
    }
    serde_json::from_value(value).map_err(|e| bad_request(&format!("Invalid GraphQL request: {e}")))
}

fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

pub async fn endpoint(mut req: Request, state: &HttpState) -> Response {
    let request = match read_request(&mut req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let operation = selected_operation(&request);
    let operation_type = operation.as_ref().map(|(_, op)| op.ty);
    if req.method() == Method::GET && operation_type != Some(OperationType::Query) {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadUserInput,
            "GET runs queries only; send mutations with POST.",
        )
        .with_header(header::ALLOW, "POST")
        .into_response();
    }

    if let Some((document, operation)) = &operation
        && sensitive_mutation_count(document, operation) > 1
    {
        return bad_request("Send sign-in, password and two-factor mutations one per request.");
    }

    // The peer address, never a forwarded-for header: a client must not pick the IP that its
    // failed sign-ins are counted against.
    let client_ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_string());
    let meta = RequestMeta {
        request_id: req.request_id(),
        client_ip,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    };
    let context = RequestContext::new(state.app.clone(), meta, bearer_token(&req));
    let response = state.schema.execute(request.data(context)).await;
    let body = match serde_json::to_string(&response) {
        Ok(body) => body,
        Err(_) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "Response encoding failed.",
            );
        }
    };
    Response::builder()
        .content_type("application/json")
        .body(body)
}
