//! Who may do what: every query and mutation of the user administration, the records,
//! impersonation and the audit trail, run as each kind of viewer and compared with the table
//! below (sign-in, onboarding and one's own account have their own files).
//!
//! The cast: an admin; companies A and B; a supervisor and a customer of A; a supervisor of B.
//! Every record an operation targets belongs to company A, so "supervisor B" is the supervisor of
//! another company. Each mutation gets a fresh target per viewer, so one viewer's success never
//! decides the next one's outcome, and every refusal is checked to have written nothing (no new
//! audit event, no new mail in the outbox).

use std::fmt;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::builders::{Cast, PASSWORD, UserBuilder, add_member, team};
use crate::on_both_backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Anonymous,
    Admin,
    SupervisorA,
    SupervisorB,
    CustomerA,
}

/// The order of the table's columns.
const VIEWERS: [Viewer; 5] = [
    Viewer::Anonymous,
    Viewer::Admin,
    Viewer::SupervisorA,
    Viewer::SupervisorB,
    Viewer::CustomerA,
];

/// What an operation answered: data (for a connection, its `totalCount`), or an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Count(u64),
    Denied(&'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => write!(f, "ok"),
            Outcome::Count(n) => write!(f, "{n} rows"),
            Outcome::Denied(code) => write!(f, "{code}"),
        }
    }
}

use Outcome::{Count, Ok};
const UNAUTH: Outcome = Outcome::Denied("UNAUTHENTICATED");
const FORBIDDEN: Outcome = Outcome::Denied("FORBIDDEN");
const NOT_FOUND: Outcome = Outcome::Denied("NOT_FOUND");
const CONFLICT: Outcome = Outcome::Denied("CONFLICT");

/// The records every operation works on.
struct World {
    cast: Cast,
    organization_a: String,
    company_a: String,
    team_a: String,
    number_a: String,
    recording_a: String,
    playbook_a: String,
}

/// Builds an operation's variables, making a fresh target where the operation consumes one.
type Setup = for<'a> fn(&'a TestApp, &'a World) -> BoxFuture<'a, Value>;

struct Row {
    operation: &'static str,
    document: &'static str,
    setup: Setup,
    /// Anonymous, admin, supervisor A, supervisor B, customer A.
    expected: [Outcome; 5],
}

fn id(value: impl ToString) -> Value {
    Value::String(value.to_string())
}

async fn admin_gql(app: &TestApp, world: &World, query: &str, variables: Value) -> Value {
    app.gql(Some(&world.cast.admin_token), query, variables)
        .await
        .data()
        .clone()
}

/// An active customer of company A (with a password), not signed in anywhere.
async fn fresh_customer_of_a(app: &TestApp, world: &World) -> String {
    UserBuilder::customer()
        .name("Target Customer")
        .member_of(world.cast.company_a.id)
        .create(app)
        .await
        .id
        .to_string()
}

/// A customer invited into company A who has not accepted yet.
async fn fresh_invited_of_a(app: &TestApp, world: &World) -> String {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let data = admin_gql(
        app,
        world,
        "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
        json!({ "input": { "name": "Invited Ivy", "email": email, "role": "CUSTOMER",
            "memberships": [{ "companyId": world.company_a, "role": "CUSTOMER" }] } }),
    )
    .await;
    data["createUser"]["id"]
        .as_str()
        .expect("user id")
        .to_owned()
}

/// A customer of A with 2FA enrolment begun (enough for an admin to turn it off).
async fn fresh_two_factor_customer_of_a(app: &TestApp, world: &World) -> String {
    let user_id = fresh_customer_of_a(app, world).await;
    app.sql(&format!(
        "UPDATE users SET totp_pending_secret_encrypted = 'sealed' WHERE id = {user_id}"
    ))
    .await
    .expect("2FA enrolment begun");
    user_id
}

/// A user in no company at all (invisible to everyone but admins).
async fn fresh_loner() -> UserBuilder {
    UserBuilder::customer().name("Lone Customer")
}

async fn fresh_membership_of_a(app: &TestApp, world: &World) -> (String, String) {
    let user = UserBuilder::customer().name("Member Max").create(app).await;
    let membership = add_member(
        app,
        user.id,
        world.cast.company_a.id,
        portal_admin::domain::Role::Customer,
    )
    .await;
    (membership.id.to_string(), user.id.to_string())
}

fn fresh_e164() -> String {
    // Unique per call: the last digits of a random number.
    format!("+4420{:08}", rand::random::<u32>() % 100_000_000)
}

async fn fresh_number_of_a(app: &TestApp, world: &World) -> String {
    let data = admin_gql(
        app,
        world,
        "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
        json!({ "input": { "companyId": world.company_a, "number": fresh_e164(), "label": "Sales" } }),
    )
    .await;
    data["createInboundNumber"]["id"]
        .as_str()
        .expect("number id")
        .to_owned()
}

fn rows() -> Vec<Row> {
    vec![
        // ---- Queries. They run first, over the cast alone, so the counts are the cast's.
        Row {
            operation: "viewer",
            document: "{ viewer { user { id } } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            expected: [UNAUTH, Ok, Ok, Ok, Ok],
        },
        Row {
            operation: "users",
            document: "{ users { totalCount edges { node { id } } } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            // Admins see everyone; others those who share a company with them.
            expected: [UNAUTH, Count(4), Count(2), Count(1), Count(2)],
        },
        Row {
            operation: "users (filter: another company)",
            document: "query($c: ID) { users(filter: { companyId: $c }) { totalCount } }",
            setup: |_, w| Box::pin(async move { json!({ "c": id(w.cast.company_b.id) }) }),
            expected: [UNAUTH, Count(1), NOT_FOUND, Count(1), NOT_FOUND],
        },
        Row {
            operation: "user (a customer of A)",
            document: "query($id: ID!) { user(id: $id) { id companies { id } teams { id } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": id(w.cast.customer_a.id) }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "organizations",
            document: "{ organizations { totalCount } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            expected: [UNAUTH, Count(2), Count(1), Count(1), Count(1)],
        },
        Row {
            operation: "organization",
            document: "query($id: ID!) { organization(id: $id) { id companies { totalCount } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.organization_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "companies",
            document: "{ companies { totalCount } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            expected: [UNAUTH, Count(2), Count(1), Count(1), Count(1)],
        },
        Row {
            operation: "company",
            document: "query($id: ID!) { company(id: $id) { id members { totalCount } teams { id } inboundNumbers { id } callRecordings { totalCount } playbooks { id } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.company_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "team",
            document: "query($id: ID!) { team(id: $id) { id members { id } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.team_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "inboundNumber",
            document: "query($id: ID!) { inboundNumber(id: $id) { id number } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.number_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "callRecording",
            document: "query($id: ID!) { callRecording(id: $id) { id notes } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.recording_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "playbook",
            document: "query($id: ID!) { playbook(id: $id) { id versions { version } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.playbook_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "userSessions (a customer of A)",
            document: "query($u: ID!) { userSessions(userId: $u) { id device current } }",
            setup: |_, w| Box::pin(async move { json!({ "u": id(w.cast.customer_a.id) }) }),
            // Admins anyone's, everyone their own; a visible user's are refused, others unseen.
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, Ok],
        },
        // ---- The audit trail: the log and its chain head are the engineers' (admins only);
        // a record's History is visible with the record.
        Row {
            operation: "auditEvents",
            document: "{ auditEvents(first: 5) { edges { cursor node { id action } } } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "auditChainHead",
            document: "{ auditChainHead { lastEventId hash } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "company.history",
            document: "query($id: ID!) { company(id: $id) { history(first: 5) { totalCount edges { node { action } } } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": w.company_a }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        Row {
            operation: "user.history",
            document: "query($id: ID!) { user(id: $id) { history(first: 5) { totalCount } } }",
            setup: |_, w| Box::pin(async move { json!({ "id": id(w.cast.customer_a.id) }) }),
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, Ok],
        },
        // ---- User administration.
        Row {
            operation: "createUser (CUSTOMER into A)",
            document: "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "name": "New Nina", "email": email, "role": "CUSTOMER",
                        "memberships": [{ "companyId": w.company_a, "role": "CUSTOMER" }] } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "createUser (SUPERVISOR into A)",
            document: "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "name": "New Sue", "email": email, "role": "SUPERVISOR",
                        "memberships": [{ "companyId": w.company_a, "role": "SUPERVISOR" }] } })
                })
            },
            // Supervisors invite "into their own companies, never above their own role".
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "createUser (ADMIN)",
            document: "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            setup: |_, _| {
                Box::pin(async move {
                    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "name": "New Ann", "email": email, "role": "ADMIN" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "updateUser (another user's name)",
            document: "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    json!({ "input": { "id": fresh_customer_of_a(app, w).await, "name": "Renamed" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "updateUser (another user's role)",
            document: "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    json!({ "input": { "id": fresh_customer_of_a(app, w).await, "role": "SUPERVISOR" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "resendInvitation",
            document: "mutation($id: ID!) { resendInvitation(userId: $id) { id } }",
            setup: |app, w| {
                Box::pin(async move { json!({ "id": fresh_invited_of_a(app, w).await }) })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "clearSignInThrottle",
            document: "mutation($id: ID!) { clearSignInThrottle(userId: $id) { id } }",
            setup: |app, w| {
                Box::pin(async move { json!({ "id": fresh_customer_of_a(app, w).await }) })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "sendPasswordReset",
            document: "mutation($id: ID!) { sendPasswordReset(userId: $id) }",
            setup: |app, w| {
                Box::pin(async move { json!({ "id": fresh_customer_of_a(app, w).await }) })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "disableTwoFactor",
            document: "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    json!({ "input": { "userId": fresh_two_factor_customer_of_a(app, w).await,
                        "reason": "ticket 42: lost phone", "currentPassword": PASSWORD } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "discardUser",
            document: "mutation($id: ID!) { discardUser(userId: $id) { status } }",
            setup: |app, w| {
                Box::pin(async move { json!({ "id": fresh_customer_of_a(app, w).await }) })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "undiscardUser",
            document: "mutation($id: ID!) { undiscardUser(userId: $id) { status } }",
            setup: |app, w| {
                Box::pin(async move {
                    let user_id = fresh_customer_of_a(app, w).await;
                    admin_gql(
                        app,
                        w,
                        "mutation($id: ID!) { discardUser(userId: $id) { id } }",
                        json!({ "id": user_id }),
                    )
                    .await;
                    json!({ "id": user_id })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        // ---- Impersonation (its guardrails while impersonating: tests/api/impersonation.rs).
        Row {
            operation: "becomeUser",
            document: "mutation($input: BecomeUserInput!) { becomeUser(input: $input) { token } }",
            setup: |app, w| {
                Box::pin(async move {
                    json!({ "input": { "userId": fresh_customer_of_a(app, w).await,
                        "reason": "ticket 7: dashboard shows no calls" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "stopImpersonating (in one's own session)",
            document: "mutation { stopImpersonating { token } }",
            setup: |_, _| Box::pin(async { json!({}) }),
            expected: [UNAUTH, CONFLICT, CONFLICT, CONFLICT, CONFLICT],
        },
        // ---- Organizations and companies.
        Row {
            operation: "createOrganization",
            document: "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }",
            setup: |_, _| Box::pin(async { json!({ "input": { "name": "Charlie Holdings" } }) }),
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "updateOrganization",
            document: "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    let name = format!("Acme Group {}", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "id": w.organization_a, "name": name } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "createCompany",
            document: "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    json!({ "input": { "organizationId": w.organization_a, "name": "Acme West" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN],
        },
        Row {
            operation: "updateCompany (billing rate)",
            document: "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    let rate = 100 + rand::random::<u16>() as i64;
                    json!({ "input": { "id": w.company_a, "billingRateCents": rate } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        // ---- Teams and memberships.
        Row {
            operation: "createTeam",
            document: "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    let name = format!("Team {}", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "companyId": w.company_a, "name": name } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "updateTeam",
            document: "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    let name = format!("Team {}", uuid::Uuid::new_v4().simple());
                    let team = team(app, w.cast.company_a.id, &name).await;
                    json!({ "input": { "id": id(team.id), "name": format!("{name} (renamed)") } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "addCompanyMember (a customer of B into A)",
            document: "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    let user = fresh_loner()
                        .await
                        .member_of(w.cast.company_b.id)
                        .create(app)
                        .await;
                    json!({ "input": { "companyId": w.company_a, "userId": id(user.id), "role": "CUSTOMER" } })
                })
            },
            // Supervisor A cannot see B's customer: the same NOT_FOUND as for a missing id.
            expected: [UNAUTH, Ok, NOT_FOUND, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "addCompanyMember (a missing user id)",
            document: "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    json!({ "input": { "companyId": w.company_a, "userId": "987654321", "role": "CUSTOMER" } })
                })
            },
            expected: [UNAUTH, NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "addCompanyMember (as SUPERVISOR)",
            document: "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    let user = UserBuilder::supervisor()
                        .name("Sup Steve")
                        .create(app)
                        .await;
                    json!({ "input": { "companyId": w.company_a, "userId": id(user.id), "role": "SUPERVISOR" } })
                })
            },
            // A supervisor in no company is invisible to supervisor A.
            expected: [UNAUTH, Ok, NOT_FOUND, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "updateCompanyMember",
            document: "mutation($input: UpdateCompanyMemberInput!) { updateCompanyMember(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    let (membership, _) = fresh_membership_of_a(app, w).await;
                    json!({ "input": { "id": membership, "role": "SUPERVISOR" } })
                })
            },
            // Raising a customer's membership to SUPERVISOR is above the member's platform
            // role for everyone; admins get the validation error, the rest never get that far.
            expected: [
                UNAUTH,
                Outcome::Denied("BAD_USER_INPUT"),
                FORBIDDEN,
                NOT_FOUND,
                FORBIDDEN,
            ],
        },
        Row {
            operation: "removeCompanyMember",
            document: "mutation($input: RemoveCompanyMemberInput!) { removeCompanyMember(input: $input) }",
            setup: |app, w| {
                Box::pin(async move {
                    let (membership, _) = fresh_membership_of_a(app, w).await;
                    json!({ "input": { "id": membership } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "addTeamMember",
            document: "mutation($input: AddTeamMemberInput!) { addTeamMember(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    let (_, user) = fresh_membership_of_a(app, w).await;
                    json!({ "input": { "teamId": w.team_a, "userId": user } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "removeTeamMember",
            document: "mutation($input: RemoveTeamMemberInput!) { removeTeamMember(input: $input) }",
            setup: |app, w| {
                Box::pin(async move {
                    let (_, user) = fresh_membership_of_a(app, w).await;
                    admin_gql(
                        app,
                        w,
                        "mutation($input: AddTeamMemberInput!) { addTeamMember(input: $input) { id } }",
                        json!({ "input": { "teamId": w.team_a, "userId": user } }),
                    )
                    .await;
                    json!({ "input": { "teamId": w.team_a, "userId": user } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        // ---- Inbound numbers.
        Row {
            operation: "createInboundNumber",
            document: "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    json!({ "input": { "companyId": w.company_a, "number": fresh_e164(), "label": "Support" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "updateInboundNumber",
            document: "mutation($input: UpdateInboundNumberInput!) { updateInboundNumber(input: $input) { id } }",
            setup: |app, w| {
                Box::pin(async move {
                    json!({ "input": { "id": fresh_number_of_a(app, w).await, "label": "Renamed line" } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "deactivateInboundNumber",
            document: "mutation($input: DeactivateInboundNumberInput!) { deactivateInboundNumber(input: $input) { active } }",
            setup: |app, w| {
                Box::pin(
                    async move { json!({ "input": { "id": fresh_number_of_a(app, w).await } }) },
                )
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        // ---- Call recordings.
        Row {
            operation: "createCallRecording",
            document: "mutation($input: CreateCallRecordingInput!) { createCallRecording(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    json!({ "input": { "companyId": w.company_a, "callerNumber": "+15550100",
                        "startedAt": "2026-11-30T09:00:00Z", "durationSeconds": 60,
                        "storageKey": format!("calls/{}.wav", uuid::Uuid::new_v4().simple()) } })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "updateCallRecording",
            document: "mutation($input: UpdateCallRecordingInput!) { updateCallRecording(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    let notes = format!("Called back {}", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "id": w.recording_a, "notes": notes } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        // ---- Playbooks.
        Row {
            operation: "createPlaybook",
            document: "mutation($input: CreatePlaybookInput!) { createPlaybook(input: $input) { id } }",
            setup: |_, w| {
                Box::pin(async move {
                    json!({ "input": { "companyId": w.company_a, "title": "Refunds", "body": "Say sorry." } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "updatePlaybook",
            document: "mutation($input: UpdatePlaybookInput!) { updatePlaybook(input: $input) { currentVersion } }",
            setup: |_, w| {
                Box::pin(async move {
                    let body = format!("Greet, then {}", uuid::Uuid::new_v4().simple());
                    json!({ "input": { "id": w.playbook_a, "body": body } })
                })
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "restorePlaybookVersion",
            document: "mutation($input: RestorePlaybookVersionInput!) { restorePlaybookVersion(input: $input) { currentVersion } }",
            setup: |_, w| {
                Box::pin(
                    async move { json!({ "input": { "playbookId": w.playbook_a, "version": 1 } }) },
                )
            },
            expected: [UNAUTH, Ok, Ok, NOT_FOUND, FORBIDDEN],
        },
        // ---- A user's sessions: admins anyone's, everyone their own.
        Row {
            operation: "signOutSession (a session of another customer of A)",
            document: "mutation($id: ID!) { signOutSession(id: $id) }",
            setup: |app, w| {
                Box::pin(async move {
                    let user = fresh_customer_of_a(app, w).await;
                    let email = admin_gql(
                        app,
                        w,
                        "query($id: ID!) { user(id: $id) { email } }",
                        json!({ "id": user }),
                    )
                    .await;
                    let email = email["user"]["email"].as_str().expect("email").to_owned();
                    app.sign_in(&email, PASSWORD).await;
                    let listed = admin_gql(
                        app,
                        w,
                        "query($u: ID!) { userSessions(userId: $u) { id } }",
                        json!({ "u": user }),
                    )
                    .await;
                    json!({ "id": listed["userSessions"][0]["id"] })
                })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
        Row {
            operation: "signOutEverywhere (another customer of A)",
            document: "mutation($u: ID!) { signOutEverywhere(userId: $u) }",
            setup: |app, w| {
                Box::pin(async move { json!({ "u": fresh_customer_of_a(app, w).await }) })
            },
            expected: [UNAUTH, Ok, FORBIDDEN, NOT_FOUND, FORBIDDEN],
        },
    ]
}

async fn build_world(app: &TestApp) -> World {
    let cast = Cast::new(app).await;
    let team_a = team(app, cast.company_a.id, "Front desk").await;
    let mut world = World {
        organization_a: cast.company_a.organization_id.to_string(),
        company_a: cast.company_a.id.to_string(),
        team_a: team_a.id.to_string(),
        number_a: String::new(),
        recording_a: String::new(),
        playbook_a: String::new(),
        cast,
    };
    world.number_a = fresh_number_of_a(app, &world).await;
    let recording = admin_gql(
        app,
        &world,
        "mutation($input: CreateCallRecordingInput!) { createCallRecording(input: $input) { id } }",
        json!({ "input": { "companyId": world.company_a, "inboundNumberId": world.number_a,
            "callerNumber": "+15550199", "startedAt": "2026-11-30T08:00:00Z",
            "durationSeconds": 95, "storageKey": "calls/first.wav" } }),
    )
    .await;
    world.recording_a = recording["createCallRecording"]["id"]
        .as_str()
        .expect("recording id")
        .to_owned();
    let playbook = admin_gql(
        app,
        &world,
        "mutation($input: CreatePlaybookInput!) { createPlaybook(input: $input) { id } }",
        json!({ "input": { "companyId": world.company_a, "title": "Greeting", "body": "Hello." } }),
    )
    .await;
    world.playbook_a = playbook["createPlaybook"]["id"]
        .as_str()
        .expect("playbook id")
        .to_owned();
    world
}

fn token(world: &World, viewer: Viewer) -> Option<&str> {
    let cast = &world.cast;
    match viewer {
        Viewer::Anonymous => None,
        Viewer::Admin => Some(&cast.admin_token),
        Viewer::SupervisorA => Some(&cast.supervisor_a_token),
        Viewer::SupervisorB => Some(&cast.supervisor_b_token),
        Viewer::CustomerA => Some(&cast.customer_a_token),
    }
}

fn outcome(operation: &str, body: &Value) -> Outcome {
    if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
        let code = errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{operation}: an error without a code: {body}"));
        // The table's codes are 'static; an unexpected code is reported as a mismatch.
        let known = [
            "UNAUTHENTICATED",
            "FORBIDDEN",
            "FORBIDDEN_WHILE_IMPERSONATING",
            "NOT_FOUND",
            "BAD_USER_INPUT",
            "CONFLICT",
            "INVALID_CREDENTIALS",
            "INTERNAL",
        ];
        let code = known
            .into_iter()
            .find(|k| *k == code)
            .unwrap_or_else(|| panic!("{operation}: unexpected code {code}: {body}"));
        return Outcome::Denied(code);
    }
    let data = body["data"]
        .as_object()
        .unwrap_or_else(|| panic!("{operation}: no data: {body}"));
    let (_, value) = data.iter().next().expect("one root field");
    match value.get("totalCount").and_then(Value::as_u64) {
        Some(count) => Count(count),
        None => Ok,
    }
}

/// How much has been written so far: audit events and outbox mail.
async fn writes_so_far(app: &TestApp) -> (i64, i64) {
    let mut conn = app.app.db.conn().await.expect("conn");
    let events = portal_admin::db::audit::count_events(&mut conn)
        .await
        .expect("audit events counted");
    let mails = portal_admin::db::models::outbox::count_all(&mut conn)
        .await
        .expect("mail counted");
    (events, mails)
}

async fn every_operation_as_every_viewer(app: TestApp) {
    let world = build_world(&app).await;
    let mut mismatches = Vec::new();
    for row in rows() {
        for (viewer, expected) in VIEWERS.into_iter().zip(row.expected) {
            let variables = (row.setup)(&app, &world).await;
            let before = writes_so_far(&app).await;
            let response = app
                .gql(token(&world, viewer), row.document, variables)
                .await;
            let actual = outcome(row.operation, &response.body);
            if actual != expected {
                mismatches.push(format!(
                    "{:<45} as {viewer:?}: expected {expected}, got {actual} ({})",
                    row.operation, response.body
                ));
            }
            if matches!(actual, Outcome::Denied(_)) {
                let after = writes_so_far(&app).await;
                if after != before {
                    mismatches.push(format!(
                        "{:<45} as {viewer:?}: refused but wrote (audit events, mails) {before:?} -> {after:?}",
                        row.operation
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} outcomes differ from the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The table must name every query and mutation the schema serves for these domains, so a new
/// operation cannot slip in unchecked.
#[test]
fn the_table_covers_every_operation() {
    let covered: std::collections::BTreeSet<&str> = rows()
        .iter()
        .map(|row| row.operation.split(' ').next().unwrap_or_default())
        .collect();
    // Sign-in, onboarding, 2FA and the account have their own files (sessions, onboarding,
    // two_factor); they are open to anyone, or to the signed-in user about themselves.
    let elsewhere = [
        "signIn",
        "signOut",
        "acceptInvitation",
        "requestPasswordReset",
        "resetPassword",
        "confirmEmailChange",
        "changePassword",
        "startTwoFactorEnrollment",
        "confirmTwoFactorEnrollment",
        "regenerateRecoveryCodes",
    ];
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let sdl = async_graphql::parser::parse_schema(portal_admin::graphql::sdl()).expect("SDL");
    let mut missing = Vec::new();
    for definition in sdl.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let TypeKind::Object(object) = &ty.node.kind else {
            continue;
        };
        if !matches!(ty.node.name.node.as_str(), "Query" | "Mutation") {
            continue;
        }
        for field in &object.fields {
            let name = field.node.name.node.as_str();
            if !covered.contains(name) && !elsewhere.contains(&name) {
                missing.push(name.to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations missing from the matrix: {missing:?}"
    );
}

/// The type name under list and non-null wrappers.
fn base_type(ty: &async_graphql::parser::types::Type) -> &str {
    use async_graphql::parser::types::BaseType;
    let mut base = &ty.base;
    while let BaseType::List(inner) = base {
        base = &inner.base;
    }
    match base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(_) => unreachable!("unwrapped above"),
    }
}

/// Every root operation that takes an `ID` (a user, membership or record id), directly or in a
/// field of an input object, read from the served SDL.
fn operations_taking_ids() -> Vec<String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    use std::collections::BTreeMap;
    let sdl = async_graphql::parser::parse_schema(portal_admin::graphql::sdl()).expect("SDL");
    let mut inputs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut roots = Vec::new();
    for definition in &sdl.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        match &ty.node.kind {
            TypeKind::InputObject(input) => {
                inputs.insert(
                    ty.node.name.node.to_string(),
                    input
                        .fields
                        .iter()
                        .map(|f| base_type(&f.node.ty.node).to_owned())
                        .collect(),
                );
            }
            TypeKind::Object(object)
                if matches!(ty.node.name.node.as_str(), "Query" | "Mutation") =>
            {
                for field in &object.fields {
                    let args = field
                        .node
                        .arguments
                        .iter()
                        .map(|a| base_type(&a.node.ty.node).to_owned())
                        .collect::<Vec<_>>();
                    roots.push((field.node.name.node.to_string(), args));
                }
            }
            _ => {}
        }
    }
    fn takes_id(ty: &str, inputs: &BTreeMap<String, Vec<String>>, depth: usize) -> bool {
        ty == "ID"
            || (depth < 8
                && inputs
                    .get(ty)
                    .is_some_and(|fields| fields.iter().any(|f| takes_id(f, inputs, depth + 1))))
    }
    roots
        .into_iter()
        .filter(|(_, args)| args.iter().any(|a| takes_id(a, &inputs, 0)))
        .map(|(name, _)| name)
        .collect()
}

/// Every operation that takes an id has a cross-company case in the table: a signed-in viewer of
/// the other company (every target belongs to company A, so supervisor B; or supervisor A asking
/// for company B) is refused NOT_FOUND or FORBIDDEN. Enumerated from the SDL, so a new operation
/// with an id argument fails here until its row says what another company's viewer gets.
#[test]
fn every_operation_taking_an_id_has_a_cross_company_case() {
    let rows = rows();
    let operations = operations_taking_ids();
    assert!(
        operations.len() >= 30,
        "the SDL walk found too few operations: {operations:?}"
    );
    let refused = |o: Outcome| o == NOT_FOUND || o == FORBIDDEN;
    let missing: Vec<&String> = operations
        .iter()
        .filter(|op| {
            !rows.iter().any(|row| {
                row.operation.split(' ').next() == Some(op.as_str())
                    && (refused(row.expected[3]) || row.expected[2] == NOT_FOUND)
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "operations taking an id without a cross-company row: {missing:?}"
    );
}

on_both_backends!(every_operation_as_every_viewer);
