//! What an agent does next, and when.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::time::Timestamp;

/// Why a full sync is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FullReason {
    /// Nothing was ever read.
    FirstRun,
    /// The agent restarted (its in-memory view is gone).
    AgentRestart,
    /// An administrator asked for one (restart provisioning).
    Requested,
    /// The local queue overflowed and was dropped.
    QueueOverflow,
    /// The configuration changed (scope, mappings, attributes read).
    ConfigurationChanged,
    /// The watermark is void (restored DC, another DC, lost state).
    WatermarkVoid,
    /// The previous full read failed or was cut short; it is retried.
    Retry,
}

/// What is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// A full sync (a full read of the scope).
    Full {
        /// Why.
        reason: FullReason,
    },
    /// A delta cycle.
    Delta,
    /// A heartbeat to the service.
    Heartbeat,
}

/// What is due next and when; `at` is never before the `now` it was asked
/// for, so a host can sleep until `at` and then do `what`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    /// What.
    pub what: Work,
    /// When.
    pub at: Timestamp,
}

/// The kind of cycle a host started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleKind {
    /// A full sync.
    Full,
    /// A delta cycle.
    Delta,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleOutcome {
    /// It ran to the end and was committed.
    Completed,
    /// A full read that stopped early (the engine applied what it got).
    CutShort,
    /// It failed (nothing committed).
    Failed,
}

/// A transition the schedule does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A cycle is already running.
    #[error("schedule: a {running:?} cycle started at {since} is still running")]
    AlreadyRunning {
        /// The running cycle's kind.
        running: CycleKind,
        /// When it started.
        since: Timestamp,
    },
    /// No cycle is running.
    #[error("schedule: no cycle is running")]
    NotRunning,
    /// A delta was started while a full sync is due.
    #[error("schedule: a full sync is due ({reason:?}); a delta cannot run first")]
    FullSyncDue {
        /// Why the full sync is due.
        reason: FullReason,
    },
}

/// The agent's schedule: a delta cycle every 30 seconds (fixed, counted
/// from the start of the previous cycle), a full sync when one is due, and
/// a heartbeat every [`Limits::heartbeat_interval`].
///
/// A full sync takes the next cycle slot: it is due at once on a first run
/// or restart, otherwise 30 seconds after the previous cycle started (so a
/// failing full read is retried every 30 seconds, not in a tight loop).
///
/// ```
/// use idsync::agent::{CycleKind, CycleOutcome, FullReason, Schedule, Work};
/// use idsync::limits::Limits;
/// use idsync::time::Timestamp;
/// let t0 = Timestamp::from_secs(1_700_000_000);
/// let mut s = Schedule::first_run(&Limits::default());
/// s.heartbeat_sent(t0);
/// let due = s.next_due(t0);
/// assert_eq!(due.what, Work::Full { reason: FullReason::FirstRun });
/// s.started(t0, CycleKind::Full)?;
/// s.finished(t0.add_secs(12), CycleOutcome::Completed)?;
/// let due = s.next_due(t0.add_secs(12));
/// assert_eq!((due.what, due.at), (Work::Delta, t0.add_secs(30)));
/// # Ok::<(), idsync::agent::ScheduleError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    delta_interval: Duration,
    heartbeat_interval: Duration,
    full_due: Option<FullReason>,
    running: Option<Running>,
    last_cycle_start: Option<Timestamp>,
    last_heartbeat: Option<Timestamp>,
    last_finished: Option<(Timestamp, CycleKind, CycleOutcome)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Running {
    kind: CycleKind,
    since: Timestamp,
}

impl Schedule {
    /// The schedule of an agent that never synced: a full sync is due now.
    pub fn first_run(limits: &Limits) -> Schedule {
        Schedule::with_full(limits, FullReason::FirstRun)
    }

    /// The schedule of an agent that restarted: a full sync is due now.
    pub fn restarted(limits: &Limits) -> Schedule {
        Schedule::with_full(limits, FullReason::AgentRestart)
    }

    fn with_full(limits: &Limits, reason: FullReason) -> Schedule {
        Schedule {
            delta_interval: limits.delta_interval(),
            heartbeat_interval: limits.heartbeat_interval,
            full_due: Some(reason),
            running: None,
            last_cycle_start: None,
            last_heartbeat: None,
            last_finished: None,
        }
    }

    /// Makes a full sync due (a request, a queue overflow, a configuration
    /// change, a void watermark). If one is already due, its first reason
    /// stays. A request while a full sync runs makes another one due after.
    pub fn request_full(&mut self, reason: FullReason) {
        self.full_due.get_or_insert(reason);
    }

    /// The full sync that is due, if any.
    pub fn full_due(&self) -> Option<FullReason> {
        self.full_due
    }

    /// The cycle running, if any, and when it started.
    pub fn running(&self) -> Option<(CycleKind, Timestamp)> {
        self.running.map(|r| (r.kind, r.since))
    }

    /// What is due next and when. While a cycle runs only the heartbeat is
    /// due. When a heartbeat and a cycle are due at the same time the
    /// heartbeat comes first (it is quick, and liveness decides failover).
    pub fn next_due(&self, now: Timestamp) -> Due {
        let heartbeat = Due {
            what: Work::Heartbeat,
            at: match self.last_heartbeat {
                Some(t) => t + self.heartbeat_interval,
                None => now,
            }
            .max(now),
        };
        if self.running.is_some() {
            return heartbeat;
        }
        let slot = match self.last_cycle_start {
            Some(t) => (t + self.delta_interval).max(now),
            None => now,
        };
        let cycle = match self.full_due {
            Some(reason @ (FullReason::FirstRun | FullReason::AgentRestart)) => Due {
                what: Work::Full { reason },
                at: now,
            },
            Some(reason) => Due {
                what: Work::Full { reason },
                at: slot,
            },
            None => Due {
                what: Work::Delta,
                at: slot,
            },
        };
        if heartbeat.at <= cycle.at {
            heartbeat
        } else {
            cycle
        }
    }

    /// A cycle started at `now`. A full sync clears the one that was due
    /// (a host may also start one that was not due); a delta cannot start while a full sync is due.
    pub fn started(&mut self, now: Timestamp, kind: CycleKind) -> Result<(), ScheduleError> {
        if let Some(r) = self.running {
            return Err(ScheduleError::AlreadyRunning {
                running: r.kind,
                since: r.since,
            });
        }
        match kind {
            CycleKind::Full => self.full_due = None,
            CycleKind::Delta => {
                if let Some(reason) = self.full_due {
                    return Err(ScheduleError::FullSyncDue { reason });
                }
            }
        }
        self.running = Some(Running { kind, since: now });
        self.last_cycle_start = Some(now);
        Ok(())
    }

    /// The running cycle ended at `now`. A full sync that failed or was cut
    /// short is due again (reason [`FullReason::Retry`]).
    pub fn finished(&mut self, now: Timestamp, outcome: CycleOutcome) -> Result<(), ScheduleError> {
        let Some(r) = self.running.take() else {
            return Err(ScheduleError::NotRunning);
        };
        self.last_finished = Some((now, r.kind, outcome));
        if r.kind == CycleKind::Full && outcome != CycleOutcome::Completed {
            self.request_full(FullReason::Retry);
        }
        Ok(())
    }

    /// When the last cycle ended, its kind and outcome.
    pub fn last_finished(&self) -> Option<(Timestamp, CycleKind, CycleOutcome)> {
        self.last_finished
    }

    /// A heartbeat was sent at `now`.
    pub fn heartbeat_sent(&mut self, now: Timestamp) {
        self.last_heartbeat = Some(now);
    }
}
