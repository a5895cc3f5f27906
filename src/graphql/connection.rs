//! Relay connections with keyset pagination: `first` (default 20, at most 100), `after` an
//! opaque cursor, `pageInfo`, and `totalCount` of what the viewer may see.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;

#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many records match, across all pages (only records the viewer may see).
    pub total_count: i64,
}

/// The complexity of a connection field: its selection counted once per row it may return
/// (`first`, else the default page), so list sizes count in the request's complexity limit.
/// Every field with a `first` argument declares it (`schema_sdl` checks the SDL for that).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first
        .map_or(DEFAULT_PAGE_SIZE, i64::from)
        .clamp(1, MAX_PAGE_SIZE);
    usize::try_from(rows)
        .unwrap_or(1)
        .saturating_mul(child_complexity.max(1))
}

pub type Page<T> = Connection<String, T, ConnectionTotals, EmptyFields>;

/// A validated page request. `after` is the decoded keyset cursor (the sort key of the last row
/// of the previous page), as the query encoded it.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: i64,
    pub after: Option<String>,
    /// Whether the client selected `totalCount`: counting reads every match, so a list counts
    /// only when asked (every list builds its request here, so none can forget).
    pub with_total: bool,
}

impl PageRequest {
    /// The page request of the connection field `ctx` resolves.
    pub fn new(ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> AppResult<Self> {
        let mut request = Self::parse(first, after)?;
        request.with_total = ctx.look_ahead().field("totalCount").exists();
        Ok(request)
    }

    fn parse(first: Option<i32>, after: Option<String>) -> AppResult<Self> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE as i32).contains(&n) => i64::from(n),
            Some(_) => {
                return Err(AppError::bad_input(
                    "first",
                    format!("`first` must be between 1 and {MAX_PAGE_SIZE}."),
                ));
            }
        };
        let after = after.map(|cursor| decode_cursor(&cursor)).transpose()?;
        Ok(Self {
            first,
            after,
            with_total: false,
        })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.first + 1
    }

    /// The cursor as an id, for lists ordered by id.
    pub fn after_id(&self) -> AppResult<Option<i64>> {
        self.after
            .as_deref()
            .map(|key| key.parse::<i64>().map_err(|_| invalid_cursor()))
            .transpose()
    }
}

fn invalid_cursor() -> AppError {
    AppError::bad_input("after", "The cursor is not valid.")
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub fn decode_cursor(cursor: &str) -> AppResult<String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid_cursor())?;
    String::from_utf8(bytes).map_err(|_| invalid_cursor())
}

/// Builds a connection from rows fetched with [`PageRequest::fetch_limit`]; `key` gives each
/// row's sort key, which becomes its cursor. `total_count` is only read by a client that selected
/// `totalCount` (`PageRequest::with_total`); otherwise it is not computed and never shown.
pub fn page<R, T: OutputType>(
    request: &PageRequest,
    mut rows: Vec<R>,
    total_count: i64,
    key: impl Fn(&R) -> String,
    node: impl Fn(R) -> T,
) -> Page<T> {
    let has_next = rows.len() as i64 > request.first;
    rows.truncate(request.first.max(0) as usize);
    let mut connection = Connection::with_additional_fields(
        request.after.is_some(),
        has_next,
        ConnectionTotals { total_count },
    );
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(encode_cursor(&key(&row)), node(row))),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_capped_and_cursors_round_trip() {
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert_eq!(
            PageRequest::parse(None, None).map(|p| p.first).ok(),
            Some(20)
        );
        let cursor = encode_cursor("2026-11-29 12:00:00|42");
        let request = PageRequest::parse(Some(5), Some(cursor)).expect("valid");
        assert_eq!(request.after.as_deref(), Some("2026-11-29 12:00:00|42"));
        assert!(PageRequest::parse(None, Some("%%%".into())).is_err());
    }
}
