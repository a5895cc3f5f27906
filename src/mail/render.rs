//! Subjects and bodies: minijinja templates under `templates/mail/`, compiled into the binary.
//! `.html` templates are auto-escaped (names and reasons are user input); `.txt` are not.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior, context};

use super::MailMessage;
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// How the product names itself in mail.
const PRODUCT: &str = "Portal";

const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../templates/mail/layout.html"),
    ),
    (
        "layout.txt",
        include_str!("../../templates/mail/layout.txt"),
    ),
    (
        "macros.html",
        include_str!("../../templates/mail/macros.html"),
    ),
    (
        "invitation.html",
        include_str!("../../templates/mail/invitation.html"),
    ),
    (
        "invitation.txt",
        include_str!("../../templates/mail/invitation.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/mail/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/mail/password_reset.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../../templates/mail/password_changed.html"),
    ),
    (
        "password_changed.txt",
        include_str!("../../templates/mail/password_changed.txt"),
    ),
    (
        "two_factor_disabled.html",
        include_str!("../../templates/mail/two_factor_disabled.html"),
    ),
    (
        "two_factor_disabled.txt",
        include_str!("../../templates/mail/two_factor_disabled.txt"),
    ),
    (
        "two_factor_enabled.html",
        include_str!("../../templates/mail/two_factor_enabled.html"),
    ),
    (
        "two_factor_enabled.txt",
        include_str!("../../templates/mail/two_factor_enabled.txt"),
    ),
    (
        "email_change_confirmation.html",
        include_str!("../../templates/mail/email_change_confirmation.html"),
    ),
    (
        "email_change_confirmation.txt",
        include_str!("../../templates/mail/email_change_confirmation.txt"),
    ),
    (
        "email_changed.html",
        include_str!("../../templates/mail/email_changed.html"),
    ),
    (
        "email_changed.txt",
        include_str!("../../templates/mail/email_changed.txt"),
    ),
];

/// Parsed once. A template that does not parse is a build defect, caught by this module's tests;
/// at run time it surfaces as an INTERNAL error of the mutation that wanted to send mail.
static TEMPLATE_ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    // A misspelt variable fails loudly instead of rendering an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|err| format!("mail template {name}: {err:#}"))?;
    }
    Ok(env)
});

/// A mail ready for the outbox.
#[derive(Clone)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders `message` (subject, plain text and HTML).
pub fn render(config: &Config, message: &MailMessage) -> AppResult<RenderedMail> {
    let env = TEMPLATE_ENV
        .as_ref()
        .map_err(|err| AppError::internal(anyhow::anyhow!("{err}")))?;
    let subject = one_line(&subject(message));
    let public_url = config.public_url();
    let ctx = match message {
        MailMessage::Invitation {
            to,
            name,
            inviter_name,
            link,
            expires_at,
        } => context! {
            to, name, link,
            inviter_name => inviter_name.as_deref().map(one_line),
            expires_at => format_time(expires_at),
        },
        MailMessage::PasswordReset {
            to,
            name,
            link,
            expires_at,
        } => context! { to, name, link, expires_at => format_time(expires_at) },
        MailMessage::PasswordChanged { to, name } | MailMessage::TwoFactorEnabled { to, name } => {
            context! { to, name }
        }
        MailMessage::TwoFactorDisabled { to, name, reason } => {
            context! { to, name, reason => reason.trim() }
        }
        MailMessage::EmailChangeConfirmation {
            to,
            name,
            link,
            expires_at,
            by_admin,
        } => context! { to, name, link, by_admin, expires_at => format_time(expires_at) },
        MailMessage::EmailChanged {
            to,
            name,
            new_email,
        } => context! { to, name, new_email },
    };
    let ctx = context! { product => PRODUCT, public_url, subject, ..ctx };
    let template = message.template();
    let render_one = |extension: &str| -> AppResult<String> {
        let name = format!("{template}.{extension}");
        env.get_template(&name)
            .and_then(|t| t.render(&ctx))
            .map_err(|err| {
                AppError::internal(anyhow::anyhow!("rendering mail template {name}: {err:#}"))
            })
    };
    Ok(RenderedMail {
        text: render_one("txt")?,
        html: render_one("html")?,
        subject,
    })
}

fn subject(message: &MailMessage) -> String {
    match message {
        MailMessage::Invitation {
            inviter_name: Some(inviter),
            ..
        } if !inviter.trim().is_empty() => {
            format!("{} invited you to {PRODUCT}", inviter.trim())
        }
        MailMessage::Invitation { .. } => format!("You are invited to {PRODUCT}"),
        MailMessage::PasswordReset { .. } => format!("Reset your {PRODUCT} password"),
        MailMessage::PasswordChanged { .. } => format!("Your {PRODUCT} password was changed"),
        MailMessage::TwoFactorDisabled { .. } => {
            format!("Two-factor authentication was turned off for your {PRODUCT} account")
        }
        MailMessage::TwoFactorEnabled { .. } => {
            format!("Two-factor authentication is on for your {PRODUCT} account")
        }
        MailMessage::EmailChangeConfirmation { .. } => {
            format!("Confirm your new email address for {PRODUCT}")
        }
        MailMessage::EmailChanged { .. } => {
            format!("The email address of your {PRODUCT} account was changed")
        }
    }
}

/// User input going into a subject or sentence: no line breaks or other control characters.
fn one_line(text: &str) -> String {
    text.split(char::is_control)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// Times are stored in UTC and shown as such: the mail does not know the reader's zone.
fn format_time(at: &chrono::NaiveDateTime) -> String {
    at.format("%-d %B %Y at %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn config() -> Config {
        let mut config = Config::from_env().expect("config");
        config.public_url = Some("https://portal.example.com".into());
        config
    }

    fn expires() -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 6)
            .and_then(|d| d.and_hms_opt(14, 5, 0))
            .expect("date")
    }

    fn all_messages() -> Vec<MailMessage> {
        let to = "ann@example.com".to_owned();
        let name = "Ann <b>Lee</b>".to_owned();
        vec![
            MailMessage::Invitation {
                to: to.clone(),
                name: name.clone(),
                inviter_name: Some("Ada\r\nBcc: x@evil.test".into()),
                link: "https://portal.example.com/accept-invitation?token=t1".into(),
                expires_at: expires(),
            },
            MailMessage::Invitation {
                to: to.clone(),
                name: name.clone(),
                inviter_name: None,
                link: "https://portal.example.com/accept-invitation?token=t2".into(),
                expires_at: expires(),
            },
            MailMessage::PasswordReset {
                to: to.clone(),
                name: name.clone(),
                link: "https://portal.example.com/reset-password?token=t3".into(),
                expires_at: expires(),
            },
            MailMessage::PasswordChanged {
                to: to.clone(),
                name: name.clone(),
            },
            MailMessage::TwoFactorDisabled {
                to: to.clone(),
                name: name.clone(),
                reason: "Lost phone & <codes>".into(),
            },
            MailMessage::TwoFactorDisabled {
                to: to.clone(),
                name: name.clone(),
                reason: "  ".into(),
            },
            MailMessage::TwoFactorEnabled {
                to: to.clone(),
                name: name.clone(),
            },
            MailMessage::EmailChangeConfirmation {
                to: to.clone(),
                name: name.clone(),
                link: "https://portal.example.com/confirm-email?token=t4".into(),
                expires_at: expires(),
                by_admin: true,
            },
            MailMessage::EmailChanged {
                to,
                name,
                new_email: "ann.lee@example.org".into(),
            },
        ]
    }

    #[test]
    fn every_template_renders_with_escaped_html() {
        for message in all_messages() {
            let mail = render(&config(), &message).expect("renders");
            let template = message.template();
            assert!(!mail.subject.is_empty(), "{template}");
            assert!(!mail.subject.contains(['\r', '\n']), "{template}");
            assert!(mail.html.starts_with("<!DOCTYPE html>"), "{template}");
            assert!(
                mail.html.contains("Hello Ann &lt;b&gt;Lee&lt;&#x2f;b&gt;,"),
                "{template}: {}",
                mail.html
            );
            assert!(mail.text.starts_with("Hello Ann <b>Lee</b>,"), "{template}");
            assert!(
                mail.text.contains("https://portal.example.com"),
                "{template}"
            );
            assert!(!mail.text.contains("{{"), "{template}");
            assert!(!mail.html.contains("{{"), "{template}");
        }
    }

    #[test]
    fn links_expiry_and_reason_appear_in_both_parts() {
        let messages = all_messages();
        let invitation = render(&config(), &messages[0]).expect("renders");
        assert_eq!(
            invitation.subject,
            "Ada Bcc: x@evil.test invited you to Portal"
        );
        // minijinja escapes `/` in HTML as `&#x2f;`, which attribute values decode back.
        let unescaped = |html: &str| html.replace("&#x2f;", "/");
        for body in [invitation.text.clone(), unescaped(&invitation.html)] {
            assert!(body.contains("https://portal.example.com/accept-invitation?token=t1"));
            assert!(body.contains("6 December 2026 at 14:05 UTC"), "{body}");
        }
        let plain_invite = render(&config(), &messages[1]).expect("renders");
        assert_eq!(plain_invite.subject, "You are invited to Portal");
        assert!(
            plain_invite
                .text
                .contains("You have been invited to Portal")
        );

        let reset = render(&config(), &messages[2]).expect("renders");
        assert_eq!(reset.subject, "Reset your Portal password");
        assert!(
            unescaped(&reset.html)
                .contains("href=\"https://portal.example.com/reset-password?token=t3\"")
        );

        let disabled = render(&config(), &messages[4]).expect("renders");
        assert!(
            disabled
                .html
                .contains("Reason given: Lost phone &amp; &lt;codes&gt;")
        );
        assert!(disabled.text.contains("Reason given: Lost phone & <codes>"));
        let confirm = render(&config(), &messages[7]).expect("renders");
        assert_eq!(confirm.subject, "Confirm your new email address for Portal");
        for body in [confirm.text.clone(), unescaped(&confirm.html)] {
            assert!(body.contains("https://portal.example.com/confirm-email?token=t4"));
            assert!(body.contains("An administrator"), "{body}");
        }
        let changed = render(&config(), &messages[8]).expect("renders");
        assert!(
            changed.text.contains("to ann.lee@example.org"),
            "{}",
            changed.text
        );
        let no_reason = render(&config(), &messages[5]).expect("renders");
        assert!(!no_reason.text.contains("Reason given"));
        assert!(!no_reason.html.contains("Reason given"));
    }
}
