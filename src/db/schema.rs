// One portable schema for both backends (see migrations/postgres and migrations/sqlite).
// Written by hand: the two dialects' DDL differ, the column types they map to do not.

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        email -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        totp_secret_encrypted -> Nullable<Text>,
        totp_pending_secret_encrypted -> Nullable<Text>,
        two_factor_enabled_at -> Nullable<Timestamp>,
        totp_last_used_step -> Nullable<BigInt>,
        failed_sign_in_count -> Integer,
        last_failed_sign_in_at -> Nullable<Timestamp>,
        last_sign_in_at -> Nullable<Timestamp>,
        invitation_sent_at -> Nullable<Timestamp>,
        activated_at -> Nullable<Timestamp>,
        discarded_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        credentials_version -> Integer,
    }
}

diesel::table! {
    organizations (id) {
        id -> BigInt,
        name -> Text,
        billing_email -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    companies (id) {
        id -> BigInt,
        organization_id -> BigInt,
        name -> Text,
        billing_email -> Nullable<Text>,
        billing_rate_cents -> BigInt,
        billing_plan -> Text,
        timezone -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    teams (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    company_memberships (id) {
        id -> BigInt,
        user_id -> BigInt,
        company_id -> BigInt,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    team_memberships (id) {
        id -> BigInt,
        user_id -> BigInt,
        team_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    inbound_numbers (id) {
        id -> BigInt,
        company_id -> BigInt,
        number -> Text,
        label -> Text,
        active -> Bool,
        deactivated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    call_recordings (id) {
        id -> BigInt,
        company_id -> BigInt,
        inbound_number_id -> Nullable<BigInt>,
        caller_number -> Text,
        started_at -> Timestamp,
        duration_seconds -> Integer,
        storage_key -> Text,
        notes -> Text,
        disposition -> Nullable<Text>,
        flagged -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    playbooks (id) {
        id -> BigInt,
        company_id -> BigInt,
        current_version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    playbook_versions (id) {
        id -> BigInt,
        playbook_id -> BigInt,
        version -> Integer,
        title -> Text,
        body -> Text,
        author_id -> Nullable<BigInt>,
        impersonator_id -> Nullable<BigInt>,
        restored_from_version -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        impersonator_id -> Nullable<BigInt>,
        parent_session_id -> Nullable<BigInt>,
        impersonation_reason -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        impersonation_ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invitations (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        invited_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_reset_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_change_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        new_email -> Text,
        requested_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sign_in_throttles (key) {
        key -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        updated_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_reset_requests (id) {
        id -> BigInt,
        email -> Text,
        request_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        created_at -> Timestamp,
        processed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        template -> Text,
        to_address -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        action -> Text,
        record_type -> Text,
        record_id -> BigInt,
        actor_id -> Nullable<BigInt>,
        impersonator_id -> Nullable<BigInt>,
        request_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        reason -> Nullable<Text>,
        txid -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_changes (id) {
        id -> BigInt,
        event_id -> BigInt,
        record_type -> Text,
        field -> Text,
        before_value -> Nullable<Text>,
        after_value -> Nullable<Text>,
        redacted -> Bool,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    audit_event_refs (record_type, record_id, event_id) {
        event_id -> BigInt,
        record_type -> Text,
        record_id -> BigInt,
    }
}

diesel::table! {
    audit_seals (id) {
        id -> BigInt,
        first_event_id -> BigInt,
        last_event_id -> BigInt,
        event_count -> BigInt,
        previous_hash -> Text,
        hash -> Text,
        sealed_at -> Timestamp,
    }
}

diesel::table! {
    audit_event_digests (event_id) {
        event_id -> BigInt,
        seal_id -> BigInt,
        digest -> Text,
    }
}

diesel::joinable!(companies -> organizations (organization_id));

diesel::joinable!(teams -> companies (company_id));

diesel::joinable!(company_memberships -> users (user_id));

diesel::joinable!(company_memberships -> companies (company_id));

diesel::joinable!(team_memberships -> users (user_id));

diesel::joinable!(team_memberships -> teams (team_id));

diesel::joinable!(inbound_numbers -> companies (company_id));

diesel::joinable!(call_recordings -> companies (company_id));

diesel::joinable!(call_recordings -> inbound_numbers (inbound_number_id));

diesel::joinable!(playbooks -> companies (company_id));

diesel::joinable!(playbook_versions -> playbooks (playbook_id));

diesel::joinable!(password_reset_tokens -> users (user_id));

diesel::joinable!(email_change_tokens -> users (user_id));

diesel::joinable!(recovery_codes -> users (user_id));

diesel::joinable!(audit_changes -> audit_events (event_id));

diesel::joinable!(audit_event_refs -> audit_events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    organizations,
    companies,
    teams,
    company_memberships,
    team_memberships,
    inbound_numbers,
    call_recordings,
    playbooks,
    playbook_versions,
    sessions,
    invitations,
    password_reset_tokens,
    email_change_tokens,
    recovery_codes,
    sign_in_throttles,
    password_reset_requests,
    mail_outbox,
    audit_events,
    audit_changes,
    audit_event_refs,
    audit_seals,
    audit_event_digests,
);
