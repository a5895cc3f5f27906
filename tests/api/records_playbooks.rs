//! Playbooks: every save is a new immutable version; the audit log records who saved when.

use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::json;

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::{Cast, impersonation_token};
use crate::on_both_backends;

const FIELDS: &str = "id title body currentVersion company { id } versions { version title body restoredFromVersion author { id } impersonator { id } }";

fn create_query() -> String {
    format!(
        "mutation($input: CreatePlaybookInput!) {{ createPlaybook(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($input: UpdatePlaybookInput!) {{ updatePlaybook(input: $input) {{ {FIELDS} }} }}"
    )
}

fn restore_query() -> String {
    format!(
        "mutation($input: RestorePlaybookVersionInput!) {{ restorePlaybookVersion(input: $input) {{ {FIELDS} }} }}"
    )
}

const READ: &str = "query($id: ID!) { playbook(id: $id) { title body currentVersion versions { version } first: version(number: 1) { title author { id } } missing: version(number: 99) { title } } }";

async fn every_save_is_a_version_and_one_audit_event(app: TestApp) {
    let cast = Cast::new(&app).await;
    let supervisor = Some(cast.supervisor_a_token.as_str());
    let created = app
        .gql(
            supervisor,
            &create_query(),
            json!({ "input": { "companyId": cast.company_a.id.to_string(), "title": "Greeting", "body": "Say hello." } }),
        )
        .await;
    let playbook = &created.data()["createPlaybook"];
    assert_eq!(playbook["currentVersion"], 1);
    assert_eq!(
        playbook["versions"][0]["author"]["id"],
        cast.supervisor_a.id.to_string()
    );
    let id = playbook["id"].as_str().expect("id").to_owned();
    let record_id: i64 = id.parse().expect("id");
    let event = latest(&app, AuditRecordType::Playbook, record_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(
        event.fields(),
        ["currentVersion"],
        "no content in the audit log"
    );
    assert_eq!(event.change("currentVersion"), (None, Some("1")));

    let saved = app
        .gql(
            supervisor,
            &update_query(),
            json!({ "input": { "id": id, "body": "Say hello, then your name.", "expectedVersion": 1 } }),
        )
        .await;
    let playbook = &saved.data()["updatePlaybook"];
    assert_eq!(playbook["currentVersion"], 2);
    assert_eq!(playbook["title"], "Greeting", "title kept");
    assert_eq!(playbook["body"], "Say hello, then your name.");
    assert_eq!(playbook["versions"][0]["version"], 2);
    assert_eq!(playbook["versions"][1]["body"], "Say hello.");
    let event = latest(&app, AuditRecordType::Playbook, record_id).await;
    assert_eq!(event.action(), AuditAction::Update);
    assert_eq!(event.change("currentVersion"), (Some("1"), Some("2")));
    assert_eq!(event.changes.len(), 1);

    // The same content again: no version, no event.
    let same = app
        .gql(
            Some(&cast.admin_token),
            &update_query(),
            json!({ "input": { "id": id, "title": "Greeting", "body": "Say hello, then your name." } }),
        )
        .await;
    assert_eq!(same.data()["updatePlaybook"]["currentVersion"], 2);
    assert_eq!(
        history(&app, AuditRecordType::Playbook, record_id)
            .await
            .len(),
        2
    );

    // Someone who edited version 1 is refused.
    let stale = app
        .gql(
            Some(&cast.admin_token),
            &update_query(),
            json!({ "input": { "id": id, "body": "Old edit", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");

    let restored = app
        .gql(
            Some(&cast.admin_token),
            &restore_query(),
            json!({ "input": { "playbookId": id, "version": 1 } }),
        )
        .await;
    let playbook = &restored.data()["restorePlaybookVersion"];
    assert_eq!(playbook["currentVersion"], 3);
    assert_eq!(playbook["body"], "Say hello.");
    assert_eq!(playbook["versions"][0]["restoredFromVersion"], 1);
    assert_eq!(
        playbook["versions"][0]["author"]["id"],
        cast.admin.id.to_string()
    );
    let event = latest(&app, AuditRecordType::Playbook, record_id).await;
    assert_eq!(event.change("currentVersion"), (Some("2"), Some("3")));
    let no_such = app
        .gql(
            Some(&cast.admin_token),
            &restore_query(),
            json!({ "input": { "playbookId": id, "version": 42 } }),
        )
        .await;
    assert_eq!(no_such.error_code(), "BAD_USER_INPUT");

    let read = app
        .gql(Some(&cast.customer_a_token), READ, json!({ "id": id }))
        .await;
    let read = &read.data()["playbook"];
    assert_eq!(read["currentVersion"], 3);
    assert_eq!(read["versions"].as_array().map(Vec::len), Some(3));
    assert_eq!(read["first"]["title"], "Greeting");
    assert_eq!(
        read["first"]["author"]["id"],
        cast.supervisor_a.id.to_string()
    );
    assert!(read["missing"].is_null());
    let list = app
        .gql(
            Some(&cast.customer_a_token),
            "query($id: ID!) { company(id: $id) { playbooks { id title } } }",
            json!({ "id": cast.company_a.id.to_string() }),
        )
        .await;
    assert_eq!(list.data()["company"]["playbooks"][0]["id"], id);
}

async fn saves_while_impersonating_name_the_admin(app: TestApp) {
    let cast = Cast::new(&app).await;
    let acting = impersonation_token(&app, &cast.admin_token, &cast.supervisor_a).await;
    let created = app
        .gql(
            Some(&acting),
            &create_query(),
            json!({ "input": { "companyId": cast.company_a.id.to_string(), "title": "Script", "body": "..." } }),
        )
        .await;
    let version = &created.data()["createPlaybook"]["versions"][0];
    assert_eq!(version["author"]["id"], cast.supervisor_a.id.to_string());
    // The admin does not share a company with the supervisor: the viewer (acting as the
    // supervisor) may not see them, so the field is null; the row keeps the id.
    assert!(version["impersonator"].is_null());
    let id: i64 = created.data()["createPlaybook"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id");
    let event = latest(&app, AuditRecordType::Playbook, id).await;
    assert_eq!(event.event.actor_id, Some(cast.supervisor_a.id));
    assert_eq!(event.event.impersonator_id, Some(cast.admin.id));
    let as_admin = app
        .gql(
            Some(&cast.admin_token),
            READ.replace("author { id }", "author { id } impersonator { id }")
                .as_str(),
            json!({ "id": id.to_string() }),
        )
        .await;
    assert_eq!(
        as_admin.data()["playbook"]["first"]["impersonator"]["id"],
        cast.admin.id.to_string()
    );
}

async fn customers_and_other_companies_cannot_write_playbooks(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_a = cast.company_a.id.to_string();
    let input = json!({ "input": { "companyId": company_a, "title": "T", "body": "B" } });
    for (token, code) in [
        (Some(cast.customer_a_token.as_str()), "FORBIDDEN"),
        (Some(cast.supervisor_b_token.as_str()), "NOT_FOUND"),
        (None, "UNAUTHENTICATED"),
    ] {
        let response = app.gql(token, &create_query(), input.clone()).await;
        assert_eq!(response.error_code(), code);
    }
    let empty_title = app
        .gql(
            Some(&cast.supervisor_a_token),
            &create_query(),
            json!({ "input": { "companyId": company_a, "title": " ", "body": "B" } }),
        )
        .await;
    assert_eq!(empty_title.error_field(), Some("title"));

    let created = app
        .gql(Some(&cast.admin_token), &create_query(), input)
        .await;
    let id = created.data()["createPlaybook"]["id"].clone();
    for (token, code) in [
        (cast.customer_a_token.as_str(), "FORBIDDEN"),
        (cast.supervisor_b_token.as_str(), "NOT_FOUND"),
    ] {
        let update = app
            .gql(
                Some(token),
                &update_query(),
                json!({ "input": { "id": id, "body": "Changed" } }),
            )
            .await;
        assert_eq!(update.error_code(), code);
        let restore = app
            .gql(
                Some(token),
                &restore_query(),
                json!({ "input": { "playbookId": id, "version": 1 } }),
            )
            .await;
        assert_eq!(restore.error_code(), code);
    }
    let hidden = app
        .gql(Some(&cast.supervisor_b_token), READ, json!({ "id": id }))
        .await;
    assert_eq!(hidden.error_code(), "NOT_FOUND");
    let read = app
        .gql(Some(&cast.admin_token), READ, json!({ "id": id }))
        .await;
    assert_eq!(read.data()["playbook"]["currentVersion"], 1);
    assert_eq!(read.data()["playbook"]["body"], "B");
}

on_both_backends!(
    every_save_is_a_version_and_one_audit_event,
    saves_while_impersonating_name_the_admin,
    customers_and_other_companies_cannot_write_playbooks,
);
