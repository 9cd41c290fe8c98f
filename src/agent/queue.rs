//! The agent's local queue of change records waiting to be sent.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::change::{BatchHeader, Change, ChangeError};
use crate::limits::Limits;

/// The agent's local queue: change records in the order they were read,
/// each held in its serialized form (the JSON of one record, as
/// [`Change::to_json`] writes it) and counted by those bytes.
///
/// Bounded: a push that would take the queue past its limit drops the
/// whole queue (the record being pushed included) and marks the agent to
/// full-sync on reconnect. Nothing is lost silently: the push returns a
/// [`QueueOverflow`] with the records and bytes dropped, and the mark stays
/// until [`ChangeQueue::take_full_sync_required`] takes it.
///
/// ```
/// use idsync::agent::{ChangeQueue, Pushed};
/// let mut q = ChangeQueue::new(10);
/// assert!(matches!(q.push_encoded(b"12345".to_vec()), Pushed::Queued { .. }));
/// assert!(matches!(q.push_encoded(b"12345".to_vec()), Pushed::Queued { .. }));
/// let o = match q.push_encoded(b"1".to_vec()) {
///     Pushed::Overflowed(o) => o,
///     Pushed::Queued { .. } => return Err("the queue should have overflowed".into()),
/// };
/// assert_eq!((o.records_dropped, o.bytes_dropped), (3, 11));
/// assert!(q.is_empty());
/// assert_eq!(q.take_full_sync_required(), Some(o));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeQueue {
    limit: usize,
    records: VecDeque<Vec<u8>>,
    bytes: usize,
    full_sync_required: Option<QueueOverflow>,
}

/// A dropped queue: what was lost, so the agent can log it and full-sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOverflow {
    /// Records dropped, the one whose push overflowed included (summed
    /// over every overflow since the mark was last taken).
    pub records_dropped: u64,
    /// Serialized bytes dropped, counted the same way.
    pub bytes_dropped: u64,
    /// The queue's limit in bytes.
    pub limit: usize,
}

/// The log line for an overflow: what was dropped and what happens next.
///
/// ```
/// use idsync::agent::QueueOverflow;
/// let o = QueueOverflow { records_dropped: 3, bytes_dropped: 11, limit: 10 };
/// assert_eq!(
///     o.to_string(),
///     "local queue overflow: dropped 3 change records (11 bytes; limit 10 bytes); a full sync will run on reconnect"
/// );
/// ```
impl std::fmt::Display for QueueOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "local queue overflow: dropped {} change records ({} bytes; limit {} bytes); a full sync will run on reconnect",
            self.records_dropped, self.bytes_dropped, self.limit
        )
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an overflow must be logged and turned into a full sync"]
pub enum Pushed {
    /// The record is queued.
    Queued {
        /// Its serialized size.
        bytes: usize,
    },
    /// The queue overflowed and was dropped, this record with it.
    Overflowed(QueueOverflow),
}

impl ChangeQueue {
    /// An empty queue holding at most `limit_bytes` of serialized records.
    pub fn new(limit_bytes: usize) -> ChangeQueue {
        ChangeQueue {
            limit: limit_bytes,
            records: VecDeque::new(),
            bytes: 0,
            full_sync_required: None,
        }
    }

    /// An empty queue with the limit of `limits` (10 MiB by default).
    pub fn with_limits(limits: &Limits) -> ChangeQueue {
        ChangeQueue::new(limits.queue_bytes)
    }

    /// Serializes a record and pushes it.
    pub fn push(&mut self, change: &Change) -> Result<Pushed, ChangeError> {
        Ok(self.push_encoded(change.to_json()?))
    }

    /// Pushes a record already serialized with [`Change::to_json`].
    pub fn push_encoded(&mut self, record: Vec<u8>) -> Pushed {
        let len = record.len();
        if self.bytes.saturating_add(len) <= self.limit {
            self.bytes += len;
            self.records.push_back(record);
            return Pushed::Queued { bytes: len };
        }
        let records = self.records.len() as u64 + 1;
        let bytes = self.bytes as u64 + len as u64;
        self.records.clear();
        self.bytes = 0;
        let total = match self.full_sync_required {
            Some(prev) => QueueOverflow {
                records_dropped: prev.records_dropped + records,
                bytes_dropped: prev.bytes_dropped + bytes,
                limit: self.limit,
            },
            None => QueueOverflow {
                records_dropped: records,
                bytes_dropped: bytes,
                limit: self.limit,
            },
        };
        self.full_sync_required = Some(total);
        Pushed::Overflowed(QueueOverflow {
            records_dropped: records,
            bytes_dropped: bytes,
            limit: self.limit,
        })
    }

    /// Records queued.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Serialized bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The overflow mark, if the queue was dropped since the mark was last
    /// taken: the agent must full-sync on reconnect.
    pub fn full_sync_required(&self) -> Option<&QueueOverflow> {
        self.full_sync_required.as_ref()
    }

    /// Takes the overflow mark (when the agent reconnects and schedules the
    /// full sync).
    pub fn take_full_sync_required(&mut self) -> Option<QueueOverflow> {
        self.full_sync_required.take()
    }

    /// The oldest records, in order, as many as fit in `max_bytes` (at least
    /// one when the queue is not empty, so a record larger than a batch
    /// still goes).
    pub fn front(&self, max_bytes: usize) -> impl Iterator<Item = &[u8]> {
        let mut used = 0usize;
        self.records
            .iter()
            .enumerate()
            .take_while(move |(i, r)| {
                used = used.saturating_add(r.len());
                *i == 0 || used <= max_bytes
            })
            .map(|(_, r)| r.as_slice())
    }

    /// A batch's JSON from `header` and the oldest records that fit in
    /// `max_bytes`; returns the JSON and how many records it holds (pass
    /// that to [`ChangeQueue::acknowledge`] once the engine committed it).
    pub fn batch_json(
        &self,
        header: &BatchHeader,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, usize), ChangeError> {
        let n = self.front(max_bytes).count();
        Ok((header.to_json_with(self.front(max_bytes))?, n))
    }

    /// Removes the `count` oldest records (the engine committed them).
    /// Until then they stay queued, so a lost acknowledgement resends them
    /// (at-least-once; replays are idempotent).
    pub fn acknowledge(&mut self, count: usize) {
        for _ in 0..count {
            match self.records.pop_front() {
                Some(r) => self.bytes = self.bytes.saturating_sub(r.len()),
                None => break,
            }
        }
    }
}
