//! Security against a parallel attacker, the authorization and input half (issue 12): a
//! supervisor reaches only the users they can see, a request's work is bounded before it runs,
//! and every string the API accepts is checked at the boundary the same way on both backends.

use std::collections::BTreeMap;

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use portal_admin::domain::Role;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::builders::{Cast, UserBuilder, add_member, company};
use crate::common::footprint::footprint;
use crate::on_both_backends;

const ADD_MEMBER: &str =
    "mutation($input: AddCompanyMemberInput!) { addCompanyMember(input: $input) { id } }";
const CREATE_USER: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }";

/// A supervisor adds to their company only someone who already shares one of their companies;
/// anyone else answers exactly what a missing id answers, and nothing is written.
async fn supervisors_reach_only_users_they_can_see(app: TestApp) {
    let cast = Cast::new(&app).await;
    let second = company(&app, "Charlie Lines").await;
    add_member(&app, cast.supervisor_a.id, second.id, Role::Supervisor).await;
    let shared = UserBuilder::customer()
        .name("Shared Shay")
        .member_of(second.id)
        .create(&app)
        .await;
    let stranger = UserBuilder::customer()
        .name("Stranger Stan")
        .member_of(cast.company_b.id)
        .create(&app)
        .await;
    let token = Some(cast.supervisor_a_token.as_str());
    let add = |user: String| json!({ "input": { "companyId": cast.company_a.id.to_string(), "userId": user, "role": "CUSTOMER" } });

    let before = footprint(&app, stranger.id).await;
    let foreign = app
        .gql(token, ADD_MEMBER, add(stranger.id.to_string()))
        .await;
    let missing = app.gql(token, ADD_MEMBER, add("987654321".into())).await;
    assert_eq!(foreign.error_code(), "NOT_FOUND", "{:?}", foreign.body);
    assert_eq!(missing.error_code(), "NOT_FOUND", "{:?}", missing.body);
    assert_eq!(foreign.error_message(), missing.error_message());
    assert_eq!(
        foreign.body["errors"][0]["extensions"],
        missing.body["errors"][0]["extensions"]
    );
    assert_eq!(
        footprint(&app, stranger.id).await,
        before,
        "a refusal wrote"
    );

    let shared_add = app.gql(token, ADD_MEMBER, add(shared.id.to_string())).await;
    assert!(shared_add.body["errors"].is_null(), "{:?}", shared_add.body);

    // Invitations: supervisors and customers into their own companies, never admins.
    let invite = |role: &str, membership: &str| {
        json!({ "input": { "name": "New Person", "email": format!("{}@example.com", uuid::Uuid::new_v4().simple()),
            "role": role, "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": membership }] } })
    };
    let supervisor = app
        .gql(token, CREATE_USER, invite("SUPERVISOR", "SUPERVISOR"))
        .await;
    assert!(supervisor.body["errors"].is_null(), "{:?}", supervisor.body);
    let before = footprint(&app, cast.supervisor_a.id).await;
    let admin = app
        .gql(token, CREATE_USER, invite("ADMIN", "SUPERVISOR"))
        .await;
    assert_eq!(admin.error_code(), "FORBIDDEN", "{:?}", admin.body);
    assert_eq!(footprint(&app, cast.supervisor_a.id).await, before);
}

/// The large-list query of the issue (8.7 KB from a signed-in customer): nested pages of 100
/// multiply, so it is refused by the complexity limit before a row is read.
async fn a_large_list_query_is_refused_before_it_runs(app: TestApp) {
    let cast = Cast::new(&app).await;
    let fields = "id name email role status createdAt";
    // No `totalCount` here: its own cap (tested below) would refuse the request first.
    let history = "history(first: 100) { edges { node { id action occurredAt } } }";
    let mut query = String::from("query Large {");
    for i in 0..60 {
        query.push_str(&format!(
            " u{i}: users(first: 100) {{ edges {{ node {{ {fields} {history} }} }} }}"
        ));
        if query.len() > 8_700 {
            break;
        }
    }
    query.push('}');
    assert!(query.len() > 8_000, "the query is {} bytes", query.len());
    let response = app
        .gql(Some(&cast.customer_a_token), &query, json!({}))
        .await;
    assert_eq!(
        response.error_code(),
        "BAD_USER_INPUT",
        "{:?}",
        response.body
    );
    assert!(response.body.get("data").is_none_or(Value::is_null));
    assert!(
        response.error_message().contains("complex"),
        "{}",
        response.error_message()
    );
    // One page of 100 with a few fields stays well inside the limit.
    let one_page = app
        .gql(
            Some(&cast.customer_a_token),
            "{ users(first: 100) { totalCount edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert!(one_page.body["errors"].is_null(), "{:?}", one_page.body);
}

/// 200 aliased `auditEvents { totalCount }`: refused whole, before anything is counted.
async fn aliased_total_counts_are_refused(app: TestApp) {
    let cast = Cast::new(&app).await;
    let query = format!(
        "{{ {} }}",
        (0..200)
            .map(|i| format!("a{i}: auditEvents(first: 1) {{ totalCount }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let response = app.gql(Some(&cast.admin_token), &query, json!({})).await;
    assert_eq!(
        response.error_code(),
        "BAD_USER_INPUT",
        "{:?}",
        response.body
    );
    assert!(response.error_message().contains("totalCount"));
    assert!(response.body.get("data").is_none_or(Value::is_null));
}

/// 200 aliased `createOrganization` in one request, sent 50 times at once: each answers one
/// coded error and nothing at all is written.
async fn an_aliased_mutation_flood_writes_nothing(app: TestApp) {
    let cast = Cast::new(&app).await;
    let document = format!(
        "mutation Flood {{ {} }}",
        (0..200)
            .map(|i| format!("o{i}: createOrganization(input: {{ name: \"Flood {i}\" }}) {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let before = footprint(&app, cast.admin.id).await;
    let answers = futures::future::join_all(
        (0..50).map(|_| app.gql(Some(&cast.admin_token), &document, json!({}))),
    )
    .await;
    for answer in &answers {
        assert_eq!(answer.error_code(), "BAD_USER_INPUT", "{:?}", answer.body);
        assert_eq!(answer.body["errors"].as_array().map(Vec::len), Some(1));
        assert!(answer.body.get("data").is_none_or(Value::is_null));
    }
    assert_eq!(footprint(&app, cast.admin.id).await, before);
    let organizations = app
        .gql(
            Some(&cast.admin_token),
            "{ organizations { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        organizations.data()["organizations"]["totalCount"],
        json!(2)
    );
}

// ---- A NUL in every string argument of the schema, generated from the SDL.

/// The arguments of a field, or the fields of an input object: name and type.
type Fields = Vec<(String, Type)>;

struct Sdl {
    inputs: BTreeMap<String, Fields>,
    enums: BTreeMap<String, String>,
    /// (root type, field, its arguments)
    roots: Vec<(String, String, Fields)>,
}

fn read_sdl() -> Sdl {
    let doc = async_graphql::parser::parse_schema(portal_admin::graphql::sdl()).expect("SDL");
    let mut sdl = Sdl {
        inputs: BTreeMap::new(),
        enums: BTreeMap::new(),
        roots: Vec::new(),
    };
    for definition in doc.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let name = ty.node.name.node.to_string();
        match ty.node.kind {
            TypeKind::InputObject(input) => {
                let fields = input
                    .fields
                    .iter()
                    .map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone()))
                    .collect();
                sdl.inputs.insert(name, fields);
            }
            TypeKind::Enum(e) => {
                let first = e.values[0].node.value.node.to_string();
                sdl.enums.insert(name, first);
            }
            TypeKind::Object(object) => {
                if matches!(name.as_str(), "Query" | "Mutation") {
                    for field in object.fields {
                        let args = field
                            .node
                            .arguments
                            .iter()
                            .map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()))
                            .collect();
                        sdl.roots
                            .push((name.clone(), field.node.name.node.to_string(), args));
                    }
                }
            }
            _ => {}
        }
    }
    sdl
}

fn named(ty: &Type) -> (&str, bool) {
    match &ty.base {
        BaseType::Named(name) => (name.as_str(), false),
        BaseType::List(inner) => (named(inner).0, true),
    }
}

/// A valid value of `ty` (required input fields filled), with a NUL at `path` when it leads
/// into this value (the NUL itself is put in by `poison`).
fn value(sdl: &Sdl, ty: &Type, path: &[String]) -> Value {
    let (name, list) = named(ty);
    let inner = if let Some(fields) = sdl.inputs.get(name) {
        let mut map = serde_json::Map::new();
        for (field, field_ty) in fields {
            let here = path.first() == Some(field);
            if here || !field_ty.nullable {
                let rest = if here { &path[1..] } else { &[][..] };
                map.insert(field.clone(), value(sdl, field_ty, rest));
            }
        }
        Value::Object(map)
    } else if let Some(first) = sdl.enums.get(name) {
        json!(first)
    } else {
        match name {
            "Int" => json!(1),
            "Float" => json!(1.0),
            "Boolean" => json!(false),
            "ID" => json!("1"),
            "DateTime" => json!("2026-01-01T00:00:00Z"),
            _ => json!("Plain text"),
        }
    };
    if list { json!([inner]) } else { inner }
}

/// Every path from a root argument to a String, ID or custom-scalar input.
fn string_paths(sdl: &Sdl, ty: &Type, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let (name, _) = named(ty);
    if prefix.len() > 6 {
        return;
    }
    if let Some(fields) = sdl.inputs.get(name) {
        for (field, field_ty) in fields {
            let mut path = prefix.clone();
            path.push(field.clone());
            string_paths(sdl, field_ty, path, out);
        }
    } else if !sdl.enums.contains_key(name) && !matches!(name, "Int" | "Float" | "Boolean") {
        out.push(prefix);
    }
}

/// Replaces the string at `path` in `value` with one carrying a NUL.
fn poison(value: &mut Value, path: &[String]) {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter_mut().for_each(|v| poison(v, path)),
        (Value::Object(map), Some((head, rest))) => {
            if let Some(v) = map.get_mut(head) {
                poison(v, rest);
            }
        }
        (v, None) => *v = json!("evil\u{0}name"),
        _ => {}
    }
}

fn type_text(ty: &Type) -> String {
    ty.to_string()
}

/// For every String/ID argument and input field of every query and mutation, a value with a
/// NUL answers BAD_USER_INPUT (INVALID_CREDENTIALS for signIn), never INTERNAL, and writes
/// nothing. Generated from the served SDL: a new field is covered without anyone listing it.
async fn a_nul_in_any_string_argument_is_refused(app: TestApp) {
    let cast = Cast::new(&app).await;
    let sdl = read_sdl();
    let before = footprint(&app, cast.admin.id).await;
    let mut cases = 0;
    let mut wrong = Vec::new();
    for (root, field, args) in &sdl.roots {
        for (arg, ty) in args {
            let mut paths = Vec::new();
            string_paths(&sdl, ty, Vec::new(), &mut paths);
            for path in paths {
                let mut variables = serde_json::Map::new();
                let mut params = Vec::new();
                let mut call = Vec::new();
                for (other, other_ty) in args {
                    if other != arg && other_ty.nullable {
                        continue;
                    }
                    let mut v = value(
                        &sdl,
                        other_ty,
                        if other == arg { &path[..] } else { &[][..] },
                    );
                    if other == arg {
                        poison(&mut v, &path);
                    }
                    variables.insert(other.clone(), v);
                    params.push(format!("${other}: {}", type_text(other_ty)));
                    call.push(format!("{other}: ${other}"));
                }
                let keyword = if root == "Mutation" {
                    "mutation"
                } else {
                    "query"
                };
                let document = format!(
                    "{keyword}({}) {{ {field}({}) {{ __typename }} }}",
                    params.join(", "),
                    call.join(", ")
                );
                let response = app
                    .gql(Some(&cast.admin_token), &document, Value::Object(variables))
                    .await;
                let expected = if field == "signIn" {
                    "INVALID_CREDENTIALS"
                } else {
                    "BAD_USER_INPUT"
                };
                cases += 1;
                if response.error_code() != expected {
                    wrong.push(format!(
                        "{field}({arg}.{}): {}",
                        path.join("."),
                        response.body
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cases} cases:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(cases >= 60, "only {cases} string inputs found");
    assert_eq!(
        footprint(&app, cast.admin.id).await,
        before,
        "a refused input wrote"
    );
}

/// Names are one line: a CR/LF (which would start a new line in an invitation mail) or any
/// other control character is refused; a playbook's body keeps its newlines.
async fn line_breaks_only_where_text_is_multiline(app: TestApp) {
    let cast = Cast::new(&app).await;
    let before = footprint(&app, cast.admin.id).await;
    let invite = app
        .gql(
            Some(&cast.admin_token),
            CREATE_USER,
            json!({ "input": { "name": "Eve\r\nBcc: all@example.com", "email": "eve@example.com", "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    assert_eq!(invite.error_code(), "BAD_USER_INPUT", "{:?}", invite.body);
    // A 65-octet local part is refused now, not given up by the mailer later.
    let long_local = format!("{}@example.com", "a".repeat(65));
    let long = app
        .gql(
            Some(&cast.admin_token),
            CREATE_USER,
            json!({ "input": { "name": "Long Local", "email": long_local, "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    assert_eq!(long.error_code(), "BAD_USER_INPUT", "{:?}", long.body);
    assert_eq!(footprint(&app, cast.admin.id).await, before);
    let playbook = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreatePlaybookInput!) { createPlaybook(input: $input) { id } }",
            json!({ "input": { "companyId": cast.company_a.id.to_string(), "title": "Greeting", "body": "Hello.\nHow can I help?" } }),
        )
        .await;
    assert!(playbook.body["errors"].is_null(), "{:?}", playbook.body);
}

on_both_backends!(
    supervisors_reach_only_users_they_can_see,
    a_large_list_query_is_refused_before_it_runs,
    aliased_total_counts_are_refused,
    an_aliased_mutation_flood_writes_nothing,
    a_nul_in_any_string_argument_is_refused,
    line_breaks_only_where_text_is_multiline,
);
