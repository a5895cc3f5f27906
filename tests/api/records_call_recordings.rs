//! Call recordings: ingested by admins, annotated by the company's supervisors, listed newest
//! first by keyset cursor.

use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::Cast;
use crate::on_both_backends;

const CREATE: &str = "mutation($input: CreateCallRecordingInput!) { createCallRecording(input: $input) { id callerNumber startedAt durationSeconds storageKey notes disposition flagged version company { id } inboundNumber { id number } } }";
const UPDATE: &str = "mutation($input: UpdateCallRecordingInput!) { updateCallRecording(input: $input) { id notes disposition flagged version } }";
const RECORDING: &str =
    "query($id: ID!) { callRecording(id: $id) { notes disposition flagged version } }";
const PAGE: &str = "query($id: ID!, $first: Int, $after: String) { company(id: $id) { callRecordings(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id startedAt storageKey } } } } }";

fn recording(company: i64, started_at: &str, key: &str) -> Value {
    json!({ "input": {
        "companyId": company.to_string(),
        "callerNumber": "+4917612345678",
        "startedAt": started_at,
        "durationSeconds": 95,
        "storageKey": key,
    } })
}

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(Some(token), CREATE, input).await.data()["createCallRecording"].clone()
}

async fn ingested_then_annotated_with_audit(app: TestApp) {
    let cast = Cast::new(&app).await;
    let number = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
            json!({ "input": { "companyId": cast.company_a.id.to_string(), "number": "+4930100" } }),
        )
        .await;
    let number_id = number.data()["createInboundNumber"]["id"].clone();
    let mut input = recording(
        cast.company_a.id.0,
        "2026-11-28T09:15:00.123456Z",
        "rec/1.ogg",
    );
    input["input"]["inboundNumberId"] = number_id.clone();
    input["input"]["notes"] = json!("Asked about rates");
    let created = create(&app, &cast.admin_token, input).await;
    assert_eq!(created["inboundNumber"]["number"], "+4930100");
    assert_eq!(created["startedAt"], "2026-11-28T09:15:00.123456+00:00");
    assert_eq!(created["flagged"], false);
    assert!(created["disposition"].is_null());
    let id = created["id"].as_str().expect("id").to_owned();
    let record_id: i64 = id.parse().expect("id");
    let event = latest(&app, AuditRecordType::CallRecording, record_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.change("storageKey"), (None, Some("rec/1.ogg")));
    assert_eq!(event.change("durationSeconds"), (None, Some("95")));

    let updated = app
        .gql(
            Some(&cast.supervisor_a_token),
            UPDATE,
            json!({ "input": { "id": id, "notes": "Disputed the rate", "disposition": "ESCALATED", "flagged": true, "expectedVersion": 1 } }),
        )
        .await;
    let updated = &updated.data()["updateCallRecording"];
    assert_eq!(updated["flagged"], true);
    assert_eq!(updated["version"], 2);
    let event = latest(&app, AuditRecordType::CallRecording, record_id).await;
    assert_eq!(event.action(), AuditAction::Update);
    assert_eq!(event.event.actor_id, Some(cast.supervisor_a.id));
    assert_eq!(
        event.change("notes"),
        (Some("Asked about rates"), Some("Disputed the rate"))
    );
    assert_eq!(event.change("disposition"), (None, Some("ESCALATED")));
    assert_eq!(event.change("flagged"), (Some("false"), Some("true")));
    assert_eq!(event.changes.len(), 3);

    // null clears the disposition; omitted fields stay.
    let cleared = app
        .gql(
            Some(&cast.admin_token),
            UPDATE,
            json!({ "input": { "id": id, "disposition": null } }),
        )
        .await;
    let cleared = &cleared.data()["updateCallRecording"];
    assert!(cleared["disposition"].is_null());
    assert_eq!(cleared["notes"], "Disputed the rate");
    assert_eq!(cleared["version"], 3);

    let stale = app
        .gql(
            Some(&cast.supervisor_a_token),
            UPDATE,
            json!({ "input": { "id": id, "notes": "Lost", "expectedVersion": 2 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");
    for (token, code) in [
        (Some(cast.customer_a_token.as_str()), "FORBIDDEN"),
        (Some(cast.supervisor_b_token.as_str()), "NOT_FOUND"),
        (None, "UNAUTHENTICATED"),
    ] {
        let response = app
            .gql(
                token,
                UPDATE,
                json!({ "input": { "id": id, "notes": "Nope", "flagged": false } }),
            )
            .await;
        assert_eq!(response.error_code(), code);
    }
    let read = app
        .gql(Some(&cast.customer_a_token), RECORDING, json!({ "id": id }))
        .await;
    let read = &read.data()["callRecording"];
    assert_eq!(read["notes"], "Disputed the rate");
    assert_eq!(read["flagged"], true);
    assert_eq!(read["version"], 3);
    assert_eq!(
        history(&app, AuditRecordType::CallRecording, record_id)
            .await
            .len(),
        3
    );
}

async fn ingestion_is_for_admins_and_checks_input(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_a = cast.company_a.id.0;
    let input = recording(company_a, "2026-11-28T09:00:00Z", "rec/x.ogg");
    for (token, code) in [
        (cast.supervisor_a_token.as_str(), "FORBIDDEN"),
        (cast.customer_a_token.as_str(), "FORBIDDEN"),
        (cast.supervisor_b_token.as_str(), "NOT_FOUND"),
    ] {
        let response = app.gql(Some(token), CREATE, input.clone()).await;
        assert_eq!(response.error_code(), code);
    }

    let other_number = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
            json!({ "input": { "companyId": cast.company_b.id.to_string(), "number": "+4940100" } }),
        )
        .await;
    let other_number = other_number.data()["createInboundNumber"]["id"].clone();
    let mut wrong_company = input.clone();
    wrong_company["input"]["inboundNumberId"] = other_number;
    let mut negative = input.clone();
    negative["input"]["durationSeconds"] = json!(-1);
    let mut no_key = input.clone();
    no_key["input"]["storageKey"] = json!("  ");
    let mut no_caller = input.clone();
    no_caller["input"]["callerNumber"] = json!("");
    for (bad, field) in [
        (wrong_company, "inboundNumberId"),
        (negative, "durationSeconds"),
        (no_key, "storageKey"),
        (no_caller, "callerNumber"),
    ] {
        let response = app.gql(Some(&cast.admin_token), CREATE, bad).await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT");
        assert_eq!(response.error_field(), Some(field));
    }
    let page = app
        .gql(
            Some(&cast.admin_token),
            PAGE,
            json!({ "id": company_a.to_string() }),
        )
        .await;
    assert_eq!(page.data()["company"]["callRecordings"]["totalCount"], 0);
}

async fn recordings_page_newest_first(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_a = cast.company_a.id.0;
    // Two recordings share a start time: the id breaks the tie.
    for (at, key) in [
        ("2026-11-01T08:00:00Z", "a"),
        ("2026-11-03T08:00:00.5Z", "c"),
        ("2026-11-02T08:00:00Z", "b1"),
        ("2026-11-02T08:00:00Z", "b2"),
        ("2026-11-04T08:00:00Z", "d"),
    ] {
        create(&app, &cast.admin_token, recording(company_a, at, key)).await;
    }
    create(
        &app,
        &cast.admin_token,
        recording(cast.company_b.id.0, "2026-11-05T08:00:00Z", "other"),
    )
    .await;

    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = app
            .gql(
                Some(&cast.customer_a_token),
                PAGE,
                json!({ "id": company_a.to_string(), "first": 2, "after": after }),
            )
            .await;
        let page = &response.data()["company"]["callRecordings"];
        assert_eq!(page["totalCount"], 5);
        for edge in page["edges"].as_array().expect("edges") {
            keys.push(edge["node"]["storageKey"].as_str().expect("key").to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(keys, ["d", "c", "b2", "b1", "a"]);

    let hidden = app
        .gql(
            Some(&cast.supervisor_b_token),
            PAGE,
            json!({ "id": company_a.to_string() }),
        )
        .await;
    assert_eq!(hidden.error_code(), "NOT_FOUND");
}

on_both_backends!(
    ingested_then_annotated_with_audit,
    ingestion_is_for_admins_and_checks_input,
    recordings_page_newest_first,
);
