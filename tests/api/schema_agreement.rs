//! The schemas agree, provably: a fresh PostgreSQL and a fresh SQLite database are migrated, their
//! catalogs read (information_schema/pg_catalog; sqlite_master and the pragma table functions)
//! and compared with each other and with `src/db/schema.rs`: tables, columns, mapped types,
//! nullability, defaults, primary keys, unique and plain indexes (names, columns, partial),
//! foreign keys, triggers and views. Generic: no table is named here except in the allow-list
//! of intended dialect differences.

use std::collections::{BTreeMap, BTreeSet};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::common::{Backend, TestDatabase};

/// Intended differences, column by column: (table, column, what differs and why).
const DIALECT_DIFFERENCES: &[(&str, &str, &str)] = &[
    // PostgreSQL stamps each event with its transaction id (the sealer's snapshot rule);
    // SQLite has one writer at a time and no xid.
    (
        "audit_events",
        "txid",
        "default pg_current_xact_id() on PostgreSQL only",
    ),
];
// Also intended, by rule rather than by name (each handled where it is normalized below):
// - a single-column `id` primary key is `BIGINT GENERATED … AS IDENTITY` on PostgreSQL and
//   `INTEGER PRIMARY KEY` (the rowid) on SQLite: SQLite's INTEGER there maps to BigInt;
// - primary-key indexes are named `<table>_pkey` on PostgreSQL and are implicit on SQLite:
//   primary keys are compared as column lists, not as indexes;
// - triggers are compared by (table, timing, event): PostgreSQL has one `<t>_append_only`
//   trigger for UPDATE OR DELETE, SQLite one trigger per event (`<t>_no_update`, `<t>_no_delete`);
// - PostgreSQL prints `'x'::text` and `false` for defaults SQLite prints as `'x'` and `0`.

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
    #[diesel(sql_type = Text)]
    c: String,
    #[diesel(sql_type = Text)]
    d: String,
    #[diesel(sql_type = Text)]
    e: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    ty: String,
    nullable: bool,
    default: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Catalog {
    columns: BTreeMap<String, Vec<Column>>,
    primary_keys: BTreeMap<String, Vec<String>>,
    /// (table, index name) -> (unique, columns, partial)
    indexes: BTreeMap<(String, String), (bool, String, bool)>,
    /// (table, columns, referenced table, referenced columns, on delete)
    foreign_keys: BTreeSet<(String, String, String, String, String)>,
    /// (table, timing, event)
    triggers: BTreeSet<(String, String, String)>,
    views: BTreeSet<String>,
}

const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

fn truthy(s: &str) -> bool {
    matches!(s, "1" | "t" | "true" | "YES")
}

fn pg_type(t: &str) -> String {
    match t {
        "bigint" => "BigInt",
        "integer" => "Integer",
        "text" => "Text",
        "boolean" => "Bool",
        "timestamp without time zone" => "Timestamp",
        other => return format!("unmapped PostgreSQL type {other}"),
    }
    .to_owned()
}

fn sqlite_type(t: &str) -> String {
    match t {
        "BIGINT" => "BigInt",
        "INTEGER" => "Integer",
        "TEXT" => "Text",
        "BOOLEAN" => "Bool",
        "TIMESTAMP" => "Timestamp",
        other => return format!("unmapped SQLite type {other}"),
    }
    .to_owned()
}

fn normalize_default(d: &str) -> String {
    let mut d = d.trim().to_owned();
    for cast in ["::text", "::bigint", "::integer", "::boolean"] {
        if let Some(stripped) = d.strip_suffix(cast) {
            d = stripped.to_owned();
        }
    }
    match d.as_str() {
        "false" => "0".to_owned(),
        "true" => "1".to_owned(),
        _ => d,
    }
}

async fn pg_rows(conn: &mut AsyncPgConnection, sql: &str) -> Vec<Row> {
    diesel::sql_query(sql)
        .load(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn postgres_catalog(url: &str) -> Catalog {
    let mut conn = AsyncPgConnection::establish(url).await.expect("PostgreSQL");
    let c = &mut conn;
    let mut cat = Catalog::default();
    for r in pg_rows(
        c,
        "SELECT table_name::text AS a, column_name::text AS b, data_type::text AS c, \
         is_nullable::text AS d, coalesce(column_default, '')::text AS e \
         FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE table_schema = 'public' AND t.table_type = 'BASE TABLE' \
         ORDER BY table_name, ordinal_position",
    )
    .await
    {
        if r.a == MIGRATIONS_TABLE {
            continue;
        }
        cat.columns.entry(r.a).or_default().push(Column {
            name: r.b,
            ty: pg_type(&r.c),
            nullable: truthy(&r.d),
            default: normalize_default(&r.e),
        });
    }
    for r in pg_rows(
        c,
        "SELECT kcu.table_name::text AS a, kcu.column_name::text AS b, '' AS c, '' AS d, '' AS e \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) \
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public' \
         ORDER BY kcu.table_name, kcu.ordinal_position",
    )
    .await
    {
        if r.a != MIGRATIONS_TABLE {
            cat.primary_keys.entry(r.a).or_default().push(r.b);
        }
    }
    for r in pg_rows(
        c,
        "SELECT t.relname::text AS a, i.relname::text AS b, ix.indisunique::text AS c, \
         (SELECT string_agg(coalesce(att.attname::text, '<expr>'), ',' ORDER BY k.ord) \
          FROM unnest(ix.indkey) WITH ORDINALITY k(n, ord) \
          LEFT JOIN pg_attribute att ON att.attrelid = t.oid AND att.attnum = k.n) AS d, \
         (ix.indpred IS NOT NULL)::text AS e \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace \
         WHERE ns.nspname = 'public' AND NOT ix.indisprimary",
    )
    .await
    {
        cat.indexes
            .insert((r.a, r.b), (truthy(&r.c), r.d, truthy(&r.e)));
    }
    for r in pg_rows(
        c,
        "SELECT k0.conrelid::regclass::text AS a, \
         (SELECT string_agg(att.attname::text, ',' ORDER BY k.ord) FROM unnest(k0.conkey) WITH ORDINALITY k(n, ord) \
          JOIN pg_attribute att ON att.attrelid = k0.conrelid AND att.attnum = k.n) AS b, \
         k0.confrelid::regclass::text AS c, \
         (SELECT string_agg(att.attname::text, ',' ORDER BY k.ord) FROM unnest(k0.confkey) WITH ORDINALITY k(n, ord) \
          JOIN pg_attribute att ON att.attrelid = k0.confrelid AND att.attnum = k.n) AS d, \
         CASE k0.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' \
          WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END AS e \
         FROM pg_constraint k0 JOIN pg_namespace ns ON ns.oid = k0.connamespace \
         WHERE k0.contype = 'f' AND ns.nspname = 'public'",
    )
    .await
    {
        cat.foreign_keys.insert((r.a, r.b, r.c, r.d, r.e));
    }
    for r in pg_rows(
        c,
        "SELECT event_object_table::text AS a, action_timing::text AS b, event_manipulation::text AS c, \
         '' AS d, '' AS e FROM information_schema.triggers WHERE trigger_schema = 'public'",
    )
    .await
    {
        cat.triggers.insert((r.a, r.b, r.c));
    }
    for r in pg_rows(
        c,
        "SELECT table_name::text AS a, '' AS b, '' AS c, '' AS d, '' AS e \
         FROM information_schema.views WHERE table_schema = 'public'",
    )
    .await
    {
        cat.views.insert(r.a);
    }
    cat
}

fn sqlite_rows(conn: &mut diesel::SqliteConnection, sql: &str) -> Vec<Row> {
    diesel::RunQueryDsl::load(diesel::sql_query(sql), conn).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

const SQLITE_TABLES: &str = "sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'";

fn sqlite_catalog(url: &str) -> Catalog {
    use diesel::Connection as _;
    let path = url.trim_start_matches("sqlite://");
    let mut conn = diesel::SqliteConnection::establish(path).expect("SQLite");
    let c = &mut conn;
    let mut cat = Catalog::default();
    let mut integer_pk = BTreeSet::new();
    for r in sqlite_rows(
        c,
        &format!(
            "SELECT m.name AS a, p.name AS b, upper(p.type) AS c, \
             CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 'YES' ELSE 'NO' END AS d, \
             coalesce(p.dflt_value, '') AS e FROM {} ORDER BY m.name, p.cid",
            SQLITE_TABLES.replace("m WHERE", "m, pragma_table_info(m.name) p WHERE")
        ),
    ) {
        if r.a == MIGRATIONS_TABLE {
            continue;
        }
        cat.columns.entry(r.a).or_default().push(Column {
            name: r.b,
            ty: sqlite_type(&r.c),
            nullable: truthy(&r.d),
            default: normalize_default(&r.e),
        });
    }
    for r in sqlite_rows(
        c,
        &format!(
            "SELECT m.name AS a, p.name AS b, '' AS c, '' AS d, '' AS e FROM {} AND p.pk > 0 ORDER BY m.name, p.pk",
            SQLITE_TABLES.replace("m WHERE", "m, pragma_table_info(m.name) p WHERE")
        ),
    ) {
        if r.a != MIGRATIONS_TABLE {
            cat.primary_keys.entry(r.a).or_default().push(r.b);
        }
    }
    // The rowid alias: a sole INTEGER primary key is SQLite's BIGINT (see the allow-list note).
    for (table, pk) in &cat.primary_keys {
        if let [only] = pk.as_slice() {
            integer_pk.insert((table.clone(), only.clone()));
        }
    }
    for (table, columns) in cat.columns.iter_mut() {
        for col in columns.iter_mut() {
            if col.ty == "Integer" && integer_pk.contains(&(table.clone(), col.name.clone())) {
                col.ty = "BigInt".to_owned();
            }
        }
    }
    for r in sqlite_rows(
        c,
        &format!(
            "SELECT m.name AS a, il.name AS b, CAST(il.\"unique\" AS TEXT) AS c, \
             coalesce((SELECT group_concat(n, ',') FROM (SELECT coalesce(ii.name, '<expr>') AS n \
               FROM pragma_index_info(il.name) ii ORDER BY ii.seqno)), '') AS d, \
             CAST(il.partial AS TEXT) AS e FROM {} AND il.origin <> 'pk'",
            SQLITE_TABLES.replace("m WHERE", "m, pragma_index_list(m.name) il WHERE")
        ),
    ) {
        if r.a != MIGRATIONS_TABLE {
            cat.indexes
                .insert((r.a, r.b), (truthy(&r.c), r.d, truthy(&r.e)));
        }
    }
    for r in sqlite_rows(
        c,
        &format!(
            "SELECT m.name AS a, group_concat(f.\"from\", ',') AS b, f.\"table\" AS c, \
             group_concat(coalesce(f.\"to\", ''), ',') AS d, f.on_delete AS e \
             FROM {} GROUP BY m.name, f.id",
            SQLITE_TABLES.replace("m WHERE", "m, pragma_foreign_key_list(m.name) f WHERE")
        ),
    ) {
        // `REFERENCES t` without columns names t's primary key.
        let to = if r.d.split(',').all(str::is_empty) {
            cat.primary_keys
                .get(&r.c)
                .map(|pk| pk.join(","))
                .unwrap_or_default()
        } else {
            r.d
        };
        cat.foreign_keys.insert((r.a, r.b, r.c, to, r.e));
    }
    for r in sqlite_rows(
        c,
        "SELECT tbl_name AS a, upper(sql) AS b, '' AS c, '' AS d, '' AS e FROM sqlite_master WHERE type = 'trigger'",
    ) {
        let sql = r.b.split_whitespace().collect::<Vec<_>>().join(" ");
        let timing = ["BEFORE", "AFTER", "INSTEAD OF"]
            .into_iter()
            .find(|t| sql.contains(&format!(" {t} ")))
            .unwrap_or("BEFORE");
        let event = ["INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .find(|e| sql.contains(&format!("{timing} {e}")))
            .unwrap_or("unparsed trigger");
        cat.triggers
            .insert((r.a, timing.to_owned(), event.to_owned()));
    }
    for r in sqlite_rows(
        c,
        "SELECT name AS a, '' AS b, '' AS c, '' AS d, '' AS e FROM sqlite_master WHERE type = 'view'",
    ) {
        cat.views.insert(r.a);
    }
    cat
}

/// `src/db/schema.rs`: table -> (column, type, nullable), in declaration order.
fn schema_rs() -> BTreeMap<String, Vec<(String, String, bool)>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs"))
        .expect("schema.rs");
    let mut tables = BTreeMap::new();
    for block in text.split("diesel::table! {").skip(1) {
        let mut lines = block.lines().map(str::trim).filter(|l| !l.is_empty());
        let Some(header) = lines.next() else { continue };
        let name = header
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut columns = Vec::new();
        for line in lines {
            if line.starts_with('}') {
                break;
            }
            let Some((col, ty)) = line.trim_end_matches(',').split_once("->") else {
                continue;
            };
            let ty = ty.trim();
            let (ty, nullable) = match ty
                .strip_prefix("Nullable<")
                .and_then(|t| t.strip_suffix('>'))
            {
                Some(inner) => (inner, true),
                None => (ty, false),
            };
            columns.push((col.trim().to_owned(), ty.to_owned(), nullable));
        }
        tables.insert(name, columns);
    }
    tables
}

fn allowed(table: &str, column: &str) -> bool {
    DIALECT_DIFFERENCES
        .iter()
        .any(|(t, c, _)| *t == table && *c == column)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migrated_schemas_agree_with_each_other_and_with_schema_rs() {
    let Some(pg_db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let sqlite_db = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    portal_admin::db::run_migrations(pg_db.url())
        .await
        .expect("PostgreSQL migrates");
    portal_admin::db::run_migrations(sqlite_db.url())
        .await
        .expect("SQLite migrates");
    let pg = postgres_catalog(pg_db.url()).await;
    let url = sqlite_db.url().to_owned();
    let lite = tokio::task::spawn_blocking(move || sqlite_catalog(&url))
        .await
        .expect("catalog read");

    let mut differences = Vec::new();
    // Tables and columns, PostgreSQL against SQLite.
    let tables: BTreeSet<&String> = pg.columns.keys().chain(lite.columns.keys()).collect();
    assert!(tables.len() > 5, "the catalogs read no tables: {tables:?}");
    for table in &tables {
        let (Some(p), Some(s)) = (pg.columns.get(*table), lite.columns.get(*table)) else {
            differences.push(format!("table {table} exists on one backend only"));
            continue;
        };
        let names = |cols: &[Column]| cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        if names(p) != names(s) {
            differences.push(format!(
                "{table}: columns {:?} (PostgreSQL) vs {:?} (SQLite)",
                names(p),
                names(s)
            ));
            continue;
        }
        for (pc, sc) in p.iter().zip(s) {
            if pc != sc && !allowed(table, &pc.name) {
                differences.push(format!(
                    "{table}.{}: {pc:?} (PostgreSQL) vs {sc:?} (SQLite)",
                    pc.name
                ));
            }
        }
    }
    // Both against schema.rs.
    let declared = schema_rs();
    let declared_names: BTreeSet<&String> = declared.keys().collect();
    let migrated_names: BTreeSet<&String> = pg.columns.keys().collect();
    if declared_names != migrated_names {
        differences.push(format!(
            "schema.rs tables {declared_names:?} vs migrated {migrated_names:?}"
        ));
    }
    for (table, columns) in &declared {
        let Some(p) = pg.columns.get(table) else {
            continue;
        };
        let migrated: Vec<(String, String, bool)> = p
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone(), c.nullable))
            .collect();
        let mut a = columns.clone();
        let mut b = migrated;
        a.sort();
        b.sort();
        if a != b {
            differences.push(format!("{table}: schema.rs {a:?} vs migrated {b:?}"));
        }
    }
    for (what, same) in [
        ("primary keys", pg.primary_keys == lite.primary_keys),
        ("indexes", pg.indexes == lite.indexes),
        ("foreign keys", pg.foreign_keys == lite.foreign_keys),
        ("triggers", pg.triggers == lite.triggers),
        ("views", pg.views == lite.views),
    ] {
        if !same {
            differences.push(format!("{what} differ"));
        }
    }
    if pg.primary_keys != lite.primary_keys {
        differences.push(format!(
            "  PostgreSQL {:?}\n  SQLite {:?}",
            pg.primary_keys, lite.primary_keys
        ));
    }
    if pg.indexes != lite.indexes {
        let only_pg: Vec<_> = pg
            .indexes
            .iter()
            .filter(|(k, v)| lite.indexes.get(*k) != Some(v))
            .collect();
        let only_lite: Vec<_> = lite
            .indexes
            .iter()
            .filter(|(k, v)| pg.indexes.get(*k) != Some(v))
            .collect();
        differences.push(format!(
            "  PostgreSQL only {only_pg:?}\n  SQLite only {only_lite:?}"
        ));
    }
    if pg.foreign_keys != lite.foreign_keys {
        differences.push(format!(
            "  PostgreSQL only {:?}\n  SQLite only {:?}",
            pg.foreign_keys
                .difference(&lite.foreign_keys)
                .collect::<Vec<_>>(),
            lite.foreign_keys
                .difference(&pg.foreign_keys)
                .collect::<Vec<_>>()
        ));
    }
    if pg.triggers != lite.triggers {
        differences.push(format!(
            "  PostgreSQL only {:?}\n  SQLite only {:?}",
            pg.triggers.difference(&lite.triggers).collect::<Vec<_>>(),
            lite.triggers.difference(&pg.triggers).collect::<Vec<_>>()
        ));
    }
    if pg.views != lite.views {
        differences.push(format!("  views {:?} vs {:?}", pg.views, lite.views));
    }
    assert!(!pg.indexes.is_empty() && !pg.foreign_keys.is_empty() && !pg.triggers.is_empty());
    assert!(
        differences.is_empty(),
        "the migrated schemas disagree (add an intended dialect difference to \
         DIALECT_DIFFERENCES with its reason, or fix the migration/schema.rs):\n{}",
        differences.join("\n")
    );
}
