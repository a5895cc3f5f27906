//! Browsing and administering users.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, NaiveDateTime, Utc};

use super::connection::{Page, PageRequest, page};
use super::context::ContextExt;
use super::types::{User, parse_id};
use crate::db::models::users::{UserKey, UserOrder};
use crate::domain::{CompanyId, Role, SortDirection, TeamId, UserId, UserSortField, UserStatus};
use crate::error::AppError;
use crate::services::reauth::Proof;
use crate::services::users::{self as service, CreateUser, NewMembership, UpdateUser};

#[derive(InputObject, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    pub company_id: Option<ID>,
    pub team_id: Option<ID>,
    /// Case-insensitive, anywhere in the name or the email.
    pub search: Option<String>,
    /// `true`: only users who never signed in; `false`: only those who did.
    pub never_signed_in: Option<bool>,
    /// Only users who have not signed in since this instant (never signed in included).
    pub no_sign_in_since: Option<DateTime<Utc>>,
}

/// The order of the users list; `direction` defaults to ascending. Ties are broken by id in
/// the same direction.
#[derive(InputObject)]
pub struct UserSort {
    pub field: UserSortField,
    #[graphql(default_with = "SortDirection::Asc")]
    pub direction: SortDirection,
}

#[derive(InputObject)]
pub struct MembershipInput {
    pub company_id: ID,
    pub role: Role,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub name: String,
    pub email: String,
    pub role: Role,
    #[graphql(default)]
    pub memberships: Vec<MembershipInput>,
    #[graphql(default)]
    pub team_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub id: ID,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    /// The `version` you read; a concurrent change then answers CONFLICT instead of being
    /// overwritten.
    pub expected_version: Option<i32>,
    /// Required to change your own email. A new email of an active user applies once the link
    /// mailed to it is used (`confirmEmailChange`); until then it is the user's `pendingEmail`.
    #[graphql(secret)]
    pub current_password: Option<String>,
}

#[derive(InputObject)]
pub struct DisableTwoFactorInput {
    pub user_id: ID,
    /// Why (a support ticket or a sentence); kept in the audit trail and sent to the user.
    pub reason: String,
    /// Your own password, to confirm it is you (or `totpCode`).
    #[graphql(secret)]
    pub current_password: Option<String>,
    /// A code from your own authenticator app, instead of the password.
    #[graphql(secret)]
    pub totp_code: Option<String>,
}

/// A users cursor: the order's field and direction, the last row's id and its sort key, one
/// per line (the key last, so a name may hold anything). A cursor of another order is refused.
fn user_cursor(order: UserOrder) -> impl Fn(&crate::db::models::User) -> String {
    move |user| {
        let key = match UserKey::of(order.field, user) {
            UserKey::Name(name, _) => name,
            UserKey::Email(email, _) => email,
            UserKey::LastSignIn(at, _) => at.map(micros).unwrap_or_default(),
            UserKey::CreatedAt(at, _) => micros(at),
        };
        let direction = if order.descending { "DESC" } else { "ASC" };
        format!("{}\n{direction}\n{}\n{key}", order.field, user.id)
    }
}

fn micros(at: NaiveDateTime) -> String {
    at.and_utc().timestamp_micros().to_string()
}

fn parse_user_cursor(order: UserOrder, cursor: &str) -> Result<UserKey, AppError> {
    let invalid = || AppError::bad_input("after", "The cursor is not valid.");
    let mut parts = cursor.splitn(4, '\n');
    let (Some(field), Some(direction), Some(id), Some(key)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let field: UserSortField = field.parse().map_err(|_| invalid())?;
    let descending = match direction {
        "ASC" => false,
        "DESC" => true,
        _ => return Err(invalid()),
    };
    if (UserOrder { field, descending }) != order {
        return Err(AppError::bad_input(
            "after",
            "The cursor belongs to another sort order: start again from the first page.",
        ));
    }
    let id: UserId = id.parse().map_err(|_| invalid())?;
    let at = |text: &str| {
        text.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .map(|at| at.naive_utc())
            .ok_or_else(invalid)
    };
    Ok(match field {
        UserSortField::Name => UserKey::Name(key.to_owned(), id),
        UserSortField::Email => UserKey::Email(key.to_owned(), id),
        UserSortField::LastSignIn if key.is_empty() => UserKey::LastSignIn(None, id),
        UserSortField::LastSignIn => UserKey::LastSignIn(Some(at(key)?), id),
        UserSortField::CreatedAt => UserKey::CreatedAt(at(key)?, id),
    })
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The users the viewer may see, by name unless `sort` says otherwise.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        sort: Option<UserSort>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<User>> {
        let viewer = ctx.request().viewer().await?;
        let request = PageRequest::new(ctx, first, after)?;
        let order = sort.map_or_else(UserOrder::default, |sort| UserOrder {
            field: sort.field,
            descending: sort.direction == SortDirection::Desc,
        });
        let after = request
            .after
            .as_deref()
            .map(|cursor| parse_user_cursor(order, cursor))
            .transpose()?;
        let filter = filter.unwrap_or_default();
        let filter = service::UserFilter {
            role: filter.role,
            status: filter.status,
            company_id: filter
                .company_id
                .as_ref()
                .map(|id| parse_id::<CompanyId>("companyId", id))
                .transpose()?,
            team_id: filter
                .team_id
                .as_ref()
                .map(|id| parse_id::<TeamId>("teamId", id))
                .transpose()?,
            search: filter.search,
            never_signed_in: filter.never_signed_in,
            no_sign_in_since: filter.no_sign_in_since.map(|at| at.naive_utc()),
        };
        let (rows, total) = service::list(
            ctx.app(),
            viewer,
            filter,
            order,
            after,
            request.fetch_limit(),
            request.with_total,
        )
        .await?;
        let ids: Vec<UserId> = rows.iter().map(|u| u.id).collect();
        // Teams are read only when the page shows them (the field falls back to the loader).
        let look = ctx.look_ahead();
        let with_teams = look.field("edges").field("node").field("teams").exists()
            || look.field("nodes").field("teams").exists();
        let details = service::page_details(ctx.app(), viewer, &ids, with_teams).await?;
        ctx.request().remember_details(details);
        Ok(page(&request, rows, total, user_cursor(order), User))
    }

    /// A user the viewer may see; NOT_FOUND otherwise.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<User> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id::<UserId>("id", &id)?;
        Ok(User(service::get(ctx.app(), viewer, id).await?))
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates an invited user with role, company memberships and teams, and emails the
    /// invitation.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let memberships = input
            .memberships
            .iter()
            .map(|m| {
                Ok(NewMembership {
                    company_id: parse_id("memberships", &m.company_id)?,
                    role: m.role,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let team_ids = input
            .team_ids
            .iter()
            .map(|id| parse_id("teamIds", id))
            .collect::<Result<Vec<_>, AppError>>()?;
        let input = CreateUser {
            name: input.name,
            email: input.email,
            role: input.role,
            memberships,
            team_ids,
        };
        Ok(User(service::create(ctx.app(), auth, input).await?))
    }

    async fn update_user(&self, ctx: &Context<'_>, input: UpdateUserInput) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let input = UpdateUser {
            id: parse_id("id", &input.id)?,
            name: input.name,
            email: input.email,
            role: input.role,
            expected_version: input.expected_version,
            current_password: input.current_password,
        };
        Ok(User(service::update(ctx.app(), auth, input).await?))
    }

    /// Emails a new invitation link; the previous link stops working.
    async fn resend_invitation(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &user_id)?;
        Ok(User(service::resend_invitation(ctx.app(), auth, id).await?))
    }

    /// Emails the user a password reset link.
    async fn send_password_reset(&self, ctx: &Context<'_>, user_id: ID) -> Result<bool> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &user_id)?;
        Ok(service::send_password_reset(ctx.app(), auth, id).await?)
    }

    /// Turns off a locked-out user's 2FA (verify their identity out of band first). The admin
    /// confirms with their own password or TOTP code.
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        input: DisableTwoFactorInput,
    ) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &input.user_id)?;
        Ok(User(
            service::disable_two_factor(
                ctx.app(),
                auth,
                id,
                &input.reason,
                Proof {
                    password: input.current_password.as_deref(),
                    totp_code: input.totp_code.as_deref(),
                    password_field: "currentPassword",
                },
            )
            .await?,
        ))
    }

    /// Clears an account's sign-in back-off after failed attempts (admins only; audited).
    async fn clear_sign_in_throttle(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &user_id)?;
        Ok(User(
            crate::services::credentials::clear_sign_in_throttle(ctx.app(), auth, id).await?,
        ))
    }

    /// Deactivates a user: access ends at once, the record is kept.
    async fn discard_user(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &user_id)?;
        Ok(User(service::discard(ctx.app(), auth, id).await?))
    }

    /// Restores a deactivated user's access.
    async fn undiscard_user(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &user_id)?;
        Ok(User(service::undiscard(ctx.app(), auth, id).await?))
    }
}
