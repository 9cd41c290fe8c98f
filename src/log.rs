//! The provisioning log: one entry per object per cycle saying what happened
//! to it and why, stamped with the `now` the host passed.
//!
//! Entries never hold a secret: they carry names, reasons and values that
//! went through [`crate::object::Value`]'s `Display`, which redacts secrets,
//! and the error texts the engine writes itself.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::anchor::Guid;
use crate::object::ObjectKind;
use crate::target::OpId;
use crate::time::Timestamp;

/// Why an object was skipped this cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "skip")]
#[non_exhaustive]
pub enum SkipReason {
    /// Not in scope (and never exported): the scoping rule that decided.
    OutOfScope {
        /// The rule, in words.
        why: String,
    },
    /// In scope, nothing changed since the last export.
    Unchanged,
    /// Its deletion (or disable, or membership removal) is held for approval.
    HeldForApproval {
        /// Why it is held.
        why: String,
    },
    /// Its kind is never synchronized (computers, printers, OUs).
    UnsupportedKind {
        /// The object's objectClass values.
        object_class: String,
    },
    /// The object is quarantined after repeated permanent failures.
    Quarantined {
        /// The last error.
        last_error: String,
    },
    /// A deletion an admin rejected: the target object stays.
    DeletionRejected,
    /// Direct members of a group that are not in scope and so are not
    /// exported as members (nested groups are never followed).
    MembersOutOfScope {
        /// How many.
        count: usize,
    },
    /// Waiting for an earlier op (a dependency) to succeed.
    Waiting {
        /// What it waits for.
        what: String,
    },
}

/// The category of an error for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ErrorCategory {
    /// A value the target (or the mapping's type conversion) refuses.
    AttributeFormat,
    /// The UPN is taken in the target.
    DuplicateUpn,
    /// A proxy address is taken in the target.
    DuplicateProxyAddress,
    /// The target refused for lack of permission.
    Permission,
    /// A matching conflict (`InvalidSoftMatch`, `ObjectTypeMismatch`,
    /// `Existing Admin Role Conflict`, duplicate anchor across forests).
    Conflict,
    /// A mapping expression failed on this object.
    Mapping,
    /// The object's anchor is malformed or changed after export.
    Anchor,
    /// A transient target failure; retried next cycle.
    Transient,
    /// Anything else the target reported.
    Other,
}

/// What happened to an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
#[non_exhaustive]
pub enum Outcome {
    /// An op was planned (`planned`) or applied (`success`).
    Planned {
        /// The op.
        op: OpId,
        /// What it does (`create`, `update`, ...).
        action: String,
    },
    /// The op succeeded.
    Success {
        /// The op.
        op: OpId,
        /// What it did.
        action: String,
    },
    /// Skipped, with the reason.
    Skipped(SkipReason),
    /// Failed, with the category and a message.
    Error {
        /// The category.
        category: ErrorCategory,
        /// The product's error name where there is one (`InvalidSoftMatch`).
        code: Option<String>,
        /// What went wrong, for an admin.
        message: String,
    },
}

/// One provisioning log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// When (the host's `now`).
    pub at: Timestamp,
    /// The engine's cycle number.
    pub cycle: u64,
    /// The source object (objectGUID).
    pub object: Guid,
    /// The object's DN when known, in canonical text.
    pub dn: Option<String>,
    /// The object's kind.
    pub kind: ObjectKind,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cycle {} {} ", self.at, self.cycle, self.kind)?;
        match &self.dn {
            Some(dn) => write!(f, "{dn}")?,
            None => write!(f, "{}", self.object)?,
        }
        match &self.outcome {
            Outcome::Planned { op, action } => write!(f, ": planned {action} ({op})"),
            Outcome::Success { op, action } => write!(f, ": {action} succeeded ({op})"),
            Outcome::Skipped(reason) => match reason {
                SkipReason::OutOfScope { why } => write!(f, ": skipped, out of scope: {why}"),
                SkipReason::Unchanged => write!(f, ": skipped, unchanged"),
                SkipReason::HeldForApproval { why } => {
                    write!(f, ": held for approval: {why}")
                }
                SkipReason::UnsupportedKind { object_class } => {
                    write!(
                        f,
                        ": skipped, unsupported kind (objectClass {object_class})"
                    )
                }
                SkipReason::Quarantined { last_error } => {
                    write!(f, ": quarantined: {last_error}")
                }
                SkipReason::DeletionRejected => write!(f, ": deletion rejected, target kept"),
                SkipReason::Waiting { what } => write!(f, ": waiting for {what}"),
                SkipReason::MembersOutOfScope { count } => {
                    write!(f, ": {count} direct member(s) out of scope, not exported")
                }
            },
            Outcome::Error {
                category,
                code,
                message,
            } => {
                write!(f, ": error {category:?}")?;
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_readable_line() {
        let e = LogEntry {
            at: Timestamp::from_secs(0),
            cycle: 3,
            object: Guid::from_u128(7),
            dn: Some("CN=Ann,OU=Sales,DC=corp".into()),
            kind: ObjectKind::User,
            outcome: Outcome::Error {
                category: ErrorCategory::Conflict,
                code: Some("InvalidSoftMatch".into()),
                message: "candidate has another immutable id".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "1970-01-01T00:00:00Z cycle 3 user CN=Ann,OU=Sales,DC=corp: error Conflict (InvalidSoftMatch): candidate has another immutable id"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["outcome"], "error");
        assert_eq!(serde_json::from_value::<LogEntry>(json).unwrap(), e);
    }
}
