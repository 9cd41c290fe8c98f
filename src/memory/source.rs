//! [`AdSource`]: an [`InMemoryAd`] read for one named configuration through
//! one named domain controller, with password hashes queued by the test or
//! example that drives it. The reading itself is `InMemoryAd`'s own
//! [`DirectorySource`] implementation; this wrapper only names the
//! configuration and the DC and adds the queued hashes. It never does I/O.

use crate::anchor::Guid;
use crate::change::{Change, ChangeBatch, ConfigId, Watermark};
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
/// assert_eq!(pages[0].header.source.as_str(), "corp");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AdSource<'a> {
    ad: &'a mut InMemoryAd,
    config: String,
    dc: String,
    page_size: usize,
    passwords: Vec<(Guid, Secret)>,
}

impl<'a> AdSource<'a> {
    /// A source for configuration `config` through DC `dc1` (pages of 1,000
    /// objects).
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

    /// Queues a password hash to send with the object's next record (in
    /// addition to hashes set with [`InMemoryAd::set_password_hash`]).
    pub fn with_password_hash(mut self, object: Guid, hash: Secret) -> AdSource<'a> {
        self.passwords.push((object, hash));
        self
    }

    /// Points the directory at this source's configuration, DC and page size.
    fn configure(&mut self) {
        self.ad.set_source(ConfigId::new(&self.config));
        self.ad.set_dc_name(&self.dc);
        self.ad.set_page_size(self.page_size);
    }

    fn attach_passwords(&mut self, batch: &mut ChangeBatch) {
        for record in &mut batch.records {
            if let Change::Add {
                guid,
                password_hash,
                ..
            }
            | Change::Modify {
                guid,
                password_hash,
                ..
            } = record
            {
                if let Some(i) = self.passwords.iter().position(|(o, _)| o == guid) {
                    *password_hash = Some(self.passwords.remove(i).1);
                }
            }
        }
    }
}

impl DirectorySource for AdSource<'_> {
    fn full_read(&mut self) -> Result<Vec<ChangeBatch>, SourceError> {
        self.configure();
        let mut pages = DirectorySource::full_read(&mut *self.ad)?;
        for page in &mut pages {
            self.attach_passwords(page);
        }
        Ok(pages)
    }

    fn changes_since(&mut self, since: &Watermark) -> Result<ChangeBatch, SourceError> {
        self.configure();
        let mut batch = self.ad.changes_since(since)?;
        self.attach_passwords(&mut batch);
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{BatchKind, Completeness};

    #[test]
    fn queued_hashes_ride_on_the_next_record_once() {
        let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com").unwrap();
        let root = ad.domain().clone();
        let ann = ad.add_user(&root, "Ann").unwrap();
        let mut source = AdSource::new(&mut ad, "corp")
            .with_page_size(5)
            .with_password_hash(ann, Secret::new(b"h".to_vec()));
        let pages = source.full_read().unwrap();
        assert!(matches!(
            pages[0].header.kind,
            BatchKind::Full {
                completeness: Completeness::Finished,
                ..
            }
        ));
        assert!(pages[0].records[0].password_hash().is_some());
        let Watermark::Usn { dc, .. } = &pages[0].header.watermark else {
            panic!("usn watermark expected");
        };
        assert_eq!(dc, "dc1");
        let again = source.full_read().unwrap();
        assert!(again[0].records[0].password_hash().is_none());
    }
}
