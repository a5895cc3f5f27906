//! Where mail goes: an SMTP server (`SMTP_URL`, lettre's URL syntax) or, without one, `.eml`
//! files under `MAIL_DIR`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;
use crate::db::models::OutboxMail;

/// Per SMTP command; a send that hangs longer fails and is retried.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files {
        dir: PathBuf,
        transport: AsyncFileTransport<Tokio1Executor>,
    },
}

/// The configured transport and sender. Cheap to clone (the SMTP connection pool is shared).
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// The domain of `MAIL_FROM`, for Message-IDs.
    domain: String,
}

/// Why one delivery failed.
#[derive(Debug)]
pub struct DeliveryError {
    /// For `last_error` and the log: never carries credentials or the body.
    pub message: String,
    /// The mail can never be sent as it is (e.g. an unparsable recipient): do not retry.
    pub permanent: bool,
}

impl Mailer {
    /// Checks `MAIL_FROM` and `SMTP_URL` at start-up, so a typo stops the server instead of
    /// failing every mail later. Nothing is connected yet.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .with_context(|| format!("MAIL_FROM `{}` is not a valid mailbox", config.mail_from))?;
        let domain = from.email.domain().to_owned();
        let transport = match config.smtp_url.as_ref().map(|url| url.expose().trim()) {
            Some(url) if !url.is_empty() => {
                // The URL may hold a password: it stays out of the error message.
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|err| {
                        anyhow::anyhow!(
                            "SMTP_URL is not a valid SMTP URL (smtp://host:port, smtps://user:pass@host, \
                             ?tls=required for STARTTLS): {err}"
                        )
                    })?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Transport::Smtp(transport)
            }
            _ => Transport::Files {
                dir: config.mail_dir.clone(),
                transport: AsyncFileTransport::new(&config.mail_dir),
            },
        };
        Ok(Self {
            transport,
            from,
            domain,
        })
    }

    /// `smtp` or `files`, for logs.
    pub fn kind(&self) -> &'static str {
        match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Files { .. } => "files",
        }
    }

    /// Builds the MIME message for an outbox row: plain text and HTML alternatives.
    pub fn build_message(&self, mail: &OutboxMail) -> Result<Message, DeliveryError> {
        let to: Mailbox = mail.to_address.parse().map_err(|_| DeliveryError {
            message: "the recipient address is not valid".into(),
            permanent: true,
        })?;
        // One Message-ID per outbox row: should a mail ever be delivered twice, mail clients
        // see the same message and show it once.
        let message_id = format!(
            "<outbox-{}-{}@{}>",
            mail.id,
            mail.created_at.and_utc().timestamp_micros(),
            self.domain
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(message_id))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(mail.body_text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(mail.body_html.clone()),
                    ),
            )
            .map_err(|err| DeliveryError {
                message: format!("the message cannot be built: {err}"),
                permanent: true,
            })
    }

    /// Hands one message to the SMTP server (returns once it accepted it) or writes its file.
    pub async fn send(&self, message: Message) -> Result<(), DeliveryError> {
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map(drop)
                    .map_err(|err| DeliveryError {
                        message: error_chain(&err),
                        permanent: false,
                    })
            }
            Transport::Files { dir, transport } => {
                // Made on first use, not at start-up: a server that never mails makes no folder.
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|err| DeliveryError {
                        message: format!("cannot create MAIL_DIR: {err}"),
                        permanent: false,
                    })?;
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|err| DeliveryError {
                        message: error_chain(&err),
                        permanent: false,
                    })
            }
        }
    }
}

/// The error and its causes on one line (lettre's messages name the server's reply, never the
/// credentials).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
