//! In-memory directories for tests, examples and benches: [`InMemoryAd`], an
//! Active Directory simulator (USNs, tombstones, moves and renames that keep
//! objectGUID, linked `member` values, an invocationId), and
//! [`InMemoryTarget`], an Entra-like cloud directory with the product's
//! uniqueness rules (duplicate attribute resiliency, verified domains, soft
//! delete).
//!
//! Both are deterministic: ids, GUIDs and placeholder digits come from
//! seeded counters, iteration is in a fixed order, and time is a value the
//! caller passes. They never perform I/O and never read a clock; they are
//! models of the real directories, not clients of them.

mod ad;
mod entra;
mod source;

pub use ad::{AdError, ChangedSince, DeltaStyle, FullRead, InMemoryAd, Tombstone};
pub use entra::{
    CloudObject, FaultRule, InMemoryTarget, LoggedOp, PasswordState, SOFT_DELETE_RETENTION_SECS,
};
pub use source::AdSource;
