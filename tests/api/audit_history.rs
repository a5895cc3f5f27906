//! History on every audited record: who, when, each field's before -> after, directly or via
//! impersonation; newest first with keyset cursors; visible to whoever may see the record.

use portal_admin::domain::audit::{AuditEntry, AuditValue, FieldChange, RecordRef};
use portal_admin::domain::{AuditAction, AuditRecordType, Role};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{EVENT_FIELDS, impersonated, write_event};
use crate::common::builders::{Cast, UserBuilder, add_member, company, team};
use crate::on_both_backends;

/// `{ <root>(id: $id) { history(first, after) { … } } }` for a root query field.
fn history_query(root: &str) -> String {
    format!(
        "query($id: ID!, $first: Int, $after: String) {{ {root}(id: $id) {{ history(first: $first, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {EVENT_FIELDS} }} }} }} }} }}"
    )
}

async fn history_of(app: &TestApp, token: &str, root: &str, id: impl ToString) -> Value {
    let response = app
        .gql(
            Some(token),
            &history_query(root),
            json!({ "id": id.to_string(), "first": 100 }),
        )
        .await;
    response.data()[root]["history"].clone()
}

fn nodes(history: &Value) -> Vec<Value> {
    history["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// `(action, recordType)` of each event, newest first.
fn actions(history: &Value) -> Vec<(String, String)> {
    nodes(history)
        .iter()
        .map(|n| {
            (
                n["action"].as_str().expect("action").to_owned(),
                n["recordType"].as_str().expect("type").to_owned(),
            )
        })
        .collect()
}

fn change<'a>(node: &'a Value, field: &str) -> &'a Value {
    node["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["field"] == field)
        .unwrap_or_else(|| panic!("no change to {field} in {node}"))
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

async fn a_company_history_shows_its_changes_and_membership_changes(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_id = cast.company_a.id.to_string();
    let updated = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
            json!({ "input": { "id": company_id, "billingRateCents": 1250 } }),
        )
        .await;
    updated.data();
    let newcomer = UserBuilder::customer().name("Nora New").create(&app).await;
    let added = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id } }",
            json!({ "input": { "companyId": company_id, "userId": newcomer.id.to_string(), "role": "CUSTOMER" } }),
        )
        .await;
    let membership_id = added.data()["addCompanyMember"]["id"].clone();
    let removed = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: RemoveCompanyMemberInput!) { removeCompanyMember(input: $input) }",
            json!({ "input": { "id": membership_id } }),
        )
        .await;
    removed.data();

    let history = history_of(&app, &cast.admin_token, "company", &company_id).await;
    assert_eq!(
        actions(&history),
        [
            pair("DELETE", "COMPANY_MEMBERSHIP"),
            pair("CREATE", "COMPANY_MEMBERSHIP"),
            pair("UPDATE", "COMPANY"),
            pair("CREATE", "COMPANY_MEMBERSHIP"), // customer A (the cast)
            pair("CREATE", "COMPANY_MEMBERSHIP"), // supervisor A
            pair("CREATE", "COMPANY"),
        ]
    );
    assert_eq!(history["totalCount"], 6);
    let events = nodes(&history);
    let rate = &events[2];
    assert_eq!(rate["actor"]["id"], cast.admin.id.to_string());
    assert_eq!(rate["actor"]["name"], cast.admin.name);
    assert_eq!(rate["viaImpersonation"], false);
    assert!(rate["impersonator"].is_null());
    assert!(rate["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(rate["changes"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        change(rate, "billingRateCents"),
        &json!({ "field": "billingRateCents", "before": "0", "after": "1250", "redacted": false })
    );
    let added = &events[1];
    assert_eq!(change(added, "user")["after"], newcomer.id.to_string());
    assert_eq!(change(added, "role")["after"], "CUSTOMER");
    let removed = &events[0];
    assert_eq!(change(removed, "user")["before"], newcomer.id.to_string());
    assert!(change(removed, "user")["after"].is_null());
    // Ids strictly decrease: newest first.
    let ids: Vec<i64> = events
        .iter()
        .map(|n| n["id"].as_str().expect("id").parse().expect("numeric id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
}

async fn every_audited_record_type_has_a_history(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = cast.admin_token.as_str();
    let company_id = cast.company_a.id.to_string();
    let org_id = cast.company_a.organization_id.to_string();
    let team = team(&app, cast.company_a.id, "Night shift").await;
    let renamed = app
        .gql(
            Some(admin),
            "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { id } }",
            json!({ "input": { "id": team.id.to_string(), "name": "Late shift" } }),
        )
        .await;
    renamed.data();
    let number = app
        .gql(
            Some(admin),
            "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
            json!({ "input": { "companyId": company_id, "number": "+4930100200", "label": "Sales" } }),
        )
        .await;
    let number_id = number.data()["createInboundNumber"]["id"].clone();
    let deactivated = app
        .gql(
            Some(admin),
            "mutation($input: DeactivateInboundNumberInput!) { deactivateInboundNumber(input: $input) { id } }",
            json!({ "input": { "id": number_id } }),
        )
        .await;
    deactivated.data();
    let recording = app
        .gql(
            Some(admin),
            "mutation($input: CreateCallRecordingInput!) { createCallRecording(input: $input) { id } }",
            json!({ "input": { "companyId": company_id, "callerNumber": "+4917612345678", "startedAt": "2026-11-28T09:15:00Z", "durationSeconds": 95, "storageKey": "rec/1.ogg" } }),
        )
        .await;
    let recording_id = recording.data()["createCallRecording"]["id"].clone();
    let flagged = app
        .gql(
            Some(&cast.supervisor_a_token),
            "mutation($input: UpdateCallRecordingInput!) { updateCallRecording(input: $input) { id } }",
            json!({ "input": { "id": recording_id, "flagged": true, "notes": "Disputed rate" } }),
        )
        .await;
    flagged.data();
    let renamed_org = app
        .gql(
            Some(admin),
            "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { id } }",
            json!({ "input": { "id": org_id, "name": "Acme Group" } }),
        )
        .await;
    renamed_org.data();

    let org = history_of(&app, admin, "organization", &org_id).await;
    assert_eq!(
        actions(&org),
        [
            pair("UPDATE", "ORGANIZATION"),
            pair("CREATE", "ORGANIZATION")
        ]
    );
    assert_eq!(change(&nodes(&org)[0], "name")["before"], "Acme Calls");
    assert_eq!(change(&nodes(&org)[0], "name")["after"], "Acme Group");

    let team_history = history_of(&app, admin, "team", team.id).await;
    assert_eq!(
        actions(&team_history),
        [pair("UPDATE", "TEAM"), pair("CREATE", "TEAM")]
    );
    assert_eq!(
        change(&nodes(&team_history)[0], "name")["after"],
        "Late shift"
    );

    let number_history = history_of(
        &app,
        admin,
        "inboundNumber",
        number_id.as_str().expect("id"),
    )
    .await;
    assert_eq!(
        actions(&number_history),
        [
            pair("UPDATE", "INBOUND_NUMBER"),
            pair("CREATE", "INBOUND_NUMBER")
        ]
    );
    let deactivation = &nodes(&number_history)[0];
    assert_eq!(change(deactivation, "active")["before"], "true");
    assert_eq!(change(deactivation, "active")["after"], "false");
    // Timestamps in the trail read like the API's DateTime values.
    assert!(
        change(deactivation, "deactivatedAt")["after"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00") && t.contains('T')),
        "{deactivation}"
    );

    let recording_history = history_of(
        &app,
        admin,
        "callRecording",
        recording_id.as_str().expect("id"),
    )
    .await;
    assert_eq!(
        actions(&recording_history),
        [
            pair("UPDATE", "CALL_RECORDING"),
            pair("CREATE", "CALL_RECORDING")
        ]
    );
    let annotated = &nodes(&recording_history)[0];
    assert_eq!(annotated["actor"]["name"], cast.supervisor_a.name);
    assert_eq!(change(annotated, "flagged")["after"], "true");
    assert_eq!(change(annotated, "notes")["after"], "Disputed rate");

    // A membership's own History, reached through the company's members.
    let members = app
        .gql(
            Some(admin),
            &format!("query($id: ID!) {{ company(id: $id) {{ members(first: 10) {{ edges {{ node {{ id user {{ id }} history(first: 10) {{ totalCount edges {{ node {{ {EVENT_FIELDS} }} }} }} }} }} }} }} }}"),
            json!({ "id": company_id }),
        )
        .await;
    let edges = members.data()["company"]["members"]["edges"]
        .as_array()
        .expect("members")
        .clone();
    let customer_membership = edges
        .iter()
        .find(|e| e["node"]["user"]["id"] == cast.customer_a.id.to_string())
        .expect("customer's membership");
    let membership_history = &customer_membership["node"]["history"];
    assert_eq!(
        actions(membership_history),
        [pair("CREATE", "COMPANY_MEMBERSHIP")]
    );
    assert_eq!(membership_history["totalCount"], 1);

    // A user's History: their record, their memberships and their security events.
    let user_history = history_of(&app, admin, "user", cast.customer_a.id).await;
    assert_eq!(
        actions(&user_history),
        [
            pair("SIGN_IN", "USER"),
            pair("CREATE", "COMPANY_MEMBERSHIP"),
            pair("CREATE", "USER"),
        ]
    );
}

async fn a_user_history_has_security_events_with_secrets_redacted(app: TestApp) {
    let (user, token) = UserBuilder::customer().signed_in(&app).await;
    let changed = app
        .gql(
            Some(&token),
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }",
            json!({ "input": { "currentPassword": crate::common::builders::PASSWORD, "newPassword": "an entirely new passphrase" } }),
        )
        .await;
    changed.data();
    let (_, admin) = UserBuilder::admin().signed_in(&app).await;
    let history = history_of(&app, &admin, "user", user.id).await;
    let events = nodes(&history);
    let password_event = events
        .iter()
        .find(|n| n["action"] == "PASSWORD_CHANGED")
        .unwrap_or_else(|| panic!("no PASSWORD_CHANGED in {history}"));
    let password = change(password_event, "password");
    assert_eq!(password["redacted"], true);
    assert!(password["before"].is_null() && password["after"].is_null());
    assert!(events.iter().any(|n| n["action"] == "SIGN_IN"));
    // No stored value anywhere looks like a password hash.
    for node in &events {
        for change in node["changes"].as_array().expect("changes") {
            for side in ["before", "after"] {
                let value = change[side].as_str().unwrap_or_default();
                assert!(!value.contains("argon2"), "a hash leaked: {change}");
            }
        }
    }
}

async fn history_pages_newest_first_by_cursor(app: TestApp) {
    let (_, admin) = UserBuilder::admin().signed_in(&app).await;
    let company = company(&app, "Paged").await;
    for rate in 1..=6 {
        let response = app
            .gql(
                Some(&admin),
                "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
                json!({ "input": { "id": company.id.to_string(), "billingRateCents": rate * 100 } }),
            )
            .await;
        response.data();
    }
    let query = history_query("company");
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = app
            .gql(
                Some(&admin),
                &query,
                json!({ "id": company.id.to_string(), "first": 3, "after": after }),
            )
            .await;
        let history = response.data()["company"]["history"].clone();
        assert_eq!(history["totalCount"], 7);
        pages += 1;
        for node in nodes(&history) {
            seen.push(
                node["changes"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["field"] == "billingRateCents"))
                    .map(|c| c["after"].as_str().unwrap_or_default().to_owned()),
            );
        }
        if history["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = history["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 3);
    let rates: Vec<Option<&str>> = seen.iter().map(|s| s.as_deref()).collect();
    assert_eq!(
        rates,
        [
            Some("600"),
            Some("500"),
            Some("400"),
            Some("300"),
            Some("200"),
            Some("100"),
            Some("0"), // CREATE: 0 from NULL
        ]
    );

    for (first, after) in [(0, None), (101, None), (5, Some("not-a-cursor"))] {
        let bad = app
            .gql(
                Some(&admin),
                &query,
                json!({ "id": company.id.to_string(), "first": first, "after": after }),
            )
            .await;
        assert_eq!(bad.error_code(), "BAD_USER_INPUT", "{}", bad.body);
    }
}

async fn impersonated_changes_name_the_admin(app: TestApp) {
    let cast = Cast::new(&app).await;
    let entry = AuditEntry::new(
        AuditAction::Update,
        RecordRef::new(AuditRecordType::Company, cast.company_a.id),
    )
    .with_changes(vec![FieldChange::new(
        "billingEmail",
        AuditValue::Null,
        AuditValue::text("billing@acme.test"),
    )]);
    write_event(
        &app,
        impersonated(cast.supervisor_a.id, cast.admin.id),
        entry,
    )
    .await;

    let history = history_of(&app, &cast.supervisor_a_token, "company", cast.company_a.id).await;
    let newest = &nodes(&history)[0];
    assert_eq!(newest["viaImpersonation"], true);
    assert_eq!(newest["actor"]["id"], cast.supervisor_a.id.to_string());
    assert_eq!(newest["actor"]["name"], cast.supervisor_a.name);
    assert_eq!(newest["impersonator"]["id"], cast.admin.id.to_string());
    assert_eq!(newest["impersonator"]["name"], cast.admin.name);
    assert_eq!(change(newest, "billingEmail")["after"], "billing@acme.test");
    // The events written directly are marked so.
    assert!(
        nodes(&history)[1..]
            .iter()
            .all(|n| n["viaImpersonation"] == false)
    );
}

async fn history_is_visible_to_whoever_may_see_the_record(app: TestApp) {
    let cast = Cast::new(&app).await;
    // Customer A can read their company's History…
    let own = history_of(&app, &cast.customer_a_token, "company", cast.company_a.id).await;
    assert!(!nodes(&own).is_empty());
    // …but company B is not theirs: NOT_FOUND, nothing of its History.
    let other = app
        .gql(
            Some(&cast.customer_a_token),
            &history_query("company"),
            json!({ "id": cast.company_b.id.to_string(), "first": 10 }),
        )
        .await;
    assert_eq!(other.error_code(), "NOT_FOUND");
    assert!(other.body["data"]["company"].is_null());
    let user_b = app
        .gql(
            Some(&cast.supervisor_a_token),
            &history_query("user"),
            json!({ "id": cast.supervisor_b.id.to_string(), "first": 10 }),
        )
        .await;
    assert_eq!(user_b.error_code(), "NOT_FOUND");
    let anonymous = app
        .gql(
            None,
            &history_query("company"),
            json!({ "id": cast.company_a.id.to_string(), "first": 10 }),
        )
        .await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");

    // Customer A also joins company B: supervisor A sees the customer's History without the
    // membership elsewhere; the admin sees all of it.
    add_member(&app, cast.customer_a.id, cast.company_b.id, Role::Customer).await;
    let shows_b = |history: &Value| {
        nodes(history).iter().any(|n| {
            n["recordType"] == "COMPANY_MEMBERSHIP"
                && n["changes"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["field"] == "company" && c["after"] == cast.company_b.id.to_string()
                    })
                })
        })
    };
    let for_supervisor =
        history_of(&app, &cast.supervisor_a_token, "user", cast.customer_a.id).await;
    assert!(!shows_b(&for_supervisor), "{for_supervisor}");
    assert_eq!(
        for_supervisor["totalCount"].as_i64(),
        Some(nodes(&for_supervisor).len() as i64)
    );
    let for_admin = history_of(&app, &cast.admin_token, "user", cast.customer_a.id).await;
    assert!(shows_b(&for_admin), "{for_admin}");
    assert_eq!(
        for_admin["totalCount"].as_i64(),
        for_supervisor["totalCount"].as_i64().map(|n| n + 1)
    );
}

on_both_backends!(
    a_company_history_shows_its_changes_and_membership_changes,
    every_audited_record_type_has_a_history,
    a_user_history_has_security_events_with_secrets_redacted,
    history_pages_newest_first_by_cursor,
    impersonated_changes_name_the_admin,
    history_is_visible_to_whoever_may_see_the_record,
);

/// History names the records: the event's record and the ids a change refers to carry labels.
async fn history_labels_name_the_records_and_the_ids_in_changes(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_id = cast.company_a.id.to_string();
    let newcomer = UserBuilder::customer()
        .name("Carla Client")
        .create(&app)
        .await;
    app.gql(
        Some(&cast.admin_token),
        "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id } }",
        json!({ "input": { "companyId": company_id, "userId": newcomer.id.to_string(), "role": "CUSTOMER" } }),
    )
    .await
    .data();
    let response = app
        .gql(
            Some(&cast.admin_token),
            "query($id: ID!) { company(id: $id) { history(first: 10) { edges { node { action recordType recordLabel changes { field after afterLabel } } } } } }",
            json!({ "id": company_id }),
        )
        .await;
    let history = response.data()["company"]["history"].clone();
    let events = nodes(&history);
    let added = &events[0];
    assert_eq!(added["recordType"], "COMPANY_MEMBERSHIP");
    assert!(added["recordLabel"].is_null());
    assert_eq!(change(added, "user")["afterLabel"], "Carla Client");
    let created = events.last().cloned().unwrap_or_default();
    assert_eq!(created["recordType"], "COMPANY");
    assert_eq!(created["recordLabel"], cast.company_a.name);
}

on_both_backends!(history_labels_name_the_records_and_the_ids_in_changes);
