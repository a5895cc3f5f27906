//! The `portal-admin` command line.

use std::io::Read;

use clap::{Parser, Subcommand};

use crate::app::AppState;
use crate::clock::Clock;
use crate::config::{Config, LogFormat};
use crate::db::Database;
use crate::db::models::users;
use crate::http::{BoundServer, shutdown_signal};
use crate::services::accounts;

#[derive(Debug, Parser)]
#[command(
    name = "portal-admin",
    version,
    about = "GraphQL service behind the admin side of the portal"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (what a bare `portal-admin` does).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin who can sign in at once. The password is read from standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Read the password from standard input (the only way: never from the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Print the GraphQL schema (SDL) the server serves.
    PrintSchema,
    /// The audit trail: seal, verify, export.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Fill the database with N realistic audit events (benchmarks; never in production).
    SeedAudit {
        #[arg(long)]
        events: u64,
        /// Spread them over this many days up to now.
        #[arg(long, default_value_t = 730)]
        days: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal every committed event not sealed yet and print the chain head (what `serve` does
    /// every `AUDIT_SEAL_INTERVAL_SECONDS`).
    Seal,
    /// Recompute the chain; exits non-zero naming the first event altered, deleted or inserted
    /// behind the application's back.
    Verify,
    /// Stream events with their changes to standard output, oldest first.
    Export {
        /// From this time (inclusive): RFC 3339 or YYYY-MM-DD (UTC).
        #[arg(long, value_parser = crate::services::audit_export::parse_time)]
        since: chrono::NaiveDateTime,
        /// Up to this time (exclusive).
        #[arg(long, value_parser = crate::services::audit_export::parse_time)]
        until: Option<chrono::NaiveDateTime>,
        #[arg(long, value_enum, default_value = "ndjson")]
        format: crate::services::audit_export::ExportFormat,
    },
    /// The audit log with the filters of `auditEvents`, newest first, with names.
    /// E.g. every change to billing across the last 30 days:
    /// `portal-admin audit query --field 'billing*' --since 30d`.
    Query {
        /// A record type, or one record: `COMPANY`, `COMPANY:42`, `user:7`.
        #[arg(long, value_parser = crate::services::audit_query::parse_record)]
        record: Option<(crate::domain::AuditRecordType, Option<i64>)>,
        /// Who acted: a user id or email address.
        #[arg(long, value_parser = crate::services::audit_query::parse_person)]
        actor: Option<crate::services::audit_query::PersonArg>,
        /// The admin impersonating the actor: a user id or email address.
        #[arg(long, value_parser = crate::services::audit_query::parse_person)]
        impersonator: Option<crate::services::audit_query::PersonArg>,
        /// Only what was done while impersonating.
        #[arg(long, conflicts_with = "direct")]
        via_impersonation: bool,
        /// Only what was done directly.
        #[arg(long)]
        direct: bool,
        /// A field (`billingRateCents`) or a prefix (`billing*`).
        #[arg(long)]
        field: Option<String>,
        /// One action: UPDATE, CREATE, SIGN_IN, …
        #[arg(long, value_parser = parse_action)]
        action: Option<crate::domain::AuditAction>,
        /// From (inclusive): an age (`30d`, `12h`, `2w`), RFC 3339 or YYYY-MM-DD (UTC).
        #[arg(long, value_parser = crate::services::audit_query::parse_time_arg)]
        since: Option<crate::services::audit_query::TimeArg>,
        /// Up to (exclusive), as `--since`.
        #[arg(long, value_parser = crate::services::audit_query::parse_time_arg)]
        until: Option<crate::services::audit_query::TimeArg>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::services::audit_query::QueryFormat,
    },
    /// PostgreSQL: let an existing role SELECT the audit views `audit_log` and
    /// `audit_log_events` and nothing else of this database (for engineers' ad-hoc queries).
    GrantReader {
        /// The role, created beforehand (`CREATE ROLE audit_reader LOGIN PASSWORD '…'`).
        role: String,
    },
}

fn parse_action(raw: &str) -> Result<crate::domain::AuditAction, String> {
    raw.trim()
        .to_uppercase()
        .parse()
        .map_err(|err: crate::domain::enums::UnknownValue| err.to_string())
}

pub fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.rust_log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.log_format() {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}

/// What a command needs before it runs, checked and done in one place.
enum Needs {
    /// The database, migrated (every command that reads or writes it).
    Database,
    /// The database, and a configuration production accepts for serving.
    Serving,
    /// The database, and never production (commands that write made-up data).
    FakeData(&'static str),
}

/// Logging, the production rules, migrations and the pool: what every command that uses the
/// database starts with, in this order (a refused configuration touches nothing).
async fn prepare(config: &Config, needs: Needs) -> anyhow::Result<(Database, Vec<String>)> {
    init_tracing(config);
    match needs {
        Needs::Serving => config.check_production()?,
        Needs::FakeData(command) => config.refuse_fake_data(command)?,
        Needs::Database => {}
    }
    Database::open(config, Clock::system()).await
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    let command = cli.command.unwrap_or(Command::Serve);
    let needs = match &command {
        Command::PrintSchema => {
            // No database, no logging: the SDL only.
            print!("{}", crate::graphql::sdl());
            return Ok(());
        }
        Command::Serve => Needs::Serving,
        Command::SeedAudit { .. } => Needs::FakeData("seed-audit"),
        Command::Migrate | Command::CreateAdmin { .. } | Command::Audit { .. } => Needs::Database,
    };
    let (db, applied) = prepare(&config, needs).await?;
    match command {
        Command::Serve => serve(AppState::with_database(config, db, Clock::system())?).await,
        Command::PrintSchema => Ok(()),
        Command::Migrate => {
            db.close();
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::CreateAdmin { email, name, .. } => {
            let mut password = String::new();
            std::io::stdin()
                .take(crate::domain::password::MAX_PASSWORD_BYTES as u64 + 2)
                .read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let app = AppState::with_database(config, db, Clock::system())?;
            let user = accounts::create_admin(&app, &email, &name, password).await?;
            app.db.close();
            println!(
                "admin {} <{}> created (id {})",
                user.name, user.email, user.id
            );
            Ok(())
        }
        Command::Audit { command } => {
            let result = audit(&db, command).await;
            db.close();
            result
        }
        Command::SeedAudit { events, days } => {
            let end = Clock::system().now();
            let start = end - chrono::Duration::days(days.max(1));
            let started = std::time::Instant::now();
            crate::db::audit::seed::seed(&db, events, start, end, |done| {
                eprintln!("{done} events seeded ({:.1?})", started.elapsed());
            })
            .await?;
            db.close();
            println!("{events} audit events seeded in {:.1?}", started.elapsed());
            Ok(())
        }
    }
}

async fn audit(db: &Database, command: AuditCommand) -> anyhow::Result<()> {
    use crate::db::audit::seal;
    match command {
        AuditCommand::Seal => {
            let run = seal::seal_pending(db, std::time::Duration::from_secs(60)).await?;
            println!("sealed {} event(s) in {} seal(s)", run.events, run.seals);
            match run.head {
                Some(head) => println!(
                    "chain head: last event {} hash {} sealed {}",
                    head.last_event_id,
                    head.hash,
                    head.sealed_at.and_utc().to_rfc3339()
                ),
                None => println!("chain head: none (no events yet)"),
            }
            Ok(())
        }
        AuditCommand::Verify => match seal::verify(db).await? {
            Ok(verified) => {
                let head = verified.head.as_ref().map_or_else(
                    || "no seals yet".to_owned(),
                    |h| format!("head: last event {} hash {}", h.last_event_id, h.hash),
                );
                println!(
                    "ok: {} event(s) in {} seal(s) verified; {head}",
                    verified.events, verified.seals
                );
                Ok(())
            }
            Err(tamper) => anyhow::bail!("audit chain broken: {tamper}"),
        },
        AuditCommand::Export {
            since,
            until,
            format,
        } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let written =
                crate::services::audit_export::export(db, since, until, format, &mut out).await?;
            drop(out);
            crate::services::audit::log_cli_read(
                "audit export",
                &format!("since {since}, until {until:?}"),
                written,
            );
            eprintln!("{written} event(s) exported");
            Ok(())
        }
        AuditCommand::Query {
            record,
            actor,
            impersonator,
            via_impersonation,
            direct,
            field,
            action,
            since,
            until,
            limit,
            format,
        } => {
            use crate::services::audit_query::{self, QueryArgs};
            let args = QueryArgs {
                record,
                actor,
                impersonator,
                via_impersonation: (via_impersonation || direct).then_some(via_impersonation),
                field,
                action,
                since,
                until,
            };
            let described = format!("{args:?}");
            let query = args.resolve(db, Clock::system().now()).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let written = audit_query::query(db, query, limit, format, &mut out).await?;
            drop(out);
            crate::services::audit::log_cli_read("audit query", &described, written);
            eprintln!("{written} event(s)");
            Ok(())
        }
        AuditCommand::GrantReader { role } => {
            let readable = crate::db::audit::reader::grant_reader(db, &role).await?;
            println!(
                "{role} can now SELECT {} and nothing else of this database.",
                readable.join(" and ")
            );
            Ok(())
        }
    }
}

async fn serve(app: crate::app::App) -> anyhow::Result<()> {
    crate::services::two_factor::upgrade_legacy_recovery_codes(&app).await?;
    let server = BoundServer::bind(app.clone(), app.config.listen_addr).await?;
    let addr = server.local_addr();
    tracing::info!(addr = ?addr, backend = ?app.db.backend(), "portal-admin listening");
    print_first_start_help(&app).await;
    let (stop_mail, mail_stopped) = tokio::sync::oneshot::channel::<()>();
    let mail_worker = crate::mail::spawn_worker(app.clone(), async {
        let _ = mail_stopped.await;
    });
    let (stop_sealer, sealer_stopped) = tokio::sync::oneshot::channel::<()>();
    let sealer = crate::db::audit::seal::spawn_sealer(
        app.db.clone(),
        std::time::Duration::from_secs(app.config.audit_seal_interval_seconds.max(1)),
        async {
            let _ = sealer_stopped.await;
        },
    );
    let (stop_verifier, verifier_stopped) = tokio::sync::oneshot::channel::<()>();
    let verifier = (app.config.audit_verify_interval_seconds > 0).then(|| {
        let reporter = app.clone();
        crate::db::audit::seal::spawn_verifier(
            app.db.clone(),
            std::time::Duration::from_secs(app.config.audit_verify_interval_seconds),
            move |intact| reporter.metrics.audit_chain_verified(intact),
            async {
                let _ = verifier_stopped.await;
            },
        )
    });
    // Impersonations that end by time have no request to record it (issue 13): every instance
    // sweeps, each end is recorded once.
    let (stop_sweeper, sweeper_stopped) = tokio::sync::oneshot::channel::<()>();
    let sweeper = crate::services::impersonation::spawn_sweeper(
        app.clone(),
        crate::services::impersonation::SWEEP_EVERY,
        async {
            let _ = sweeper_stopped.await;
        },
    );
    let served = server.run(shutdown_signal()).await;
    // After the last request: mail those requests enqueued is in the outbox either way, and the
    // worker finishes the send in hand before the pool closes.
    let _ = stop_mail.send(());
    let _ = stop_sealer.send(());
    let _ = stop_verifier.send(());
    if let Some(verifier) = verifier
        && let Err(err) = verifier.await
    {
        tracing::error!(error = %err, "audit verifier ended abnormally");
    }
    let _ = stop_sweeper.send(());
    if let Err(err) = sweeper.await {
        tracing::error!(error = %err, "impersonation sweep ended abnormally");
    }
    if let Err(err) = sealer.await {
        tracing::error!(error = %err, "audit sealer ended abnormally");
    }
    if let Err(err) = mail_worker.await {
        tracing::error!(error = %err, "mail worker ended abnormally");
    }
    app.db.close();
    served?;
    Ok(())
}

/// On a database without an admin, tells the newcomer how to get in.
async fn print_first_start_help(app: &AppState) {
    let admins = match app.db.conn().await {
        Ok(mut conn) => users::count_active_admins(&mut conn).await,
        Err(err) => Err(err),
    };
    if let Ok(0) = admins {
        eprintln!(
            "\nNo admin exists yet. Create one, then sign in at {}/ :\n\n  \
             echo 'a-long-password' | portal-admin create-admin --email you@example.com --name 'Your Name' --password-stdin\n\
             (or: cargo run -- create-admin …)\n",
            app.config.public_url()
        );
    }
}
