//! Fixtures by builder: `UserBuilder::admin().email("x@y.z").create(&app)`.

use portal_admin::db::models::User;
use portal_admin::domain::Role;
use portal_admin::services::accounts;

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct UserBuilder {
    role: Role,
    name: String,
    email: Option<String>,
    password: String,
}

impl UserBuilder {
    pub fn admin() -> Self {
        Self {
            role: Role::Admin,
            name: "Ada Admin".into(),
            email: None,
            password: PASSWORD.into(),
        }
    }

    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.into());
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub async fn create(self, app: &TestApp) -> User {
        let email = self
            .email
            .unwrap_or_else(|| format!("{}@example.com", uuid::Uuid::new_v4().simple()));
        match self.role {
            Role::Admin => accounts::create_admin(&app.app, &email, &self.name, &self.password)
                .await
                .expect("admin created"),
            other => unimplemented!("builder for role {other} comes with user administration"),
        }
    }

    /// Creates the user and signs in; returns the user and a session token.
    pub async fn signed_in(self, app: &TestApp) -> (User, String) {
        let password = self.password.clone();
        let user = self.create(app).await;
        let token = app.sign_in(&user.email, &password).await;
        (user, token)
    }
}
