//! The source side: the trait an adapter implements to read the on-premises
//! directory (a full read in pages, or the changes since a watermark), as
//! [`ChangeBatch`]es.
//!
//! Implementations do the I/O (LDAP, an agent's queue, an LDIF file, the
//! in-memory directory of [`crate::memory`]); the engine only ever sees the
//! batches. An adapter reports a read it could not finish as a page whose
//! completeness is [`Completeness::CutShort`](crate::change::Completeness),
//! so the engine applies what arrived but infers no deletion from it.

use crate::change::{ChangeBatch, VoidReason, Watermark};

/// Why a source could not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source cannot be reached (network, bind refused). Never a secret
    /// in the message.
    #[error("source unavailable: {0}")]
    Unavailable(String),
    /// The watermark is void (a restored DC, a refused cookie): a full read
    /// is required.
    #[error("watermark void: {0}")]
    WatermarkVoid(VoidReason),
    /// Anything else the adapter reports.
    #[error("source error: {0}")]
    Other(String),
}

/// An on-premises directory the engine reads.
pub trait DirectorySource {
    /// Reads every object, in pages; the last page says whether the read
    /// finished or was cut short.
    fn full_read(&mut self) -> Result<Vec<ChangeBatch>, SourceError>;

    /// Reads what changed since `since` (the engine's working watermark).
    fn changes_since(&mut self, since: &Watermark) -> Result<ChangeBatch, SourceError>;
}
