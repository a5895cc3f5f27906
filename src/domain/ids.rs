//! Newtype ids: a `UserId` cannot be passed where a `CompanyId` is meant.
//! Their database mapping lives in `db::types`; GraphQL exposes them as `ID` strings.

use std::fmt;
use std::str::FromStr;

macro_rules! id_types {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map($name)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    )*};
}

/// Applies `$mac!(Type)` to every id type, so per-type glue (database and GraphQL mappings) is
/// written once.
#[macro_export]
macro_rules! for_each_id_type {
    ($mac:ident) => {
        $mac!(
            UserId,
            OrganizationId,
            CompanyId,
            TeamId,
            CompanyMembershipId,
            TeamMembershipId,
            InboundNumberId,
            CallRecordingId,
            PlaybookId,
            PlaybookVersionId,
            SessionId,
            InvitationId,
            PasswordResetTokenId,
            RecoveryCodeId,
            OutboxMailId,
            AuditEventId
        );
    };
}

for_each_id_type!(id_types);
