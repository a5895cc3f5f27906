//! Teams, company memberships and team memberships: who may change them, the rules on roles,
//! and the audit trail (shown on the company's and the user's History too).

use portal_admin::domain::{AuditAction, AuditRecordType, Role};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::{Cast, UserBuilder, add_member, add_team_member, company, team};
use crate::on_both_backends;

const ADD: &str = "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id role version user { id name } company { id } } }";
const UPDATE: &str = "mutation($input: UpdateCompanyMemberInput!) { updateCompanyMember(input: $input) { id role version } }";
const REMOVE: &str =
    "mutation($input: RemoveCompanyMemberInput!) { removeCompanyMember(input: $input) }";
const ADD_TEAM: &str = "mutation($input: AddTeamMemberInput!) { addTeamMember(input: $input) { id user { id } team { id name } } }";
const REMOVE_TEAM: &str =
    "mutation($input: RemoveTeamMemberInput!) { removeTeamMember(input: $input) }";
const CREATE_TEAM: &str = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id name version company { id } } }";
const UPDATE_TEAM: &str =
    "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { id name version } }";
const MEMBERS: &str = "query($id: ID!, $first: Int, $after: String) { company(id: $id) { members(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id role user { id } } } } teams { id name members { id } } } }";

fn id_of(value: &Value) -> i64 {
    value["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id")
}

async fn member_count(app: &TestApp, token: &str, company_id: i64) -> i64 {
    let response = app
        .gql(
            Some(token),
            MEMBERS,
            json!({ "id": company_id.to_string() }),
        )
        .await;
    response.data()["company"]["members"]["totalCount"]
        .as_i64()
        .expect("count")
}

async fn admin_adds_changes_and_removes_a_member(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = Some(cast.admin_token.as_str());
    let user = UserBuilder::supervisor()
        .name("Newcomer")
        .create(&app)
        .await;
    let company = cast.company_a.id;

    let added = app
        .gql(
            admin,
            ADD,
            json!({ "input": { "companyId": company.to_string(), "userId": user.id.to_string(), "role": "CUSTOMER" } }),
        )
        .await;
    let membership = &added.data()["addCompanyMember"];
    assert_eq!(membership["role"], "CUSTOMER");
    assert_eq!(membership["user"]["name"], "Newcomer");
    let membership_id = id_of(membership);

    let event = latest(&app, AuditRecordType::CompanyMembership, membership_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.change("role"), (None, Some("CUSTOMER")));
    assert_eq!(event.event.actor_id, Some(cast.admin.id));
    // The same event shows on the company's and on the user's History.
    assert_eq!(
        latest(&app, AuditRecordType::Company, company.0)
            .await
            .event
            .id,
        event.event.id
    );
    assert_eq!(
        latest(&app, AuditRecordType::User, user.id.0)
            .await
            .event
            .id,
        event.event.id
    );

    let updated = app
        .gql(
            admin,
            UPDATE,
            json!({ "input": { "id": membership_id.to_string(), "role": "SUPERVISOR", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(updated.data()["updateCompanyMember"]["role"], "SUPERVISOR");
    assert_eq!(updated.data()["updateCompanyMember"]["version"], 2);
    let event = latest(&app, AuditRecordType::CompanyMembership, membership_id).await;
    assert_eq!(event.action(), AuditAction::Update);
    assert_eq!(event.change("role"), (Some("CUSTOMER"), Some("SUPERVISOR")));
    assert_eq!(event.changes.len(), 1);

    let stale = app
        .gql(
            admin,
            UPDATE,
            json!({ "input": { "id": membership_id.to_string(), "role": "CUSTOMER", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");

    // In a team of the company: removing the company membership removes that too.
    let support = team(&app, company, "Support").await;
    add_team_member(&app, user.id, support.id).await;
    let other_company_team = team(&app, cast.company_b.id, "Elsewhere").await;
    crate::common::builders::add_member(
        &app,
        user.id,
        cast.company_b.id,
        portal_admin::domain::Role::Customer,
    )
    .await;
    add_team_member(&app, user.id, other_company_team.id).await;
    assert_eq!(member_count(&app, &cast.admin_token, company.0).await, 3);

    let removed = app
        .gql(
            admin,
            REMOVE,
            json!({ "input": { "id": membership_id.to_string() } }),
        )
        .await;
    assert_eq!(removed.data()["removeCompanyMember"], true);
    assert_eq!(member_count(&app, &cast.admin_token, company.0).await, 2);
    let event = latest(&app, AuditRecordType::CompanyMembership, membership_id).await;
    assert_eq!(event.action(), AuditAction::Delete);
    assert_eq!(event.change("role"), (Some("SUPERVISOR"), None));
    assert_eq!(
        event.change("user"),
        (Some(user.id.to_string().as_str()), None)
    );

    let team_events = history(&app, AuditRecordType::Team, support.id.0).await;
    assert_eq!(team_events[0].action(), AuditAction::Delete);
    assert_eq!(
        team_events[0].change("user"),
        (Some(user.id.to_string().as_str()), None)
    );
    let teams = app
        .gql(admin, MEMBERS, json!({ "id": company.to_string() }))
        .await;
    assert_eq!(teams.data()["company"]["teams"][0]["members"], json!([]));
    // The other company's team membership stays.
    let elsewhere = app
        .gql(
            admin,
            "query($id: ID!) { team(id: $id) { members { id } } }",
            json!({ "id": other_company_team.id.to_string() }),
        )
        .await;
    assert_eq!(
        elsewhere.data()["team"]["members"][0]["id"],
        user.id.to_string()
    );

    let again = app
        .gql(
            admin,
            REMOVE,
            json!({ "input": { "id": membership_id.to_string() } }),
        )
        .await;
    assert_eq!(again.error_code(), "NOT_FOUND");
}

async fn membership_roles_follow_the_rules(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = Some(cast.admin_token.as_str());
    let customer = UserBuilder::customer().create(&app).await;
    let add = |role: &str, user: i64| json!({ "input": { "companyId": cast.company_b.id.to_string(), "userId": user.to_string(), "role": role } });
    let as_admin = app.gql(admin, ADD, add("ADMIN", customer.id.0)).await;
    assert_eq!(as_admin.error_code(), "BAD_USER_INPUT");
    assert_eq!(as_admin.error_field(), Some("role"));
    let above = app.gql(admin, ADD, add("SUPERVISOR", customer.id.0)).await;
    assert_eq!(above.error_code(), "BAD_USER_INPUT");
    assert_eq!(above.error_field(), Some("role"));
    let unknown = app.gql(admin, ADD, add("CUSTOMER", 999_999)).await;
    assert_eq!(unknown.error_code(), "NOT_FOUND");
    assert_eq!(
        member_count(&app, &cast.admin_token, cast.company_b.id.0).await,
        1
    );

    app.gql(admin, ADD, add("CUSTOMER", customer.id.0))
        .await
        .data();
    let duplicate = app.gql(admin, ADD, add("CUSTOMER", customer.id.0)).await;
    assert_eq!(duplicate.error_code(), "CONFLICT");
    assert_eq!(
        member_count(&app, &cast.admin_token, cast.company_b.id.0).await,
        2
    );

    // Promoting a customer's membership above their platform role is refused too.
    let members = app
        .gql(
            admin,
            MEMBERS,
            json!({ "id": cast.company_a.id.to_string() }),
        )
        .await;
    let customer_membership = members.data()["company"]["members"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| e["node"]["user"]["id"] == cast.customer_a.id.to_string())
        .map(|e| e["node"]["id"].clone())
        .expect("customer's membership");
    let promote = app
        .gql(
            admin,
            UPDATE,
            json!({ "input": { "id": customer_membership, "role": "SUPERVISOR" } }),
        )
        .await;
    assert_eq!(promote.error_code(), "BAD_USER_INPUT");
}

async fn supervisors_manage_customer_memberships_of_their_company_only(app: TestApp) {
    let cast = Cast::new(&app).await;
    let supervisor = Some(cast.supervisor_a_token.as_str());
    // Supervisor A also supervises a second company; the people there are visible to them.
    let second = company(&app, "Second Site").await;
    add_member(&app, cast.supervisor_a.id, second.id, Role::Supervisor).await;
    let newcomer = UserBuilder::customer().create(&app).await;
    add_member(&app, newcomer.id, second.id, Role::Customer).await;
    let colleague = UserBuilder::supervisor().create(&app).await;
    add_member(&app, colleague.id, second.id, Role::Supervisor).await;
    let stranger = UserBuilder::customer().create(&app).await;
    let unseen_supervisor = UserBuilder::supervisor().create(&app).await;
    let company_a = cast.company_a.id.to_string();
    let add = |company: &str, user: i64, role: &str| json!({ "input": { "companyId": company, "userId": user.to_string(), "role": role } });

    let refused = [
        // Never a supervisor's membership, whatever its role, even one they can see.
        (
            supervisor,
            add(&company_a, colleague.id.0, "SUPERVISOR"),
            "FORBIDDEN",
        ),
        (
            supervisor,
            add(&company_a, colleague.id.0, "CUSTOMER"),
            "FORBIDDEN",
        ),
        // Users who share none of their companies do not exist for them: NOT_FOUND, the
        // answer for a missing id, whatever the user's role.
        (
            supervisor,
            add(&company_a, stranger.id.0, "CUSTOMER"),
            "NOT_FOUND",
        ),
        (
            supervisor,
            add(&company_a, unseen_supervisor.id.0, "CUSTOMER"),
            "NOT_FOUND",
        ),
        (
            supervisor,
            add(&company_a, cast.admin.id.0, "CUSTOMER"),
            "NOT_FOUND",
        ),
        (
            supervisor,
            add(&company_a, 999_999, "CUSTOMER"),
            "NOT_FOUND",
        ),
        (
            supervisor,
            add(&cast.company_b.id.to_string(), newcomer.id.0, "CUSTOMER"),
            "NOT_FOUND",
        ),
        (
            Some(cast.customer_a_token.as_str()),
            add(&company_a, newcomer.id.0, "CUSTOMER"),
            "FORBIDDEN",
        ),
        (
            Some(cast.supervisor_b_token.as_str()),
            add(&company_a, newcomer.id.0, "CUSTOMER"),
            "NOT_FOUND",
        ),
        (
            None,
            add(&company_a, newcomer.id.0, "CUSTOMER"),
            "UNAUTHENTICATED",
        ),
    ];
    for (token, input, code) in refused {
        let response = app.gql(token, ADD, input.clone()).await;
        assert_eq!(response.error_code(), code, "{input}");
    }
    assert_eq!(
        member_count(&app, &cast.admin_token, cast.company_a.id.0).await,
        2
    );

    let added = app
        .gql(supervisor, ADD, add(&company_a, newcomer.id.0, "CUSTOMER"))
        .await;
    let membership_id = added.data()["addCompanyMember"]["id"].clone();
    let event = latest(&app, AuditRecordType::Company, cast.company_a.id.0).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.event.actor_id, Some(cast.supervisor_a.id));

    // Not to SUPERVISOR, and never their own membership.
    let promote = app
        .gql(
            supervisor,
            UPDATE,
            json!({ "input": { "id": membership_id, "role": "SUPERVISOR" } }),
        )
        .await;
    assert_eq!(promote.error_code(), "FORBIDDEN");
    let members = app
        .gql(supervisor, MEMBERS, json!({ "id": company_a }))
        .await;
    let own = members.data()["company"]["members"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| e["node"]["user"]["id"] == cast.supervisor_a.id.to_string())
        .map(|e| e["node"]["id"].clone())
        .expect("own membership");
    let remove_own = app
        .gql(supervisor, REMOVE, json!({ "input": { "id": own } }))
        .await;
    assert_eq!(remove_own.error_code(), "FORBIDDEN");
    let customer_removes = app
        .gql(
            Some(&cast.customer_a_token),
            REMOVE,
            json!({ "input": { "id": membership_id } }),
        )
        .await;
    assert_eq!(customer_removes.error_code(), "FORBIDDEN");
    let other_removes = app
        .gql(
            Some(&cast.supervisor_b_token),
            REMOVE,
            json!({ "input": { "id": membership_id } }),
        )
        .await;
    assert_eq!(other_removes.error_code(), "NOT_FOUND");
    assert_eq!(
        member_count(&app, &cast.admin_token, cast.company_a.id.0).await,
        3
    );

    let removed = app
        .gql(
            supervisor,
            REMOVE,
            json!({ "input": { "id": membership_id } }),
        )
        .await;
    assert_eq!(removed.data()["removeCompanyMember"], true);
    assert_eq!(
        member_count(&app, &cast.admin_token, cast.company_a.id.0).await,
        2
    );
}

async fn teams_are_created_renamed_and_staffed(app: TestApp) {
    let cast = Cast::new(&app).await;
    let supervisor = Some(cast.supervisor_a_token.as_str());
    let company_a = cast.company_a.id.to_string();

    let created = app
        .gql(
            supervisor,
            CREATE_TEAM,
            json!({ "input": { "companyId": company_a, "name": " Night shift " } }),
        )
        .await;
    let created = &created.data()["createTeam"];
    assert_eq!(created["name"], "Night shift");
    assert_eq!(created["company"]["id"], company_a);
    let team_id = id_of(created);
    let event = latest(&app, AuditRecordType::Team, team_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(event.change("name"), (None, Some("Night shift")));

    let duplicate = app
        .gql(
            Some(&cast.admin_token),
            CREATE_TEAM,
            json!({ "input": { "companyId": company_a, "name": "NIGHT SHIFT" } }),
        )
        .await;
    assert_eq!(duplicate.error_code(), "CONFLICT");
    for (token, input, code) in [
        (
            cast.customer_a_token.as_str(),
            json!({ "companyId": company_a, "name": "Mine" }),
            "FORBIDDEN",
        ),
        (
            cast.supervisor_b_token.as_str(),
            json!({ "companyId": company_a, "name": "Theirs" }),
            "NOT_FOUND",
        ),
        (
            cast.supervisor_a_token.as_str(),
            json!({ "companyId": company_a, "name": "" }),
            "BAD_USER_INPUT",
        ),
    ] {
        let response = app
            .gql(Some(token), CREATE_TEAM, json!({ "input": input }))
            .await;
        assert_eq!(response.error_code(), code, "{input}");
    }

    let renamed = app
        .gql(
            supervisor,
            UPDATE_TEAM,
            json!({ "input": { "id": team_id.to_string(), "name": "Late shift", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(renamed.data()["updateTeam"]["version"], 2);
    let event = latest(&app, AuditRecordType::Team, team_id).await;
    assert_eq!(
        event.change("name"),
        (Some("Night shift"), Some("Late shift"))
    );
    let stale = app
        .gql(
            supervisor,
            UPDATE_TEAM,
            json!({ "input": { "id": team_id.to_string(), "name": "Lost", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");
    let customer_rename = app
        .gql(
            Some(&cast.customer_a_token),
            UPDATE_TEAM,
            json!({ "input": { "id": team_id.to_string(), "name": "Lost" } }),
        )
        .await;
    assert_eq!(customer_rename.error_code(), "FORBIDDEN");

    // Team members must belong to the company.
    let team_input = |user: i64| json!({ "input": { "teamId": team_id.to_string(), "userId": user.to_string() } });
    let outsider = app
        .gql(supervisor, ADD_TEAM, team_input(cast.supervisor_b.id.0))
        .await;
    assert_eq!(outsider.error_code(), "BAD_USER_INPUT");
    assert_eq!(outsider.error_field(), Some("userId"));
    let by_customer = app
        .gql(
            Some(&cast.customer_a_token),
            ADD_TEAM,
            team_input(cast.customer_a.id.0),
        )
        .await;
    assert_eq!(by_customer.error_code(), "FORBIDDEN");
    let by_other = app
        .gql(
            Some(&cast.supervisor_b_token),
            ADD_TEAM,
            team_input(cast.supervisor_b.id.0),
        )
        .await;
    assert_eq!(by_other.error_code(), "NOT_FOUND");

    let added = app
        .gql(supervisor, ADD_TEAM, team_input(cast.customer_a.id.0))
        .await;
    let added = &added.data()["addTeamMember"];
    assert_eq!(added["team"]["name"], "Late shift");
    assert_eq!(added["user"]["id"], cast.customer_a.id.to_string());
    let membership_id = id_of(added);
    let event = latest(&app, AuditRecordType::TeamMembership, membership_id).await;
    assert_eq!(event.action(), AuditAction::Create);
    assert_eq!(
        event.change("team"),
        (None, Some(team_id.to_string().as_str()))
    );
    for (record_type, id) in [
        (AuditRecordType::Team, team_id),
        (AuditRecordType::User, cast.customer_a.id.0),
        (AuditRecordType::Company, cast.company_a.id.0),
    ] {
        assert_eq!(latest(&app, record_type, id).await.event.id, event.event.id);
    }
    let twice = app
        .gql(supervisor, ADD_TEAM, team_input(cast.customer_a.id.0))
        .await;
    assert_eq!(twice.error_code(), "CONFLICT");

    let read = app
        .gql(
            Some(&cast.customer_a_token),
            "query($id: ID!) { team(id: $id) { name members { id name } company { id } } }",
            json!({ "id": team_id.to_string() }),
        )
        .await;
    assert_eq!(
        read.data()["team"]["members"][0]["id"],
        cast.customer_a.id.to_string()
    );
    let hidden = app
        .gql(
            Some(&cast.supervisor_b_token),
            "query($id: ID!) { team(id: $id) { name } }",
            json!({ "id": team_id.to_string() }),
        )
        .await;
    assert_eq!(hidden.error_code(), "NOT_FOUND");

    let removed = app
        .gql(supervisor, REMOVE_TEAM, team_input(cast.customer_a.id.0))
        .await;
    assert_eq!(removed.data()["removeTeamMember"], true);
    let event = latest(&app, AuditRecordType::TeamMembership, membership_id).await;
    assert_eq!(event.action(), AuditAction::Delete);
    let gone = app
        .gql(supervisor, REMOVE_TEAM, team_input(cast.customer_a.id.0))
        .await;
    assert_eq!(gone.error_code(), "NOT_FOUND");
}

async fn members_page_by_cursor(app: TestApp) {
    let cast = Cast::new(&app).await;
    for _ in 0..3 {
        UserBuilder::customer()
            .member_of(cast.company_a.id)
            .create(&app)
            .await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = app
            .gql(
                Some(&cast.customer_a_token),
                MEMBERS,
                json!({ "id": cast.company_a.id.to_string(), "first": 2, "after": after }),
            )
            .await;
        let members = &response.data()["company"]["members"];
        assert_eq!(members["totalCount"], 5);
        for edge in members["edges"].as_array().expect("edges") {
            seen.push(edge["node"]["user"]["id"].clone());
        }
        if members["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = members["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.contains(&json!(cast.supervisor_a.id.to_string())));
}

on_both_backends!(
    admin_adds_changes_and_removes_a_member,
    membership_roles_follow_the_rules,
    supervisors_manage_customer_memberships_of_their_company_only,
    teams_are_created_renamed_and_staffed,
    members_page_by_cursor,
);
