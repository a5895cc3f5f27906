//! Getting in: invitation by email, accepting it, password resets and changes.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;

use crate::common::TestApp;
use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::smtp::ReceivedMail;
use crate::on_both_backends;

const CREATE_USER: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { id email status role invitationSentAt companies { id } } }";
const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token user { id name status role } } }";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// The token from the first `…?token=` link in a mail's text part.
fn token_in(mail: &ReceivedMail, path: &str) -> String {
    let text = mail.text.as_deref().expect("text part");
    let marker = format!("http://portal.test/{path}?token=");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} link in: {text}"))
        + marker.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn mail_to(
    app: &TestApp,
    address: &str,
    subject_part: &str,
    count: usize,
) -> Vec<ReceivedMail> {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let (address, subject_part) = (address.to_owned(), subject_part.to_owned());
        let mails = app
            .wait_for_mail(
                move |m| m.is_to(&address) && m.subject.to_lowercase().contains(&subject_part),
                StdDuration::from_secs(20),
            )
            .await;
        if mails.len() >= count {
            return mails;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {count} mail(s), got {}",
            mails.len()
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

async fn invite_receive_accept_sign_in(app: TestApp) {
    let cast = Cast::new(&app).await;
    let created = app
        .gql(
            Some(&cast.admin_token),
            CREATE_USER,
            json!({ "input": { "name": "Nina New", "email": "nina@example.com", "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    let user = &created.data()["createUser"];
    assert_eq!(user["status"], "INVITED");
    assert!(user["invitationSentAt"].is_string());
    assert_eq!(user["companies"][0]["id"], cast.company_a.id.to_string());

    let mails = mail_to(&app, "nina@example.com", "invit", 1).await;
    assert_eq!(mails.len(), 1, "one invitation");
    let token = token_in(&mails[0], "accept-invitation");
    assert!(
        mails[0]
            .html
            .as_deref()
            .unwrap_or_default()
            .contains("accept-invitation?token=")
    );

    // The role comes from the invitation, whatever the request says.
    let accepted = app
        .gql(None, ACCEPT, json!({ "input": { "token": token, "password": NEW_PASSWORD, "name": "Nina N.", "role": "ADMIN" } }))
        .await;
    assert!(
        accepted.body["errors"].is_array(),
        "unknown input fields are refused: {}",
        accepted.body
    );
    let accepted = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": token, "password": NEW_PASSWORD, "name": "Nina N." } }),
        )
        .await;
    let session = &accepted.data()["acceptInvitation"];
    assert_eq!(session["user"]["status"], "ACTIVE");
    assert_eq!(session["user"]["role"], "CUSTOMER");
    assert_eq!(session["user"]["name"], "Nina N.");

    let again = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": token, "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(again.error_code(), "INVALID_TOKEN", "single use");
    app.sign_in("nina@example.com", NEW_PASSWORD).await;
}

async fn resend_kills_the_old_link_and_links_expire(app: TestApp) {
    let cast = Cast::new(&app).await;
    let created = app
        .gql(
            Some(&cast.admin_token),
            CREATE_USER,
            json!({ "input": { "name": "Olga", "email": "olga@example.com", "role": "CUSTOMER" } }),
        )
        .await;
    let id = created.data()["createUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let first = token_in(
        &mail_to(&app, "olga@example.com", "invit", 1).await[0],
        "accept-invitation",
    );

    let resent = app
        .gql(
            Some(&cast.admin_token),
            "mutation($id: ID!) { resendInvitation(userId: $id) { id status } }",
            json!({ "id": id }),
        )
        .await;
    resent.data();
    let mails = mail_to(&app, "olga@example.com", "invit", 2).await;
    let second = mails
        .iter()
        .map(|m| token_in(m, "accept-invitation"))
        .find(|t| *t != first)
        .expect("a new link");

    let old = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": first, "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(old.error_code(), "INVALID_TOKEN");

    // Seven days later the new link has expired too.
    app.clock()
        .advance(Duration::days(7) + Duration::minutes(1));
    let expired = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": second, "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(expired.error_code(), "INVALID_TOKEN");
    let unknown = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": "nope", "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(unknown.error_code(), "INVALID_TOKEN");
}

async fn password_reset_end_to_end(app: TestApp) {
    let (user, old_token) = UserBuilder::admin()
        .email("rita@example.com")
        .signed_in(&app)
        .await;
    let (_, codes) = app.enable_two_factor(&old_token).await;

    for email in ["rita@example.com", "nobody@example.com"] {
        let response = app
            .gql(
                None,
                "mutation($email: String!) { requestPasswordReset(email: $email) }",
                json!({ "email": email }),
            )
            .await;
        assert_eq!(
            response.data()["requestPasswordReset"],
            true,
            "same answer for {email}"
        );
    }
    let first = token_in(
        &mail_to(&app, "rita@example.com", "reset", 1).await[0],
        "reset-password",
    );
    // A newer link voids the older one.
    app.gql(
        None,
        "mutation { requestPasswordReset(email: \"RITA@example.com\") }",
        json!({}),
    )
    .await
    .data();
    let mails = mail_to(&app, "rita@example.com", "reset", 2).await;
    let second = mails
        .iter()
        .map(|m| token_in(m, "reset-password"))
        .find(|t| *t != first)
        .expect("new link");
    let reset = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }";
    let stale = app
        .gql(
            None,
            reset,
            json!({ "input": { "token": first, "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(stale.error_code(), "INVALID_TOKEN");
    let weak = app
        .gql(
            None,
            reset,
            json!({ "input": { "token": second, "password": "password1" } }),
        )
        .await;
    assert_eq!(weak.error_code(), "BAD_USER_INPUT");

    let done = app
        .gql(
            None,
            reset,
            json!({ "input": { "token": second, "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(done.data()["resetPassword"], true);
    let reused = app
        .gql(
            None,
            reset,
            json!({ "input": { "token": second, "password": "yet another passphrase" } }),
        )
        .await;
    assert_eq!(reused.error_code(), "INVALID_TOKEN", "single use");

    // Every session ended; the new password works, 2FA is still on; a notice was mailed.
    let viewer = app
        .gql(Some(&old_token), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(viewer.error_code(), "UNAUTHENTICATED");
    let without_code = app
        .gql(None, "mutation { signIn(input: {email: \"rita@example.com\", password: \"a brand new passphrase\"}) { token } }", json!({}))
        .await;
    assert_eq!(without_code.error_code(), "TWO_FACTOR_REQUIRED");
    let with_code = app
        .gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": user.email, "password": NEW_PASSWORD, "recoveryCode": codes[0] } }),
        )
        .await;
    assert!(with_code.data()["signIn"]["token"].is_string());
    mail_to(&app, "rita@example.com", "password", 3).await;

    // Reset links expire after an hour.
    app.gql(
        None,
        "mutation { requestPasswordReset(email: \"rita@example.com\") }",
        json!({}),
    )
    .await
    .data();
    let mails = mail_to(&app, "rita@example.com", "reset", 3).await;
    let third = mails
        .iter()
        .map(|m| token_in(m, "reset-password"))
        .find(|t| *t != first && *t != second)
        .expect("third");
    app.clock().advance(Duration::minutes(61));
    let expired = app
        .gql(
            None,
            reset,
            json!({ "input": { "token": third, "password": "yet another passphrase" } }),
        )
        .await;
    assert_eq!(expired.error_code(), "INVALID_TOKEN");
}

async fn change_password_needs_the_current_one(app: TestApp) {
    let (user, token) = UserBuilder::admin().signed_in(&app).await;
    let other_session = app.sign_in(&user.email, PASSWORD).await;
    let change = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }";
    let wrong = app
        .gql(
            Some(&token),
            change,
            json!({ "input": { "currentPassword": "not it at all", "newPassword": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    let short = app
        .gql(
            Some(&token),
            change,
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "short" } }),
        )
        .await;
    assert_eq!(short.error_code(), "BAD_USER_INPUT");
    let ok = app
        .gql(
            Some(&token),
            change,
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(ok.data()["changePassword"], true);
    // This session stays; the other one ended.
    app.gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await
        .data();
    let other = app
        .gql(
            Some(&other_session),
            "{ viewer { user { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(other.error_code(), "UNAUTHENTICATED");
    app.sign_in(&user.email, NEW_PASSWORD).await;
}

/// The guide's promise for invitations: an SMTP outage while inviting loses nothing. The
/// invitation is created at once, its mail waits in the outbox, and arrives exactly once when
/// the server is back; its link then works.
async fn an_invitation_survives_an_smtp_outage(mut app: TestApp) {
    let cast = Cast::new(&app).await;
    app.smtp.as_mut().expect("smtp").stop().await;
    let created = app
        .gql(
            Some(&cast.admin_token),
            CREATE_USER,
            json!({ "input": { "name": "Otto Outage", "email": "otto@example.com", "role": "CUSTOMER" } }),
        )
        .await;
    assert_eq!(
        created.data()["createUser"]["status"],
        "INVITED",
        "the mutation does not wait for SMTP"
    );

    // The worker tries, fails and backs off; the mail stays pending.
    let mut conn = app.app.db.conn().await.expect("conn");
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let mails = portal_admin::db::models::outbox::recent(&mut conn, 10)
            .await
            .expect("outbox");
        let invitation = mails
            .iter()
            .find(|m| m.to_address == "otto@example.com")
            .expect("the invitation is in the outbox");
        assert!(
            invitation.sent_at.is_none(),
            "nobody could have received it"
        );
        if invitation.attempts >= 1 {
            assert!(invitation.failed_at.is_none(), "not given up");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    drop(conn);

    app.smtp.as_mut().expect("smtp").restart().await;
    // The retry is due after the backoff on the app's clock: move it rather than wait.
    app.clock().advance(Duration::minutes(11));
    app.app.db.outbox_wakeup().notify_one();
    let mails = mail_to(&app, "otto@example.com", "invit", 1).await;
    let token = token_in(&mails[0], "accept-invitation");

    // Exactly once: a later mail arrives after it, and there is still one invitation.
    let (marker, marker_token) = UserBuilder::customer()
        .email("marker@example.com")
        .signed_in(&app)
        .await;
    app.gql(
        Some(&cast.admin_token),
        "mutation($id: ID!) { sendPasswordReset(userId: $id) }",
        json!({ "id": marker.id.to_string() }),
    )
    .await
    .data();
    drop(marker_token);
    mail_to(&app, "marker@example.com", "reset", 1).await;
    let invitations = app
        .smtp
        .as_ref()
        .expect("smtp")
        .received()
        .into_iter()
        .filter(|m| m.is_to("otto@example.com"))
        .count();
    assert_eq!(invitations, 1, "delivered once");

    let accepted = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": token, "password": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(
        accepted.data()["acceptInvitation"]["user"]["status"],
        "ACTIVE"
    );
}

on_both_backends!(with_smtp:
    invite_receive_accept_sign_in,
    an_invitation_survives_an_smtp_outage,
    resend_kills_the_old_link_and_links_expire,
    password_reset_end_to_end,
    change_password_needs_the_current_one,
);
