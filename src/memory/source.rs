//! The in-memory AD as a [`DirectorySource`]: full reads in pages and
//! uSNChanged deltas, as the change batches an agent would send.

use crate::change::{
    BatchHeader, BatchKind, Change, ChangeBatch, Completeness, VoidReason, Watermark,
};
use crate::object::Secret;
use crate::source::{DirectorySource, SourceError};

use super::ad::InMemoryAd;

/// Reads an [`InMemoryAd`] for one configuration, like an agent polling one
/// domain controller with uSNChanged.
///
/// ```
/// use idsync::memory::{AdSource, InMemoryAd};
/// use idsync::source::DirectorySource;
/// let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
/// let staff = ad.add_ou(&ad.domain().clone(), "Staff")?;
/// ad.add_user(&ad.dn_of(staff)?, "Ann Lee")?;
/// let mut source = AdSource::new(&mut ad, "corp");
/// let pages = source.full_read()?;
/// assert_eq!(pages.len(), 1);
/// assert_eq!(pages[0].records.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AdSource<'a> {
    ad: &'a mut InMemoryAd,
    config: String,
    dc: String,
    page_size: usize,
    passwords: Vec<(crate::anchor::Guid, Secret)>,
}

impl<'a> AdSource<'a> {
    /// A source for configuration `config` (pages of 1,000 objects).
    pub fn new(ad: &'a mut InMemoryAd, config: &str) -> AdSource<'a> {
        AdSource {
            ad,
            config: config.to_owned(),
            dc: "dc1".to_owned(),
            page_size: 1000,
            passwords: Vec::new(),
        }
    }

    /// Sets the page size of full reads.
    pub fn with_page_size(mut self, n: usize) -> AdSource<'a> {
        self.page_size = n.max(1);
        self
    }

    /// Queues a password hash to send with the object's next record (the
    /// simulator has no password store of its own).
    pub fn with_password_hash(mut self, object: crate::anchor::Guid, hash: Secret) -> AdSource<'a> {
        self.passwords.push((object, hash));
        self
    }

    fn watermark(&self) -> Watermark {
        Watermark::usn(
            u64::try_from(self.ad.highest_usn()).unwrap_or(0),
            self.ad.invocation_id(),
            &self.dc,
        )
    }

    fn take_password(&mut self, g: crate::anchor::Guid) -> Option<Secret> {
        let i = self.passwords.iter().position(|(o, _)| *o == g)?;
        Some(self.passwords.remove(i).1)
    }
}

impl DirectorySource for AdSource<'_> {
    fn full_read(&mut self) -> Result<Vec<ChangeBatch>, SourceError> {
        let watermark = self.watermark();
        let mut records = Vec::new();
        let mut cut_short = false;
        for item in self.ad.full_read() {
            match item {
                Ok(o) => records.push(Change::Add {
                    guid: o.guid,
                    dn: o.dn.clone(),
                    attributes: o.attributes.clone(),
                    password_hash: None,
                }),
                Err(_) => {
                    cut_short = true;
                    break;
                }
            }
        }
        for r in &mut records {
            if let Change::Add {
                guid,
                password_hash,
                ..
            } = r
            {
                *password_hash = self.take_password(*guid);
            }
        }
        let total = records.len();
        let mut pages = Vec::new();
        let mut since = Watermark::None;
        let mut chunks: Vec<Vec<Change>> = Vec::new();
        let mut rest = records;
        while rest.len() > self.page_size {
            let tail = rest.split_off(self.page_size);
            chunks.push(rest);
            rest = tail;
        }
        chunks.push(rest);
        let last = chunks.len() - 1;
        let mut read = 0u64;
        for (i, chunk) in chunks.into_iter().enumerate() {
            read += chunk.len() as u64;
            let completeness = match (i == last, cut_short) {
                (false, _) => Completeness::InProgress,
                (true, false) => Completeness::Finished,
                (true, true) => Completeness::CutShort,
            };
            // Intermediate pages carry a page watermark of their own so the
            // engine can check their order; the last carries the read's.
            let page_mark = if i == last {
                watermark.clone()
            } else {
                Watermark::dirsync(format!("page-{i}").as_bytes(), &self.dc)
            };
            pages.push(ChangeBatch {
                header: BatchHeader {
                    source: self.config.as_str().into(),
                    since: since.clone(),
                    watermark: page_mark.clone(),
                    kind: BatchKind::Full {
                        page: u32::try_from(i).unwrap_or(u32::MAX),
                        completeness,
                        objects: read,
                    },
                },
                records: chunk,
            });
            since = page_mark;
        }
        debug_assert_eq!(read as usize, total);
        Ok(pages)
    }

    fn changes_since(&mut self, since: &Watermark) -> Result<ChangeBatch, SourceError> {
        let (usn, invocation) = match since {
            Watermark::Usn {
                highest_committed_usn,
                invocation_id,
                ..
            } => (*highest_committed_usn, *invocation_id),
            _ => return Err(SourceError::WatermarkVoid(VoidReason::NoBaseline)),
        };
        if invocation != self.ad.invocation_id() {
            return Err(SourceError::WatermarkVoid(
                VoidReason::InvocationIdChanged {
                    old: invocation,
                    new: self.ad.invocation_id(),
                },
            ));
        }
        let delta = self
            .ad
            .changed_since(i64::try_from(usn).unwrap_or(i64::MAX));
        let mut records = Vec::with_capacity(delta.objects.len() + delta.tombstones.len());
        for o in delta.objects {
            let password_hash = self.take_password(o.guid);
            records.push(Change::Add {
                guid: o.guid,
                dn: o.dn,
                attributes: o.attributes,
                password_hash,
            });
        }
        for t in delta.tombstones {
            records.push(Change::Delete(crate::change::Tombstone {
                guid: t.guid,
                dn: t.dn,
                last_known_parent: t.last_known_parent,
            }));
        }
        Ok(ChangeBatch {
            header: BatchHeader {
                source: self.config.as_str().into(),
                since: since.clone(),
                watermark: self.watermark(),
                kind: BatchKind::Delta,
            },
            records,
        })
    }
}
