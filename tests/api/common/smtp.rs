//! A real SMTP server inside the test process, on 127.0.0.1 and a random port.
//!
//! The protocol is mailin's (the engine behind mailin-embedded); the I/O is a tokio listener
//! here, because mailin-embedded's server runs forever and these tests need to take the server
//! down and bring it back on the same port. `stop` closes the listener and every open
//! connection, as a crashed server would.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mailin::{Action, Handler, Response, SessionBuilder};
use mailparse::{MailHeaderMap, ParsedMail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One received message, parsed enough for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// SMTP envelope (empty for mail read from `.eml` files).
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    /// The `text/plain` part, decoded.
    pub text: Option<String>,
    /// The `text/html` part, decoded.
    pub html: Option<String>,
    pub raw: Vec<u8>,
}

impl ReceivedMail {
    pub fn parse(raw: &[u8]) -> Result<Self, String> {
        let parsed = mailparse::parse_mail(raw).map_err(|e| e.to_string())?;
        let header = |name: &str| parsed.headers.get_first_value(name).unwrap_or_default();
        let mut text = None;
        let mut html = None;
        collect_parts(&parsed, &mut text, &mut html)?;
        Ok(ReceivedMail {
            envelope_from: String::new(),
            envelope_to: Vec::new(),
            from: header("From"),
            to: header("To"),
            subject: header("Subject"),
            message_id: header("Message-ID"),
            text,
            html,
            raw: raw.to_vec(),
        })
    }

    /// Whether the `To` header or the envelope names `address`.
    pub fn is_to(&self, address: &str) -> bool {
        self.to.contains(address) || self.envelope_to.iter().any(|to| to == address)
    }

    /// The http(s) links in the plain-text part, in order.
    pub fn text_links(&self) -> Vec<String> {
        self.text
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .filter(|word| word.starts_with("http://") || word.starts_with("https://"))
            .map(|word| word.trim_end_matches(['.', ',', ')', '>', '"']).to_owned())
            .collect()
    }

    /// The `href` targets in the HTML part, unescaped, in order.
    pub fn html_links(&self) -> Vec<String> {
        let html = self.html.as_deref().unwrap_or_default();
        html.split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|href| {
                href.replace("&#x2f;", "/")
                    .replace("&quot;", "\"")
                    .replace("&#x27;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
            .collect()
    }
}

fn collect_parts(
    part: &ParsedMail<'_>,
    text: &mut Option<String>,
    html: &mut Option<String>,
) -> Result<(), String> {
    if part.subparts.is_empty() {
        let body = part.get_body().map_err(|e| e.to_string())?;
        match part.ctype.mimetype.as_str() {
            "text/plain" if text.is_none() => *text = Some(body),
            "text/html" if html.is_none() => *html = Some(body),
            _ => {}
        }
    }
    for sub in &part.subparts {
        collect_parts(sub, text, html)?;
    }
    Ok(())
}

type Inbox = Arc<Mutex<Vec<ReceivedMail>>>;

fn lock(inbox: &Inbox) -> MutexGuard<'_, Vec<ReceivedMail>> {
    inbox
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct TestSmtpServer {
    addr: SocketAddr,
    inbox: Inbox,
    hold: Hold,
    task: Option<JoinHandle<()>>,
}

/// While set, a message is stored in the inbox at once but the server's 250 for it waits: the
/// window in which a client that dies has had its mail delivered without hearing so.
type Hold = Arc<AtomicBool>;

impl TestSmtpServer {
    /// Listens on 127.0.0.1 at a port the system picks.
    pub async fn start() -> TestSmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("SMTP test server binds");
        let addr = listener.local_addr().expect("local addr");
        let inbox = Inbox::default();
        let hold = Hold::default();
        let task = tokio::spawn(serve(listener, inbox.clone(), hold.clone()));
        TestSmtpServer {
            addr,
            inbox,
            hold,
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `SMTP_URL` that reaches this server (plain SMTP, no TLS, no auth).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Closes the listener and every open connection; clients then get "connection refused".
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops (if running) and listens again on the same port. What was received is kept.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if tries < 50 => {
                    tries += 1;
                    eprintln!("SMTP test server: rebinding {}: {err}", self.addr);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!(
                    "SMTP test server cannot listen on {} again: {err}",
                    self.addr
                ),
            }
        };
        self.task = Some(tokio::spawn(serve(
            listener,
            self.inbox.clone(),
            self.hold.clone(),
        )));
    }

    /// Holds (true) or releases (false) the acceptance reply of every message from now on: the
    /// message is kept, the client waits for its 250.
    pub fn hold_acceptance(&self, hold: bool) {
        self.hold.store(hold, Ordering::SeqCst);
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedMail> {
        lock(&self.inbox).clone()
    }

    /// Waits until at least one received message matches, then returns all that match. Panics
    /// after `timeout`, listing what did arrive.
    pub async fn wait_for_mail(
        &self,
        predicate: impl Fn(&ReceivedMail) -> bool,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        wait_for(|| self.received(), predicate, timeout, "over SMTP").await
    }
}

impl Drop for TestSmtpServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `source` until a message matches `predicate`.
pub async fn wait_for(
    source: impl Fn() -> Vec<ReceivedMail>,
    predicate: impl Fn(&ReceivedMail) -> bool,
    timeout: Duration,
    what: &str,
) -> Vec<ReceivedMail> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let all = source();
        let matching: Vec<ReceivedMail> = all.iter().filter(|m| predicate(m)).cloned().collect();
        if !matching.is_empty() {
            return matching;
        }
        if tokio::time::Instant::now() >= deadline {
            let seen: Vec<(&str, &str)> = all
                .iter()
                .map(|m| (m.to.as_str(), m.subject.as_str()))
                .collect();
            panic!("no matching mail arrived {what} within {timeout:?}; received: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `.eml` files lettre's file transport wrote into `dir`, parsed (unordered).
pub fn read_eml_dir(dir: &Path) -> Vec<ReceivedMail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .filter_map(|path| std::fs::read(&path).ok())
        // A file still being written does not parse yet; the next poll reads it whole.
        .filter_map(|raw| ReceivedMail::parse(&raw).ok())
        .collect()
}

async fn serve(listener: TcpListener, inbox: Inbox, hold: Hold) {
    // Dropped with this task on `stop`, which aborts every open session.
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    sessions.spawn(session(stream, peer.ip(), inbox.clone(), hold.clone()));
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

async fn session(stream: TcpStream, peer: IpAddr, inbox: Inbox, hold: Hold) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = SessionBuilder::new("smtp.test").build(peer, Collector::new(inbox.clone()));
    write_response(&mut write, &session.greeting()).await?;
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let stored_before = lock(&inbox).len();
        let response = session.process(&line);
        if lock(&inbox).len() > stored_before {
            while hold.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        match response.action {
            Action::Reply => write_response(&mut write, &response).await?,
            Action::Close => {
                write_response(&mut write, &response).await?;
                return Ok(());
            }
            // STARTTLS is not offered.
            Action::UpgradeTls => return Ok(()),
            Action::NoReply => {}
        }
    }
}

async fn write_response(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    response: &Response,
) -> std::io::Result<()> {
    write.write_all(&response.buffer()?).await?;
    write.flush().await
}

/// Collects one session's messages into the shared inbox.
struct Collector {
    inbox: Inbox,
    envelope_from: String,
    envelope_to: Vec<String>,
    data: Vec<u8>,
}

impl Collector {
    fn new(inbox: Inbox) -> Self {
        Collector {
            inbox,
            envelope_from: String::new(),
            envelope_to: Vec::new(),
            data: Vec::new(),
        }
    }
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.envelope_from = from.to_owned();
        self.envelope_to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    /// The message is in the inbox before the client hears 250: once a send returns, the
    /// test sees the mail.
    fn data_end(&mut self) -> Response {
        match ReceivedMail::parse(&self.data) {
            Ok(mut mail) => {
                mail.envelope_from = std::mem::take(&mut self.envelope_from);
                mail.envelope_to = std::mem::take(&mut self.envelope_to);
                lock(&self.inbox).push(mail);
                mailin::response::OK
            }
            Err(err) => {
                eprintln!("SMTP test server: unparsable message: {err}");
                mailin::response::TRANSACTION_FAILED
            }
        }
    }
}
