//! The simulator's clock: frozen or real, and movable by tests.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use crate::config::ClockMode;

#[derive(Debug)]
pub(crate) struct SimClock {
    base: DateTime<Utc>,
    follow_real: bool,
    started: Instant,
    offset: Mutex<Duration>,
}

impl SimClock {
    pub(crate) fn new(mode: &ClockMode) -> Self {
        let (base, follow_real) = match mode {
            ClockMode::Frozen(at) => (*at, false),
            ClockMode::Real => (Utc::now(), true),
        };
        Self {
            base,
            follow_real,
            started: Instant::now(),
            offset: Mutex::new(Duration::zero()),
        }
    }

    fn natural(&self) -> DateTime<Utc> {
        if self.follow_real {
            self.base
                + Duration::from_std(self.started.elapsed()).unwrap_or_else(|_| Duration::zero())
        } else {
            self.base
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.natural() + *self.offset.lock().expect("clock lock")
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }

    pub(crate) fn set_now(&self, at: DateTime<Utc>) {
        let natural = self.natural();
        *self.offset.lock().expect("clock lock") = at - natural;
    }
}
