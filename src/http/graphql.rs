//! `/graphql` per GraphQL over HTTP: POST with a JSON body, GET for queries only.
//! Batches (a JSON array) and bodies over 1 MiB are refused before anything runs.

use async_graphql::parser::types::OperationType;
use poem::http::{Method, StatusCode, header};
use poem::{IntoResponse, Request, Response};
use serde_json::json;

use super::{HttpState, RequestIdExt};
use crate::domain::viewer::RequestMeta;
use crate::error::ErrorCode;
use crate::graphql::RequestContext;

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

/// The type of the operation `request` would run (None when the document does not parse or does
/// not name a single operation; execution then reports that).
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operations = &document.operations;
    let operation = match &request.operation_name {
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
    };
    Some(operation.node.ty)
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
    if req.method() == Method::GET && operation_type(&request) != Some(OperationType::Query) {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadUserInput,
            "GET runs queries only; send mutations with POST.",
        )
        .with_header(header::ALLOW, "POST")
        .into_response();
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
