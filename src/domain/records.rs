//! Input rules for the records admins manage (organizations, companies, numbers, recordings,
//! playbooks). Each returns the normalised value or BAD_USER_INPUT naming the input field.

use crate::error::{AppError, AppResult};

/// Required text: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &'static str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` cannot be empty."),
        ));
    }
    capped_text(field, value, max)
}

/// Optional free text (notes, labels): trimmed, at most `max` characters; may be empty.
pub fn capped_text(field: &'static str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` is too long ({max} characters at most)."),
        ));
    }
    Ok(value.to_owned())
}

/// Text where blank means "none" (disposition, billing email before its own check).
pub fn blank_as_none(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

pub const NAME_MAX: usize = 200;
pub const LABEL_MAX: usize = 100;
pub const NOTES_MAX: usize = 10_000;
pub const PLAYBOOK_TITLE_MAX: usize = 200;
/// A playbook is a page of call guidance, not a document store.
pub const PLAYBOOK_BODY_MAX: usize = 100_000;
pub const STORAGE_KEY_MAX: usize = 1_024;
/// A support reason (a ticket or a sentence) for a sensitive admin action.
pub const REASON_MAX: usize = 500;

/// The reason an admin gives for a sensitive action (turning off 2FA, becoming a user): trimmed,
/// required, at most [`REASON_MAX`] characters.
pub fn support_reason(field: &'static str, reason: &str) -> AppResult<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::bad_input(
            field,
            "Give a reason (for example the support ticket).",
        ));
    }
    if reason.chars().count() > REASON_MAX {
        return Err(AppError::bad_input(
            field,
            format!("The reason is too long ({REASON_MAX} characters at most)."),
        ));
    }
    Ok(reason.to_owned())
}

/// Billing plans are named by sales and change without a release, so the plan is free text (the
/// schema types it `String`, not an enum): trimmed, non-empty, short, and stored upper-case so
/// `standard` and `STANDARD` are one plan in reports.
pub fn billing_plan(field: &'static str, plan: &str) -> AppResult<String> {
    let plan = required_text(field, plan, 64)?;
    if !plan
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ')
    {
        return Err(AppError::bad_input(
            field,
            "A billing plan uses letters, digits, spaces, `-` and `_` only.",
        ));
    }
    Ok(plan.to_ascii_uppercase())
}

pub fn billing_rate_cents(field: &'static str, cents: i32) -> AppResult<i64> {
    if cents < 0 {
        return Err(AppError::bad_input(
            field,
            "The billing rate cannot be negative.",
        ));
    }
    Ok(i64::from(cents))
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`), checked against the tz database compiled
/// into the binary (chrono-tz), so the answer does not depend on the host's zoneinfo.
pub fn timezone(field: &'static str, zone: &str) -> AppResult<String> {
    let zone = zone.trim();
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => Ok(tz.name().to_owned()),
        Err(_) => Err(AppError::bad_input(
            field,
            "Enter an IANA time zone such as Europe/Berlin or UTC.",
        )),
    }
}

/// A phone number in E.164: `+`, then 2 to 15 digits, the first not zero. Spaces, dashes, dots
/// and parentheses people type are removed first.
pub fn e164(field: &'static str, number: &str) -> AppResult<String> {
    let normalised: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let valid = normalised.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if valid {
        Ok(normalised)
    } else {
        Err(AppError::bad_input(
            field,
            "Enter the number in E.164 form: + and country code, e.g. +4930123456.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_normalises_and_rejects() {
        assert_eq!(
            e164("n", "+49 30-123 456").ok().as_deref(),
            Some("+4930123456")
        );
        assert_eq!(
            e164("n", "+1 (555) 010.9999").ok().as_deref(),
            Some("+15550109999")
        );
        for bad in [
            "4930123456",
            "+0301234",
            "+1",
            "+1234567890123456",
            "+49a30",
            "",
            "+",
        ] {
            assert!(e164("n", bad).is_err(), "{bad}");
        }
        assert!(e164("n", "+12").is_ok());
        assert!(e164("n", "+123456789012345").is_ok());
    }

    #[test]
    fn timezones_are_iana_names() {
        assert_eq!(
            timezone("t", " Europe/Berlin ").ok().as_deref(),
            Some("Europe/Berlin")
        );
        assert!(timezone("t", "UTC").is_ok());
        assert!(timezone("t", "Mars/Olympus").is_err());
        assert!(timezone("t", "").is_err());
    }

    #[test]
    fn plans_and_rates() {
        assert_eq!(
            billing_plan("p", " premium ").ok().as_deref(),
            Some("PREMIUM")
        );
        assert!(billing_plan("p", "  ").is_err());
        assert!(billing_plan("p", "<script>").is_err());
        assert!(billing_rate_cents("r", -1).is_err());
        assert_eq!(billing_rate_cents("r", 0).ok(), Some(0));
    }
}
