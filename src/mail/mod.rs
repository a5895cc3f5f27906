//! The emails the product sends, and how they get out without ever being lost.
//!
//! A change that should send mail calls [`enqueue`] inside its [`Database::write`] transaction:
//! the rendered mail is inserted into the `mail_outbox` table in that transaction, so the mail
//! exists if and only if the change commits. A background [`worker`] delivers the outbox over
//! SMTP (`SMTP_URL`) or into `.eml` files (`MAIL_DIR`), retrying with backoff while the server
//! is away. A mutation therefore never fails because mail cannot be sent right now.
//!
//! [`Database::write`]: crate::db::Database::write

use chrono::NaiveDateTime;

use crate::app::AppState;
use crate::config::Config;
use crate::db::WriteTx;
use crate::db::models::outbox::{self, NewOutboxMail};
use crate::domain::OutboxMailId;
use crate::error::AppResult;

mod render;
mod transport;
pub mod worker;

pub use render::{RenderedMail, render};
pub use transport::{DeliveryError, Mailer};
pub use worker::{BatchReport, deliver_batch, spawn_worker};

/// Every email the product sends. `to` is the recipient's address, `name` how to greet them.
/// Links are built with [`invitation_link`], [`reset_link`] and [`email_change_link`].
#[derive(Clone)]
pub enum MailMessage {
    Invitation {
        to: String,
        name: String,
        /// Who sent the invitation; `None` for system invitations.
        inviter_name: Option<String>,
        link: String,
        expires_at: NaiveDateTime,
    },
    PasswordReset {
        to: String,
        name: String,
        link: String,
        expires_at: NaiveDateTime,
    },
    PasswordChanged {
        to: String,
        name: String,
    },
    TwoFactorDisabled {
        to: String,
        name: String,
        /// The admin's reason, shown to the user (may be empty).
        reason: String,
    },
    TwoFactorEnabled {
        to: String,
        name: String,
    },
    /// To the new address of an email change: the link that applies it.
    EmailChangeConfirmation {
        to: String,
        name: String,
        link: String,
        expires_at: NaiveDateTime,
        /// An admin asked for the change (not the user).
        by_admin: bool,
    },
    /// To the old address, once an email change has been applied.
    EmailChanged {
        to: String,
        name: String,
        new_email: String,
    },
}

impl MailMessage {
    /// The template name, stored on the outbox row and logged instead of the body.
    pub fn template(&self) -> &'static str {
        match self {
            MailMessage::Invitation { .. } => "invitation",
            MailMessage::PasswordReset { .. } => "password_reset",
            MailMessage::PasswordChanged { .. } => "password_changed",
            MailMessage::TwoFactorDisabled { .. } => "two_factor_disabled",
            MailMessage::TwoFactorEnabled { .. } => "two_factor_enabled",
            MailMessage::EmailChangeConfirmation { .. } => "email_change_confirmation",
            MailMessage::EmailChanged { .. } => "email_changed",
        }
    }

    pub fn to(&self) -> &str {
        match self {
            MailMessage::Invitation { to, .. }
            | MailMessage::PasswordReset { to, .. }
            | MailMessage::PasswordChanged { to, .. }
            | MailMessage::TwoFactorDisabled { to, .. }
            | MailMessage::TwoFactorEnabled { to, .. }
            | MailMessage::EmailChangeConfirmation { to, .. }
            | MailMessage::EmailChanged { to, .. } => to,
        }
    }
}

/// Shows which mail and to whom, never the link: links carry tokens.
impl std::fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailMessage")
            .field("template", &self.template())
            .field("to", &self.to())
            .finish_non_exhaustive()
    }
}

/// `PUBLIC_URL/accept-invitation?token=…`, the link an invitation email carries.
pub fn invitation_link(config: &Config, token: &str) -> String {
    link(config, "accept-invitation", token)
}

/// `PUBLIC_URL/reset-password?token=…`, the link a password reset email carries.
pub fn reset_link(config: &Config, token: &str) -> String {
    link(config, "reset-password", token)
}

/// `PUBLIC_URL/confirm-email?token=…`, the link an email-change confirmation carries.
pub fn email_change_link(config: &Config, token: &str) -> String {
    link(config, "confirm-email", token)
}

/// Built from the configured origin only, never from request headers (a forged `Host` must not
/// be able to point a reset link at someone else's site).
fn link(config: &Config, path: &str, token: &str) -> String {
    let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    format!("{}/{path}?token={token}", config.public_url())
}

/// Renders `message` and inserts it into the outbox in the caller's transaction: it is sent
/// after, and only if, that transaction commits. The worker is woken on commit.
///
/// The bodies wait encrypted ([`crate::domain::totp::TotpKey::outbox_key`], bound to the template and the
/// recipient): they carry single-use links, and a copy of the database, a backup or a reader of
/// the tables must not be able to use them. The worker opens them to send and clears them once
/// sent.
pub async fn enqueue(
    tx: &mut WriteTx,
    app: &AppState,
    message: MailMessage,
) -> AppResult<OutboxMailId> {
    let rendered = render(&app.config, &message)?;
    let now = tx.now();
    let to_address = message.to().trim().to_owned();
    let key = app.totp_key.outbox_key();
    let context = body_context(message.template(), &to_address);
    let row = outbox::insert(
        tx.conn()?,
        &NewOutboxMail {
            template: message.template().to_owned(),
            to_address,
            subject: rendered.subject,
            body_text: key.seal_text(&context, &rendered.text)?,
            body_html: key.seal_text(&context, &rendered.html)?,
            created_at: now,
            next_attempt_at: now,
        },
    )
    .await?;
    tx.wake_outbox_on_commit();
    tracing::debug!(outbox_id = %row.id, template = message.template(), "mail enqueued");
    Ok(row.id)
}

/// What an outbox body is bound to: moved onto a row of another template or recipient, it
/// does not open.
pub(crate) fn body_context(template: &str, to_address: &str) -> String {
    format!("outbox:{template}:{to_address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut config = Config::from_env().expect("config");
        config.public_url = Some("https://portal.example.com/".into());
        config
    }

    #[test]
    fn links_use_the_public_url_and_encode_the_token() {
        let config = config();
        assert_eq!(
            invitation_link(&config, "abc-DEF_123"),
            "https://portal.example.com/accept-invitation?token=abc-DEF_123"
        );
        assert_eq!(
            reset_link(&config, "a b/c+d=&e"),
            "https://portal.example.com/reset-password?token=a+b%2Fc%2Bd%3D%26e"
        );
    }

    #[test]
    fn debug_output_hides_the_link() {
        let message = MailMessage::PasswordReset {
            to: "ann@example.com".into(),
            name: "Ann".into(),
            link: "https://x/reset-password?token=SECRET".into(),
            expires_at: NaiveDateTime::default(),
        };
        let shown = format!("{message:?}");
        assert!(shown.contains("password_reset"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
