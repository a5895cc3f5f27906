//! The users list as an admin expects it (issue 14): sorted by name, email, last sign-in or
//! created, either way, keyset-paged with no gaps or repeats; "never signed in" and "no
//! sign-in since" filters; the same visibility rules in every order.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::builders::Cast;
use crate::on_both_backends;

const USERS: &str = "query($filter: UserFilter, $sort: UserSort, $first: Int, $after: String) {
    users(filter: $filter, sort: $sort, first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { email } } } }";

/// A seeded user: email, name, created, last sign-in (`None`: never).
struct Seeded {
    id: i64,
    email: String,
    name: String,
    created: &'static str,
    last_sign_in: Option<&'static str>,
}

/// Every user in the database with the timestamps this test sets: the cast's four, then eight
/// members of company A with ties on name (case only), created and last sign-in.
async fn seed(app: &TestApp, cast: &Cast) -> Vec<Seeded> {
    let rows: [(&str, &str, &'static str, Option<&'static str>); 8] = [
        ("bob@example.test", "bob", "2026-03-01 09:00:00", None),
        (
            "Bea@example.test",
            "Bob",
            "2026-03-01 09:00:00",
            Some("2026-05-01 10:00:00"),
        ),
        (
            "zed@example.test",
            "Zed",
            "2026-01-15 12:00:00",
            Some("2026-05-01 10:00:00"),
        ),
        (
            "amy@example.test",
            "amy",
            "2026-02-01 08:00:00",
            Some("2026-04-20 07:30:00"),
        ),
        ("kim@example.test", "Kim", "2026-02-01 08:00:00", None),
        (
            "lou@example.test",
            "Lou",
            "2025-12-31 23:59:59",
            Some("2026-06-01 00:00:00"),
        ),
        ("mo@example.test", "Mo", "2026-04-01 00:00:00", None),
        (
            "ned@example.test",
            "Ned",
            "2026-04-01 00:00:00",
            Some("2026-04-20 07:30:00"),
        ),
    ];
    let mut sql = String::new();
    for (email, name, created, last) in rows {
        let last = last.map_or("NULL".to_owned(), |t| format!("'{t}'"));
        sql.push_str(&format!(
            "INSERT INTO users (name, email, role, created_at, updated_at, last_sign_in_at) \
             VALUES ('{name}', '{email}', 'CUSTOMER', '{created}', '{created}', {last});\n\
             INSERT INTO company_memberships (user_id, company_id, role, created_at, updated_at) \
             SELECT id, {company}, 'CUSTOMER', '{created}', '{created}' FROM users WHERE email = '{email}';\n",
            company = cast.company_a.id,
        ));
    }
    let cast_times: [(i64, &'static str, Option<&'static str>); 4] = [
        (
            cast.admin.id.0,
            "2025-11-01 00:00:00",
            Some("2026-06-02 00:00:00"),
        ),
        (
            cast.supervisor_a.id.0,
            "2025-11-02 00:00:00",
            Some("2026-03-03 00:00:00"),
        ),
        (cast.customer_a.id.0, "2025-11-03 00:00:00", None),
        (
            cast.supervisor_b.id.0,
            "2025-11-04 00:00:00",
            Some("2026-01-01 00:00:00"),
        ),
    ];
    for (id, created, last) in cast_times {
        let last = last.map_or("NULL".to_owned(), |t| format!("'{t}'"));
        sql.push_str(&format!(
            "UPDATE users SET created_at = '{created}', last_sign_in_at = {last} WHERE id = {id};\n"
        ));
    }
    app.sql(&sql).await.expect("seed users");

    let mut seeded = Vec::new();
    let cast_users = [
        (&cast.admin, cast_times[0]),
        (&cast.supervisor_a, cast_times[1]),
        (&cast.customer_a, cast_times[2]),
        (&cast.supervisor_b, cast_times[3]),
    ];
    for (user, (_, created, last)) in cast_users {
        seeded.push(Seeded {
            id: user.id.0,
            email: user.email.clone(),
            name: user.name.clone(),
            created,
            last_sign_in: last,
        });
    }
    let listed = all_pages(app, &cast.admin_token, json!({}), json!(null), 100).await;
    for (email, name, created, last) in rows {
        // Ids are read back from the API (the row's id is the tie-break of every order).
        let id = app
            .gql(
                Some(&cast.admin_token),
                "query($f: UserFilter) { users(filter: $f) { nodes { id email } } }",
                json!({ "f": { "search": email } }),
            )
            .await
            .data()["users"]["nodes"][0]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("seeded id");
        assert!(listed.contains(&email.to_owned()), "{email} listed");
        seeded.push(Seeded {
            id,
            email: email.to_owned(),
            name: name.to_owned(),
            created,
            last_sign_in: last,
        });
    }
    seeded
}

/// Every page of `users` with this filter and sort, `first` at a time: the emails in order.
async fn all_pages(
    app: &TestApp,
    token: &str,
    filter: Value,
    sort: Value,
    first: i64,
) -> Vec<String> {
    let mut emails = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let response = app
            .gql(
                Some(token),
                USERS,
                json!({ "filter": filter, "sort": sort, "first": first, "after": after }),
            )
            .await;
        let data = response.data();
        for edge in data["users"]["edges"].as_array().expect("edges") {
            emails.push(edge["node"]["email"].as_str().expect("email").to_owned());
        }
        if data["users"]["pageInfo"]["hasNextPage"] != true {
            return emails;
        }
        after = data["users"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    panic!("more than 50 pages");
}

/// The order the guide's list promises, computed here from the seeded values: the key, then
/// the id, in the same direction; a user who never signed in counts as the earliest.
fn expected(seeded: &[Seeded], field: &str, descending: bool) -> Vec<String> {
    let mut rows: Vec<&Seeded> = seeded.iter().collect();
    rows.sort_by(|a, b| {
        let by_key = match field {
            "NAME" => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            "EMAIL" => a.email.to_lowercase().cmp(&b.email.to_lowercase()),
            "CREATED_AT" => a.created.cmp(b.created),
            "LAST_SIGN_IN" => a.last_sign_in.cmp(&b.last_sign_in),
            other => panic!("{other}"),
        };
        by_key.then(a.id.cmp(&b.id))
    });
    if descending {
        rows.reverse();
    }
    rows.into_iter().map(|s| s.email.clone()).collect()
}

async fn every_order_pages_without_gaps_or_repeats(app: TestApp) {
    let cast = Cast::new(&app).await;
    let seeded = seed(&app, &cast).await;
    for field in ["NAME", "EMAIL", "CREATED_AT", "LAST_SIGN_IN"] {
        for (direction, descending) in [("ASC", false), ("DESC", true)] {
            let want = expected(&seeded, field, descending);
            assert_eq!(want.len(), 12);
            let sort = json!({ "field": field, "direction": direction });
            // Page sizes that cross every boundary (ties, the never-signed-in part).
            for first in [1, 2, 3, 5, 12, 50] {
                let got = all_pages(&app, &cast.admin_token, json!({}), sort.clone(), first).await;
                assert_eq!(got, want, "{field} {direction}, pages of {first}");
            }
        }
    }
    // The direction defaults to ascending; no sort is by name.
    let by_name = expected(&seeded, "NAME", false);
    let got = all_pages(
        &app,
        &cast.admin_token,
        json!({}),
        json!({ "field": "NAME" }),
        4,
    )
    .await;
    assert_eq!(got, by_name);
    let got = all_pages(&app, &cast.admin_token, json!({}), json!(null), 4).await;
    assert_eq!(got, by_name);
}

async fn sign_in_filters_pick_the_dormant_accounts(app: TestApp) {
    let cast = Cast::new(&app).await;
    let seeded = seed(&app, &cast).await;
    let by_name = expected(&seeded, "NAME", false);
    let only = |keep: &dyn Fn(&Seeded) -> bool| -> Vec<String> {
        by_name
            .iter()
            .filter(|email| seeded.iter().any(|s| &&s.email == email && keep(s)))
            .cloned()
            .collect()
    };
    let never = only(&|s| s.last_sign_in.is_none());
    assert_eq!(never.len(), 4);
    let got = all_pages(
        &app,
        &cast.admin_token,
        json!({ "neverSignedIn": true }),
        json!(null),
        2,
    )
    .await;
    assert_eq!(got, never);
    let got = all_pages(
        &app,
        &cast.admin_token,
        json!({ "neverSignedIn": false }),
        json!(null),
        2,
    )
    .await;
    assert_eq!(got, only(&|s| s.last_sign_in.is_some()));

    // "No sign-in since 1 May 2026": before it, or never.
    let since = json!({ "noSignInSince": "2026-05-01T10:00:00Z" });
    let dormant = only(&|s| s.last_sign_in.is_none_or(|t| t < "2026-05-01 10:00:00"));
    assert_eq!(dormant.len(), 8, "{dormant:?}");
    let got = all_pages(&app, &cast.admin_token, since.clone(), json!(null), 3).await;
    assert_eq!(got, dormant);
    let total = app
        .gql(Some(&cast.admin_token), USERS, json!({ "filter": since }))
        .await;
    assert_eq!(total.data()["users"]["totalCount"], 8);

    // Combined with a sort: the dormant accounts, longest without a sign-in first.
    let got = all_pages(
        &app,
        &cast.admin_token,
        json!({ "noSignInSince": "2026-05-01T10:00:00Z", "neverSignedIn": false }),
        json!({ "field": "LAST_SIGN_IN" }),
        2,
    )
    .await;
    let want: Vec<String> = expected(&seeded, "LAST_SIGN_IN", false)
        .into_iter()
        .filter(|e| {
            seeded
                .iter()
                .any(|s| &s.email == e && s.last_sign_in.is_some_and(|t| t < "2026-05-01 10:00:00"))
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(want.len(), 4);

    let bad = app
        .gql(
            Some(&cast.admin_token),
            USERS,
            json!({ "filter": { "noSignInSince": "last tuesday" } }),
        )
        .await;
    assert_eq!(bad.error_code(), "BAD_USER_INPUT");
}

async fn a_supervisor_sorts_only_their_companies_people(app: TestApp) {
    let cast = Cast::new(&app).await;
    let seeded = seed(&app, &cast).await;
    // Company A: its supervisor, its customer and the eight seeded members; not the admin,
    // not company B's supervisor.
    let visible: Vec<&Seeded> = seeded
        .iter()
        .filter(|s| s.id != cast.admin.id.0 && s.id != cast.supervisor_b.id.0)
        .collect();
    assert_eq!(visible.len(), 10);
    for field in ["EMAIL", "LAST_SIGN_IN", "CREATED_AT"] {
        let want: Vec<String> = expected(&seeded, field, true)
            .into_iter()
            .filter(|e| visible.iter().any(|s| &s.email == e))
            .collect();
        let sort = json!({ "field": field, "direction": "DESC" });
        let got = all_pages(&app, &cast.supervisor_a_token, json!({}), sort, 3).await;
        assert_eq!(got, want, "{field}");
    }
    let b = all_pages(
        &app,
        &cast.supervisor_b_token,
        json!({}),
        json!({ "field": "LAST_SIGN_IN" }),
        3,
    )
    .await;
    assert_eq!(
        b,
        std::slice::from_ref(&cast.supervisor_b.email),
        "company B has only its supervisor"
    );
}

async fn a_cursor_works_only_with_its_own_order(app: TestApp) {
    let cast = Cast::new(&app).await;
    seed(&app, &cast).await;
    let first = app
        .gql(
            Some(&cast.admin_token),
            USERS,
            json!({ "sort": { "field": "LAST_SIGN_IN", "direction": "DESC" }, "first": 2 }),
        )
        .await;
    let cursor = first.data()["users"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    for sort in [
        json!({ "field": "LAST_SIGN_IN", "direction": "ASC" }),
        json!({ "field": "NAME", "direction": "DESC" }),
        json!(null),
    ] {
        let response = app
            .gql(
                Some(&cast.admin_token),
                USERS,
                json!({ "sort": sort, "first": 2, "after": cursor }),
            )
            .await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT", "{sort}");
        assert_eq!(response.error_field(), Some("after"));
        assert!(
            response.error_message().contains("another sort order"),
            "{}",
            response.error_message()
        );
    }
    for garbage in [
        "",
        "x",
        "NAME\nASC\n1",
        "LAST_SIGN_IN\nASC\nnot-an-id\n",
        "CREATED_AT\nASC\n1\nyesterday",
        "NAME\nSIDEWAYS\n1\nbob",
    ] {
        let response = app
            .gql(
                Some(&cast.admin_token),
                USERS,
                json!({ "sort": { "field": "NAME" }, "after": garbage }),
            )
            .await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT", "{garbage:?}");
    }
    let bad_field = app
        .gql(
            Some(&cast.admin_token),
            USERS,
            json!({ "sort": { "field": "PASSWORD_HASH" } }),
        )
        .await;
    assert_eq!(bad_field.error_code(), "BAD_USER_INPUT");
}

on_both_backends!(
    every_order_pages_without_gaps_or_repeats,
    sign_in_filters_pick_the_dormant_accounts,
    a_supervisor_sorts_only_their_companies_people,
    a_cursor_works_only_with_its_own_order,
);
