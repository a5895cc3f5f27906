//! The engineers' query: `auditEvents(filter, first, after)` for admins. Every filter returns
//! exactly the expected events (impersonated ones included), newest first, by keyset pages.

use chrono::{Duration, NaiveDateTime};
use portal_admin::domain::audit::{AuditActor, AuditEntry, AuditValue, FieldChange, RecordRef};
use portal_admin::domain::{AuditAction, AuditEventId, AuditRecordType, UserId};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{EVENT_FIELDS, impersonated, write_event};
use crate::common::builders::{Cast, impersonation_token};
use crate::on_both_backends;

fn query() -> String {
    format!(
        "query($filter: AuditEventFilter, $first: Int, $after: String) {{ auditEvents(filter: $filter, first: $first, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {EVENT_FIELDS} }} }} }} }}"
    )
}

fn at(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339()
}

fn direct(user: UserId) -> AuditActor {
    AuditActor {
        actor_id: Some(user),
        request_id: Some("req-direct".into()),
        ..Default::default()
    }
}

fn update(record: RecordRef, changes: Vec<(&'static str, &str, &str)>) -> AuditEntry {
    AuditEntry::new(AuditAction::Update, record).with_changes(
        changes
            .into_iter()
            .map(|(field, before, after)| {
                FieldChange::new(field, AuditValue::text(before), AuditValue::text(after))
            })
            .collect(),
    )
}

/// Seven events a minute apart, after the cast's own, and when the first was written.
struct Ledger {
    cast: Cast,
    start: NaiveDateTime,
    /// e[1] … e[7]; e[0] unused.
    e: Vec<AuditEventId>,
    times: Vec<NaiveDateTime>,
}

async fn ledger(app: &TestApp) -> Ledger {
    let cast = Cast::new(app).await;
    let (a, b) = (cast.company_a.id, cast.company_b.id);
    let company = |id| RecordRef::new(AuditRecordType::Company, id);
    app.clock().advance(Duration::minutes(1));
    let start = app.clock().now();
    let mut e = vec![AuditEventId(0)];
    let mut times = vec![start];
    let entries: Vec<(AuditActor, AuditEntry)> = vec![
        // 1: the admin changes A's rate.
        (
            direct(cast.admin.id),
            update(company(a), vec![("billingRateCents", "0", "100")]),
        ),
        // 2: the admin, as supervisor A, sets A's billing email.
        (
            impersonated(cast.supervisor_a.id, cast.admin.id),
            update(company(a), vec![("billingEmail", "", "pay@acme.test")]),
        ),
        // 3: the admin renames B and changes its plan.
        (
            direct(cast.admin.id),
            update(
                company(b),
                vec![
                    ("name", "Bravo Phones", "Bravo"),
                    ("billingPlan", "STANDARD", "GOLD"),
                ],
            ),
        ),
        // 4: the admin sets the organization's billing email.
        (
            direct(cast.admin.id),
            update(
                RecordRef::new(
                    AuditRecordType::Organization,
                    cast.company_a.organization_id,
                ),
                vec![("billingEmail", "", "org@acme.test")],
            ),
        ),
        // 5: customer A changes their email.
        (
            direct(cast.customer_a.id),
            update(
                RecordRef::new(AuditRecordType::User, cast.customer_a.id),
                vec![("email", "old@acme.test", "new@acme.test")],
            ),
        ),
        // 6: customer A changes their password: recorded as changed, without values.
        (
            direct(cast.customer_a.id),
            AuditEntry::new(
                AuditAction::PasswordChanged,
                RecordRef::new(AuditRecordType::User, cast.customer_a.id),
            )
            .with_changes(vec![FieldChange::new(
                "password",
                AuditValue::secret(Some("hash-one")),
                AuditValue::secret(Some("hash-two")),
            )]),
        ),
        // 7: the admin, as customer A, changes A's timezone.
        (
            impersonated(cast.customer_a.id, cast.admin.id),
            update(company(a), vec![("timezone", "UTC", "Europe/Berlin")]),
        ),
    ];
    for (actor, entry) in entries {
        times.push(app.clock().now());
        e.push(write_event(app, actor, entry).await);
        app.clock().advance(Duration::minutes(1));
    }
    Ledger {
        cast,
        start,
        e,
        times,
    }
}

impl Ledger {
    /// The ids of events `numbers`, as the API lists them (newest first).
    fn ids(&self, numbers: &[usize]) -> Vec<String> {
        let mut numbers = numbers.to_vec();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers.iter().map(|n| self.e[*n].to_string()).collect()
    }

    /// `filter` plus `from` = the ledger's start, so the cast's own events stay out.
    fn filter(&self, mut filter: Value) -> Value {
        if filter.get("from").is_none() {
            filter["from"] = json!(at(self.start));
        }
        filter
    }
}

async fn events(
    app: &TestApp,
    token: &str,
    filter: Value,
    first: i64,
    after: Option<&str>,
) -> Value {
    let response = app
        .gql(
            Some(token),
            &query(),
            json!({ "filter": filter, "first": first, "after": after }),
        )
        .await;
    response.data()["auditEvents"].clone()
}

fn ids_of(page: &Value) -> Vec<String> {
    page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn every_filter_returns_exactly_its_events(app: TestApp) {
    let l = ledger(&app).await;
    let c = &l.cast;
    let admin = c.admin.id.to_string();
    let cases: Vec<(Value, Vec<usize>)> = vec![
        (json!({}), vec![1, 2, 3, 4, 5, 6, 7]),
        (json!({ "recordType": "COMPANY" }), vec![1, 2, 3, 7]),
        (
            json!({ "recordType": "COMPANY", "recordId": c.company_a.id.to_string() }),
            vec![1, 2, 7],
        ),
        (json!({ "recordType": "USER" }), vec![5, 6]),
        (json!({ "actorId": admin }), vec![1, 3, 4]),
        (json!({ "actorId": c.supervisor_a.id.to_string() }), vec![2]),
        (
            json!({ "actorId": c.customer_a.id.to_string() }),
            vec![5, 6, 7],
        ),
        (json!({ "impersonatorId": admin }), vec![2, 7]),
        (json!({ "viaImpersonation": true }), vec![2, 7]),
        (json!({ "viaImpersonation": false }), vec![1, 3, 4, 5, 6]),
        (json!({ "field": "billingRateCents" }), vec![1]),
        (json!({ "field": "billing*" }), vec![1, 2, 3, 4]),
        (
            json!({ "field": "billing*", "recordType": "COMPANY" }),
            vec![1, 2, 3],
        ),
        (json!({ "field": "billingEmail" }), vec![2, 4]),
        (json!({ "field": "name" }), vec![3]),
        (json!({ "field": "password" }), vec![6]),
        (json!({ "field": "billing*", "recordType": "USER" }), vec![]),
        (json!({ "action": "PASSWORD_CHANGED" }), vec![6]),
        (json!({ "action": "UPDATE" }), vec![1, 2, 3, 4, 5, 7]),
        (
            json!({ "from": at(l.times[2]), "to": at(l.times[4]) }),
            vec![2, 3],
        ),
        (json!({ "to": at(l.times[2]) }), vec![1]),
        (
            json!({ "field": "billing*", "from": at(l.times[3]), "to": at(l.times[5]) }),
            vec![3, 4],
        ),
        (
            json!({ "recordType": "COMPANY", "viaImpersonation": true, "field": "billing*" }),
            vec![2],
        ),
        (
            json!({ "impersonatorId": admin, "actorId": c.customer_a.id.to_string() }),
            vec![7],
        ),
        (
            json!({ "actorId": admin, "field": "billing*", "action": "UPDATE" }),
            vec![1, 3, 4],
        ),
        (json!({ "actorId": c.supervisor_b.id.to_string() }), vec![]),
    ];
    for (filter, expected) in cases {
        let filter = l.filter(filter);
        let page = events(&app, &c.admin_token, filter.clone(), 100, None).await;
        assert_eq!(ids_of(&page), l.ids(&expected), "filter {filter}");
        assert_eq!(
            page["totalCount"].as_u64(),
            Some(expected.len() as u64),
            "totalCount of {filter}"
        );
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
    }
}

async fn events_show_who_when_what_and_impersonation(app: TestApp) {
    let l = ledger(&app).await;
    let c = &l.cast;
    let page = events(&app, &c.admin_token, l.filter(json!({})), 100, None).await;
    let node = |n: usize| {
        page["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| &e["node"])
            .find(|node| node["id"] == l.e[n].to_string())
            .cloned()
            .expect("event listed")
    };
    let e2 = node(2);
    assert_eq!(e2["action"], "UPDATE");
    assert_eq!(e2["recordType"], "COMPANY");
    assert_eq!(e2["recordId"], c.company_a.id.to_string());
    assert_eq!(e2["viaImpersonation"], true);
    assert_eq!(
        e2["actor"],
        json!({ "id": c.supervisor_a.id.to_string(), "name": c.supervisor_a.name })
    );
    assert_eq!(
        e2["impersonator"],
        json!({ "id": c.admin.id.to_string(), "name": c.admin.name })
    );
    assert_eq!(e2["requestId"], "req-impersonated");
    // Written in its minute (the transaction's own clock reading, a moment after `times[2]`).
    let occurred = chrono::DateTime::parse_from_rfc3339(e2["occurredAt"].as_str().expect("time"))
        .expect("RFC 3339")
        .naive_utc();
    assert!(
        l.times[2] <= occurred && occurred < l.times[3],
        "{occurred}"
    );
    assert_eq!(
        e2["changes"],
        json!([{ "field": "billingEmail", "before": "", "after": "pay@acme.test", "redacted": false }])
    );
    let e1 = node(1);
    assert_eq!(e1["viaImpersonation"], false);
    assert!(e1["impersonator"].is_null());
    // Secrets: changed, no values.
    let e6 = node(6);
    assert_eq!(
        e6["changes"],
        json!([{ "field": "password", "before": null, "after": null, "redacted": true }])
    );
    assert!(!page.to_string().contains("hash-one") && !page.to_string().contains("hash-two"));
}

async fn keyset_pages_walk_the_log_newest_first(app: TestApp) {
    let l = ledger(&app).await;
    let token = &l.cast.admin_token;
    for (filter, size, expected) in [
        (json!({}), 2, vec![1, 2, 3, 4, 5, 6, 7]),
        (json!({ "field": "billing*" }), 1, vec![1, 2, 3, 4]),
        (json!({ "viaImpersonation": false }), 3, vec![1, 3, 4, 5, 6]),
    ] {
        let filter = l.filter(filter);
        let mut after: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page = events(&app, token, filter.clone(), size, after.as_deref()).await;
            let ids = ids_of(&page);
            assert!(ids.len() <= size as usize);
            seen.extend(ids);
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, l.ids(&expected), "pages of {filter}");
    }
    // Two events in the same instant still page apart (the id breaks the tie).
    let same_time = l.cast.company_b.id;
    for _ in 0..3 {
        write_event(
            &app,
            direct(l.cast.admin.id),
            update(
                RecordRef::new(AuditRecordType::Company, same_time),
                vec![("status", "ACTIVE", "SUSPENDED")],
            ),
        )
        .await;
    }
    let filter = l.filter(json!({ "field": "status", "recordType": "COMPANY" }));
    let first = events(&app, token, filter.clone(), 2, None).await;
    let second = events(
        &app,
        token,
        filter,
        2,
        first["pageInfo"]["endCursor"].as_str(),
    )
    .await;
    assert_eq!(ids_of(&first).len(), 2);
    assert_eq!(ids_of(&second).len(), 1);
    assert!(!ids_of(&first).contains(&ids_of(&second)[0]));
}

async fn only_admins_read_the_log(app: TestApp) {
    let l = ledger(&app).await;
    let c = &l.cast;
    for token in [&c.supervisor_a_token, &c.customer_a_token] {
        let refused = app.gql(Some(token), &query(), json!({ "first": 10 })).await;
        assert_eq!(refused.error_code(), "FORBIDDEN");
        assert!(refused.body["data"].is_null() || refused.body["data"]["auditEvents"].is_null());
        let head = app
            .gql(Some(token), "{ auditChainHead { hash } }", json!({}))
            .await;
        assert_eq!(head.error_code(), "FORBIDDEN");
    }
    // An admin impersonating anyone (even another admin) does not read the log.
    let as_customer = impersonation_token(&app, &c.admin_token, &c.customer_a).await;
    let refused = app
        .gql(Some(&as_customer), &query(), json!({ "first": 10 }))
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN_WHILE_IMPERSONATING");
    let as_admin = impersonation_token(&app, &c.admin_token, &c.admin).await;
    let refused = app
        .gql(Some(&as_admin), "{ auditChainHead { hash } }", json!({}))
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN_WHILE_IMPERSONATING");
    let anonymous = app.gql(None, &query(), json!({ "first": 10 })).await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
}

async fn bad_filters_are_bad_user_input(app: TestApp) {
    let l = ledger(&app).await;
    let token = &l.cast.admin_token;
    for (filter, field) in [
        (json!({ "recordId": "1" }), "recordId"),
        (json!({ "field": "nosuchField" }), "field"),
        (json!({ "field": "zz*" }), "field"),
        (json!({ "field": "*" }), "field"),
        (json!({ "actorId": "x" }), "actorId"),
        (
            json!({ "from": at(l.times[3]), "to": at(l.times[2]) }),
            "to",
        ),
    ] {
        let response = app
            .gql(
                Some(token),
                &query(),
                json!({ "filter": filter, "first": 10 }),
            )
            .await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT", "{filter}");
        assert_eq!(response.error_field(), Some(field), "{filter}");
    }
    let bad_cursor = app
        .gql(
            Some(token),
            &query(),
            json!({ "first": 10, "after": "bm90LWEta2V5" }),
        )
        .await;
    assert_eq!(bad_cursor.error_code(), "BAD_USER_INPUT");
}

on_both_backends!(
    every_filter_returns_exactly_its_events,
    events_show_who_when_what_and_impersonation,
    keyset_pages_walk_the_log_newest_first,
    only_admins_read_the_log,
    bad_filters_are_bad_user_input,
);
