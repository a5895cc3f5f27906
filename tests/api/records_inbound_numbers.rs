//! Inbound numbers: E.164, one active record per number, admins only, members read.

use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::Cast;
use crate::on_both_backends;

const CREATE: &str = "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id number label active deactivatedAt version company { id } } }";
const UPDATE: &str = "mutation($input: UpdateInboundNumberInput!) { updateInboundNumber(input: $input) { id number label version } }";
const DEACTIVATE: &str = "mutation($input: DeactivateInboundNumberInput!) { deactivateInboundNumber(input: $input) { id active deactivatedAt version } }";
const NUMBERS: &str = "query($id: ID!, $all: Boolean) { company(id: $id) { inboundNumbers(includeInactive: $all) { number active } } }";

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

async fn numbers(app: &TestApp, token: &str, company: i64, all: bool) -> Vec<String> {
    let response = app
        .gql(
            Some(token),
            NUMBERS,
            json!({ "id": company.to_string(), "all": all }),
        )
        .await;
    response.data()["company"]["inboundNumbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_owned())
        .collect()
}

async fn admin_adds_edits_and_deactivates_numbers(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = Some(cast.admin_token.as_str());
    let company_a = cast.company_a.id.to_string();
    let created = app
        .gql(
            admin,
            CREATE,
            json!({ "input": { "companyId": company_a, "number": "+49 30-1234 5678", "label": "Sales" } }),
        )
        .await;
    let number = &created.data()["createInboundNumber"];
    assert_eq!(number["number"], "+493012345678");
    assert_eq!(number["active"], true);
    assert_eq!(number["company"]["id"], company_a);
    let id = id_of(number);
    let record_id: i64 = id.parse().expect("id");
    let event = latest(&app, AuditRecordType::InboundNumber, record_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.change("number"), (None, Some("+493012345678")));
    assert_eq!(event.change("label"), (None, Some("Sales")));

    let updated = app
        .gql(
            admin,
            UPDATE,
            json!({ "input": { "id": id, "label": "Support", "number": "+49 30 999", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(updated.data()["updateInboundNumber"]["number"], "+4930999");
    assert_eq!(updated.data()["updateInboundNumber"]["version"], 2);
    let event = latest(&app, AuditRecordType::InboundNumber, record_id).await;
    assert_eq!(event.change("label"), (Some("Sales"), Some("Support")));
    assert_eq!(
        event.change("number"),
        (Some("+493012345678"), Some("+4930999"))
    );
    let stale = app
        .gql(
            admin,
            UPDATE,
            json!({ "input": { "id": id, "label": "Lost", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");

    let deactivated = app
        .gql(admin, DEACTIVATE, json!({ "input": { "id": id } }))
        .await;
    let deactivated = &deactivated.data()["deactivateInboundNumber"];
    assert_eq!(deactivated["active"], false);
    assert!(deactivated["deactivatedAt"].is_string());
    assert_eq!(deactivated["version"], 3);
    let event = latest(&app, AuditRecordType::InboundNumber, record_id).await;
    assert_eq!(event.change("active"), (Some("true"), Some("false")));
    assert_eq!(event.fields(), ["active", "deactivatedAt"]);
    // Again: nothing changes.
    let events = history(&app, AuditRecordType::InboundNumber, record_id)
        .await
        .len();
    let again = app
        .gql(admin, DEACTIVATE, json!({ "input": { "id": id } }))
        .await;
    assert_eq!(again.data()["deactivateInboundNumber"]["version"], 3);
    assert_eq!(
        history(&app, AuditRecordType::InboundNumber, record_id)
            .await
            .len(),
        events
    );

    assert!(
        numbers(&app, &cast.customer_a_token, cast.company_a.id.0, false)
            .await
            .is_empty()
    );
    assert_eq!(
        numbers(&app, &cast.customer_a_token, cast.company_a.id.0, true).await,
        ["+4930999"]
    );
    let read = app
        .gql(
            Some(&cast.supervisor_a_token),
            "query($id: ID!) { inboundNumber(id: $id) { number label } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read.data()["inboundNumber"]["label"], "Support");
    let hidden = app
        .gql(
            Some(&cast.supervisor_b_token),
            "query($id: ID!) { inboundNumber(id: $id) { number } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(hidden.error_code(), "NOT_FOUND");
}

async fn a_number_is_active_on_one_record_at_a_time(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = Some(cast.admin_token.as_str());
    let create = |company: i64, number: &str| json!({ "input": { "companyId": company.to_string(), "number": number } });
    let first = app
        .gql(admin, CREATE, create(cast.company_a.id.0, "+1 555 0100"))
        .await;
    let first_id = id_of(&first.data()["createInboundNumber"]);

    for company in [cast.company_a.id.0, cast.company_b.id.0] {
        let taken = app.gql(admin, CREATE, create(company, "+1-555-0100")).await;
        assert_eq!(taken.error_code(), "CONFLICT");
        assert!(
            taken.error_message().contains("already active"),
            "{}",
            taken.body
        );
    }
    assert!(
        numbers(&app, &cast.admin_token, cast.company_b.id.0, true)
            .await
            .is_empty()
    );

    // Moving another number onto it is refused the same way.
    let second = app
        .gql(admin, CREATE, create(cast.company_b.id.0, "+1 555 0199"))
        .await;
    let second_id = id_of(&second.data()["createInboundNumber"]);
    let clash = app
        .gql(
            admin,
            UPDATE,
            json!({ "input": { "id": second_id, "number": "+15550100" } }),
        )
        .await;
    assert_eq!(clash.error_code(), "CONFLICT");
    assert_eq!(
        numbers(&app, &cast.admin_token, cast.company_b.id.0, true).await,
        ["+15550199"]
    );

    // Once deactivated, the number may be used again.
    app.gql(admin, DEACTIVATE, json!({ "input": { "id": first_id } }))
        .await
        .data();
    let reused = app
        .gql(admin, CREATE, create(cast.company_b.id.0, "+15550100"))
        .await;
    assert_eq!(reused.data()["createInboundNumber"]["active"], true);
}

async fn only_admins_manage_numbers_and_input_is_checked(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_a = cast.company_a.id.to_string();
    let input = json!({ "input": { "companyId": company_a, "number": "+4930123" } });
    for (token, code) in [
        (Some(cast.supervisor_a_token.as_str()), "FORBIDDEN"),
        (Some(cast.customer_a_token.as_str()), "FORBIDDEN"),
        (Some(cast.supervisor_b_token.as_str()), "NOT_FOUND"),
        (None, "UNAUTHENTICATED"),
    ] {
        let response = app.gql(token, CREATE, input.clone()).await;
        assert_eq!(response.error_code(), code);
    }
    for bad in [
        "4930123",
        "+0301234",
        "+1",
        "+1234567890123456",
        "+49 30 12a",
    ] {
        let response = app
            .gql(
                Some(&cast.admin_token),
                CREATE,
                json!({ "input": { "companyId": company_a, "number": bad } }),
            )
            .await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT", "{bad}");
        assert_eq!(response.error_field(), Some("number"));
    }
    assert!(
        numbers(&app, &cast.admin_token, cast.company_a.id.0, true)
            .await
            .is_empty()
    );

    let created = app.gql(Some(&cast.admin_token), CREATE, input).await;
    let id = id_of(&created.data()["createInboundNumber"]);
    let supervisor_edit = app
        .gql(
            Some(&cast.supervisor_a_token),
            UPDATE,
            json!({ "input": { "id": id, "label": "Mine" } }),
        )
        .await;
    assert_eq!(supervisor_edit.error_code(), "FORBIDDEN");
    let supervisor_off = app
        .gql(
            Some(&cast.supervisor_a_token),
            DEACTIVATE,
            json!({ "input": { "id": id } }),
        )
        .await;
    assert_eq!(supervisor_off.error_code(), "FORBIDDEN");
    let bad_edit = app
        .gql(
            Some(&cast.admin_token),
            UPDATE,
            json!({ "input": { "id": id, "number": "12" } }),
        )
        .await;
    assert_eq!(bad_edit.error_field(), Some("number"));
    assert_eq!(
        numbers(&app, &cast.customer_a_token, cast.company_a.id.0, false).await,
        ["+4930123"]
    );
    let event_count = history(
        &app,
        AuditRecordType::InboundNumber,
        id.parse().expect("id"),
    )
    .await
    .len();
    assert_eq!(event_count, 1, "only the CREATE");
}

on_both_backends!(
    admin_adds_edits_and_deactivates_numbers,
    a_number_is_active_on_one_record_at_a_time,
    only_admins_manage_numbers_and_input_is_checked,
);
