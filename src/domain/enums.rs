//! The closed sets of values the service stores as text and clients see as GraphQL enums.

use std::fmt;
use std::str::FromStr;

/// Declares an enum stored as its SCREAMING_CASE name, with `as_str`/`FromStr`/`Display`.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(UnknownValue(format!("{} `{}`", stringify!($name), other))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[derive(Debug, thiserror::Error)]
#[error("unknown {0}")]
pub struct UnknownValue(pub String);

text_enum! {
    /// A user's platform role. Order matters: ADMIN > SUPERVISOR > CUSTOMER.
    pub enum Role {
        Admin => "ADMIN",
        Supervisor => "SUPERVISOR",
        Customer => "CUSTOMER",
    }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Admin => 3,
            Role::Supervisor => 2,
            Role::Customer => 1,
        }
    }

    /// Whether this role is at or above `other`.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

text_enum! {
    /// Derived from the user record: discarded wins, then whether the invitation was accepted.
    pub enum UserStatus {
        Invited => "INVITED",
        Active => "ACTIVE",
        Discarded => "DISCARDED",
    }
}

text_enum! {
    /// The orders the users list offers (each served by an index, keyset-paged).
    pub enum UserSortField {
        /// By name, case-insensitively (the default).
        Name => "NAME",
        /// By email address, case-insensitively.
        Email => "EMAIL",
        /// By the last sign-in; a user who never signed in counts as the earliest.
        LastSignIn => "LAST_SIGN_IN",
        /// By when the user was created (invited).
        CreatedAt => "CREATED_AT",
    }
}

text_enum! {
    pub enum SortDirection {
        Asc => "ASC",
        Desc => "DESC",
    }
}

text_enum! {
    pub enum OrganizationStatus {
        Active => "ACTIVE",
        Archived => "ARCHIVED",
    }
}

text_enum! {
    pub enum CompanyStatus {
        Active => "ACTIVE",
        Suspended => "SUSPENDED",
        Archived => "ARCHIVED",
    }
}

text_enum! {
    /// The record types the audit trail covers.
    pub enum AuditRecordType {
        User => "USER",
        Organization => "ORGANIZATION",
        Company => "COMPANY",
        Team => "TEAM",
        CompanyMembership => "COMPANY_MEMBERSHIP",
        TeamMembership => "TEAM_MEMBERSHIP",
        InboundNumber => "INBOUND_NUMBER",
        CallRecording => "CALL_RECORDING",
        Playbook => "PLAYBOOK",
    }
}

text_enum! {
    /// Why an impersonation ended: the `cause` of its IMPERSONATION_STOPPED event.
    pub enum ImpersonationEndCause {
        /// The admin stopped it (`stopImpersonating`).
        Stopped => "STOPPED",
        /// Its hard limit passed (`IMPERSONATION_MINUTES`, or the admin session's end).
        Expired => "EXPIRED",
        /// Nobody used it (or the admin session behind it) for the idle limit.
        Idle => "IDLE",
        /// The admin signed out (from the impersonation or from their own session).
        SignedOut => "SIGNED_OUT",
        /// The admin became another user from the same session.
        Replaced => "REPLACED",
        /// The admin was deactivated.
        AdminDiscarded => "ADMIN_DISCARDED",
        /// The user was deactivated.
        UserDiscarded => "USER_DISCARDED",
        /// The user became an admin.
        UserPromoted => "USER_PROMOTED",
        /// The admin stopped being an admin.
        AdminDemoted => "ADMIN_DEMOTED",
        /// Its session, or the admin's, was ended: signed out by an admin, "sign out everywhere",
        /// or a credential change (password reset or change, two-factor disabled).
        SessionRevoked => "SESSION_REVOKED",
    }
}

text_enum! {
    /// What happened to the record. Data changes use CREATE/UPDATE/DELETE; the rest are
    /// security and lifecycle events, which carry their details in `reason` and `changes`.
    pub enum AuditAction {
        Create => "CREATE",
        Update => "UPDATE",
        Delete => "DELETE",
        Discard => "DISCARD",
        Undiscard => "UNDISCARD",
        InvitationSent => "INVITATION_SENT",
        InvitationAccepted => "INVITATION_ACCEPTED",
        SignIn => "SIGN_IN",
        SignInFailed => "SIGN_IN_FAILED",
        SignOut => "SIGN_OUT",
        PasswordChanged => "PASSWORD_CHANGED",
        PasswordResetRequested => "PASSWORD_RESET_REQUESTED",
        PasswordReset => "PASSWORD_RESET",
        TwoFactorEnabled => "TWO_FACTOR_ENABLED",
        TwoFactorDisabled => "TWO_FACTOR_DISABLED",
        RecoveryCodesRegenerated => "RECOVERY_CODES_REGENERATED",
        RecoveryCodeUsed => "RECOVERY_CODE_USED",
        ImpersonationStarted => "IMPERSONATION_STARTED",
        ImpersonationStopped => "IMPERSONATION_STOPPED",
        EmailChangeRequested => "EMAIL_CHANGE_REQUESTED",
        EmailChanged => "EMAIL_CHANGED",
        SessionSignedOut => "SESSION_SIGNED_OUT",
        SignedOutEverywhere => "SIGNED_OUT_EVERYWHERE",
        /// An admin cleared an account's sign-in back-off.
        SignInThrottleCleared => "SIGN_IN_THROTTLE_CLEARED",
    }
}
