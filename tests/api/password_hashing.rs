//! Password hashing runs on a bounded pool: a burst past its queue is refused at once with
//! RATE_LIMITED and changes nothing, and never more hashes run at once than configured.

use std::time::Instant;

use portal_admin::domain::AuditAction;
use portal_admin::domain::AuditRecordType;
use serde_json::json;

use crate::common::builders::{PASSWORD, UserBuilder};
use crate::common::{Backend, TestApp, audit_trail};

const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
const BURST: usize = 200;
const THREADS: usize = 1;
const QUEUE: usize = 4;

async fn a_burst_past_the_hash_queue_is_refused_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn_adjusted(backend, |config| {
        config.password_hash_concurrency = Some(THREADS);
        config.password_hash_queue = QUEUE;
        // The burst comes from one client; its failures (there are none) must not be what
        // refuses it.
        config.sign_in_ip_max_failures = 10_000;
        // Nor the account's limiter (every sign-in holds a reservation until it succeeds).
        config.sign_in_max_failures = 10_000;
    })
    .await
    else {
        return;
    };
    let admin = UserBuilder::admin().create(&app).await;
    let pool = app.app.passwords.pool();
    assert_eq!((pool.threads(), pool.queue_capacity()), (THREADS, QUEUE));
    let refused_before = pool.refused();
    let history_before = audit_trail::history(&app, AuditRecordType::User, admin.id.0).await;

    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let (http, url, email) = (app.http.clone(), app.url("/graphql"), admin.email.clone());
        burst.spawn(async move {
            let started = Instant::now();
            let response = http
                .post(url)
                .json(&json!({ "query": SIGN_IN, "variables": {
                    "input": { "email": email, "password": PASSWORD } } }))
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("JSON");
            (status, body, started.elapsed())
        });
    }
    let (mut tokens, mut refused) = (Vec::new(), Vec::new());
    while let Some(answer) = burst.join_next().await {
        let (status, body, took) = answer.expect("request task");
        if let Some(token) = body["data"]["signIn"]["token"].as_str() {
            tokens.push((token.to_owned(), took));
            continue;
        }
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "RATE_LIMITED",
            "{status} {body}"
        );
        assert_eq!(error["extensions"]["retryAfterSeconds"], 1, "{body}");
        refused.push(took);
    }
    assert_eq!(tokens.len() + refused.len(), BURST);
    assert!(!tokens.is_empty(), "the first hashes went through");
    assert!(
        !refused.is_empty(),
        "a burst of {BURST} overflows a queue of {QUEUE}"
    );
    assert_eq!(
        pool.refused() - refused_before,
        refused.len(),
        "every refusal came from the full queue"
    );
    assert_eq!(pool.most_running(), THREADS, "never more hashes at once");

    // Refused requests did not wait for the hashes: most answer before the last sign-in that
    // queued behind them.
    let mut refused_times = refused.clone();
    refused_times.sort();
    let refused_median = refused_times[refused_times.len() / 2];
    let slowest_signed_in = tokens
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    assert!(
        refused_median < slowest_signed_in,
        "refused (median) {refused_median:?} vs slowest sign-in {slowest_signed_in:?}"
    );

    // Nothing else changed: one SIGN_IN event per token (and so one session), no failure.
    let history = audit_trail::history(&app, AuditRecordType::User, admin.id.0).await;
    let new_events: Vec<AuditAction> = history
        .iter()
        .take(history.len() - history_before.len())
        .map(|event| event.action())
        .collect();
    assert_eq!(new_events.len(), tokens.len(), "{new_events:?}");
    assert!(new_events.iter().all(|a| *a == AuditAction::SignIn));
    for (token, _) in &tokens {
        let viewer = app
            .gql(Some(token), "{ viewer { user { id } } }", json!({}))
            .await;
        assert_eq!(
            viewer.data()["viewer"]["user"]["id"],
            admin.id.0.to_string()
        );
    }
    // The account is not locked by the burst: the next sign-in hashes and succeeds.
    app.sign_in(&admin.email, PASSWORD).await;
}

mod a_burst_past_the_hash_queue {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        a_burst_past_the_hash_queue_is_refused_and_changes_nothing(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        a_burst_past_the_hash_queue_is_refused_and_changes_nothing(Backend::Postgres).await;
    }
}
