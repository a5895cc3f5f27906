//! Configuration as an operator meets it: one typed configuration whose every variable has a
//! flag and a README row, secrets that are never printed, and a production mode that refuses
//! to start rather than run quietly wrong (each refusal tried on the real binary).

use std::process::{Command, Output, Stdio};

use clap::CommandFactory;
use portal_admin::config::{Config, ConfigError, DatabaseUrl, SensitiveString};

const KEY: &str = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";

/// The binary with nothing from the test's environment but `PATH`, in a directory of its own.
fn portal_admin(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal-admin"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn run(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    portal_admin(dir, env, args)
        .output()
        .expect("portal-admin runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A production configuration that passes every check, on a SQLite file in `dir`.
fn production(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("PORTAL_ENV", "production".into()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("prod.db").display()),
        ),
        ("ALLOW_SQLITE_IN_PRODUCTION", "true".into()),
        ("SMTP_URL", "smtp://127.0.0.1:1".into()),
        ("PUBLIC_URL", "https://admin.example.com".into()),
        ("TOTP_ENCRYPTION_KEY", KEY.into()),
        ("LISTEN_ADDR", "127.0.0.1:0".into()),
        ("RUST_LOG", "info".into()),
    ]
}

fn without<'a>(
    env: &'a [(&'static str, String)],
    drop: &str,
    add: &[(&'static str, &'a str)],
) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .filter(|(name, _)| *name != drop)
        .map(|(name, value)| (*name, value.as_str()))
        .chain(add.iter().copied())
        .collect()
}

/// A refused start: exit status 78 (EX_CONFIG), the reason named, and nothing written (no
/// database file, no generated key).
fn assert_refused(dir: &std::path::Path, output: &Output, reason: &str) {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(i32::from(ConfigError::EXIT_CODE)),
        "exit status of a refusal; stderr:\n{err}"
    );
    assert!(
        err.contains("the configuration is refused in production"),
        "{err}"
    );
    assert!(err.contains(reason), "expected `{reason}` in:\n{err}");
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    assert!(left.is_empty(), "a refusal writes nothing, found {left:?}");
}

#[test]
fn production_without_smtp_url_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let output = run(dir.path(), &without(&env, "SMTP_URL", &[]), &["serve"]);
    assert_refused(dir.path(), &output, "SMTP_URL is required in production");
}

#[test]
fn production_without_public_url_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let output = run(dir.path(), &without(&env, "PUBLIC_URL", &[]), &["serve"]);
    assert_refused(dir.path(), &output, "PUBLIC_URL is required in production");
}

#[test]
fn production_with_an_http_public_url_refuses_unless_allowed() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let http = [("PUBLIC_URL", "http://admin.example.com")];
    let output = run(dir.path(), &without(&env, "PUBLIC_URL", &http), &["serve"]);
    assert_refused(dir.path(), &output, "is not https");
    // A bare host is not a URL either.
    let bare = [("PUBLIC_URL", "admin.example.com")];
    let output = run(dir.path(), &without(&env, "PUBLIC_URL", &bare), &["serve"]);
    assert_refused(dir.path(), &output, "is not a URL");
    // The flag form of the exception works as the variable does.
    let started = start(
        dir.path(),
        &without(&env, "PUBLIC_URL", &http),
        &["--allow-http-public-url", "serve"],
    );
    assert!(started.contains("portal-admin listening"), "{started}");
}

#[test]
fn production_on_sqlite_refuses_unless_allowed() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let output = run(
        dir.path(),
        &without(&env, "ALLOW_SQLITE_IN_PRODUCTION", &[]),
        &["serve"],
    );
    assert_refused(dir.path(), &output, "DATABASE_URL is SQLite");
    // `false` is false.
    let output = run(
        dir.path(),
        &without(
            &env,
            "ALLOW_SQLITE_IN_PRODUCTION",
            &[("ALLOW_SQLITE_IN_PRODUCTION", "false")],
        ),
        &["serve"],
    );
    assert_refused(dir.path(), &output, "DATABASE_URL is SQLite");
}

#[test]
fn production_without_a_totp_key_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let output = run(
        dir.path(),
        &without(&env, "TOTP_ENCRYPTION_KEY", &[]),
        &["serve"],
    );
    assert_refused(dir.path(), &output, "TOTP_ENCRYPTION_KEY is required");
}

/// A placeholder left in the env file (packaging/portal-admin.env.example ships `CHANGE-ME`) is
/// refused like a missing key: exit 78, which the systemd unit does not restart.
#[test]
fn production_with_a_malformed_totp_key_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    for (value, reason) in [
        ("CHANGE-ME", "TOTP_ENCRYPTION_KEY is not valid base64"),
        ("c2hvcnQ=", "TOTP_ENCRYPTION_KEY must be 32 bytes"),
    ] {
        let output = run(
            dir.path(),
            &without(
                &env,
                "TOTP_ENCRYPTION_KEY",
                &[("TOTP_ENCRYPTION_KEY", value)],
            ),
            &["serve"],
        );
        assert_refused(dir.path(), &output, reason);
        assert!(!stderr(&output).contains(value), "the key is not echoed");
    }
}

/// Every problem is named in one go, not one per restart.
#[test]
fn a_bare_production_start_names_every_problem_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run(dir.path(), &[("PORTAL_ENV", "production")], &[]);
    for reason in [
        "SMTP_URL is required",
        "PUBLIC_URL is required",
        "DATABASE_URL is SQLite",
        "TOTP_ENCRYPTION_KEY is required",
    ] {
        assert_refused(dir.path(), &output, reason);
    }
}

#[test]
fn seed_audit_refuses_production() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let output = run(
        dir.path(),
        &without(&env, "", &[]),
        &["seed-audit", "--events", "10"],
    );
    assert_refused(
        dir.path(),
        &output,
        "`seed-audit` writes made-up data and never runs with PORTAL_ENV=production",
    );
}

/// Starts `serve`, waits for its "listening" line, stops it; returns what it logged.
fn start(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
    use std::io::BufRead;
    let mut child = portal_admin(dir, env, args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("portal-admin listening") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

/// A complete production configuration starts, and logs JSON (the production default).
#[test]
fn a_complete_production_configuration_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let env = production(dir.path());
    let logged = start(dir.path(), &without(&env, "", &[]), &["serve"]);
    let line = logged
        .lines()
        .find(|line| line.contains("portal-admin listening"))
        .unwrap_or_else(|| panic!("did not start:\n{logged}"));
    let json: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(json["fields"]["message"], "portal-admin listening");
    // The start-up log names the database without secrets; it never printed the key.
    assert!(!logged.contains(KEY), "{logged}");
}

/// `--help` shows which variables exist, never the values the environment gives the secrets.
#[test]
fn help_never_prints_secrets_from_the_environment() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run(
        dir.path(),
        &[
            (
                "DATABASE_URL",
                "postgres://portal:hunter2-db@db.internal/portal",
            ),
            ("SMTP_URL", "smtps://mailer:hunter2-smtp@smtp.internal"),
            ("METRICS_TOKEN", "hunter2-metrics"),
            ("TOTP_ENCRYPTION_KEY", KEY),
        ],
        &["--help"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let help = String::from_utf8_lossy(&output.stdout);
    for name in [
        "DATABASE_URL",
        "SMTP_URL",
        "METRICS_TOKEN",
        "TOTP_ENCRYPTION_KEY",
    ] {
        assert!(help.contains(name), "--help lists {name}:\n{help}");
    }
    for secret in ["hunter2", KEY, "db.internal", "smtp.internal"] {
        assert!(!help.contains(secret), "--help printed {secret}:\n{help}");
    }
}

/// `Debug` of the configuration (what a careless `tracing::debug!(?config)` would print)
/// redacts every secret; the database keeps its host for the reader.
#[test]
fn debug_of_the_configuration_redacts_secrets() {
    let mut config = Config::from_env().expect("config");
    config.database_url =
        DatabaseUrl::parse("postgres://portal:hunter2-db@db.internal:5432/portal").expect("url");
    config.smtp_url = Some(SensitiveString::new(
        "smtps://mailer:hunter2-smtp@smtp.internal",
    ));
    config.metrics_token = Some("hunter2-metrics".into());
    config.totp_encryption_key = Some(KEY.into());
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("db.internal"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    assert_eq!(
        config.database_url.to_string(),
        "postgres://portal:REDACTED@db.internal:5432/portal"
    );
    // The secret is still there for the one place that uses it.
    assert_eq!(
        config.database_url.expose(),
        "postgres://portal:hunter2-db@db.internal:5432/portal"
    );
}

/// A bad `DATABASE_URL` is refused when the configuration is read, without echoing a password.
#[test]
fn a_bad_database_url_is_refused_at_parse_time() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run(
        dir.path(),
        &[("DATABASE_URL", "mysql://root:hunter2@db/portal")],
        &["migrate"],
    );
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let err = stderr(&output);
    assert!(
        err.contains("DATABASE_URL must start with postgres:// or sqlite://"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// Every variable `Config` reads has its `--flag` (the variable in kebab case) and a row in
/// the README's configuration table.
#[test]
fn every_variable_has_a_flag_and_a_readme_row() {
    let readme = include_str!("../../README.md");
    let rows: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .collect();
    let command = portal_admin::cli::Cli::command();
    let mut variables = Vec::new();
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let env = env.to_string_lossy().into_owned();
        let flag = env.to_ascii_lowercase().replace('_', "-");
        assert_eq!(
            arg.get_long(),
            Some(flag.as_str()),
            "{env} has the flag --{flag}"
        );
        let cell = format!("`{env}`");
        assert!(
            rows.iter().any(|row| row.contains(&cell)),
            "README has a configuration row for {env}"
        );
        variables.push(env);
    }
    for expected in [
        "DATABASE_URL",
        "LOG_FORMAT",
        "RUST_LOG",
        "ALLOW_SQLITE_IN_PRODUCTION",
        "ALLOW_HTTP_PUBLIC_URL",
        "METRICS_TOKEN",
    ] {
        assert!(
            variables.iter().any(|v| v == expected),
            "{expected} is read"
        );
    }
    assert!(variables.len() >= 30, "{variables:?}");
}

/// An authorization refusal is logged (not audited: see the README's security section) with the
/// request id, the operation and the code, at warn level, so operators see probing.
#[test]
fn authorization_refusals_are_logged_with_request_id_and_operation() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let database = format!("sqlite://{}", dir.path().join("dev.db").display());
    let listen = format!("127.0.0.1:{port}");
    let mut child = portal_admin(
        dir.path(),
        &[
            ("DATABASE_URL", database.as_str()),
            ("LISTEN_ADDR", listen.as_str()),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
        &["serve"],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = |pattern: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seen = String::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match lines_rx.recv_timeout(left) {
                Ok(line) if line.contains(pattern) => return line,
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(_) => break,
            }
        }
        panic!("no line with {pattern:?} in:\n{seen}");
    };
    next_line("portal-admin listening");

    let body =
        r#"{"query":"query ProbeUsers { users { totalCount } }","operationName":"ProbeUsers"}"#;
    let mut stream = std::net::TcpStream::connect(&listen).expect("connect");
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: {listen}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nX-Request-Id: probe-4711\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.contains("UNAUTHENTICATED"), "{answer}");

    let line = next_line("authorization refused");
    let _ = child.kill();
    let _ = child.wait();
    let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(json["level"], "WARN", "{line}");
    assert_eq!(json["fields"]["code"], "UNAUTHENTICATED", "{line}");
    assert_eq!(json["fields"]["operation"], "ProbeUsers", "{line}");
    assert_eq!(json["fields"]["request_id"], "probe-4711", "{line}");
}
