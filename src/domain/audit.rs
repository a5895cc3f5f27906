//! What an audit event says, independent of how it is stored.
//!
//! A record type lists its audited fields once ([`Audited::audit_fields`], under the GraphQL field
//! names clients see); [`diff`] and [`snapshot`] turn two states into [`FieldChange`]s. The database
//! layer writes them in the same transaction as the change (see `db::write`), so a change and its
//! audit rows commit together or not at all.

use super::enums::{AuditAction, AuditRecordType};
use super::ids::UserId;

/// Who is acting, and on which request. Built once per request from the session.
#[derive(Debug, Clone, Default)]
pub struct AuditActor {
    /// The user whose action it is (the impersonated user while impersonating); `None` for
    /// anonymous requests (a failed sign-in) and the system.
    pub actor_id: Option<UserId>,
    /// The admin behind an impersonated action.
    pub impersonator_id: Option<UserId>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
}

impl AuditActor {
    pub fn system() -> Self {
        Self::default()
    }
}

/// A value as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditValue {
    Null,
    Text(String),
    /// A secret (password hash, TOTP secret, token). The trail records that it changed, never the
    /// value; the fingerprint only decides whether it changed and is not stored.
    Secret {
        fingerprint: Option<String>,
    },
}

impl AuditValue {
    pub fn text(value: impl ToString) -> Self {
        AuditValue::Text(value.to_string())
    }

    pub fn opt<T: ToString>(value: Option<T>) -> Self {
        value.map_or(AuditValue::Null, |v| AuditValue::Text(v.to_string()))
    }

    /// A timestamp, written as the API writes `DateTime`s (RFC 3339, UTC).
    pub fn time(at: chrono::NaiveDateTime) -> Self {
        AuditValue::Text(at.and_utc().to_rfc3339())
    }

    pub fn opt_time(at: Option<chrono::NaiveDateTime>) -> Self {
        at.map_or(AuditValue::Null, Self::time)
    }

    pub fn secret(value: Option<&str>) -> Self {
        AuditValue::Secret {
            fingerprint: value.map(str::to_owned),
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, AuditValue::Secret { .. })
    }

    /// The stored form: `None` for NULL and for secrets.
    pub fn stored(&self) -> Option<String> {
        match self {
            AuditValue::Text(text) => Some(text.clone()),
            AuditValue::Null | AuditValue::Secret { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: AuditValue,
    pub after: AuditValue,
}

impl FieldChange {
    pub fn new(field: &'static str, before: AuditValue, after: AuditValue) -> Self {
        Self {
            field,
            before,
            after,
        }
    }
}

/// A record an event is about, or shows up in the History of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordRef {
    pub record_type: AuditRecordType,
    pub record_id: i64,
}

impl RecordRef {
    pub fn new(record_type: AuditRecordType, record_id: impl Into<i64>) -> Self {
        Self {
            record_type,
            record_id: record_id.into(),
        }
    }
}

/// One audit event to write.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: AuditAction,
    pub record: RecordRef,
    pub changes: Vec<FieldChange>,
    pub reason: Option<String>,
    /// Other records whose History shows this event (a membership change shows on the company
    /// and on the user).
    pub also_on: Vec<RecordRef>,
}

impl AuditEntry {
    pub fn new(action: AuditAction, record: RecordRef) -> Self {
        Self {
            action,
            record,
            changes: Vec::new(),
            reason: None,
            also_on: Vec::new(),
        }
    }

    pub fn with_changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.changes = changes;
        self
    }

    pub fn with_reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    pub fn also_on(mut self, records: impl IntoIterator<Item = RecordRef>) -> Self {
        self.also_on.extend(records);
        self
    }
}

/// Every field the trail records per record type, by the GraphQL field name clients see
/// (secrets by the input name: `password`, `twoFactorSecret`). A filter `billing*` expands
/// against this list, so each name an index lookup; a field written that is not listed here
/// fails a debug assertion in the write path (tests catch a forgotten entry). A renamed field
/// keeps its old name here as long as old rows carry it.
pub const AUDITED_FIELDS: &[(AuditRecordType, &[&str])] = &[
    (
        AuditRecordType::User,
        &[
            "name",
            "email",
            // An email change waiting for its confirmation (EMAIL_CHANGE_REQUESTED).
            "pendingEmail",
            "role",
            "status",
            "discardedAt",
            "twoFactorEnabled",
            "password",
            "twoFactorSecret",
            // The end of an impersonation of the user (IMPERSONATION_STOPPED): why, and when it
            // ended (earlier than the event when the sweep records an expiry).
            "cause",
            "endedAt",
        ],
    ),
    (
        AuditRecordType::Organization,
        &["name", "billingEmail", "status"],
    ),
    (
        AuditRecordType::Company,
        &[
            "name",
            "organization",
            "billingEmail",
            "billingRateCents",
            "billingPlan",
            "timezone",
            "status",
        ],
    ),
    (AuditRecordType::Team, &["name", "company"]),
    (
        AuditRecordType::CompanyMembership,
        &["user", "company", "role"],
    ),
    (AuditRecordType::TeamMembership, &["user", "team"]),
    (
        AuditRecordType::InboundNumber,
        &["number", "label", "active", "deactivatedAt", "company"],
    ),
    (
        AuditRecordType::CallRecording,
        &[
            "company",
            "inboundNumber",
            "callerNumber",
            "startedAt",
            "durationSeconds",
            "storageKey",
            "notes",
            "disposition",
            "flagged",
        ],
    ),
    (AuditRecordType::Playbook, &["currentVersion"]),
];

/// The audited fields of `record_type`.
pub fn fields_of(record_type: AuditRecordType) -> &'static [&'static str] {
    AUDITED_FIELDS
        .iter()
        .find(|(t, _)| *t == record_type)
        .map_or(&[], |(_, fields)| fields)
}

/// A field filter: `billingRateCents` exactly, or `billing*` for every field starting so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPattern {
    Exact(String),
    Prefix(String),
}

impl FieldPattern {
    pub fn parse(pattern: &str) -> Self {
        let pattern = pattern.trim();
        match pattern.strip_suffix('*') {
            Some(prefix) => FieldPattern::Prefix(prefix.to_owned()),
            None => FieldPattern::Exact(pattern.to_owned()),
        }
    }

    pub fn matches(&self, field: &str) -> bool {
        match self {
            FieldPattern::Exact(name) => field == name,
            FieldPattern::Prefix(prefix) => field.starts_with(prefix.as_str()),
        }
    }

    /// The `(record type, field)` pairs the pattern names, among `record_types` (all when
    /// empty): each is one lookup in the `(record_type, field, occurred_at)` index.
    pub fn expand(
        &self,
        record_type: Option<AuditRecordType>,
    ) -> Vec<(AuditRecordType, &'static str)> {
        AUDITED_FIELDS
            .iter()
            .filter(|(t, _)| record_type.is_none_or(|wanted| wanted == *t))
            .flat_map(|(t, fields)| fields.iter().map(move |f| (*t, *f)))
            .filter(|(_, field)| self.matches(field))
            .collect()
    }
}

/// A record type whose changes are audited.
pub trait Audited {
    const RECORD_TYPE: AuditRecordType;

    fn record_id(&self) -> i64;

    /// Every audited field, by GraphQL field name, with its current value.
    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)>;

    /// Other records whose History shows this record's events.
    fn related_records(&self) -> Vec<RecordRef> {
        Vec::new()
    }

    fn record_ref(&self) -> RecordRef {
        RecordRef::new(Self::RECORD_TYPE, self.record_id())
    }
}

/// The fields that differ between two states of a record; empty when nothing changed.
pub fn diff<T: Audited>(before: &T, after: &T) -> Vec<FieldChange> {
    before
        .audit_fields()
        .into_iter()
        .zip(after.audit_fields())
        .filter(|((_, old), (_, new))| old != new)
        .map(|((field, old), (_, new))| FieldChange::new(field, old, new))
        .collect()
}

/// A new record's fields, each from NULL to its value (NULL fields are left out).
pub fn snapshot<T: Audited>(record: &T) -> Vec<FieldChange> {
    record
        .audit_fields()
        .into_iter()
        .filter(|(_, value)| {
            !matches!(
                value,
                AuditValue::Null | AuditValue::Secret { fingerprint: None }
            )
        })
        .map(|(field, value)| {
            let before = if value.is_secret() {
                AuditValue::secret(None)
            } else {
                AuditValue::Null
            };
            FieldChange::new(field, before, value)
        })
        .collect()
}

/// The update event for a record, or `None` when the update changed nothing (no-op updates write
/// nothing).
pub fn update_entry<T: Audited>(before: &T, after: &T) -> Option<AuditEntry> {
    let changes = diff(before, after);
    if changes.is_empty() {
        return None;
    }
    Some(
        AuditEntry::new(AuditAction::Update, after.record_ref())
            .with_changes(changes)
            .also_on(after.related_records()),
    )
}

pub fn create_entry<T: Audited>(record: &T) -> AuditEntry {
    AuditEntry::new(AuditAction::Create, record.record_ref())
        .with_changes(snapshot(record))
        .also_on(record.related_records())
}

pub fn delete_entry<T: Audited>(record: &T) -> AuditEntry {
    let changes = record
        .audit_fields()
        .into_iter()
        .filter(|(_, value)| !matches!(value, AuditValue::Null))
        .map(|(field, value)| {
            let after = if value.is_secret() {
                AuditValue::secret(None)
            } else {
                AuditValue::Null
            };
            FieldChange::new(field, value, after)
        })
        .collect();
    AuditEntry::new(AuditAction::Delete, record.record_ref())
        .with_changes(changes)
        .also_on(record.related_records())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rate {
        id: i64,
        cents: i64,
        secret: Option<String>,
    }

    impl Audited for Rate {
        const RECORD_TYPE: AuditRecordType = AuditRecordType::Company;
        fn record_id(&self) -> i64 {
            self.id
        }
        fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
            vec![
                ("billingRateCents", AuditValue::text(self.cents)),
                ("secret", AuditValue::secret(self.secret.as_deref())),
            ]
        }
    }

    #[test]
    fn no_op_update_has_no_entry() {
        let a = Rate {
            id: 1,
            cents: 100,
            secret: None,
        };
        let b = Rate {
            id: 1,
            cents: 100,
            secret: None,
        };
        assert!(update_entry(&a, &b).is_none());
    }

    #[test]
    fn changed_fields_only_and_secrets_without_values() {
        let a = Rate {
            id: 1,
            cents: 100,
            secret: Some("h1".into()),
        };
        let b = Rate {
            id: 1,
            cents: 250,
            secret: Some("h2".into()),
        };
        let entry = update_entry(&a, &b).expect("rate changed");
        assert_eq!(entry.changes.len(), 2);
        assert_eq!(entry.changes[0].before.stored().as_deref(), Some("100"));
        assert_eq!(entry.changes[0].after.stored().as_deref(), Some("250"));
        assert_eq!(entry.changes[1].field, "secret");
        assert_eq!(entry.changes[1].before.stored(), None);
        assert_eq!(entry.changes[1].after.stored(), None);
        assert!(entry.changes[1].after.is_secret());
    }
}
