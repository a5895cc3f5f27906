//! Secrets never reach the log or the database in clear (security checklist item 36): the real
//! binary, its JSON log at `debug`, a password, a session token, a TOTP seed, recovery codes, an
//! invitation link and a reset link made through the API, then the whole log and the whole
//! database (the SQLite file with its WAL, or `pg_dump` of the PostgreSQL database) searched for
//! each. Only hashes, ciphertexts and HMACs are stored; mail waits encrypted in the outbox.
//! Reading the audit log leaves a `portal_admin::audit_read` line naming the reader.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, TestDatabase};

const PASSWORD: &str = "a long passphrase nobody guesses 7";
/// 32 bytes, base64: the same key for every run of the binary in a test.
const TOTP_KEY: &str = "c2VjcmV0cy1hdC1yZXN0LXRlc3Qta2V5LTMyLWJ5dGU=";

struct Server {
    child: std::process::Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    http: reqwest::Client,
}

impl Server {
    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert!(body["errors"].is_null(), "{query}: {body}");
        body["data"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(dir: &std::path::Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal-admin"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("MAIL_DIR", dir.join("mail"))
        .env("PUBLIC_URL", "http://portal.test")
        .env("TOTP_ENCRYPTION_KEY", TOTP_KEY)
        .current_dir(dir);
    command
}

async fn start(dir: &std::path::Path, database_url: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut child = binary(dir, database_url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        http: reqwest::Client::new(),
    };
    for _ in 0..200 {
        if let Ok(answer) = server
            .http
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            && answer.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serve never became ready");
}

/// The token of the newest mailed link to `path` in MAIL_DIR, waiting for the worker.
async fn mailed_token(dir: &std::path::Path, path: &str) -> String {
    let needle = format!("{path}?token=");
    for _ in 0..100 {
        let files = std::fs::read_dir(dir.join("mail")).into_iter().flatten();
        for file in files.flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap_or_default();
            // Quoted-printable may wrap the line; the token is hex, so it survives.
            let text = text.replace("=\r\n", "").replace("=\n", "");
            if let Some(at) = text.find(&needle) {
                let token: String = text[at + needle.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                if !token.is_empty() {
                    return token;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail with a {path} link");
}

/// Everything the database holds, as bytes to search.
fn database_contents(database: &TestDatabase, dir: &std::path::Path) -> Vec<u8> {
    match database {
        TestDatabase::Sqlite { url, .. } => {
            let path = url.trim_start_matches("sqlite://");
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                bytes.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
            }
            assert!(!bytes.is_empty(), "the SQLite file was read");
            bytes
        }
        TestDatabase::Postgres { url, .. } => {
            let dump = Command::new("pg_dump")
                .arg("--data-only")
                .arg(url)
                .current_dir(dir)
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            dump.stdout
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

async fn secrets_stay_out_of_the_log_and_the_database(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut create = binary(dir.path(), database.url())
        .args([
            "create-admin",
            "--email",
            "ada@example.test",
            "--name",
            "Ada Admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("create-admin");
    {
        use std::io::Write;
        let mut stdin = create.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("password written");
    }
    let created = create.wait_with_output().expect("create-admin ends");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let server = start(dir.path(), database.url()).await;
    let signed_in = server
        .gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": "ada@example.test", "password": PASSWORD } }),
        )
        .await;
    let session = signed_in["signIn"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let enrollment = server
        .gql(
            Some(&session),
            "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let seed = enrollment["startTwoFactorEnrollment"]["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let seed_bytes = totp_rs::Secret::Encoded(seed.clone())
        .to_bytes()
        .expect("base32");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let code = portal_admin::domain::totp::code_at(&seed_bytes, now).expect("a code");
    let confirmed = server
        .gql(
            Some(&session),
            "mutation($code: String!) { confirmTwoFactorEnrollment(code: $code) { codes } }",
            json!({ "code": code }),
        )
        .await;
    let recovery_codes: Vec<String> = confirmed["confirmTwoFactorEnrollment"]["codes"]
        .as_array()
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(recovery_codes.len(), 10);

    server
        .gql(
            Some(&session),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({ "input": { "name": "Ivy Invited", "email": "ivy@example.test", "role": "ADMIN" } }),
        )
        .await;
    let invitation = mailed_token(dir.path(), "/accept-invitation").await;
    server
        .gql(
            None,
            "mutation { requestPasswordReset(email: \"ada@example.test\") }",
            json!({}),
        )
        .await;
    let reset = mailed_token(dir.path(), "/reset-password").await;
    // Reading the audit log is itself logged, with the reader.
    server
        .gql(
            Some(&session),
            "{ auditEvents(first: 5, filter: { recordType: USER }) { edges { node { id } } } }",
            json!({}),
        )
        .await;

    // Stopped before anything is read: the log is complete and SQLite's WAL is on disk.
    let log = server.log.clone();
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(log.contains("mail sent"), "the log was read: {log}");
    let read = log
        .lines()
        .find(|line| line.contains("audit log read"))
        .unwrap_or_else(|| panic!("no audit read line in {log}"));
    let read: Value = serde_json::from_str(read).expect("a JSON line");
    assert_eq!(read["target"], "portal_admin::audit_read", "{read}");
    assert_eq!(read["fields"]["what"], "auditEvents", "{read}");
    assert!(read["fields"]["viewer_id"].as_str().is_some(), "{read}");
    assert!(
        read["fields"]["filter"]
            .as_str()
            .is_some_and(|f| f.contains("User")),
        "{read}"
    );
    assert!(read["span"]["request_id"].as_str().is_some(), "{read}");

    let mut secrets: Vec<(&str, String)> = vec![
        ("password", PASSWORD.to_owned()),
        ("session token", session.clone()),
        ("TOTP seed (base32)", seed.clone()),
        ("TOTP seed (hex)", hex(&seed_bytes)),
        ("invitation token", invitation.clone()),
        ("reset token", reset.clone()),
    ];
    for code in &recovery_codes {
        secrets.push(("recovery code", code.clone()));
    }
    let stored = database_contents(&database, dir.path());
    for (what, secret) in &secrets {
        assert!(
            !contains(&stored, secret),
            "{backend:?}: the {what} is in the database in clear"
        );
        assert!(
            !log.contains(secret.as_str()),
            "{backend:?}: the {what} is in the log"
        );
    }
    assert!(
        contains(&stored, "ada@example.test"),
        "the search reads the data: the admin's email is there"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    secrets_stay_out_of_the_log_and_the_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    secrets_stay_out_of_the_log_and_the_database(Backend::Postgres).await;
}
