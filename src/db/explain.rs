//! The planner's plan for a query, as the backend would run it: `EXPLAIN (FORMAT JSON)` on
//! PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite. The wrapped query is diesel's own (same SQL,
//! same binds), so the plan is the one the list queries get. Used by the plan tests
//! (tests/api/list_indexes.rs) and by anyone checking which index a list uses.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Text};
use diesel::sqlite::Sqlite;

/// `EXPLAIN` in front of a query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgExplain<Q>(pub Q);

/// `EXPLAIN QUERY PLAN` in front of a query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteExplain<Q>(pub Q);

impl<Q> QueryId for PgExplain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> QueryId for SqliteExplain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for PgExplain<Q> {
    type SqlType = Text;
}

impl<Q> Query for SqliteExplain<Q> {
    type SqlType = (Integer, Integer, Integer, Text);
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PgExplain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN (FORMAT JSON) ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for SqliteExplain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("EXPLAIN QUERY PLAN ");
        self.0.walk_ast(out.reborrow())
    }
}

/// A query's plan and the SQL it was made for.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// The query's SQL as diesel generated it, with its binds (`diesel::debug_query`).
    pub sql: String,
    /// PostgreSQL: the `EXPLAIN (FORMAT JSON)` document. SQLite: the `EXPLAIN QUERY PLAN`
    /// rows' details, one per line.
    pub plan: String,
}

/// Runs `$query` (a diesel query built inside a `dispatch!` arm, for either backend) under
/// `EXPLAIN` and returns its plan.
macro_rules! explain {
    ($conn:expr, |$c:ident| $query:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres(pooled) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut **pooled;
                let query = $query;
                let sql = ::diesel::debug_query::<::diesel::pg::Pg, _>(&query).to_string();
                let rows: Vec<String> =
                    ::diesel_async::RunQueryDsl::load($crate::db::explain::PgExplain(query), $c)
                        .await?;
                $crate::db::explain::QueryPlan {
                    sql,
                    plan: rows.join("\n"),
                }
            }
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c: &mut ::diesel_async::sync_connection_wrapper::SyncConnectionWrapper<
                    ::diesel::SqliteConnection,
                > = &mut **pooled;
                let query = $query;
                let sql = ::diesel::debug_query::<::diesel::sqlite::Sqlite, _>(&query).to_string();
                let rows: Vec<(i32, i32, i32, String)> = ::diesel_async::RunQueryDsl::load(
                    $crate::db::explain::SqliteExplain(query),
                    $c,
                )
                .await?;
                $crate::db::explain::QueryPlan {
                    sql,
                    plan: rows
                        .into_iter()
                        .map(|(_, _, _, detail)| detail)
                        .collect::<Vec<_>>()
                        .join("\n"),
                }
            }
        }
    };
}
pub(crate) use explain;
