//! `/graphql` per GraphQL over HTTP: POST with a JSON body, GET for queries only.
//! Batches (a JSON array) and bodies over 1 MiB are refused before anything runs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::ServerError;
use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use poem::http::{HeaderMap, Method, StatusCode, header};
use poem::{IntoResponse, Request, Response};
use serde_json::json;

use super::errors::{code_errors, code_of, request_error, syntax_error};
use super::{HttpState, RequestIdExt};
use crate::domain::UserId;
use crate::domain::viewer::RequestMeta;
use crate::error::ErrorCode;
use crate::graphql::{RequestContext, SENSITIVE_MUTATIONS};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type of the answer, from `Accept`. It decides the status codes: with
/// `application/graphql-response+json` a request that did not run (parse, validation, variables,
/// limits, deadline) answers 4xx/5xx; with the legacy `application/json` every well-formed request
/// answers 200 and the client reads `errors` (GraphQL over HTTP, "Status Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            MediaType::Json => JSON,
        }
    }

    /// The preferred supported type of `Accept`: highest quality first, the GraphQL response type
    /// on a tie, `application/json` for a missing header and for wildcards; `None` when nothing
    /// offered is supported (406).
    pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        if accept.trim().is_empty() {
            return Some(MediaType::Json);
        }
        let mut best: Option<(u16, u8, MediaType)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            // In thousandths, as RFC 9110 allows no more precision.
            let quality = (quality.clamp(0.0, 1.0) * 1000.0).round() as u16;
            let (media, rank) = match essence.as_str() {
                GRAPHQL_RESPONSE_JSON => (MediaType::GraphqlResponseJson, 2),
                JSON => (MediaType::Json, 1),
                "application/*" | "*/*" => (MediaType::Json, 0),
                _ => continue,
            };
            if quality == 0 {
                continue;
            }
            if best.is_none_or(|(q, r, _)| (quality, rank) > (q, r)) {
                best = Some((quality, rank, media));
            }
        }
        best.map(|(_, _, media)| media)
    }

    /// The status of an answer whose request did not run (no `data`).
    fn request_error_status(self, code: ErrorCode) -> StatusCode {
        match (self, code) {
            (MediaType::Json, _) => StatusCode::OK,
            (MediaType::GraphqlResponseJson, ErrorCode::Unavailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            (MediaType::GraphqlResponseJson, ErrorCode::Internal) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            (MediaType::GraphqlResponseJson, _) => StatusCode::BAD_REQUEST,
        }
    }
}

/// What the request log and the metrics learn about a GraphQL request; the endpoint puts it in
/// the response's extensions for the middleware (`super::observe`).
#[derive(Debug, Clone, Default)]
pub struct GraphqlOutcome {
    pub operation_name: Option<String>,
    pub viewer_id: Option<UserId>,
    pub impersonator_id: Option<UserId>,
    /// The distinct error codes of the answer, in order of appearance (empty: no error).
    pub error_codes: Vec<String>,
}

/// An answer written in `media`, with the headers every GraphQL answer has.
fn answer(media: MediaType, status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type(format!("{}; charset=utf-8", media.as_str()))
        // Answers carry personal data and session tokens: never stored by a cache.
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::VARY, "accept, authorization")
        .body(body)
}

/// A refusal at the HTTP level (malformed request, wrong method or type): its own status
/// whatever the media type, the body a GraphQL error with its code.
fn http_error(media: MediaType, status: StatusCode, code: ErrorCode, message: &str) -> Response {
    answer(
        media,
        status,
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
            .to_string(),
    )
}

/// An answer without `data`: the request did not run.
fn request_errors(media: MediaType, errors: Vec<ServerError>) -> Response {
    let code = errors
        .first()
        .and_then(code_of)
        .map_or(ErrorCode::Internal, code_from_str);
    let body = json!({ "errors": errors }).to_string();
    answer(media, media.request_error_status(code), body)
}

fn code_from_str(code: &str) -> ErrorCode {
    match code {
        "UNAVAILABLE" => ErrorCode::Unavailable,
        "INTERNAL" => ErrorCode::Internal,
        _ => ErrorCode::BadUserInput,
    }
}

/// The operation a request names (or its only one); `None` when the document names none or
/// several without `operationName` (execution then reports that).
fn selected_operation<'d>(
    document: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    let operations = &document.operations;
    let operation = match operation_name {
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
    Some(&operation.node)
}

/// At most this many root fields in one mutation request: an aliased flood of changes is refused
/// whole before anything runs (a console page changes one thing at a time).
pub const MAX_ROOT_MUTATIONS: usize = 10;

/// At most this many `totalCount` selections in one request: each counts every match.
pub const MAX_TOTAL_COUNTS: usize = 10;

/// The fields of a selection set, through fragments (each spread expanded once per path; a
/// cycle is cut here and reported by validation), aliases included. `deep`: all levels, else
/// the root level only. `@skip`/`@include` are ignored: counted anyway, erring on refusing.
fn fields_of<'d>(
    selection_set: &'d SelectionSet,
    document: &'d ExecutableDocument,
    deep: bool,
    path: &mut Vec<&'d str>,
    out: &mut Vec<&'d str>,
) {
    for selection in &selection_set.items {
        match &selection.node {
            Selection::Field(field) => {
                out.push(field.node.name.node.as_str());
                if deep {
                    fields_of(&field.node.selection_set.node, document, deep, path, out);
                }
            }
            Selection::InlineFragment(fragment) => {
                fields_of(&fragment.node.selection_set.node, document, deep, path, out);
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if path.contains(&name) {
                    continue;
                }
                if let Some(fragment) = document.fragments.get(name) {
                    path.push(name);
                    fields_of(&fragment.node.selection_set.node, document, deep, path, out);
                    path.pop();
                }
            }
        }
        // A document whose fragments fan out (each spreading others many times) could otherwise
        // take long to walk; past any limit the request is refused anyway.
        if out.len() > 100_000 {
            return;
        }
    }
}

/// A refusal of the request's shape before it runs (one coded error), or `None`.
fn shape_refusal(document: &ExecutableDocument, operation: &OperationDefinition) -> Option<String> {
    let mut root = Vec::new();
    fields_of(
        &operation.selection_set.node,
        document,
        false,
        &mut Vec::new(),
        &mut root,
    );
    if operation.ty == OperationType::Mutation {
        if root.len() > MAX_ROOT_MUTATIONS {
            return Some(format!(
                "A request may make at most {MAX_ROOT_MUTATIONS} changes; send the rest separately."
            ));
        }
        if root
            .iter()
            .filter(|f| SENSITIVE_MUTATIONS.contains(*f))
            .count()
            > 1
        {
            return Some(
                "Send sign-in, password and two-factor mutations one per request.".to_owned(),
            );
        }
    }
    let mut all = Vec::new();
    fields_of(
        &operation.selection_set.node,
        document,
        true,
        &mut Vec::new(),
        &mut all,
    );
    if all.iter().filter(|f| **f == "totalCount").count() > MAX_TOTAL_COUNTS {
        return Some(format!(
            "A request may ask for `totalCount` at most {MAX_TOTAL_COUNTS} times."
        ));
    }
    None
}

/// Input fields that hold several lines of text (a playbook's body, a reason): newlines and
/// tabs are allowed there. Every other string argument or input field, anywhere in the schema,
/// is one line: no control character at all. NUL and the other controls are refused everywhere.
/// The rule is by name, so a new field is single-line (the strict side) unless listed here.
pub const MULTILINE_FIELDS: &[&str] = &["body", "reason"];

fn acceptable_text(field: &str, text: &str) -> bool {
    let multiline = MULTILINE_FIELDS.contains(&field);
    text.chars()
        .all(|c| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t')))
}

/// The first string argument value of the operation (a literal in the document or a variable's
/// value, inside input objects and lists too) that `acceptable_text` refuses: the name of its
/// argument or input field. One check at the boundary for every string the API accepts, the
/// same on both backends (PostgreSQL refuses NUL in text, SQLite would store it).
fn unacceptable_text<'d>(
    document: &'d ExecutableDocument,
    operation: &'d OperationDefinition,
    variables: &async_graphql::Variables,
) -> Option<String> {
    use async_graphql::Value as Const;
    use async_graphql::parser::types::Field;
    use async_graphql_value::Value;
    fn check_const(field: &str, value: &Const) -> Option<String> {
        match value {
            Const::String(text) => (!acceptable_text(field, text)).then(|| field.to_owned()),
            Const::List(items) => items.iter().find_map(|v| check_const(field, v)),
            Const::Object(map) => map.iter().find_map(|(k, v)| check_const(k.as_str(), v)),
            _ => None,
        }
    }
    fn check(field: &str, value: &Value, variables: &async_graphql::Variables) -> Option<String> {
        match value {
            Value::String(text) => (!acceptable_text(field, text)).then(|| field.to_owned()),
            Value::Variable(name) => variables
                .get(name.as_str())
                .and_then(|v| check_const(field, v)),
            Value::List(items) => items.iter().find_map(|v| check(field, v, variables)),
            Value::Object(map) => map
                .iter()
                .find_map(|(k, v)| check(k.as_str(), v, variables)),
            _ => None,
        }
    }
    fn walk<'d>(
        set: &'d SelectionSet,
        document: &'d ExecutableDocument,
        variables: &async_graphql::Variables,
        path: &mut Vec<&'d str>,
    ) -> Option<String> {
        set.items
            .iter()
            .find_map(|selection| match &selection.node {
                Selection::Field(field) => {
                    let field: &Field = &field.node;
                    field
                        .arguments
                        .iter()
                        .find_map(|(name, value)| check(name.node.as_str(), &value.node, variables))
                        .or_else(|| walk(&field.selection_set.node, document, variables, path))
                }
                Selection::InlineFragment(fragment) => {
                    walk(&fragment.node.selection_set.node, document, variables, path)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if path.contains(&name) {
                        return None;
                    }
                    let fragment = document.fragments.get(name)?;
                    path.push(name);
                    let found = walk(&fragment.node.selection_set.node, document, variables, path);
                    path.pop();
                    found
                }
            })
    }
    // Variables' defaults are text of the document too.
    operation
        .variable_definitions
        .iter()
        .find_map(|definition| {
            let name = definition.node.name.node.as_str();
            definition
                .node
                .default_value
                .as_ref()
                .and_then(|default| check_const(name, &default.node))
        })
        .or_else(|| {
            walk(
                &operation.selection_set.node,
                document,
                variables,
                &mut Vec::new(),
            )
        })
}

/// The request's parameters, checked as GraphQL over HTTP says: `query` a string, `operationName`
/// a string or null, `variables` and `extensions` maps or null. A batch (JSON array) is refused.
fn parse_params(value: serde_json::Value) -> Result<async_graphql::Request, &'static str> {
    use serde_json::Value;
    let Value::Object(params) = &value else {
        return Err(if value.is_array() {
            "Batched requests are not supported; send one operation per request."
        } else {
            "The request body must be a JSON object with a query."
        });
    };
    if !matches!(params.get("query"), Some(Value::String(_))) {
        return Err("The request needs a `query` string.");
    }
    if !matches!(
        params.get("operationName"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Err("`operationName` must be a string.");
    }
    for map in ["variables", "extensions"] {
        if !matches!(params.get(map), None | Some(Value::Null | Value::Object(_))) {
            return Err(if map == "variables" {
                "`variables` must be a JSON object."
            } else {
                "`extensions` must be a JSON object."
            });
        }
    }
    serde_json::from_value(value).map_err(|_| "The request parameters are not valid.")
}

async fn read_request(
    req: &mut Request,
    media: MediaType,
) -> Result<async_graphql::Request, Response> {
    let refuse =
        |status, message: &str| http_error(media, status, ErrorCode::BadUserInput, message);
    if req.method() == Method::GET {
        // Parameters in the query string; `variables` and `extensions` as JSON text.
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let mut params = serde_json::Map::new();
        for (name, value) in pairs {
            let value = match name.as_str() {
                "variables" | "extensions" => serde_json::from_str(&value).map_err(|_| {
                    refuse(
                        StatusCode::BAD_REQUEST,
                        &format!("`{name}` must be JSON text."),
                    )
                })?,
                _ => serde_json::Value::String(value),
            };
            params.insert(name, value);
        }
        return parse_params(serde_json::Value::Object(params))
            .map_err(|message| refuse(StatusCode::BAD_REQUEST, message));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence != JSON {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the request as application/json.",
        ));
    }
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
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
            _ => refuse(
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            ),
        })?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        refuse(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        )
    })?;
    parse_params(value).map_err(|message| refuse(StatusCode::BAD_REQUEST, message))
}

fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// `/graphql`: negotiates the media type, then runs the request within the request deadline.
pub async fn endpoint(req: Request, state: &HttpState) -> Response {
    let Some(media) = MediaType::negotiate(req.headers()) else {
        return http_error(
            MediaType::Json,
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::BadUserInput,
            "Accept application/graphql-response+json or application/json.",
        );
    };
    // The peer address; `X-Forwarded-For` only when the peer is one of TRUSTED_PROXIES: a
    // client must not pick the address its failed sign-ins are counted against.
    let client_ip = super::client_ip::client_ip(
        req.remote_addr().as_socket_addr().map(|addr| addr.ip()),
        req.headers(),
        &state.app.config.trusted_proxies,
    )
    .map(|ip| ip.to_string());
    let meta = RequestMeta {
        request_id: req.request_id(),
        client_ip,
        password_checks: Default::default(),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    };
    let context = Arc::new(RequestContext::new(
        state.app.clone(),
        meta,
        bearer_token(&req),
    ));
    let operation_name = Arc::new(OnceLock::new());
    let deadline = Duration::from_secs(state.app.config.request_timeout_seconds.max(1));
    // On a task of its own, so that the answer leaves at the deadline even when stopping the
    // work takes longer: a SQLite statement in flight is waited for when dropped (diesel-async
    // never abandons its connection mid-statement), which the aborted task does on its own.
    // In one request scope: the request's database work shares one pool checkout.
    let work = crate::db::request_scope(handle(
        req,
        state.clone(),
        media,
        context.clone(),
        operation_name.clone(),
    ));
    // In the request's span, so that what it logs carries the request id.
    let mut task = AbortOnDrop(tokio::spawn(tracing::Instrument::in_current_span(work)));
    let mut response = match tokio::time::timeout(deadline, &mut task.0).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "request task failed");
            refuse_request(
                media,
                vec![request_error(
                    ErrorCode::Internal,
                    "Something went wrong on our side.",
                )],
            )
        }
        // Aborting drops the request's future: a transaction it held rolls back (`WriteTx`'s
        // Drop), and SQLite's writer slot is released after the rollback.
        Err(_) => {
            task.0.abort();
            tracing::warn!(seconds = deadline.as_secs(), "request deadline passed");
            refuse_request(
                media,
                vec![request_error(
                    ErrorCode::Unavailable,
                    format!(
                        "The request took longer than {} seconds and was stopped. Please try again.",
                        deadline.as_secs()
                    ),
                )],
            )
        }
    };
    let viewer = context.resolved_viewer();
    let outcome = GraphqlOutcome {
        operation_name: operation_name.get().cloned().flatten(),
        viewer_id: viewer.map(|v| v.user_id),
        impersonator_id: viewer.and_then(|v| v.impersonator_id()),
        error_codes: response
            .extensions()
            .get::<ErrorCodes>()
            .map(|codes| codes.0.clone())
            .unwrap_or_default(),
    };
    // Authorization refusals go to the log (structured, in the request's span, so with its
    // request id), not to the audit trail: see the README's security section.
    for code in outcome.error_codes.iter().filter(|code| {
        matches!(
            code.as_str(),
            "FORBIDDEN" | "FORBIDDEN_WHILE_IMPERSONATING" | "NOT_FOUND" | "UNAUTHENTICATED"
        )
    }) {
        tracing::warn!(
            target: "portal_admin::authorization",
            request_id = %context.meta.request_id,
            viewer_id = outcome.viewer_id.map(|id| id.to_string()),
            operation = outcome.operation_name.as_deref(),
            code = %code,
            "authorization refused"
        );
    }
    response.extensions_mut().insert(outcome);
    response
}

/// Stops the request's task when the client goes away before the answer.
struct AbortOnDrop(tokio::task::JoinHandle<Response>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The distinct codes of an answer's errors (see [`GraphqlOutcome::error_codes`]).
#[derive(Clone)]
struct ErrorCodes(Vec<String>);

fn distinct_codes(errors: &[ServerError]) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for code in errors.iter().map(|e| code_of(e).unwrap_or("INTERNAL")) {
        if !codes.iter().any(|c| c == code) {
            codes.push(code.to_owned());
        }
    }
    codes
}

fn with_codes(mut response: Response, codes: Vec<String>) -> Response {
    response.extensions_mut().insert(ErrorCodes(codes));
    response
}

/// The request's error answer without `data`, its codes recorded.
fn refuse_request(media: MediaType, errors: Vec<ServerError>) -> Response {
    let codes = distinct_codes(&errors);
    with_codes(request_errors(media, errors), codes)
}

async fn handle(
    mut req: Request,
    state: HttpState,
    media: MediaType,
    context: Arc<RequestContext>,
    operation_name: Arc<OnceLock<Option<String>>>,
) -> Response {
    let mut request = match read_request(&mut req, media).await {
        Ok(request) => request,
        Err(response) => return with_codes(response, vec!["BAD_USER_INPUT".into()]),
    };
    // Parsed once here (for the checks below and the error positions), then handed to
    // async-graphql as is.
    let document = match async_graphql::parser::parse_query(&request.query) {
        Ok(document) => document,
        Err(err) => return refuse_request(media, vec![syntax_error(&err)]),
    };
    let operation = selected_operation(&document, request.operation_name.as_deref());
    // Only a name the document defines (a GraphQL name, not arbitrary client text), bounded.
    let _ = operation_name.set(operation.and_then(|_| {
        request
            .operation_name
            .clone()
            .or_else(|| single_operation_name(&document))
            .map(|name| name.chars().take(128).collect())
    }));
    let operation_type = operation.map(|op| op.ty);
    if req.method() == Method::GET && operation_type != Some(OperationType::Query) {
        return with_codes(
            http_error(
                media,
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::BadUserInput,
                "GET runs queries only; send mutations with POST.",
            )
            .with_header(header::ALLOW, "POST")
            .into_response(),
            vec!["BAD_USER_INPUT".into()],
        );
    }
    if let Some(message) = operation.and_then(|op| shape_refusal(&document, op)) {
        return refuse_request(media, vec![request_error(ErrorCode::BadUserInput, message)]);
    }
    if let Some(field) =
        operation.and_then(|op| unacceptable_text(&document, op, &request.variables))
    {
        // signIn answers as for any wrong credential: nothing about what was wrong.
        let signs_in = operation.is_some_and(|op| {
            let mut root = Vec::new();
            fields_of(
                &op.selection_set.node,
                &document,
                false,
                &mut Vec::new(),
                &mut root,
            );
            root.contains(&"signIn")
        });
        let error = if signs_in {
            request_error(
                ErrorCode::InvalidCredentials,
                crate::error::AppError::InvalidCredentials.message(),
            )
        } else {
            let mut error = request_error(
                ErrorCode::BadUserInput,
                format!("`{field}` cannot contain control characters."),
            );
            if let Some(extensions) = error.extensions.as_mut() {
                extensions.set("field", field);
            }
            error
        };
        return refuse_request(media, vec![error]);
    }
    if let Some(error) = operation.and_then(|op| missing_variable(op, &request.variables)) {
        return refuse_request(media, vec![error]);
    }
    let is_mutation = operation_type == Some(OperationType::Mutation);

    request.set_parsed_query(document.clone());
    let mut response = state.schema.execute(request.data(context.clone())).await;
    code_errors(&mut response.errors, Some(&document));
    if response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(super::errors::is_request_error)
    {
        return refuse_request(media, response.errors);
    }
    let codes = distinct_codes(&response.errors);
    let body = match serde_json::to_string(&response) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "response encoding failed");
            return refuse_request(
                media,
                vec![request_error(
                    ErrorCode::Internal,
                    "Something went wrong on our side.",
                )],
            );
        }
    };
    let limit = state.app.config.max_response_bytes;
    if body.len() > limit {
        let mib = limit as f64 / (1024.0 * 1024.0);
        let message = if is_mutation {
            format!(
                "The change was made, but its result is larger than {mib:.1} MiB and is not sent; \
                 read the record to see it."
            )
        } else {
            format!(
                "The response would be larger than {mib:.1} MiB. Ask for fewer records \
                 (a smaller `first`) or fewer fields."
            )
        };
        return refuse_request(media, vec![request_error(ErrorCode::BadUserInput, message)]);
    }
    with_codes(answer(media, StatusCode::OK, body), codes)
}

/// A required variable (non-null, no default) that the request does not give: a request error
/// (async-graphql would only notice while running the field, as a resolver error).
fn missing_variable(
    operation: &OperationDefinition,
    variables: &async_graphql::Variables,
) -> Option<ServerError> {
    operation
        .variable_definitions
        .iter()
        .find_map(|definition| {
            let definition = &definition.node;
            let given = variables
                .get(definition.name.node.as_str())
                .is_some_and(|v| *v != async_graphql::Value::Null);
            let required = !definition.var_type.node.nullable && definition.default_value.is_none();
            (required && !given).then(|| {
                let mut error = request_error(
                    ErrorCode::BadUserInput,
                    format!(
                        "Variable \"${}\" of type \"{}\" is required.",
                        definition.name.node, definition.var_type.node
                    ),
                );
                error.locations = vec![definition.name.pos];
                error
            })
        })
}

/// The name of the document's only operation, when it has one.
fn single_operation_name(document: &ExecutableDocument) -> Option<String> {
    let mut all = document.operations.iter();
    let (name, _) = all.next()?;
    if all.next().is_some() {
        return None;
    }
    name.map(|n| n.to_string())
}
