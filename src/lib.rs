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
//! - [`anchor`]: GUIDs, ImmutableIds, source anchors, hard and soft matching;
//! - [`time`]: time as a value (the engine never reads a clock);
//! - [`limits`]: every number of the product, in one place;
//! - [`change`]: the change records an agent sends, batches and watermarks;
//! - [`agent`]: agents, heartbeats, health, failover, the local queue and
//!   the schedule;
//! - [`source`]: the `DirectorySource` trait;
//! - [`expr`]: the attribute-mapping expression language (parse, check,
//!   compile, evaluate);
//! - [`mapping`]: attribute mappings, target schemas and the default mapping sets;
//! - [`scope`]: OU, group and attribute scoping, explanations, overlaps;
//! - [`config`]: a configuration, its validation and compiled form;
//! - [`engine`]: the mirror, export state, the cycle: plan, apply, commit;
//! - [`deletion`]: the deletion policy and the per-cycle gate;
//! - [`tenant`]: several configurations (forests, pilots) sharing one target:
//!   overlaps refused at load, duplicate anchors across them held as conflicts;
//! - [`target`]: the cloud side: target objects, plan operations, the
//!   `DirectoryTarget` trait;
//! - [`log`]: provisioning log entries;
//! - [`memory`]: in-memory Active Directory and Entra-like directories;
//! - [`graph`]: Microsoft Graph requests for target operations;
//! - [`ldif`]: an RFC 2849 LDIF reader, and LDIF as a `DirectorySource`;
//! - [`import`]: a cloud sync job's Microsoft Graph synchronization schema
//!   as an idsync configuration, with what it cannot express by JSON path.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
pub mod anchor;
pub mod change;
pub mod config;
pub mod deletion;
pub mod dn;
pub mod engine;
pub mod expr;
pub mod graph;
pub mod import;
pub mod ldif;
pub mod limits;
pub mod log;
pub mod mapping;
pub mod memory;
pub mod object;
pub mod scope;
pub mod source;
pub mod target;
pub mod tenant;
pub mod time;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
