//! `/metrics` in Prometheus text format.
//!
//! Names follow Prometheus conventions (`_total` counters, `_seconds`, `_bytes`), the service's
//! under `portal_admin_`, the process's under the standard `process_` names. Labels are bounded:
//! routes are the known paths or `other`, GraphQL operations the console's operation names,
//! `anonymous` or `other`, error codes the contract's.

use std::collections::HashSet;

use prometheus::{
    Counter, Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::db::health::OpsStats;
use crate::db::{Checkouts, PoolStatus};

/// What a scrape reads besides the counters kept in memory.
pub struct Snapshot {
    pub pool: PoolStatus,
    pub checkouts: Checkouts,
    pub statements: u64,
    /// `None` when the database did not answer in time.
    pub ops: Option<OpsStats>,
}

pub struct Metrics {
    registry: Registry,
    process: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    graphql: IntCounterVec,
    graphql_latency: HistogramVec,
    pool: IntGaugeVec,
    checkouts: IntCounter,
    checkout_failures: IntCounter,
    checkout_wait: Counter,
    statements: IntCounter,
    database_up: IntGauge,
    outbox_pending: IntGauge,
    outbox_oldest_due: Gauge,
    outbox_failed: IntCounter,
    audit_unsealed: IntGauge,
    audit_last_seal_age: Gauge,
    audit_chain_tampered: IntGauge,
    audit_last_verify: Gauge,
    process_rss: IntGauge,
    process_cpu: Counter,
    process_fds: IntGauge,
    process_max_fds: IntGauge,
    process_start: Gauge,
    /// Operation names that get a label of their own: the console's (`playground/operations`).
    known_operations: HashSet<String>,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// Records a scheduled verification of the audit chain: intact or not, finished now.
    pub fn audit_chain_verified(&self, intact: bool) {
        self.audit_chain_tampered.set(i64::from(!intact));
        self.audit_last_verify
            .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
    }

    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("portal_admin".into()), None)?;
        let process = Registry::new();
        fn register<T: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            metric: T,
        ) -> anyhow::Result<T> {
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        }
        let r = &registry;
        let p = &process;
        Ok(Self {
            requests: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "http_requests_total",
                        "HTTP requests by route, method and status",
                    ),
                    &["route", "method", "status"],
                )?,
            )?,
            latency: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "http_request_duration_seconds",
                        "HTTP request latency by route",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route"],
                )?,
            )?,
            graphql: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "graphql_requests_total",
                        "GraphQL requests by operation and outcome (OK or each distinct error code)",
                    ),
                    &["operation", "code"],
                )?,
            )?,
            graphql_latency: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "graphql_request_duration_seconds",
                        "GraphQL request latency by operation",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["operation"],
                )?,
            )?,
            pool: register(
                r,
                IntGaugeVec::new(
                    Opts::new("db_pool_connections", "Database pool connections by state"),
                    &["state"],
                )?,
            )?,
            checkouts: register(
                r,
                IntCounter::new("db_pool_checkouts_total", "Connections taken from the pool")?,
            )?,
            checkout_failures: register(
                r,
                IntCounter::new(
                    "db_pool_checkout_failures_total",
                    "Checkouts that failed (pool wait or connect timed out, database down)",
                )?,
            )?,
            checkout_wait: register(
                r,
                Counter::new(
                    "db_pool_checkout_wait_seconds_total",
                    "Time spent waiting for pool connections",
                )?,
            )?,
            statements: register(
                r,
                IntCounter::new("db_statements_total", "SQL statements run")?,
            )?,
            database_up: register(
                r,
                IntGauge::new(
                    "metrics_database_up",
                    "1 when this scrape read the outbox and audit figures from the database",
                )?,
            )?,
            outbox_pending: register(
                r,
                IntGauge::new("mail_outbox_pending", "Mails neither sent nor given up")?,
            )?,
            outbox_oldest_due: register(
                r,
                Gauge::new(
                    "mail_outbox_oldest_due_age_seconds",
                    "How long the oldest due mail has been waiting (0: none due)",
                )?,
            )?,
            outbox_failed: register(
                r,
                IntCounter::new(
                    "mail_outbox_failed_total",
                    "Mails given up after their attempts",
                )?,
            )?,
            audit_unsealed: register(
                r,
                IntGauge::new(
                    "audit_unsealed_events",
                    "Audit events not yet sealed into the hash chain",
                )?,
            )?,
            audit_last_seal_age: register(
                r,
                Gauge::new(
                    "audit_last_seal_age_seconds",
                    "Seconds since the newest seal (absent before the first)",
                )?,
            )?,
            audit_chain_tampered: register(
                r,
                IntGauge::new(
                    "audit_chain_tampered",
                    "Whether the last scheduled verification of the hash chain found tampering (1) or not (0)",
                )?,
            )?,
            audit_last_verify: register(
                r,
                Gauge::new(
                    "audit_last_verify_timestamp_seconds",
                    "Unix time the last scheduled verification of the hash chain finished (0 before the first)",
                )?,
            )?,
            process_rss: register(
                p,
                IntGauge::new("process_resident_memory_bytes", "Resident memory size")?,
            )?,
            process_cpu: register(
                p,
                Counter::new("process_cpu_seconds_total", "User and system CPU time")?,
            )?,
            process_fds: register(
                p,
                IntGauge::new("process_open_fds", "Open file descriptors")?,
            )?,
            process_max_fds: register(
                p,
                IntGauge::new("process_max_fds", "File descriptor limit")?,
            )?,
            process_start: register(
                p,
                Gauge::new(
                    "process_start_time_seconds",
                    "Start time since the Unix epoch",
                )?,
            )?,
            known_operations: super::playground::operation_names().into_iter().collect(),
            registry,
            process,
        })
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    /// The label of an operation name: bounded whatever clients send.
    pub fn operation_label<'a>(&self, name: Option<&'a str>) -> &'a str {
        match name {
            None => "anonymous",
            Some(name) if self.known_operations.contains(name) => name,
            Some(_) => "other",
        }
    }

    pub fn observe_graphql(&self, operation: &str, codes: &[String], seconds: f64) {
        if codes.is_empty() {
            self.graphql.with_label_values(&[operation, "OK"]).inc();
        }
        for code in codes {
            self.graphql.with_label_values(&[operation, code]).inc();
        }
        self.graphql_latency
            .with_label_values(&[operation])
            .observe(seconds);
    }

    pub fn render(&self, snapshot: Snapshot) -> String {
        let pool = snapshot.pool;
        let gauges = [
            ("max", pool.max_size),
            ("open", pool.size),
            ("idle", pool.available),
            ("in_use", pool.size.saturating_sub(pool.available)),
            ("waiting", pool.waiting),
        ];
        for (state, value) in gauges {
            self.pool
                .with_label_values(&[state])
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        // Totals kept by the database layer, copied into the counters.
        set_counter(&self.checkouts, snapshot.checkouts.total);
        set_counter(&self.checkout_failures, snapshot.checkouts.failed);
        self.checkout_wait.reset();
        self.checkout_wait.inc_by(snapshot.checkouts.wait_seconds);
        set_counter(&self.statements, snapshot.statements);
        match snapshot.ops {
            Some(ops) => {
                self.database_up.set(1);
                self.outbox_pending.set(ops.outbox.pending);
                self.outbox_oldest_due
                    .set(ops.outbox.oldest_due_age_seconds);
                set_counter(
                    &self.outbox_failed,
                    u64::try_from(ops.outbox.failed).unwrap_or_default(),
                );
                self.audit_unsealed.set(ops.audit_unsealed_events);
                if let Some(age) = ops.audit_last_seal_age_seconds {
                    self.audit_last_seal_age.set(age);
                }
            }
            None => self.database_up.set(0),
        }
        if let Some(process) = ProcessStats::read() {
            self.process_rss.set(process.rss_bytes);
            self.process_cpu.reset();
            self.process_cpu.inc_by(process.cpu_seconds);
            self.process_fds.set(process.open_fds);
            self.process_max_fds.set(process.max_fds);
            self.process_start.set(process.start_time_seconds);
        }
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(error = %err, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

fn set_counter(counter: &IntCounter, total: u64) {
    counter.reset();
    counter.inc_by(total);
}

/// The process figures Prometheus clients export, read from `/proc` (Linux).
struct ProcessStats {
    rss_bytes: i64,
    cpu_seconds: f64,
    open_fds: i64,
    max_fds: i64,
    start_time_seconds: f64,
}

impl ProcessStats {
    #[cfg(target_os = "linux")]
    fn read() -> Option<Self> {
        // `/proc` reports CPU times in USER_HZ, 100 on every Linux platform we ship for.
        const TICKS_PER_SECOND: f64 = 100.0;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let cpu_ticks = field(14)? + field(15)?;
        let start_ticks = field(22)?;
        let rss_kib = std::fs::read_to_string("/proc/self/status")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<i64>()
            .ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse::<f64>()
            .ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|line| line.starts_with("Max open files"))?
            .split_whitespace()
            .nth(3)?
            .parse::<i64>()
            .ok()?;
        Some(Self {
            rss_bytes: rss_kib * 1024,
            cpu_seconds: cpu_ticks / TICKS_PER_SECOND,
            open_fds: i64::try_from(open_fds).unwrap_or(i64::MAX),
            max_fds,
            start_time_seconds: boot_time + start_ticks / TICKS_PER_SECOND,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Option<Self> {
        None
    }
}

/// Route label for a path: known routes by name, everything else as one label so a scan of
/// random paths cannot blow up the label set.
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/graphql" => "/graphql",
        "/graphiql" => "/graphiql",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_operation_names_collapse() {
        let metrics = Metrics::new().expect("metrics");
        let known = metrics
            .known_operations
            .iter()
            .next()
            .cloned()
            .expect("the console has operations");
        assert_eq!(metrics.operation_label(Some(&known)), known);
        assert_eq!(metrics.operation_label(Some("Random123")), "other");
        assert_eq!(metrics.operation_label(None), "anonymous");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_figures_are_read() {
        let stats = ProcessStats::read().expect("readable /proc");
        assert!(stats.rss_bytes > 1024 * 1024, "rss {}", stats.rss_bytes);
        assert!(stats.open_fds >= 3);
        assert!(stats.max_fds >= stats.open_fds);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        assert!(
            (now - 3600.0..=now + 5.0).contains(&stats.start_time_seconds),
            "started {} (now {now})",
            stats.start_time_seconds
        );
    }
}
