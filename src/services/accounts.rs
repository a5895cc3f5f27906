//! Accounts made outside the invitation flow: the first admin, from the command line.

use futures::FutureExt;

use crate::app::AppState;
use crate::db::models::{NewUser, User, users};
use crate::domain::Role;
use crate::domain::audit::AuditActor;
use crate::domain::password::validate_new_password;
use crate::error::{AppError, AppResult};

/// Validates and normalises an email address (trimmed; case kept for display, compared
/// case-insensitively).
pub fn validate_email(field: &'static str, email: &str) -> AppResult<String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(AppError::bad_input(field, "Enter a valid email address."))
    }
}

pub fn validate_name(field: &'static str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::bad_input(field, "The name cannot be empty."));
    }
    if name.chars().count() > 200 {
        return Err(AppError::bad_input(
            field,
            "The name is too long (200 characters at most).",
        ));
    }
    Ok(name.to_owned())
}

/// Creates an active admin with a password (`portal-admin create-admin`). Audited as a system
/// action.
pub async fn create_admin(
    app: &AppState,
    email: &str,
    name: &str,
    password: &str,
) -> AppResult<User> {
    let email = validate_email("email", email)?;
    let name = validate_name("name", name)?;
    validate_new_password("password", password)?;
    let password_hash = app.passwords.hash(password).await?;
    let now = app.clock.now();
    let new_user = NewUser {
        name,
        email,
        role: Role::Admin,
        password_hash: Some(password_hash),
        invitation_sent_at: None,
        activated_at: Some(now),
        created_at: now,
        updated_at: now,
    };
    app.db
        .write(AuditActor::system(), |tx| {
            async move { users::create(tx, new_user).await }.boxed()
        })
        .await
}
