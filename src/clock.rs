//! The service's sense of "now". Every timestamp the service writes or compares comes from here,
//! so tests can move time (token expiry, session limits) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system time; only tests change it.
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in UTC, at the microsecond precision both databases store.
    pub fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc()
    }

    pub fn now_utc(&self) -> DateTime<Utc> {
        let offset = Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        (Utc::now() + offset).trunc_subsecs(6)
    }

    /// Moves this clock (and every clone of it) forward. For tests.
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}
