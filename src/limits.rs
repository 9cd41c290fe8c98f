//! Every number of the product idsync follows, in one place: [`Limits`].
//!
//! The defaults are the specification's (DESIGN.md, "Facts the engine
//! models"); Microsoft's current pages give some of them differently (a
//! 2-minute scheduler, agents checking in every 10 minutes, 150,000 objects
//! per AD domain), and a host that follows those may change the fields that
//! are not fixed. This module only holds numbers and the checks that compare
//! against them; it never decides what to do when a limit is hit (the engine,
//! the registry and the queue do, and report it).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The delta interval: 30 seconds, fixed in the product (not configurable),
/// so it is a constant rather than a field of [`Limits`].
pub const DELTA_INTERVAL: Duration = Duration::from_secs(30);

/// The default accidental-deletion threshold per cycle (reference
/// `deletion.md`: default 500 objects).
pub const DELETION_THRESHOLD_DEFAULT: u32 = 500;

/// The smallest deletion threshold a configuration may set (10).
pub const DELETION_THRESHOLD_MIN: u32 = 10;

/// The largest deletion threshold a configuration may set (100,000).
pub const DELETION_THRESHOLD_MAX: u32 = 100_000;

/// The numbers the engine, the agent registry, the schedule and the queue
/// enforce. `Limits::default()` is the specification's values.
///
/// ```
/// use idsync::limits::Limits;
/// let l = Limits::default();
/// assert_eq!(l.max_agents_per_tenant, 20);
/// assert_eq!(l.queue_bytes, 10 * 1024 * 1024);
/// assert!(l.check_object_count(149_999, 1).is_ok());
/// assert!(l.check_object_count(150_000, 1).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How often an agent sends a heartbeat (specification: every 5 minutes;
    /// Microsoft's pages say agents check in every 10 minutes).
    #[serde(with = "secs")]
    pub heartbeat_interval: Duration,
    /// An agent with no heartbeat for this long is unhealthy and loses its
    /// configurations to the next healthy agent (specification: 30 minutes).
    #[serde(with = "secs")]
    pub unhealthy_after: Duration,
    /// Agents one tenant may register (specification: at most 20).
    pub max_agents_per_tenant: usize,
    /// Objects one configuration (so one agent) may hold (specification:
    /// at most 150,000; more objects need more agents with disjoint scopes).
    pub max_objects_per_configuration: u64,
    /// The agent's local queue, in bytes of serialized change records
    /// (specification: 10 MB, taken as 10 MiB = 10 * 1024 * 1024 =
    /// 10,485,760 bytes, the larger reading, so an agent never drops a queue
    /// the product would have kept).
    pub queue_bytes: usize,
    /// The deletion threshold per cycle (default 500, allowed 10 to
    /// 100,000; see [`Limits::check_deletion_threshold`]).
    pub deletion_threshold: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            heartbeat_interval: Duration::from_secs(5 * 60),
            unhealthy_after: Duration::from_secs(30 * 60),
            max_agents_per_tenant: 20,
            max_objects_per_configuration: 150_000,
            queue_bytes: 10 * 1024 * 1024,
            deletion_threshold: DELETION_THRESHOLD_DEFAULT,
        }
    }
}

/// A limit that was hit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A configuration would hold more objects than allowed; the engine
    /// refuses to grow (it never truncates).
    #[error(
        "object limit: the configuration holds {current} objects and {adding} more would exceed the limit of {max}; split the scope across more agents"
    )]
    TooManyObjects {
        /// Objects held now.
        current: u64,
        /// Objects the change would add.
        adding: u64,
        /// The limit.
        max: u64,
    },
    /// A deletion threshold outside 10..=100,000.
    #[error("deletion threshold {value}: allowed {min} to {max}")]
    DeletionThreshold {
        /// The value given.
        value: u32,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
}

impl Limits {
    /// The delta interval ([`DELTA_INTERVAL`], fixed).
    pub fn delta_interval(&self) -> Duration {
        DELTA_INTERVAL
    }

    /// Whether a configuration holding `current` objects may take `adding`
    /// more. The engine calls this before it grows the mirror and, on an
    /// error, refuses the growth and reports it.
    pub fn check_object_count(&self, current: u64, adding: u64) -> Result<(), LimitError> {
        match current.checked_add(adding) {
            Some(total) if total <= self.max_objects_per_configuration => Ok(()),
            _ => Err(LimitError::TooManyObjects {
                current,
                adding,
                max: self.max_objects_per_configuration,
            }),
        }
    }

    /// Checks a deletion threshold against the allowed range.
    ///
    /// ```
    /// use idsync::limits::Limits;
    /// assert!(Limits::check_deletion_threshold(10).is_ok());
    /// assert!(Limits::check_deletion_threshold(9).is_err());
    /// assert!(Limits::check_deletion_threshold(100_001).is_err());
    /// ```
    pub fn check_deletion_threshold(value: u32) -> Result<u32, LimitError> {
        if (DELETION_THRESHOLD_MIN..=DELETION_THRESHOLD_MAX).contains(&value) {
            Ok(value)
        } else {
            Err(LimitError::DeletionThreshold {
                value,
                min: DELETION_THRESHOLD_MIN,
                max: DELETION_THRESHOLD_MAX,
            })
        }
    }
}

/// Durations as whole seconds in the serialized form.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specification() {
        let l = Limits::default();
        assert_eq!(l.delta_interval(), Duration::from_secs(30));
        assert_eq!(l.heartbeat_interval, Duration::from_secs(300));
        assert_eq!(l.unhealthy_after, Duration::from_secs(1800));
        assert_eq!(l.max_agents_per_tenant, 20);
        assert_eq!(l.max_objects_per_configuration, 150_000);
        assert_eq!(l.queue_bytes, 10_485_760);
        assert_eq!(l.deletion_threshold, 500);
    }

    #[test]
    fn object_count_boundary() {
        let l = Limits::default();
        assert!(l.check_object_count(0, 150_000).is_ok());
        let e = l.check_object_count(150_000, 1).unwrap_err();
        assert_eq!(
            e,
            LimitError::TooManyObjects {
                current: 150_000,
                adding: 1,
                max: 150_000
            }
        );
        assert!(l.check_object_count(u64::MAX, 1).is_err());
    }

    #[test]
    fn serde_round_trip_and_partial_input() {
        let l = Limits::default();
        let json = serde_json::to_string(&l).unwrap();
        assert!(json.contains("\"heartbeat_interval\":300"));
        assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), l);
        let partial: Limits = serde_json::from_str(r#"{"queue_bytes": 1024}"#).unwrap();
        assert_eq!(partial.queue_bytes, 1024);
        assert_eq!(partial.max_agents_per_tenant, 20);
        assert!(serde_json::from_str::<Limits>(r#"{"delta_interval": 5}"#).is_err());
    }
}
