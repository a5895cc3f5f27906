//! Fixtures by builder: `UserBuilder::admin().email("x@y.z").create(&app)`.

use chrono::Duration;
use portal_admin::db::models::memberships::{self, CompanyMembership};
use portal_admin::db::models::{
    Company, NewCompany, NewOrganization, NewSession, NewTeam, NewUser, Organization, Team, User,
    companies, organizations, sessions, teams, users,
};
use portal_admin::domain::audit::AuditActor;
use portal_admin::domain::secrets::{hash_token, issue_token};
use portal_admin::domain::{CompanyId, CompanyStatus, OrganizationStatus, Role, UserId};
use portal_admin::services::accounts;
use scoped_futures::ScopedFutureExt;

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct UserBuilder {
    role: Role,
    name: String,
    email: Option<String>,
    password: String,
    member_of: Vec<CompanyId>,
}

impl UserBuilder {
    fn with_role(role: Role, name: &str) -> Self {
        Self {
            role,
            name: name.into(),
            email: None,
            password: PASSWORD.into(),
            member_of: Vec::new(),
        }
    }

    pub fn admin() -> Self {
        Self::with_role(Role::Admin, "Ada Admin")
    }

    pub fn supervisor() -> Self {
        Self::with_role(Role::Supervisor, "Sam Supervisor")
    }

    pub fn customer() -> Self {
        Self::with_role(Role::Customer, "Cleo Customer")
    }

    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.into());
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Makes the user a member of the company, with their platform role as the membership role
    /// (SUPERVISOR for admins).
    pub fn member_of(mut self, company_id: CompanyId) -> Self {
        self.member_of.push(company_id);
        self
    }

    pub async fn create(self, app: &TestApp) -> User {
        let email = self
            .email
            .unwrap_or_else(|| format!("{}@example.com", uuid::Uuid::new_v4().simple()));
        let user = match self.role {
            Role::Admin => accounts::create_admin(&app.app, &email, &self.name, &self.password)
                .await
                .expect("admin created"),
            // createUser is the invitation flow; a fixture needs an active user with a password.
            role => {
                let password_hash = app
                    .app
                    .passwords
                    .hash(&self.password)
                    .await
                    .expect("password hashed");
                let now = app.clock().now();
                let new_user = NewUser {
                    name: self.name,
                    email,
                    role,
                    password_hash: Some(password_hash),
                    invitation_sent_at: None,
                    activated_at: Some(now),
                    created_at: now,
                    updated_at: now,
                };
                app.app
                    .db
                    .write(AuditActor::system(), |tx| {
                        async move { users::create(tx, new_user).await }.scope_boxed()
                    })
                    .await
                    .expect("user created")
            }
        };
        let role = if user.role == Role::Customer {
            Role::Customer
        } else {
            Role::Supervisor
        };
        for company_id in self.member_of {
            add_member(app, user.id, company_id, role).await;
        }
        user
    }

    /// Creates the user and signs in; returns the user and a session token.
    pub async fn signed_in(self, app: &TestApp) -> (User, String) {
        let password = self.password.clone();
        let user = self.create(app).await;
        let token = app.sign_in(&user.email, &password).await;
        (user, token)
    }
}

pub async fn organization(app: &TestApp, name: &str) -> Organization {
    let now = app.clock().now();
    let new_row = NewOrganization {
        name: name.into(),
        billing_email: None,
        status: OrganizationStatus::Active,
        created_at: now,
        updated_at: now,
    };
    app.app
        .db
        .write(AuditActor::system(), |tx| {
            async move { organizations::create(tx, new_row).await }.scope_boxed()
        })
        .await
        .expect("organization created")
}

/// A company (in a new organization of the same name).
pub async fn company(app: &TestApp, name: &str) -> Company {
    let organization = organization(app, name).await;
    company_in(app, &organization, name).await
}

pub async fn company_in(app: &TestApp, organization: &Organization, name: &str) -> Company {
    let now = app.clock().now();
    let new_row = NewCompany {
        organization_id: organization.id,
        name: name.into(),
        billing_email: None,
        billing_rate_cents: 0,
        billing_plan: "STANDARD".into(),
        timezone: "UTC".into(),
        status: CompanyStatus::Active,
        created_at: now,
        updated_at: now,
    };
    app.app
        .db
        .write(AuditActor::system(), |tx| {
            async move { companies::create(tx, new_row).await }.scope_boxed()
        })
        .await
        .expect("company created")
}

pub async fn team(app: &TestApp, company_id: CompanyId, name: &str) -> Team {
    let now = app.clock().now();
    let new_row = NewTeam {
        company_id,
        name: name.into(),
        created_at: now,
        updated_at: now,
    };
    app.app
        .db
        .write(AuditActor::system(), |tx| {
            async move { teams::create(tx, new_row).await }.scope_boxed()
        })
        .await
        .expect("team created")
}

pub async fn add_member(
    app: &TestApp,
    user_id: UserId,
    company_id: CompanyId,
    role: Role,
) -> CompanyMembership {
    app.app
        .db
        .write(AuditActor::system(), |tx| {
            async move { memberships::add_company_member(tx, user_id, company_id, role).await }
                .scope_boxed()
        })
        .await
        .expect("membership added")
}

pub async fn add_team_member(
    app: &TestApp,
    user_id: UserId,
    team_id: portal_admin::domain::TeamId,
) {
    app.app
        .db
        .write(AuditActor::system(), |tx| {
            async move { memberships::add_team_member(tx, user_id, team_id).await }.scope_boxed()
        })
        .await
        .expect("team membership added");
}

/// A token that acts as `user` on behalf of the admin signed in with `admin_token` (what
/// becomeUser will hand out), made directly in the database.
pub async fn impersonation_token(app: &TestApp, admin_token: &str, user: &User) -> String {
    let mut conn = app.app.db.conn().await.expect("conn");
    let admin_session = sessions::find_by_token_hash(&mut conn, &hash_token(admin_token))
        .await
        .expect("query")
        .expect("admin session");
    let token = issue_token();
    let now = app.clock().now();
    sessions::insert(
        &mut conn,
        &NewSession {
            token_hash: token.hash.clone(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::minutes(60),
            impersonator_id: Some(admin_session.user_id),
            parent_session_id: Some(admin_session.id),
            impersonation_reason: Some("support ticket".into()),
            client_ip: None,
            user_agent: None,
        },
    )
    .await
    .expect("impersonation session");
    token.plaintext.into_inner()
}

/// The usual cast: an admin, companies A and B, a supervisor and a customer of A and a
/// supervisor of B, all signed in.
pub struct Cast {
    pub admin: User,
    pub admin_token: String,
    pub company_a: Company,
    pub company_b: Company,
    pub supervisor_a: User,
    pub supervisor_a_token: String,
    pub customer_a: User,
    pub customer_a_token: String,
    pub supervisor_b: User,
    pub supervisor_b_token: String,
}

impl Cast {
    pub async fn new(app: &TestApp) -> Cast {
        let (admin, admin_token) = UserBuilder::admin().signed_in(app).await;
        let company_a = company(app, "Acme Calls").await;
        let company_b = company(app, "Bravo Phones").await;
        let (supervisor_a, supervisor_a_token) = UserBuilder::supervisor()
            .name("Sam A")
            .member_of(company_a.id)
            .signed_in(app)
            .await;
        let (customer_a, customer_a_token) = UserBuilder::customer()
            .name("Cleo A")
            .member_of(company_a.id)
            .signed_in(app)
            .await;
        let (supervisor_b, supervisor_b_token) = UserBuilder::supervisor()
            .name("Sid B")
            .member_of(company_b.id)
            .signed_in(app)
            .await;
        Cast {
            admin,
            admin_token,
            company_a,
            company_b,
            supervisor_a,
            supervisor_a_token,
            customer_a,
            customer_a_token,
            supervisor_b,
            supervisor_b_token,
        }
    }
}
