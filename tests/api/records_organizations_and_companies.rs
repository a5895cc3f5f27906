//! Organizations and companies: admins create and change them (every field audited), members
//! see their own, and refusals change nothing.

use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::{Cast, company, company_in, impersonation_token, organization};

use crate::on_both_backends;

const CREATE_ORG: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id name billingEmail status version } }";
const UPDATE_ORG: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { id name billingEmail status version } }";
const CREATE_COMPANY: &str = "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id name billingEmail billingRateCents billingPlan timezone status version organization { id name } } }";
const UPDATE_COMPANY: &str = "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id name billingEmail billingRateCents billingPlan timezone status version organization { id } } }";
const COMPANY: &str = "query($id: ID!) { company(id: $id) { id name billingRateCents timezone version organization { id name } } }";

fn id_of(value: &Value) -> i64 {
    value["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id")
}

async fn org_of_a(app: &TestApp, cast: &Cast) -> portal_admin::db::models::Organization {
    let mut conn = app.app.db.conn().await.expect("conn");
    portal_admin::db::models::organizations::get(&mut conn, cast.company_a.organization_id)
        .await
        .expect("organization")
}

async fn admin_creates_and_updates_an_organization(app: TestApp) {
    let cast = Cast::new(&app).await;
    let token = Some(cast.admin_token.as_str());
    let created = app
        .gql(
            token,
            CREATE_ORG,
            json!({ "input": { "name": "  Northwind  ", "billingEmail": "billing@northwind.test" } }),
        )
        .await;
    let org = &created.data()["createOrganization"];
    assert_eq!(org["name"], "Northwind");
    assert_eq!(org["status"], "ACTIVE");
    assert_eq!(org["version"], 1);
    let org_id = id_of(org);

    let event = latest(&app, AuditRecordType::Organization, org_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.event.actor_id, Some(cast.admin.id));
    assert_eq!(event.change("name"), (None, Some("Northwind")));
    assert_eq!(
        event.change("billingEmail"),
        (None, Some("billing@northwind.test"))
    );

    let updated = app
        .gql(
            token,
            UPDATE_ORG,
            json!({ "input": { "id": org_id.to_string(), "name": "Northwind Ltd", "billingEmail": null, "status": "ARCHIVED", "expectedVersion": 1 } }),
        )
        .await;
    let org = &updated.data()["updateOrganization"];
    assert_eq!(org["name"], "Northwind Ltd");
    assert!(org["billingEmail"].is_null());
    assert_eq!(org["version"], 2);
    let event = latest(&app, AuditRecordType::Organization, org_id).await;
    assert_eq!(event.action(), AuditAction::Update);
    assert_eq!(
        event.change("name"),
        (Some("Northwind"), Some("Northwind Ltd"))
    );
    assert_eq!(
        event.change("billingEmail"),
        (Some("billing@northwind.test"), None)
    );
    assert_eq!(event.change("status"), (Some("ACTIVE"), Some("ARCHIVED")));
    assert_eq!(event.changes.len(), 3);

    // The same values again: no event, no version bump.
    let events_before = history(&app, AuditRecordType::Organization, org_id)
        .await
        .len();
    let same = app
        .gql(
            token,
            UPDATE_ORG,
            json!({ "input": { "id": org_id.to_string(), "name": "Northwind Ltd" } }),
        )
        .await;
    assert_eq!(same.data()["updateOrganization"]["version"], 2);
    assert_eq!(
        history(&app, AuditRecordType::Organization, org_id)
            .await
            .len(),
        events_before
    );

    // A stale copy is refused and changes nothing.
    let stale = app
        .gql(
            token,
            UPDATE_ORG,
            json!({ "input": { "id": org_id.to_string(), "name": "Overwritten", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");
    let read = app
        .gql(
            token,
            "query($id: ID!) { organization(id: $id) { name version } }",
            json!({ "id": org_id.to_string() }),
        )
        .await;
    assert_eq!(read.data()["organization"]["name"], "Northwind Ltd");
    assert_eq!(read.data()["organization"]["version"], 2);
}

async fn admin_creates_and_updates_a_company_with_every_field(app: TestApp) {
    let cast = Cast::new(&app).await;
    let token = Some(cast.admin_token.as_str());
    let org = organization(&app, "Contoso").await;
    let other_org = organization(&app, "Contoso Holdings").await;
    let created = app
        .gql(
            token,
            CREATE_COMPANY,
            json!({ "input": { "organizationId": org.id.to_string(), "name": "Contoso Support" } }),
        )
        .await;
    let company = &created.data()["createCompany"];
    assert_eq!(company["billingRateCents"], 0);
    assert_eq!(company["billingPlan"], "STANDARD");
    assert_eq!(company["timezone"], "UTC");
    assert_eq!(company["status"], "ACTIVE");
    assert_eq!(company["organization"]["name"], "Contoso");
    let company_id = id_of(company);
    let event = latest(&app, AuditRecordType::Company, company_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.change("billingRateCents"), (None, Some("0")));
    assert_eq!(
        event.change("organization"),
        (None, Some(org.id.to_string().as_str()))
    );

    let updated = app
        .gql(
            token,
            UPDATE_COMPANY,
            json!({ "input": {
                "id": company_id.to_string(),
                "name": "Contoso Care",
                "organizationId": other_org.id.to_string(),
                "billingEmail": "ap@contoso.test",
                "billingRateCents": 4250,
                "billingPlan": "premium",
                "timezone": "Europe/Berlin",
                "status": "SUSPENDED",
                "expectedVersion": 1
            } }),
        )
        .await;
    let company = &updated.data()["updateCompany"];
    assert_eq!(company["billingRateCents"], 4250);
    assert_eq!(company["billingPlan"], "PREMIUM");
    assert_eq!(company["timezone"], "Europe/Berlin");
    assert_eq!(company["status"], "SUSPENDED");
    assert_eq!(company["organization"]["id"], other_org.id.to_string());
    assert_eq!(company["version"], 2);

    let event = latest(&app, AuditRecordType::Company, company_id).await;
    assert_eq!(event.action(), AuditAction::Update);
    assert_eq!(
        event.change("name"),
        (Some("Contoso Support"), Some("Contoso Care"))
    );
    assert_eq!(event.change("billingRateCents"), (Some("0"), Some("4250")));
    assert_eq!(
        event.change("billingPlan"),
        (Some("STANDARD"), Some("PREMIUM"))
    );
    assert_eq!(
        event.change("timezone"),
        (Some("UTC"), Some("Europe/Berlin"))
    );
    assert_eq!(event.change("status"), (Some("ACTIVE"), Some("SUSPENDED")));
    assert_eq!(
        event.change("billingEmail"),
        (None, Some("ap@contoso.test"))
    );
    assert_eq!(
        event.change("organization"),
        (
            Some(org.id.to_string().as_str()),
            Some(other_org.id.to_string().as_str())
        )
    );
    assert_eq!(event.event.actor_id, Some(cast.admin.id));

    let stale = app
        .gql(
            token,
            UPDATE_COMPANY,
            json!({ "input": { "id": company_id.to_string(), "billingRateCents": 1, "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");
    let read = app
        .gql(token, COMPANY, json!({ "id": company_id.to_string() }))
        .await;
    assert_eq!(read.data()["company"]["billingRateCents"], 4250);
    assert_eq!(read.data()["company"]["version"], 2);
}

async fn bad_input_names_the_field_and_creates_nothing(app: TestApp) {
    let cast = Cast::new(&app).await;
    let token = Some(cast.admin_token.as_str());
    let org_id = cast.company_a.organization_id.to_string();
    let long_name = "x".repeat(201);
    let cases = [
        (json!({ "organizationId": org_id, "name": "   " }), "name"),
        (
            json!({ "organizationId": org_id, "name": long_name }),
            "name",
        ),
        (
            json!({ "organizationId": org_id, "name": "Ok", "billingEmail": "not-an-email" }),
            "billingEmail",
        ),
        (
            json!({ "organizationId": org_id, "name": "Ok", "billingRateCents": -1 }),
            "billingRateCents",
        ),
        (
            json!({ "organizationId": org_id, "name": "Ok", "timezone": "Mars/Olympus" }),
            "timezone",
        ),
        (
            json!({ "organizationId": org_id, "name": "Ok", "billingPlan": "<b>" }),
            "billingPlan",
        ),
        (
            json!({ "organizationId": "abc", "name": "Ok" }),
            "organizationId",
        ),
    ];
    for (input, field) in cases {
        let response = app
            .gql(token, CREATE_COMPANY, json!({ "input": input }))
            .await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT", "{input}");
        assert_eq!(response.error_field(), Some(field), "{input}");
    }
    let missing = app
        .gql(
            token,
            CREATE_COMPANY,
            json!({ "input": { "organizationId": "999999", "name": "Ghost" } }),
        )
        .await;
    assert_eq!(missing.error_code(), "NOT_FOUND");
    let bad_org = app
        .gql(token, CREATE_ORG, json!({ "input": { "name": "" } }))
        .await;
    assert_eq!(bad_org.error_field(), Some("name"));

    let update = app
        .gql(
            token,
            UPDATE_COMPANY,
            json!({ "input": { "id": cast.company_a.id.to_string(), "timezone": "Nowhere" } }),
        )
        .await;
    assert_eq!(update.error_field(), Some("timezone"));

    let list = app
        .gql(
            token,
            "{ companies { totalCount } organizations { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(list.data()["companies"]["totalCount"], 2, "nothing created");
    assert_eq!(list.data()["organizations"]["totalCount"], 2);
}

async fn members_see_their_companies_and_only_admins_change_them(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_a = cast.company_a.id.to_string();
    let company_b = cast.company_b.id.to_string();
    let lists = "{ companies { totalCount edges { node { id organization { id } } } } organizations { totalCount edges { node { id } } } }";

    let mine = app
        .gql(Some(&cast.supervisor_a_token), lists, json!({}))
        .await;
    let data = mine.data();
    assert_eq!(data["companies"]["totalCount"], 1);
    assert_eq!(data["companies"]["edges"][0]["node"]["id"], company_a);
    assert_eq!(data["organizations"]["totalCount"], 1);
    assert_eq!(
        data["organizations"]["edges"][0]["node"]["id"],
        cast.company_a.organization_id.to_string()
    );
    let all = app.gql(Some(&cast.admin_token), lists, json!({})).await;
    assert_eq!(all.data()["companies"]["totalCount"], 2);

    // A sibling company in the same organization stays hidden from them.
    company_in(&app, &org_of_a(&app, &cast).await, "Acme Sibling").await;
    let org_companies = "query($id: ID!) { organization(id: $id) { companies { totalCount edges { node { id } } } } }";
    let org_id = json!({ "id": cast.company_a.organization_id.to_string() });
    let theirs = app
        .gql(
            Some(&cast.supervisor_a_token),
            org_companies,
            org_id.clone(),
        )
        .await;
    let companies = &theirs.data()["organization"]["companies"];
    assert_eq!(companies["totalCount"], 1);
    assert_eq!(companies["edges"][0]["node"]["id"], company_a);
    let everyone = app
        .gql(Some(&cast.admin_token), org_companies, org_id)
        .await;
    assert_eq!(
        everyone.data()["organization"]["companies"]["totalCount"],
        2
    );

    // Another company's records do not exist for them.
    let other = app
        .gql(
            Some(&cast.supervisor_a_token),
            COMPANY,
            json!({ "id": company_b }),
        )
        .await;
    assert_eq!(other.error_code(), "NOT_FOUND");
    let other_org = app
        .gql(
            Some(&cast.customer_a_token),
            "query($id: ID!) { organization(id: $id) { id } }",
            json!({ "id": cast.company_b.organization_id.to_string() }),
        )
        .await;
    assert_eq!(other_org.error_code(), "NOT_FOUND");

    let change = |id: &str| json!({ "input": { "id": id, "billingRateCents": 99 } });
    for (token, id, code) in [
        (
            cast.supervisor_a_token.as_str(),
            company_a.as_str(),
            "FORBIDDEN",
        ),
        (
            cast.customer_a_token.as_str(),
            company_a.as_str(),
            "FORBIDDEN",
        ),
        (
            cast.supervisor_a_token.as_str(),
            company_b.as_str(),
            "NOT_FOUND",
        ),
    ] {
        let response = app.gql(Some(token), UPDATE_COMPANY, change(id)).await;
        assert_eq!(response.error_code(), code, "{id}");
    }
    let anonymous = app.gql(None, UPDATE_COMPANY, change(&company_a)).await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
    let anonymous_read = app.gql(None, lists, json!({})).await;
    assert_eq!(anonymous_read.error_code(), "UNAUTHENTICATED");

    let create_org = app
        .gql(
            Some(&cast.supervisor_a_token),
            CREATE_ORG,
            json!({ "input": { "name": "Mine" } }),
        )
        .await;
    assert_eq!(create_org.error_code(), "FORBIDDEN");
    let update_org = app
        .gql(
            Some(&cast.supervisor_a_token),
            UPDATE_ORG,
            json!({ "input": { "id": cast.company_a.organization_id.to_string(), "name": "Mine" } }),
        )
        .await;
    assert_eq!(update_org.error_code(), "FORBIDDEN");

    // An admin acting as the supervisor may not use admin powers.
    let acting = impersonation_token(&app, &cast.admin_token, &cast.supervisor_a).await;
    let impersonated = app
        .gql(Some(&acting), UPDATE_COMPANY, change(&company_a))
        .await;
    assert_eq!(impersonated.error_code(), "FORBIDDEN_WHILE_IMPERSONATING");
    let impersonated_create = app
        .gql(
            Some(&acting),
            CREATE_ORG,
            json!({ "input": { "name": "Sneaky" } }),
        )
        .await;
    assert_eq!(
        impersonated_create.error_code(),
        "FORBIDDEN_WHILE_IMPERSONATING"
    );

    let read = app
        .gql(Some(&cast.admin_token), COMPANY, json!({ "id": company_a }))
        .await;
    assert_eq!(read.data()["company"]["billingRateCents"], 0);
    assert_eq!(read.data()["company"]["version"], 1);
    assert_eq!(
        history(&app, AuditRecordType::Company, cast.company_a.id.0)
            .await
            .len(),
        // CREATE and the two memberships that show on the company's History.
        3
    );
    let orgs = app
        .gql(
            Some(&cast.admin_token),
            "{ organizations { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(orgs.data()["organizations"]["totalCount"], 2);
}

async fn companies_page_by_cursor_and_search_by_name(app: TestApp) {
    let cast = Cast::new(&app).await;
    for name in ["Charlie 100%", "Delta", "Echo_1"] {
        company(&app, name).await;
    }
    let query = "query($first: Int, $after: String, $search: String) { companies(first: $first, after: $after, search: $search) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }";
    let token = Some(cast.admin_token.as_str());
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = app
            .gql(token, query, json!({ "first": 2, "after": after }))
            .await;
        let page = &response.data()["companies"];
        assert_eq!(page["totalCount"], 5);
        for edge in page["edges"].as_array().expect("edges") {
            names.push(edge["node"]["name"].as_str().expect("name").to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(
        names,
        [
            "Acme Calls",
            "Bravo Phones",
            "Charlie 100%",
            "Delta",
            "Echo_1"
        ]
    );

    for (search, expected) in [("ALPH", 0), ("acme", 1), ("%", 1), ("_", 1), ("o", 2)] {
        let response = app.gql(token, query, json!({ "search": search })).await;
        assert_eq!(
            response.data()["companies"]["totalCount"],
            expected,
            "search {search}"
        );
    }
    let supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            query,
            json!({ "search": "o" }),
        )
        .await;
    assert_eq!(supervisor.data()["companies"]["totalCount"], 0);

    let bad = app.gql(token, query, json!({ "first": 101 })).await;
    assert_eq!(bad.error_code(), "BAD_USER_INPUT");
    let bad_cursor = app
        .gql(token, query, json!({ "after": "not a cursor" }))
        .await;
    assert_eq!(bad_cursor.error_code(), "BAD_USER_INPUT");
}

on_both_backends!(
    admin_creates_and_updates_an_organization,
    admin_creates_and_updates_a_company_with_every_field,
    bad_input_names_the_field_and_creates_nothing,
    members_see_their_companies_and_only_admins_change_them,
    companies_page_by_cursor_and_search_by_name,
);
