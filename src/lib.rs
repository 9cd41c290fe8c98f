//! # idsync
//!
//! The sync engine of a hybrid-identity service in the style of Microsoft
//! Entra Connect cloud sync: it reads an on-premises Active Directory (a full
//! read, then deltas) and keeps a cloud directory in step, one way, for
//! users, groups with direct memberships, and contacts.
//!
//! The engine is a pure state machine: it takes changes, a view of the target
//! and the current time as values, and returns a plan of target operations
//! with the reason for each, a provisioning log and a watermark to persist.
//! It never opens a socket or a file and never reads a clock; adapters at the
//! edge do the I/O.
//!
//! Modules, in the order data meets them:
//! - [`object`]: source objects, values, case-insensitive attribute names,
//!   resolved attribute slots;
//! - [`dn`]: RFC 4514 distinguished names;
//! - [`anchor`]: GUIDs, ImmutableIds and source anchors;
//! - [`ldif`]: an RFC 2849 LDIF reader (streaming records, entries as source objects).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anchor;
pub mod dn;
pub mod ldif;
pub mod object;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
