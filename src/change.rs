//! The change records an agent sends, the batch that carries them, and the
//! watermark that says where in the source's history a batch stands.
//!
//! This module owns the wire format (version 1) and its decoder, the
//! [`Watermark`] and the rules that decide whether a batch continues what the
//! engine has [`Committed`]. It never applies a record to anything (the
//! engine's mirror does) and never reads a clock or does I/O.
//!
//! # The records
//!
//! - `add`: a whole object (a full read sends every object this way; a delta
//!   sends a new object this way). Applying it replaces what the mirror holds
//!   for that objectGUID, so a replayed `add` changes nothing.
//! - `modify`: only the changed attributes. Each change is either a
//!   whole-value `replace` (an empty list removes the attribute) or, for
//!   multi-valued attributes read with DirSync's INCREMENTAL_VALUES flag, the
//!   values `add`ed and `remove`d (`member;range=1-1` and `member;range=0-0`).
//! - `move`: a rename or a move: the new DN of the same objectGUID, with
//!   attribute changes when the object changed as well. A move to the DN the
//!   object already has is harmless, so an agent that cannot tell may send
//!   `move` for every changed object.
//! - `delete`: a tombstone: objectGUID, `isDeleted: true`, the tombstone DN
//!   (`CN=name\0ADEL:guid,CN=Deleted Objects,...`) and `lastKnownParent`
//!   when the source reported it. Objects are keyed by objectGUID, never DN.
//!
//! Records are applied in order, and a batch is all-or-nothing into the
//! mirror. A password hash travels in a field of its own (`passwordHash`) as
//! an [`object::Secret`](crate::object::Secret), never among the attributes,
//! so it is redacted in every `Debug` and log form.
//!
//! # The JSON form (version 1)
//!
//! Binary values (objectGUID, ms-DS-ConsistencyGuid, the DirSync cookie, the
//! password hash) are standard base64; objectGUID is the 16 bytes in AD's
//! order (the same bytes as the ImmutableId). Attribute values are typed once
//! per attribute: `{"str": [..]}`, `{"bytes": [base64, ..]}`, `{"int": [..]}`,
//! `{"bool": [..]}` or `{"dn": [..]}`. Unknown fields, unknown versions and
//! unknown record kinds are errors.
//!
//! ```
//! use idsync::change::{BatchKind, Change, ChangeBatch, Completeness, Watermark};
//! let json = r#"{
//!   "v": 1,
//!   "source": "corp.example.com",
//!   "since": {"usn": {"dc": "dc1.corp.example.com",
//!                     "invocationId": "0f6c3a8e-2b1d-4c5e-9a7f-112233445566",
//!                     "highestCommittedUSN": 20480}},
//!   "watermark": {"usn": {"dc": "dc1.corp.example.com",
//!                         "invocationId": "0f6c3a8e-2b1d-4c5e-9a7f-112233445566",
//!                         "highestCommittedUSN": 20517}},
//!   "kind": "delta",
//!   "records": [
//!     {"op": "add", "objectGUID": "Z0UjAauJ780BI0VniavN7w==",
//!      "dn": "CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com",
//!      "attributes": {
//!        "objectClass": {"str": ["top", "person", "organizationalPerson", "user"]},
//!        "givenName": {"str": ["Ann"]},
//!        "userAccountControl": {"int": [512]},
//!        "ms-DS-ConsistencyGuid": {"bytes": ["Z0UjAauJ780BI0VniavN7w=="]},
//!        "manager": {"dn": ["CN=Bo Chen,OU=Staff,DC=corp,DC=example,DC=com"]}},
//!      "passwordHash": "c2VjcmV0LWhhc2g="},
//!     {"op": "modify", "objectGUID": "Z0UjAauJ780BI0VniavN7w==",
//!      "changes": {"sn": {"replace": {"str": ["Lee-Smith"]}},
//!                  "telephoneNumber": {"replace": {"str": []}}}},
//!     {"op": "modify", "objectGUID": "AAAAAAAAAAAAAAAAAAAAAQ==",
//!      "changes": {"member": {
//!        "add": {"dn": ["CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com"]},
//!        "remove": {"dn": ["CN=Old Member,OU=Staff,DC=corp,DC=example,DC=com"]}}}},
//!     {"op": "move", "objectGUID": "Z0UjAauJ780BI0VniavN7w==",
//!      "dn": "CN=Ann Lee-Smith,OU=Sales,DC=corp,DC=example,DC=com",
//!      "changes": {"department": {"replace": {"str": ["Sales"]}}}},
//!     {"op": "delete", "objectGUID": "AAAAAAAAAAAAAAAAAAAAAg==", "isDeleted": true,
//!      "dn": "CN=Cy Doe\\0ADEL:00000000-0000-0000-0000-000000000002,CN=Deleted Objects,DC=corp,DC=example,DC=com",
//!      "lastKnownParent": "OU=Staff,DC=corp,DC=example,DC=com"}
//!   ]
//! }"#;
//! let batch = ChangeBatch::from_json(json.as_bytes())?;
//! assert_eq!(batch.header.kind, BatchKind::Delta);
//! assert_eq!(batch.records.len(), 5);
//! assert!(matches!(&batch.records[4], Change::Delete(t) if t.deleted_name() == Some("Cy Doe")));
//! assert!(!format!("{batch:?}").contains("c2VjcmV0"));
//! // The batch round-trips through its JSON form.
//! let again = ChangeBatch::from_json(&batch.to_json()?)?;
//! assert_eq!(again, batch);
//! # Ok::<(), idsync::change::ChangeError>(())
//! ```
//!
//! # Watermarks
//!
//! A batch names the watermark it was read `since` and the `watermark` it
//! reached. The engine checks the pair against what it has [`Committed`]
//! ([`Committed::check`]) before it applies a batch, and advances
//! ([`Committed::advance`]) only when it commits the batch that carried the
//! watermark, in the same step that commits the mirror. A crash before that
//! replays the batch; a replay after it is recognised and skipped, so replays
//! are idempotent either way.
//!
//! # Decoding speed
//!
//! Decoding is the delta hot path: one pass over the bytes, strings borrowed
//! from the input while they are looked at, values built straight into
//! [`Value`]s, no intermediate `serde_json::Value`. Error paths are built
//! only while an error travels outward; only when decoding fails is the
//! input read a second time, to tell bad JSON from bad content.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::anchor::Guid;
use crate::dn::Dn;
use crate::object::{AttrName, Attributes, Secret, Value, Values};

/// The version of the JSON form this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The record kinds of format version 1, as spelled in `op`.
pub const RECORD_KINDS: [&str; 4] = ["add", "modify", "move", "delete"];

// ---------------------------------------------------------------------------
// Identifiers and watermarks
// ---------------------------------------------------------------------------

/// The identifier of a configuration (one per forest or domain scope); a
/// batch names the configuration it was read for.
///
/// ```
/// use idsync::change::ConfigId;
/// let c = ConfigId::new("corp.example.com");
/// assert_eq!(c.as_str(), "corp.example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigId(Arc<str>);

impl ConfigId {
    /// A configuration id.
    pub fn new(id: &str) -> ConfigId {
        ConfigId(Arc::from(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ConfigId {
    fn from(s: &str) -> ConfigId {
        ConfigId::new(s)
    }
}

/// Where in a source directory's history a read stands.
///
/// Opaque to the engine's callers; persisted with the engine's state. It
/// advances only when the engine commits the batch that carried it.
///
/// ```
/// use idsync::anchor::Guid;
/// use idsync::change::{VoidReason, Watermark};
/// let old = Watermark::usn(100, Guid::from_u128(1), "dc1");
/// assert_eq!(Watermark::usn(150, Guid::from_u128(1), "dc1").void_reason(&old), None);
/// // A restored DC has a new invocationId: everything since is suspect.
/// assert!(matches!(
///     Watermark::usn(150, Guid::from_u128(2), "dc1").void_reason(&old),
///     Some(VoidReason::InvocationIdChanged { .. })
/// ));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Watermark {
    /// Nothing read yet: only a full read can start from here.
    #[default]
    None,
    /// A DirSync cookie (opaque bytes) and the domain controller that gave it.
    DirSync {
        /// The cookie, base64 in JSON.
        #[serde(with = "bytes_base64")]
        cookie: Arc<[u8]>,
        /// The domain controller's DNS name.
        dc: String,
    },
    /// uSNChanged polling: the DC's highestCommittedUSN read before the
    /// query, with that DC's invocationId (uSNs are per DC and per database
    /// incarnation).
    Usn {
        /// rootDSE highestCommittedUSN, read before the query.
        #[serde(rename = "highestCommittedUSN")]
        highest_committed_usn: u64,
        /// The invocationId of the DC's NTDS Settings object.
        #[serde(rename = "invocationId")]
        invocation_id: Guid,
        /// The domain controller's DNS name.
        dc: String,
    },
}

impl Watermark {
    /// A uSNChanged watermark.
    pub fn usn(highest_committed_usn: u64, invocation_id: Guid, dc: &str) -> Watermark {
        Watermark::Usn {
            highest_committed_usn,
            invocation_id,
            dc: dc.to_owned(),
        }
    }

    /// A DirSync watermark.
    pub fn dirsync(cookie: &[u8], dc: &str) -> Watermark {
        Watermark::DirSync {
            cookie: Arc::from(cookie),
            dc: dc.to_owned(),
        }
    }

    /// Whether nothing has been read yet.
    pub fn is_none(&self) -> bool {
        matches!(self, Watermark::None)
    }

    /// Whether two watermarks stand at the same position: the same cookie
    /// bytes (whichever DC gave them), or the same USN, invocationId and DC
    /// (DNS names compared without case). Batch continuity compares with
    /// this rather than `==`.
    ///
    /// ```
    /// use idsync::anchor::Guid;
    /// use idsync::change::Watermark;
    /// let a = Watermark::usn(7, Guid::from_u128(1), "DC1.corp.example.com");
    /// assert!(a.same_position(&Watermark::usn(7, Guid::from_u128(1), "dc1.corp.example.com")));
    /// assert!(!a.same_position(&Watermark::usn(8, Guid::from_u128(1), "dc1.corp.example.com")));
    /// ```
    pub fn same_position(&self, other: &Watermark) -> bool {
        match (self, other) {
            (Watermark::None, Watermark::None) => true,
            (Watermark::DirSync { cookie: a, .. }, Watermark::DirSync { cookie: b, .. }) => a == b,
            (
                Watermark::Usn {
                    highest_committed_usn: ua,
                    invocation_id: ia,
                    dc: da,
                },
                Watermark::Usn {
                    highest_committed_usn: ub,
                    invocation_id: ib,
                    dc: db,
                },
            ) => ua == ub && ia == ib && da.eq_ignore_ascii_case(db),
            _ => false,
        }
    }

    /// Why `self` (a newer watermark from the source) cannot continue `old`,
    /// or `None` when it does. A void watermark means a full sync is
    /// required: changes between the two may never be reported.
    ///
    /// - uSNChanged: a different invocationId (the DC was restored, or it is
    ///   another database), a different DC (uSNs are per DC), or a USN lower
    ///   than before.
    /// - DirSync: any cookie continues another (the cookie is opaque, and a
    ///   different DC may accept it and resend changes, which are latest
    ///   state and so harmless); switching between DirSync and uSNChanged
    ///   voids.
    /// - A `None` after something was read voids (the agent lost its state);
    ///   anything continues `None`.
    pub fn void_reason(&self, old: &Watermark) -> Option<VoidReason> {
        match (old, self) {
            (Watermark::None, _) => None,
            (_, Watermark::None) => Some(VoidReason::Reset),
            (Watermark::DirSync { .. }, Watermark::DirSync { .. }) => None,
            (
                Watermark::Usn {
                    highest_committed_usn: old_usn,
                    invocation_id: old_id,
                    dc: old_dc,
                },
                Watermark::Usn {
                    highest_committed_usn: new_usn,
                    invocation_id: new_id,
                    dc: new_dc,
                },
            ) => {
                if !old_dc.eq_ignore_ascii_case(new_dc) {
                    Some(VoidReason::DcChanged {
                        old: old_dc.clone(),
                        new: new_dc.clone(),
                    })
                } else if old_id != new_id {
                    Some(VoidReason::InvocationIdChanged {
                        old: *old_id,
                        new: *new_id,
                    })
                } else if new_usn < old_usn {
                    Some(VoidReason::UsnWentBack {
                        old: *old_usn,
                        new: *new_usn,
                    })
                } else {
                    None
                }
            }
            _ => Some(VoidReason::MethodChanged),
        }
    }
}

impl fmt::Debug for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Watermark::None => f.write_str("Watermark::None"),
            Watermark::DirSync { cookie, dc } => {
                write!(
                    f,
                    "Watermark::DirSync({} cookie bytes from {dc})",
                    cookie.len()
                )
            }
            Watermark::Usn {
                highest_committed_usn,
                invocation_id,
                dc,
            } => write!(
                f,
                "Watermark::Usn({highest_committed_usn} on {dc}, invocation {invocation_id})"
            ),
        }
    }
}

/// Why a watermark is void, so a full sync is required.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum VoidReason {
    /// The DC's invocationId changed: it was restored from backup (or it is
    /// another database); uSNs since the old one may be reused.
    #[error("invocationId changed from {old} to {new}")]
    InvocationIdChanged {
        /// The committed invocationId.
        old: Guid,
        /// The new one.
        new: Guid,
    },
    /// uSNs are per DC; another DC's numbers mean nothing against these.
    #[error("domain controller changed from {old} to {new}")]
    DcChanged {
        /// The committed DC.
        old: String,
        /// The new one.
        new: String,
    },
    /// The same DC and invocationId with a lower USN.
    #[error("highestCommittedUSN went back from {old} to {new}")]
    UsnWentBack {
        /// The committed USN.
        old: u64,
        /// The new one.
        new: u64,
    },
    /// DirSync and uSNChanged watermarks do not continue each other.
    #[error("the change-reading method changed between dirsync and uSNChanged")]
    MethodChanged,
    /// The agent sent no watermark after one was committed.
    #[error("the agent lost its watermark")]
    Reset,
    /// A delta arrived and nothing has been committed yet.
    #[error("no watermark committed yet")]
    NoBaseline,
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// What kind of read a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum BatchKind {
    /// Changes since the batch's `since` watermark.
    Delta,
    /// One page of a full read. A full read is split into pages (one batch
    /// each, numbered from 0); its last page says whether it finished.
    Full {
        /// The page number within this full read, from 0.
        page: u32,
        /// Whether more pages follow, the read finished, or it was cut short.
        completeness: Completeness,
        /// Objects read so far in this full read, this page included (on
        /// the last page: the total).
        objects: u64,
    },
}

/// Where a full read stands after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Completeness {
    /// More pages follow.
    InProgress,
    /// The read finished: every object in scope was sent, so an object the
    /// engine holds and the read did not send is gone from the source.
    Finished,
    /// The read stopped early (an error, a limit): the engine applies what
    /// it got but must not infer deletions, and another full read is due.
    CutShort,
}

/// Everything about a batch except its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHeader {
    /// The configuration the batch was read for.
    pub source: ConfigId,
    /// The watermark the read started from (`None` for the first page of a
    /// full read).
    pub since: Watermark,
    /// The watermark the read reached.
    pub watermark: Watermark,
    /// Full read page or delta.
    pub kind: BatchKind,
}

/// A batch of change records, as an agent sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeBatch {
    /// Source, watermarks and kind.
    pub header: BatchHeader,
    /// The records, applied in order.
    pub records: Vec<Change>,
}

/// One change record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A whole object (full read, or a new object in a delta).
    Add {
        /// objectGUID.
        guid: Guid,
        /// The object's DN.
        dn: Dn,
        /// All its attributes (the ones the agent reads).
        attributes: Attributes,
        /// The password hash, when password hash sync is on.
        password_hash: Option<Secret>,
    },
    /// Changed attributes only.
    Modify {
        /// objectGUID.
        guid: Guid,
        /// The changes, in order.
        changes: Vec<AttrChange>,
        /// A new password hash.
        password_hash: Option<Secret>,
    },
    /// A rename or a move (new DN, same objectGUID), with attribute changes
    /// when there are any.
    Move {
        /// objectGUID.
        guid: Guid,
        /// The new DN.
        dn: Dn,
        /// Attribute changes that came with the move.
        changes: Vec<AttrChange>,
        /// A new password hash.
        password_hash: Option<Secret>,
    },
    /// A deletion (a tombstone).
    Delete(Tombstone),
}

impl Change {
    /// The object's objectGUID.
    pub fn guid(&self) -> Guid {
        match self {
            Change::Add { guid, .. } | Change::Modify { guid, .. } | Change::Move { guid, .. } => {
                *guid
            }
            Change::Delete(t) => t.guid,
        }
    }

    /// The record kind as spelled in `op`.
    pub fn op(&self) -> &'static str {
        match self {
            Change::Add { .. } => "add",
            Change::Modify { .. } => "modify",
            Change::Move { .. } => "move",
            Change::Delete(_) => "delete",
        }
    }

    /// The password hash the record carries, if any.
    pub fn password_hash(&self) -> Option<&Secret> {
        match self {
            Change::Add { password_hash, .. }
            | Change::Modify { password_hash, .. }
            | Change::Move { password_hash, .. } => password_hash.as_ref(),
            Change::Delete(_) => None,
        }
    }

    /// The record's JSON form (one element of a batch's `records`). Its
    /// length is what the agent's queue counts.
    pub fn to_json(&self) -> Result<Vec<u8>, ChangeError> {
        serde_json::to_vec(self).map_err(|e| ChangeError::Encode {
            message: e.to_string(),
        })
    }

    /// Decodes one record from its JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Change, ChangeError> {
        match decode_fast::<Change>(bytes) {
            Ok(c) => Ok(c),
            Err(fast) => Err(diagnose_record(bytes, fast)),
        }
    }
}

/// A deleted object as the source reports it: `isDeleted` is true, most
/// attributes are gone, the DN has the tombstone form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// objectGUID (the only reliable key: the DN changed on deletion).
    pub guid: Guid,
    /// The tombstone DN: `CN=name\0ADEL:guid,CN=Deleted Objects,<NC>`.
    pub dn: Dn,
    /// Where the object lived before it was deleted, when reported.
    pub last_known_parent: Option<Dn>,
}

impl Tombstone {
    /// A tombstone with its DN built the way Active Directory builds it.
    ///
    /// ```
    /// use idsync::anchor::Guid;
    /// use idsync::change::Tombstone;
    /// use idsync::dn::Dn;
    /// let g = Guid::from_u128(7);
    /// let t = Tombstone::new(g, "Ann Lee", &Dn::parse("DC=corp,DC=example")?, None)?;
    /// assert_eq!(
    ///     t.dn.as_str(),
    ///     "CN=Ann Lee\\0ADEL:00000000-0000-0000-0000-000000000007,CN=Deleted Objects,DC=corp,DC=example"
    /// );
    /// assert_eq!(t.deleted_name(), Some("Ann Lee"));
    /// # Ok::<(), idsync::dn::DnError>(())
    /// ```
    pub fn new(
        guid: Guid,
        name: &str,
        naming_context: &Dn,
        last_known_parent: Option<Dn>,
    ) -> Result<Tombstone, crate::dn::DnError> {
        let deleted = naming_context.child("CN=Deleted Objects")?;
        let mut rdn = String::from("CN=");
        for c in name.chars() {
            if matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' | '#') {
                rdn.push('\\');
            }
            rdn.push(c);
        }
        let _ = write!(rdn, "\\0ADEL:{guid}");
        Ok(Tombstone {
            guid,
            dn: deleted.child(&rdn)?,
            last_known_parent,
        })
    }

    /// The name the object had before deletion (the part of the first RDN
    /// before `\0ADEL:`), when the DN has the tombstone form.
    pub fn deleted_name(&self) -> Option<&str> {
        tombstone_parts(&self.dn).map(|(name, _)| name)
    }
}

/// Splits a tombstone DN's leaf RDN text (`CN=name\0ADEL:guid`) into the
/// escaped name and the GUID text.
fn tombstone_parts(dn: &Dn) -> Option<(&str, &str)> {
    let rdn = dn.rdn()?;
    let (_, value) = rdn.split_once('=')?;
    value.split_once("\\0ADEL:")
}

/// A change to one attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrChange {
    /// The attribute.
    pub name: AttrName,
    /// What changed.
    pub op: AttrOp,
}

/// How an attribute changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AttrOp {
    /// The attribute's values are now exactly these (none: it was cleared).
    Replace(Values),
    /// Values added and removed (DirSync INCREMENTAL_VALUES, `member`).
    Incremental {
        /// Values added (`range=1-1`).
        add: Values,
        /// Values removed (`range=0-0`).
        remove: Values,
    },
}

impl AttrOp {
    /// Applies the change to an attribute's current values: a replace sets
    /// them, an incremental change removes then adds (adding a value already
    /// present, or removing one that is absent, changes nothing, so a
    /// replayed change is harmless). DN values compare by normalized form.
    ///
    /// ```
    /// use idsync::change::AttrOp;
    /// use idsync::object::{Value, Values};
    /// let mut v: Values = [Value::str("a"), Value::str("b")].into_iter().collect();
    /// let op = AttrOp::Incremental {
    ///     add: [Value::str("c"), Value::str("a")].into_iter().collect(),
    ///     remove: [Value::str("b")].into_iter().collect(),
    /// };
    /// op.apply(&mut v);
    /// op.apply(&mut v);
    /// assert_eq!(v.as_slice(), &[Value::str("a"), Value::str("c")]);
    /// ```
    pub fn apply(&self, current: &mut Values) {
        match self {
            AttrOp::Replace(values) => current.clone_from(values),
            AttrOp::Incremental { add, remove } => {
                current.retain(|v| !remove.contains(v));
                for v in add {
                    if !current.contains(v) {
                        current.push(v.clone());
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Continuity of batches against what was committed
// ---------------------------------------------------------------------------

/// What the engine has committed for one configuration: the watermark of
/// the last committed delta or finished full read, and where a full read in
/// progress stands. The agent registry keeps one per configuration, so a
/// failover resumes exactly here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The watermark deltas continue from.
    pub watermark: Watermark,
    /// A full read whose pages are being committed, if any.
    pub full_read: Option<FullReadProgress>,
}

/// A full read in progress: pages committed so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullReadProgress {
    /// The page expected next.
    pub next_page: u32,
    /// The watermark of the last committed page (the next page's `since`).
    pub last: Watermark,
    /// Objects read so far.
    pub objects: u64,
}

/// What to do with a batch whose position checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resume {
    /// It continues what was committed: apply it, then commit.
    Apply,
    /// It was committed before (a replay after a crash or a lost
    /// acknowledgement): skip it, changing nothing.
    AlreadyApplied,
}

/// Why a batch cannot be applied where the committed state stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The watermark is void: a full sync is required.
    #[error("full sync required: {reason}")]
    FullSyncRequired {
        /// Why.
        reason: VoidReason,
    },
    /// The batch does not start where the committed state stands and was
    /// not committed before: applying it would leave a gap or reorder.
    #[error("batch starts at {since:?} but the committed watermark is {committed:?}")]
    Gap {
        /// Where the batch starts.
        since: Watermark,
        /// Where the committed state stands.
        committed: Watermark,
    },
    /// A full-read page out of order.
    #[error("full read page {page}: expected page {expected}")]
    PageOutOfOrder {
        /// The page that arrived.
        page: u32,
        /// The page expected (0 when no full read is in progress).
        expected: u32,
    },
}

impl Committed {
    /// Decides whether the batch with this header may be applied.
    ///
    /// - delta: `since` must equal the committed watermark (an empty delta
    ///   has `since == watermark`); a delta whose `watermark` equals the
    ///   committed one was already applied; a void pair means full sync;
    /// - full read page 0: always applies (a full read starts over);
    /// - page n > 0: must be the next page and start at the last page's
    ///   watermark; an earlier page was already applied.
    ///
    /// ```
    /// use idsync::anchor::Guid;
    /// use idsync::change::*;
    /// let w = |usn| Watermark::usn(usn, Guid::from_u128(9), "dc1");
    /// let mut c = Committed { watermark: w(10), full_read: None };
    /// let h = BatchHeader { source: "corp".into(), since: w(10), watermark: w(20), kind: BatchKind::Delta };
    /// assert_eq!(c.check(&h), Ok(Resume::Apply));
    /// c.advance(&h);
    /// assert_eq!(c.check(&h), Ok(Resume::AlreadyApplied)); // a replay
    /// ```
    pub fn check(&self, header: &BatchHeader) -> Result<Resume, ResumeError> {
        match header.kind {
            BatchKind::Delta => self.check_delta(header),
            BatchKind::Full { page: 0, .. } => Ok(Resume::Apply),
            BatchKind::Full { page, .. } => match &self.full_read {
                Some(p) if page == p.next_page && header.since.same_position(&p.last) => {
                    Ok(Resume::Apply)
                }
                Some(p) if page == p.next_page => Err(ResumeError::Gap {
                    since: header.since.clone(),
                    committed: p.last.clone(),
                }),
                Some(p) if page < p.next_page => Ok(Resume::AlreadyApplied),
                Some(p) => Err(ResumeError::PageOutOfOrder {
                    page,
                    expected: p.next_page,
                }),
                // The last page of a read was committed: its watermark is
                // the committed one.
                None if header.watermark.same_position(&self.watermark)
                    && !self.watermark.is_none() =>
                {
                    Ok(Resume::AlreadyApplied)
                }
                None => Err(ResumeError::PageOutOfOrder { page, expected: 0 }),
            },
        }
    }

    fn check_delta(&self, header: &BatchHeader) -> Result<Resume, ResumeError> {
        if self.watermark.is_none() {
            return Err(ResumeError::FullSyncRequired {
                reason: VoidReason::NoBaseline,
            });
        }
        if header.since.same_position(&self.watermark) {
            return match header.watermark.void_reason(&self.watermark) {
                Some(reason) => Err(ResumeError::FullSyncRequired { reason }),
                None => Ok(Resume::Apply),
            };
        }
        if header.watermark.same_position(&self.watermark) {
            return Ok(Resume::AlreadyApplied);
        }
        match header.since.void_reason(&self.watermark) {
            Some(reason) => Err(ResumeError::FullSyncRequired { reason }),
            None => match header.watermark.void_reason(&self.watermark) {
                Some(reason) => Err(ResumeError::FullSyncRequired { reason }),
                None => Err(ResumeError::Gap {
                    since: header.since.clone(),
                    committed: self.watermark.clone(),
                }),
            },
        }
    }

    /// Records that the batch with this header was committed (call only
    /// after [`Committed::check`] said [`Resume::Apply`], in the same step
    /// that commits the mirror). A finished full read sets the watermark; a
    /// cut-short one leaves it where it was.
    pub fn advance(&mut self, header: &BatchHeader) {
        match header.kind {
            BatchKind::Delta => self.watermark = header.watermark.clone(),
            BatchKind::Full {
                page,
                completeness,
                objects,
            } => match completeness {
                Completeness::InProgress => {
                    self.full_read = Some(FullReadProgress {
                        next_page: page.saturating_add(1),
                        last: header.watermark.clone(),
                        objects,
                    });
                }
                Completeness::Finished => {
                    self.full_read = None;
                    self.watermark = header.watermark.clone();
                }
                Completeness::CutShort => self.full_read = None,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A change batch or record that could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// Not JSON (or truncated).
    #[error("json line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// A format version this build does not read.
    #[error("v: unsupported format version {found}; this build reads version 1")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
    /// A record kind this version does not have.
    #[error(
        "records[{index}].op: unknown record kind {kind:?}; expected add, modify, move or delete"
    )]
    UnknownRecordKind {
        /// The record's index in `records`.
        index: usize,
        /// The kind found.
        kind: String,
    },
    /// A field that is missing, of the wrong type, or not valid.
    #[error("{}{message}", path_prefix(.path))]
    Invalid {
        /// Where, like `records[12].attributes.objectGUID.bytes[0]`.
        path: String,
        /// The record's index, when the problem is inside a record.
        record: Option<usize>,
        /// What was wrong.
        message: String,
    },
    /// A value that cannot be written in the JSON form (mixed value types
    /// in one attribute, a secret among the attributes).
    #[error("encode: {message}")]
    Encode {
        /// What was wrong.
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        "change batch: ".to_owned()
    } else {
        format!("{path}: ")
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

impl ChangeBatch {
    /// Decodes a batch from its JSON form (see the module docs).
    pub fn from_json(bytes: &[u8]) -> Result<ChangeBatch, ChangeError> {
        // Growing the record list by doubling copies it over and over; a
        // record takes well over 128 bytes of JSON, so room for one per 128
        // bytes is enough and what is left over is given back at the end.
        let seed = BatchVisitor((bytes.len() / 128).min(1 << 20));
        match decode_fast_seed(bytes, seed) {
            Ok(batch) => Ok(batch),
            Err(fast) => Err(diagnose_batch(bytes, fast)),
        }
    }

    /// The batch's JSON form.
    pub fn to_json(&self) -> Result<Vec<u8>, ChangeError> {
        serde_json::to_vec(self).map_err(|e| ChangeError::Encode {
            message: e.to_string(),
        })
    }
}

impl BatchHeader {
    /// A batch's JSON form from this header and records already encoded
    /// with [`Change::to_json`] (the agent's queue holds them that way).
    pub fn to_json_with<'a>(
        &self,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<u8>, ChangeError> {
        let enc = |e: serde_json::Error| ChangeError::Encode {
            message: e.to_string(),
        };
        let mut out = Vec::new();
        out.extend_from_slice(b"{\"v\":1,\"source\":");
        serde_json::to_writer(&mut out, &self.source).map_err(enc)?;
        out.extend_from_slice(b",\"since\":");
        serde_json::to_writer(&mut out, &self.since).map_err(enc)?;
        out.extend_from_slice(b",\"watermark\":");
        serde_json::to_writer(&mut out, &self.watermark).map_err(enc)?;
        out.extend_from_slice(b",\"kind\":");
        serde_json::to_writer(&mut out, &self.kind).map_err(enc)?;
        out.extend_from_slice(b",\"records\":[");
        for (i, r) in records.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(r);
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

/// The one-pass decode. Input that is valid UTF-8 as a whole (all of it,
/// in practice) is checked once up front and parsed as text, so serde_json
/// does not validate every string it hands out on its own; anything else
/// takes the byte parser, which reports the bad sequence where it is.
fn decode_fast<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, serde_json::Error> {
    decode_fast_seed(bytes, std::marker::PhantomData::<T>)
}

/// [`decode_fast`] with a seed; the same steps as `serde_json::from_str`
/// and `from_slice` (the value, then nothing but whitespace after it).
fn decode_fast_seed<'de, S: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(value)
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let value = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(value)
        }
    }
}

/// Error paths are built while an error travels outward: each level puts
/// its segment in front (`.field` or `[index]`), and the innermost message
/// follows `: `. Segments never contain `": "`, so the path splits off again.
fn wrap<E: de::Error>(segment: fmt::Arguments<'_>, inner: E) -> E {
    let inner = inner.to_string();
    if inner.starts_with('.') || inner.starts_with('[') {
        E::custom(format_args!("{segment}{inner}"))
    } else {
        E::custom(format_args!("{segment}: {inner}"))
    }
}

/// A map key as a path segment: plain names as `.name`, anything else
/// quoted with every unusual character escaped.
struct KeySeg<'a>(&'a str);

impl fmt::Display for KeySeg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b';'));
        if plain {
            return write!(f, ".{}", self.0);
        }
        f.write_str("[\"")?;
        for c in self.0.chars() {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | ';') {
                f.write_char(c)?;
            } else {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            }
        }
        f.write_str("\"]")
    }
}

/// A string borrowed from the input when it has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Str<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The values of the standard base64 alphabet; 0xff for anything else.
const BASE64_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The 16 bytes of a GUID in the one form the encoder writes (22 base64
/// digits and `==`, unused bits zero), or `None` for anything else, which
/// the general decoder then accepts or rejects with its message.
fn guid_bytes_fast(text: &[u8]) -> Option<[u8; 16]> {
    let (digits, pad) = text.split_at_checked(22)?;
    let (quads, [last0, last1]) = digits.split_at_checked(20)? else {
        return None;
    };
    if pad != b"==" {
        return None;
    }
    // Invalid digits map to 0xff: or-ing every value shows whether any was.
    let mut all = 0u8;
    let mut value = |c: u8| {
        let v = BASE64_VALUE[usize::from(c)];
        all |= v;
        u32::from(v)
    };
    let mut out = [0u8; 16];
    for (quad, three) in quads.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        if let [a, b, c, d] = *quad {
            let n = value(a) << 18 | value(b) << 12 | value(c) << 6 | value(d);
            let [_, x, y, z] = n.to_be_bytes();
            three.copy_from_slice(&[x, y, z]);
        }
    }
    // 12 bits left for the last byte: the low 4 must be zero (canonical).
    let n = value(*last0) << 6 | value(*last1);
    if all & 0x80 != 0 || n & 0xf != 0 {
        return None;
    }
    if let Some(b) = out.last_mut() {
        *b = (n >> 4) as u8;
    }
    Some(out)
}

fn decode_guid<E: de::Error>(text: &str) -> Result<Guid, E> {
    if let Some(bytes) = guid_bytes_fast(text.as_bytes()) {
        if let Ok(guid) = Guid::from_ad_bytes(&bytes) {
            return Ok(guid);
        }
    }
    let mut buf = [0u8; 18];
    let n = BASE64
        .decode_slice(text.as_bytes(), &mut buf)
        .map_err(|_| E::custom("invalid base64"))?;
    let bytes = buf.get(..n).unwrap_or(&[]);
    Guid::from_ad_bytes(bytes)
        .map_err(|_| E::custom(format_args!("expected 16 bytes of objectGUID, found {n}")))
}

/// Agents send DNs in canonical form, which the plain check takes without
/// the general parser; anything else (and every error) goes through it.
fn decode_dn<E: de::Error>(text: &str) -> Result<Dn, E> {
    match Dn::parse_plain(text) {
        Some(dn) => Ok(dn),
        None => Dn::parse(text).map_err(|e| E::custom(format_args!("invalid dn: {e}"))),
    }
}

fn decode_bytes<E: de::Error>(text: &str) -> Result<Arc<[u8]>, E> {
    // Usual values (GUIDs, SIDs) decode on the stack and are copied once
    // into their final allocation.
    let mut buf = [0u8; 128];
    if base64::decoded_len_estimate(text.len()) <= buf.len() {
        let n = BASE64
            .decode_slice(text.as_bytes(), &mut buf)
            .map_err(|_| E::custom("invalid base64"))?;
        Ok(Arc::from(buf.get(..n).unwrap_or(&[])))
    } else {
        BASE64
            .decode(text.as_bytes())
            .map(Arc::from)
            .map_err(|_| E::custom("invalid base64"))
    }
}

/// The value types of the JSON form, one per attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueType {
    Str,
    Bytes,
    Int,
    Bool,
    Dn,
}

impl ValueType {
    fn parse(key: &str) -> Option<ValueType> {
        Some(match key {
            "str" => ValueType::Str,
            "bytes" => ValueType::Bytes,
            "int" => ValueType::Int,
            "bool" => ValueType::Bool,
            "dn" => ValueType::Dn,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Bytes => "bytes",
            ValueType::Int => "int",
            ValueType::Bool => "bool",
            ValueType::Dn => "dn",
        }
    }

    fn of(v: &Value) -> Option<ValueType> {
        Some(match v {
            Value::Str(_) => ValueType::Str,
            Value::Bytes(_) => ValueType::Bytes,
            Value::Int(_) => ValueType::Int,
            Value::Bool(_) => ValueType::Bool,
            Value::Dn(_) => ValueType::Dn,
            _ => return None,
        })
    }
}

/// One value of a known type.
struct OneValue(ValueType);

impl<'de> DeserializeSeed<'de> for OneValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Ok(match self.0 {
            ValueType::Str => Value::Str(Arc::from(&*Str::deserialize(d)?.0)),
            ValueType::Bytes => Value::Bytes(decode_bytes(&Str::deserialize(d)?.0)?),
            ValueType::Int => Value::Int(i64::deserialize(d)?),
            ValueType::Bool => Value::Bool(bool::deserialize(d)?),
            ValueType::Dn => Value::Dn(decode_dn(&Str::deserialize(d)?.0)?),
        })
    }
}

/// A list of values of one type.
struct ValueList(ValueType);

impl<'de> DeserializeSeed<'de> for ValueList {
    type Value = Values;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Values, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValueList {
    type Value = Values;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {} values", self.0.name())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
        // Gathered on the stack, then moved into a list of the final size
        // (inline for one value): one allocation instead of one per growth.
        let mut out: SmallVec<[Value; 8]> = SmallVec::new();
        loop {
            let i = out.len();
            match seq.next_element_seed(OneValue(self.0)) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => return Ok(out.into_iter().collect()),
                Err(e) => return Err(wrap(format_args!("[{i}]"), e)),
            }
        }
    }
}

/// `{"<type>": [values]}`.
struct TypedValues;

impl<'de> DeserializeSeed<'de> for TypedValues {
    type Value = Values;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Values, D::Error> {
        d.deserialize_map(self)
    }
}

const TYPE_EXPECTED: &str = "expected exactly one of str, bytes, int, bool, dn";

impl<'de> Visitor<'de> for TypedValues {
    type Value = Values;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with one value type: str, bytes, int, bool or dn")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Values, A::Error> {
        let Some(key) = map.next_key::<Str<'de>>()? else {
            return Err(de::Error::custom(TYPE_EXPECTED));
        };
        let Some(ty) = ValueType::parse(&key.0) else {
            return Err(wrap(
                format_args!("{}", KeySeg(&key.0)),
                de::Error::custom(TYPE_EXPECTED),
            ));
        };
        let values = map
            .next_value_seed(ValueList(ty))
            .map_err(|e| wrap(format_args!(".{}", ty.name()), e))?;
        if let Some(extra) = map.next_key::<Str<'de>>()? {
            return Err(wrap(
                format_args!("{}", KeySeg(&extra.0)),
                de::Error::custom(TYPE_EXPECTED),
            ));
        }
        Ok(values)
    }
}

/// Attribute names seen in this batch, so each distinct spelling is
/// allocated once per batch rather than once per record. Each spelling also
/// has a class, the same for names equal without case, so a record's
/// duplicate check is a bit test. Bounded: past `NAMES_MAX` spellings
/// (hostile input) new ones are not kept, and a name equal to none kept
/// gets no class (its check scans, as every check once did).
#[derive(Default)]
struct Names(Vec<(AttrName, u8)>);

/// At most 64, so a class is a bit of a `u64`.
const NAMES_MAX: usize = 64;

impl Names {
    fn get(&mut self, name: &str) -> (AttrName, Option<u8>) {
        if let Some((n, class)) = self.0.iter().find(|(n, _)| n.as_str() == name) {
            return (n.clone(), Some(*class));
        }
        let n = AttrName::new(name);
        let class = match self.0.iter().find(|(m, _)| m.is(name)) {
            Some(&(_, class)) => Some(class),
            // Classes are only made while there is room, so a name without
            // one never equals a name with one.
            None if self.0.len() < NAMES_MAX => Some(self.0.len() as u8),
            None => None,
        };
        if let Some(class) = class {
            if self.0.len() < NAMES_MAX {
                self.0.push((n.clone(), class));
            }
        }
        (n, class)
    }
}

/// What one batch's decode keeps between records: the names, and buffers
/// a record's attributes and changes are gathered in, so each record's
/// list is allocated once at its final size.
#[derive(Default)]
struct Scratch {
    names: Names,
    attrs: Vec<(AttrName, Values)>,
    changes: Vec<AttrChange>,
}

/// The scratch list's elements in a list of their own, allocated at its
/// final size; the scratch keeps its capacity for the next record.
fn exact<T>(scratch: &mut Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(scratch.len());
    out.append(scratch);
    out
}

/// The classes of the names a map has kept so far.
#[derive(Default)]
struct Seen(u64);

impl Seen {
    /// Whether `name` equals (without case) a name kept before; `kept`
    /// lists them, for a name without a class.
    fn duplicate<'a>(
        &self,
        class: Option<u8>,
        name: &str,
        mut kept: impl Iterator<Item = &'a AttrName>,
    ) -> bool {
        match class {
            Some(c) => self.0 & 1 << c != 0,
            None => kept.any(|n| n.is(name)),
        }
    }

    fn keep(&mut self, class: Option<u8>) {
        if let Some(c) = class {
            self.0 |= 1 << c;
        }
    }
}

fn duplicate_attribute<E: de::Error>(key: &str) -> E {
    wrap(
        format_args!("{}", KeySeg(key)),
        de::Error::custom("duplicate attribute"),
    )
}

/// `{"name": {"<type>": [..]}, ..}` into [`Attributes`].
struct AttributesSeed<'n>(&'n mut Scratch);

impl<'de> DeserializeSeed<'de> for AttributesSeed<'_> {
    type Value = Attributes;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Attributes, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AttributesSeed<'_> {
    type Value = Attributes;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of attributes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
        let Scratch { names, attrs, .. } = self.0;
        attrs.clear();
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let values = map
                .next_value_seed(TypedValues)
                .map_err(|e| wrap(format_args!("{}", KeySeg(&key.0)), e))?;
            let (name, class) = names.get(&key.0);
            // An attribute may be present with no values; a duplicate name
            // (in any case) of one kept would make the record ambiguous.
            if seen.duplicate(class, &key.0, attrs.iter().map(|(n, _)| n)) {
                return Err(duplicate_attribute(&key.0));
            }
            if values.is_empty() {
                continue;
            }
            seen.keep(class);
            attrs.push((name, values));
        }
        Ok(Attributes::from_checked(exact(attrs)))
    }
}

/// `{"name": {"replace": ..} | {"add": .., "remove": ..}, ..}`.
struct ChangesSeed<'n>(&'n mut Scratch);

impl<'de> DeserializeSeed<'de> for ChangesSeed<'_> {
    type Value = Vec<AttrChange>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<AttrChange>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ChangesSeed<'_> {
    type Value = Vec<AttrChange>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of attribute changes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<AttrChange>, A::Error> {
        let Scratch { names, changes, .. } = self.0;
        changes.clear();
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let op = map
                .next_value_seed(AttrOpSeed)
                .map_err(|e| wrap(format_args!("{}", KeySeg(&key.0)), e))?;
            let (name, class) = names.get(&key.0);
            if seen.duplicate(class, &key.0, changes.iter().map(|c| &c.name)) {
                return Err(duplicate_attribute(&key.0));
            }
            seen.keep(class);
            changes.push(AttrChange { name, op });
        }
        Ok(exact(changes))
    }
}

struct AttrOpSeed;

impl<'de> DeserializeSeed<'de> for AttrOpSeed {
    type Value = AttrOp;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AttrOp, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AttrOpSeed {
    type Value = AttrOp;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with replace, or add and/or remove")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttrOp, A::Error> {
        let mut replace = None;
        let mut add = None;
        let mut remove = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let slot = match &*key.0 {
                "replace" => &mut replace,
                "add" => &mut add,
                "remove" => &mut remove,
                other => {
                    return Err(wrap(
                        format_args!("{}", KeySeg(other)),
                        de::Error::custom("unknown field; expected replace, add or remove"),
                    ));
                }
            };
            if slot.is_some() {
                return Err(wrap(
                    format_args!("{}", KeySeg(&key.0)),
                    de::Error::custom("duplicate field"),
                ));
            }
            *slot = Some(
                map.next_value_seed(TypedValues)
                    .map_err(|e| wrap(format_args!("{}", KeySeg(&key.0)), e))?,
            );
        }
        match (replace, add, remove) {
            (Some(values), None, None) => Ok(AttrOp::Replace(values)),
            (None, None, None) => Err(de::Error::custom("expected replace, or add and/or remove")),
            (Some(_), _, _) => Err(de::Error::custom("replace cannot come with add or remove")),
            (None, add, remove) => Ok(AttrOp::Incremental {
                add: add.unwrap_or_default(),
                remove: remove.unwrap_or_default(),
            }),
        }
    }
}

/// The fields of a record, gathered in one pass whatever their order; the
/// record kind is checked against them at the end.
#[derive(Default)]
struct RecordFields<'de> {
    op: Option<Str<'de>>,
    guid: Option<Guid>,
    dn: Option<Dn>,
    attributes: Option<Attributes>,
    changes: Option<Vec<AttrChange>>,
    password_hash: Option<Secret>,
    is_deleted: Option<bool>,
    last_known_parent: Option<Dn>,
}

fn field<'de, A: MapAccess<'de>, T>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &str,
    read: impl FnOnce(&mut A) -> Result<T, A::Error>,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(wrap(
            format_args!(".{name}"),
            de::Error::custom("duplicate field"),
        ));
    }
    *slot = Some(read(map).map_err(|e| wrap(format_args!(".{name}"), e))?);
    Ok(())
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Change, D::Error> {
        d.deserialize_map(RecordVisitor(&mut Scratch::default()))
    }
}

struct RecordVisitor<'n>(&'n mut Scratch);

impl<'de> DeserializeSeed<'de> for RecordVisitor<'_> {
    type Value = Change;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Change, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = Change;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a change record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Change, A::Error> {
        let mut f = RecordFields::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "op" => field(&mut map, &mut f.op, "op", |m| m.next_value::<Str<'de>>())?,
                "objectGUID" => field(&mut map, &mut f.guid, "objectGUID", |m| {
                    decode_guid(&m.next_value::<Str<'de>>()?.0)
                })?,
                "dn" => field(&mut map, &mut f.dn, "dn", |m| {
                    decode_dn(&m.next_value::<Str<'de>>()?.0)
                })?,
                "attributes" => field(&mut map, &mut f.attributes, "attributes", |m| {
                    m.next_value_seed(AttributesSeed(&mut *self.0))
                })?,
                "changes" => field(&mut map, &mut f.changes, "changes", |m| {
                    m.next_value_seed(ChangesSeed(&mut *self.0))
                })?,
                "passwordHash" => field(&mut map, &mut f.password_hash, "passwordHash", |m| {
                    // Never repeat what the input held here.
                    m.next_value::<Str<'de>>()
                        .ok()
                        .and_then(|s| BASE64.decode(s.0.as_bytes()).ok())
                        .map(Secret::new)
                        .ok_or_else(|| de::Error::custom("expected a base64 string (not shown)"))
                })?,
                "isDeleted" => field(&mut map, &mut f.is_deleted, "isDeleted", |m| {
                    m.next_value::<bool>()
                })?,
                "lastKnownParent" => {
                    field(&mut map, &mut f.last_known_parent, "lastKnownParent", |m| {
                        decode_dn(&m.next_value::<Str<'de>>()?.0)
                    })?
                }
                other => {
                    return Err(wrap(
                        format_args!("{}", KeySeg(other)),
                        de::Error::custom("unknown field"),
                    ));
                }
            }
        }
        f.finish()
    }
}

fn missing<E: de::Error>(name: &str) -> E {
    E::custom(format_args!(".{name}: missing"))
}

fn not_allowed<E: de::Error>(name: &str, op: &str) -> E {
    E::custom(format_args!(".{name}: not allowed in a {op} record"))
}

impl RecordFields<'_> {
    fn finish<E: de::Error>(self) -> Result<Change, E> {
        let op = self.op.ok_or_else(|| missing("op"))?;
        let op: &str = &op.0;
        if !RECORD_KINDS.contains(&op) {
            return Err(E::custom(format_args!(
                ".op: unknown record kind {op:?}; expected add, modify, move or delete"
            )));
        }
        let guid = self.guid.ok_or_else(|| missing("objectGUID"))?;
        let forbid = |present: bool, name: &str| -> Result<(), E> {
            if present {
                Err(not_allowed(name, op))
            } else {
                Ok(())
            }
        };
        match op {
            "add" => {
                forbid(self.changes.is_some(), "changes")?;
                forbid(self.is_deleted.is_some(), "isDeleted")?;
                forbid(self.last_known_parent.is_some(), "lastKnownParent")?;
                let dn = self.dn.ok_or_else(|| missing("dn"))?;
                let attributes = self.attributes.ok_or_else(|| missing("attributes"))?;
                if let Some(v) = attributes.first("objectGUID") {
                    if v.as_bytes() != Some(&guid.to_ad_bytes()[..]) {
                        return Err(E::custom(
                            ".attributes.objectGUID: does not match the record's objectGUID",
                        ));
                    }
                }
                Ok(Change::Add {
                    guid,
                    dn,
                    attributes,
                    password_hash: self.password_hash,
                })
            }
            "modify" => {
                forbid(self.dn.is_some(), "dn")?;
                forbid(self.attributes.is_some(), "attributes")?;
                forbid(self.is_deleted.is_some(), "isDeleted")?;
                forbid(self.last_known_parent.is_some(), "lastKnownParent")?;
                Ok(Change::Modify {
                    guid,
                    changes: self.changes.ok_or_else(|| missing("changes"))?,
                    password_hash: self.password_hash,
                })
            }
            "move" => {
                forbid(self.attributes.is_some(), "attributes")?;
                forbid(self.is_deleted.is_some(), "isDeleted")?;
                forbid(self.last_known_parent.is_some(), "lastKnownParent")?;
                Ok(Change::Move {
                    guid,
                    dn: self.dn.ok_or_else(|| missing("dn"))?,
                    changes: self.changes.unwrap_or_default(),
                    password_hash: self.password_hash,
                })
            }
            _ => {
                forbid(self.attributes.is_some(), "attributes")?;
                forbid(self.changes.is_some(), "changes")?;
                forbid(self.password_hash.is_some(), "passwordHash")?;
                match self.is_deleted {
                    Some(true) => {}
                    Some(false) => return Err(E::custom(".isDeleted: must be true")),
                    None => return Err(missing("isDeleted")),
                }
                let dn = self.dn.ok_or_else(|| missing("dn"))?;
                let tombstone = Tombstone {
                    guid,
                    dn,
                    last_known_parent: self.last_known_parent,
                };
                if let Some((_, text)) = tombstone_parts(&tombstone.dn) {
                    if Guid::parse(text).ok() != Some(guid) {
                        return Err(E::custom(".dn: the tombstone dn names another objectGUID"));
                    }
                }
                Ok(Change::Delete(tombstone))
            }
        }
    }
}

/// The records array, each record's errors prefixed with its index. The
/// list starts with room for `.0` records (a guess from the input's size)
/// and gives back what it did not use.
struct RecordsSeed(usize);

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = Vec<Change>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Change>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed {
    type Value = Vec<Change>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of change records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Change>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().map_or(self.0, |n| n.min(4096)));
        let mut scratch = Scratch::default();
        loop {
            let i = out.len();
            match seq.next_element_seed(RecordVisitor(&mut scratch)) {
                Ok(Some(c)) => out.push(c),
                Ok(None) => {
                    if out.capacity() > out.len() + out.len() / 4 {
                        out.shrink_to_fit();
                    }
                    return Ok(out);
                }
                Err(e) => return Err(wrap(format_args!("[{i}]"), e)),
            }
        }
    }
}

impl<'de> Deserialize<'de> for ChangeBatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ChangeBatch, D::Error> {
        d.deserialize_map(BatchVisitor(0))
    }
}

/// A batch; `.0` is how many records to make room for up front.
struct BatchVisitor(usize);

impl<'de> DeserializeSeed<'de> for BatchVisitor {
    type Value = ChangeBatch;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ChangeBatch, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = ChangeBatch;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a change batch object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChangeBatch, A::Error> {
        let mut v: Option<u64> = None;
        let mut source: Option<ConfigId> = None;
        let mut since: Option<Watermark> = None;
        let mut watermark: Option<Watermark> = None;
        let mut kind: Option<BatchKind> = None;
        let mut records: Option<Vec<Change>> = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "v" => field(&mut map, &mut v, "v", |m| {
                    let v = m.next_value::<u64>()?;
                    if v == FORMAT_VERSION {
                        Ok(v)
                    } else {
                        Err(de::Error::custom(format_args!(
                            "unsupported format version {v}"
                        )))
                    }
                })?,
                "source" => field(&mut map, &mut source, "source", |m| {
                    let s = m.next_value::<Str<'de>>()?;
                    if s.0.is_empty() {
                        Err(de::Error::custom("must not be empty"))
                    } else {
                        Ok(ConfigId::new(&s.0))
                    }
                })?,
                "since" => field(&mut map, &mut since, "since", |m| m.next_value())?,
                "watermark" => field(&mut map, &mut watermark, "watermark", |m| m.next_value())?,
                "kind" => field(&mut map, &mut kind, "kind", |m| m.next_value())?,
                "records" => field(&mut map, &mut records, "records", |m| {
                    m.next_value_seed(RecordsSeed(self.0))
                })?,
                other => {
                    map.next_value::<IgnoredAny>()?;
                    return Err(wrap(
                        format_args!("{}", KeySeg(other)),
                        de::Error::custom("unknown field"),
                    ));
                }
            }
        }
        if v.is_none() {
            return Err(missing("v"));
        }
        Ok(ChangeBatch {
            header: BatchHeader {
                source: source.ok_or_else(|| missing("source"))?,
                since: since.ok_or_else(|| missing("since"))?,
                watermark: watermark.ok_or_else(|| missing("watermark"))?,
                kind: kind.ok_or_else(|| missing("kind"))?,
            },
            records: records.ok_or_else(|| missing("records"))?,
        })
    }
}

/// Taken only after the fast decode failed. The input is parsed as a JSON
/// tree: when that fails too, the problem is the JSON itself (line and
/// column). Otherwise the version is checked first (a newer format may fail
/// anywhere), then the fast path's own message is used: it already names
/// the path, in document order, and only needs the positions serde_json
/// appended at each level taken off.
fn diagnose_batch(bytes: &[u8], fast: serde_json::Error) -> ChangeError {
    let tree: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(t) => t,
        Err(e) => return syntax(e),
    };
    if let Some(found) = tree
        .get("v")
        .and_then(|v| v.as_u64())
        .filter(|&n| n != FORMAT_VERSION)
    {
        return ChangeError::UnsupportedVersion { found };
    }
    invalid(&fast).with_known_kinds(&tree)
}

fn diagnose_record(bytes: &[u8], fast: serde_json::Error) -> ChangeError {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Err(e) => syntax(e),
        Ok(tree) => match invalid(&fast) {
            ChangeError::Invalid { path, .. } if path == "op" => {
                match tree.get("op").and_then(|o| o.as_str()) {
                    Some(kind) if !RECORD_KINDS.contains(&kind) => ChangeError::UnknownRecordKind {
                        index: 0,
                        kind: kind.to_owned(),
                    },
                    _ => invalid(&fast),
                }
            }
            other => other,
        },
    }
}

fn syntax(e: serde_json::Error) -> ChangeError {
    ChangeError::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_positions(&e.to_string()).to_owned(),
    }
}

/// Drops every trailing ` at line N column M`.
fn strip_positions(mut text: &str) -> &str {
    while let Some(i) = text.rfind(" at line ") {
        let tail = &text[i + " at line ".len()..];
        let ok = tail.split_once(" column ").is_some_and(|(l, c)| {
            !l.is_empty()
                && !c.is_empty()
                && l.bytes().all(|b| b.is_ascii_digit())
                && c.bytes().all(|b| b.is_ascii_digit())
        });
        if !ok {
            break;
        }
        text = &text[..i];
    }
    text
}

fn invalid(fast: &serde_json::Error) -> ChangeError {
    let text = fast.to_string();
    let text = strip_positions(&text);
    let (path, message) = match text.split_once(": ") {
        Some((p, m)) if p.starts_with('.') || p.starts_with('[') => {
            (p.strip_prefix('.').unwrap_or(p).to_owned(), m.to_owned())
        }
        _ => (String::new(), text.to_owned()),
    };
    let record = path
        .strip_prefix("records[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(n, _)| n.parse().ok());
    ChangeError::Invalid {
        path,
        record,
        message,
    }
}

impl ChangeError {
    /// Turns an invalid `records[i].op` into [`ChangeError::UnknownRecordKind`].
    fn with_known_kinds(self, tree: &serde_json::Value) -> ChangeError {
        if let ChangeError::Invalid {
            path,
            record: Some(index),
            ..
        } = &self
        {
            if path.ends_with("].op") {
                if let Some(kind) = tree
                    .get("records")
                    .and_then(|r| r.get(*index))
                    .and_then(|r| r.get("op"))
                    .and_then(|o| o.as_str())
                    .filter(|k| !RECORD_KINDS.contains(k))
                {
                    return ChangeError::UnknownRecordKind {
                        index: *index,
                        kind: kind.to_owned(),
                    };
                }
            }
        }
        self
    }

    /// The index of the record at fault, when there is one.
    pub fn record(&self) -> Option<usize> {
        match self {
            ChangeError::UnknownRecordKind { index, .. } => Some(*index),
            ChangeError::Invalid { record, .. } => *record,
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Values as `{"<type>": [..]}`; all values of one attribute must share a
/// type, and a secret never goes here.
struct TypedOut<'a>(&'a AttrName, &'a [Value]);

impl Serialize for TypedOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ty = match self.1.first() {
            None => ValueType::Str,
            Some(v) => ValueType::of(v).ok_or_else(|| {
                ser::Error::custom(format_args!(
                    "attribute {}: a {} value cannot travel among the attributes",
                    self.0,
                    v.kind_name()
                ))
            })?,
        };
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(ty.name(), &ListOut(self.0, self.1, ty))?;
        m.end()
    }
}

struct ListOut<'a>(&'a AttrName, &'a [Value], ValueType);

impl Serialize for ListOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for v in self.1 {
            if ValueType::of(v) != Some(self.2) {
                return Err(ser::Error::custom(format_args!(
                    "attribute {}: mixed value types ({} among {})",
                    self.0,
                    v.kind_name(),
                    self.2.name()
                )));
            }
            match v {
                Value::Str(x) => seq.serialize_element(&**x)?,
                Value::Bytes(b) => seq.serialize_element(&BASE64.encode(b))?,
                Value::Int(i) => seq.serialize_element(i)?,
                Value::Bool(b) => seq.serialize_element(b)?,
                Value::Dn(d) => seq.serialize_element(d.as_str())?,
                other => {
                    return Err(ser::Error::custom(format_args!(
                        "attribute {}: a {} value cannot travel among the attributes",
                        self.0,
                        other.kind_name()
                    )));
                }
            }
        }
        seq.end()
    }
}

struct AttributesOut<'a>(&'a Attributes);

impl Serialize for AttributesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, values) in self.0.iter() {
            m.serialize_entry(name.as_str(), &TypedOut(name, values))?;
        }
        m.end()
    }
}

struct ChangesOut<'a>(&'a [AttrChange]);

impl Serialize for ChangesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            m.serialize_entry(c.name.as_str(), &OpOut(c))?;
        }
        m.end()
    }
}

struct OpOut<'a>(&'a AttrChange);

impl Serialize for OpOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let name = &self.0.name;
        match &self.0.op {
            AttrOp::Replace(v) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("replace", &TypedOut(name, v))?;
                m.end()
            }
            AttrOp::Incremental { add, remove } => {
                let mut m = s.serialize_map(None)?;
                if !add.is_empty() || remove.is_empty() {
                    m.serialize_entry("add", &TypedOut(name, add))?;
                }
                if !remove.is_empty() {
                    m.serialize_entry("remove", &TypedOut(name, remove))?;
                }
                m.end()
            }
        }
    }
}

struct GuidOut(Guid);

impl Serialize for GuidOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(self.0.to_ad_bytes()))
    }
}

/// The JSON form of a record (see the module docs). The password hash is
/// written as base64: this is the one form that must carry it.
impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("op", self.op())?;
        m.serialize_entry("objectGUID", &GuidOut(self.guid()))?;
        match self {
            Change::Add { dn, attributes, .. } => {
                m.serialize_entry("dn", dn.as_str())?;
                m.serialize_entry("attributes", &AttributesOut(attributes))?;
            }
            Change::Modify { changes, .. } => {
                m.serialize_entry("changes", &ChangesOut(changes))?;
            }
            Change::Move { dn, changes, .. } => {
                m.serialize_entry("dn", dn.as_str())?;
                if !changes.is_empty() {
                    m.serialize_entry("changes", &ChangesOut(changes))?;
                }
            }
            Change::Delete(t) => {
                m.serialize_entry("isDeleted", &true)?;
                m.serialize_entry("dn", t.dn.as_str())?;
                if let Some(p) = &t.last_known_parent {
                    m.serialize_entry("lastKnownParent", p.as_str())?;
                }
            }
        }
        if let Some(secret) = self.password_hash() {
            m.serialize_entry("passwordHash", &BASE64.encode(secret.expose()))?;
        }
        m.end()
    }
}

impl Serialize for ChangeBatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.header;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("v", &FORMAT_VERSION)?;
        m.serialize_entry("source", &h.source)?;
        m.serialize_entry("since", &h.since)?;
        m.serialize_entry("watermark", &h.watermark)?;
        m.serialize_entry("kind", &h.kind)?;
        m.serialize_entry("records", &self.records)?;
        m.end()
    }
}

/// Bytes as standard base64 (the DirSync cookie).
mod bytes_base64 {
    use std::sync::Arc;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        let s = super::Str::deserialize(d)?;
        super::decode_bytes(&s.0)
    }

    use serde::Deserialize as _;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guid_b64(n: u128) -> String {
        BASE64.encode(Guid::from_u128(n).to_ad_bytes())
    }

    fn batch_with(records: &str) -> String {
        format!(
            r#"{{"v":1,"source":"corp","since":"none","watermark":"none","kind":{{"full":{{"page":0,"completeness":"finished","objects":1}}}},"records":[{records}]}}"#
        )
    }

    #[test]
    fn paths_name_record_and_field() {
        let g = guid_b64(1);
        let json = batch_with(&format!(
            r#"{{"op":"modify","objectGUID":"{g}","changes":{{}}}},{{"op":"add","objectGUID":"{g}","dn":"CN=a","attributes":{{"objectGUID":{{"bytes":["!!!"]}}}}}}"#
        ));
        let e = ChangeBatch::from_json(json.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "records[1].attributes.objectGUID.bytes[0]: invalid base64"
        );
        assert_eq!(e.record(), Some(1));
    }

    #[test]
    fn odd_keys_are_escaped_in_paths() {
        let g = guid_b64(1);
        let json = batch_with(&format!(
            r#"{{"op":"modify","objectGUID":"{g}","changes":{{"a: b":{{"replace":{{"int":["x"]}}}}}}}}"#
        ));
        match ChangeBatch::from_json(json.as_bytes()).unwrap_err() {
            ChangeError::Invalid { path, message, .. } => {
                assert_eq!(
                    path,
                    r#"records[0].changes["a\u{3a}\u{20}b"].replace.int[0]"#
                );
                assert!(message.starts_with("invalid type"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tombstone_guid_must_match() {
        let json = batch_with(&format!(
            r#"{{"op":"delete","objectGUID":"{}","isDeleted":true,"dn":"CN=x\\0ADEL:00000000-0000-0000-0000-000000000002,CN=Deleted Objects,DC=a"}}"#,
            guid_b64(1)
        ));
        let e = ChangeBatch::from_json(json.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "records[0].dn: the tombstone dn names another objectGUID"
        );
    }

    proptest::proptest! {
        /// The GUID fast path takes only what the general decoder takes,
        /// with the same bytes.
        #[test]
        fn guid_fast_path_agrees_with_base64(
            bytes in proptest::array::uniform16(proptest::num::u8::ANY),
            edit in 0usize..30,
            with in "[A-Za-z0-9+/=!]",
        ) {
            let text = BASE64.encode(bytes);
            proptest::prop_assert_eq!(guid_bytes_fast(text.as_bytes()), Some(bytes));
            let mut edited = text.into_bytes();
            if let Some(b) = edited.get_mut(edit) {
                *b = with.as_bytes()[0];
            } else {
                edited.truncate(edit % 24);
            }
            if let Some(fast) = guid_bytes_fast(&edited) {
                proptest::prop_assert_eq!(BASE64.decode(&edited).ok(), Some(fast.to_vec()));
            }
        }
    }

    #[test]
    fn incremental_apply_compares_dns_normalized() {
        let mut v: Values = [Value::Dn(Dn::parse("CN=A,DC=x").unwrap())]
            .into_iter()
            .collect();
        AttrOp::Incremental {
            add: Values::new(),
            remove: [Value::Dn(Dn::parse("cn=a, dc=X").unwrap())]
                .into_iter()
                .collect(),
        }
        .apply(&mut v);
        assert!(v.is_empty());
    }
}
