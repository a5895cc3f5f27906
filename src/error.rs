//! The one error policy of the service.
//!
//! - Every failure a client can see is an [`AppError`]. Its [`code`](AppError::code) is one of the
//!   contract's `extensions.code` values; clients branch on the code, people read the message.
//! - Messages are written for people and never carry SQL, driver text, stack traces or secrets.
//!   Whatever a person cannot act on becomes `Internal`: the cause is logged (with the request id,
//!   which the client also gets in the `x-request-id` header) and the client sees a generic sentence.
//! - The database being unreachable (pool wait or connect timed out, connection refused or lost,
//!   statement timeout) is `Unavailable`, returned fast so a client can retry; it never hangs.
//! - A failed mutation changes nothing: every write runs in one transaction that the error rolls back.
//! - Code that a request or the database can reach returns these errors; it never `unwrap`s them.

use std::borrow::Cow;

/// `extensions.code` values, fixed by the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    ForbiddenWhileImpersonating,
    NotFound,
    BadUserInput,
    Conflict,
    InvalidCredentials,
    TwoFactorRequired,
    InvalidToken,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::ForbiddenWhileImpersonating => "FORBIDDEN_WHILE_IMPERSONATING",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            ErrorCode::InvalidToken => "INVALID_TOKEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

type Message = Cow<'static, str>;

/// Deliberately not `Display`/`std::error::Error`: it converts into a GraphQL error only through
/// the `From` impl below, which attaches the code (async-graphql would otherwise take any
/// `Display` type and drop it).
#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    Forbidden(Message),
    ForbiddenWhileImpersonating,
    NotFound(Message),
    BadUserInput {
        message: Message,
        /// The input field at fault, when there is one (GraphQL input field name).
        field: Option<&'static str>,
    },
    Conflict(Message),
    InvalidCredentials,
    TwoFactorRequired,
    InvalidToken,
    RateLimited {
        retry_after_seconds: i64,
    },
    Unavailable,
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated => ErrorCode::Unauthenticated,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::ForbiddenWhileImpersonating => ErrorCode::ForbiddenWhileImpersonating,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::BadUserInput { .. } => ErrorCode::BadUserInput,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AppError::TwoFactorRequired => ErrorCode::TwoFactorRequired,
            AppError::InvalidToken => ErrorCode::InvalidToken,
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::Unavailable => ErrorCode::Unavailable,
            AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The sentence a person sees.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            AppError::Unauthenticated => "You need to sign in.".into(),
            AppError::Forbidden(message) | AppError::Conflict(message) => message.clone(),
            AppError::ForbiddenWhileImpersonating => {
                "This is not allowed while impersonating a user.".into()
            }
            AppError::NotFound(what) => format!("{what} not found.").into(),
            AppError::BadUserInput { message, .. } => message.clone(),
            AppError::InvalidCredentials => "The email or password is not correct.".into(),
            AppError::TwoFactorRequired => {
                "A two-factor code or a recovery code is required.".into()
            }
            AppError::InvalidToken => "This link is invalid or has expired.".into(),
            AppError::RateLimited {
                retry_after_seconds,
            } => format!("Too many attempts. Try again in {retry_after_seconds} seconds.").into(),
            AppError::Unavailable => {
                "The service is temporarily unavailable. Please try again.".into()
            }
            AppError::Internal(_) => "Something went wrong on our side.".into(),
        }
    }

    pub fn forbidden(message: impl Into<Message>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn not_found(what: impl Into<Message>) -> Self {
        AppError::NotFound(what.into())
    }

    pub fn conflict(message: impl Into<Message>) -> Self {
        AppError::Conflict(message.into())
    }

    pub fn bad_input(field: &'static str, message: impl Into<Message>) -> Self {
        AppError::BadUserInput {
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(cause.into())
    }
}

impl From<AppError> for anyhow::Error {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Internal(cause) => cause,
            other => anyhow::anyhow!("{} ({})", other.message(), other.code().as_str()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(cause: anyhow::Error) -> Self {
        AppError::Internal(cause)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(cause: tokio::task::JoinError) -> Self {
        AppError::Internal(cause.into())
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        use async_graphql::ErrorExtensions;
        if let AppError::Internal(cause) = &err {
            // The only place an internal cause is written down; the client gets the generic text.
            tracing::error!(error = ?cause, "internal error");
        }
        let code = err.code();
        let field = match &err {
            AppError::BadUserInput { field, .. } => *field,
            _ => None,
        };
        let retry_after = match &err {
            AppError::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        };
        async_graphql::Error::new(err.message()).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(field) = field {
                ext.set("field", field);
            }
            if let Some(seconds) = retry_after {
                ext.set("retryAfterSeconds", seconds);
            }
        })
    }
}
