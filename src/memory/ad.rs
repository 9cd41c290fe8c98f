//! The in-memory Active Directory simulator: [`InMemoryAd`].
//!
//! It keeps what the engine's change reading depends on, the way a domain
//! controller does (`reference/dirsync.md`): objects keyed by objectGUID
//! with a DN index; a USN counter, every write stamping `uSNChanged` on the
//! object it writes (and only on it: the children of a moved OU get new DNs
//! with their `uSNChanged` untouched); tombstones on delete (renamed into
//! `CN=Deleted Objects`, `isDeleted` TRUE, most attributes stripped,
//! `lastKnownParent` kept); reanimation under the same GUID; `member` and
//! other DN-valued attributes that follow their target's renames and moves
//! as linked attributes do; an invocationId that a restore from backup
//! changes. Reads are [`InMemoryAd::read_objects`] (with fault switches for the
//! deletion-safety stories) and [`InMemoryAd::changed_since`] (DirSync
//! semantics: the final state of what changed), and, as the engine reads
//! it, the [`DirectorySource`] implementation that turns both into
//! [`ChangeBatch`]es with uSNChanged [`Watermark`]s.
//!
//! Choices: deleted objects behave as with the AD Recycle Bin on (a restore
//! brings back the attributes stripped from the tombstone; memberships are
//! not restored); `distinguishedName` is not stored as an attribute, the
//! object's [`SourceObject::dn`] is the one source of it. The simulator never
//! panics and never does I/O.

use std::collections::{BTreeMap, HashMap};

use crate::anchor::Guid;
use crate::change::{
    self, BatchHeader, BatchKind, Change, ChangeBatch, Completeness, ConfigId, VoidReason,
    Watermark,
};
use crate::dn::{Dn, DnError};
use crate::object::{AttrName, Attributes, ObjectKind, Secret, SourceObject, Value, Values};
use crate::source::{DirectorySource, SourceError};

/// The attribute name of ms-DS-ConsistencyGuid as the default mappings
/// spell it.
const CONSISTENCY_GUID: &str = "mS-DS-ConsistencyGuid";

/// Attributes a tombstone keeps (the rest are stripped on delete).
const PRESERVED: &[&str] = &[
    "objectGUID",
    "objectSid",
    "sAMAccountName",
    "name",
    "cn",
    "ou",
    "objectClass",
    "uSNCreated",
    "uSNChanged",
];

/// Why an operation on the simulated directory failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdError {
    /// No object has this objectGUID.
    #[error("object {guid} does not exist")]
    NoSuchObject {
        /// The GUID asked for.
        guid: Guid,
    },
    /// The object is a tombstone; only a restore applies to it.
    #[error("object {guid} is deleted")]
    Deleted {
        /// The GUID.
        guid: Guid,
    },
    /// A restore of an object that is not deleted.
    #[error("object {guid} is not deleted")]
    NotDeleted {
        /// The GUID.
        guid: Guid,
    },
    /// Another object already has this DN.
    #[error("dn {dn}: an object with this name already exists")]
    AlreadyExists {
        /// The DN taken.
        dn: String,
    },
    /// The parent container does not exist (or is deleted).
    #[error("dn {dn}: the parent container does not exist")]
    NoParent {
        /// The DN whose parent is missing.
        dn: String,
    },
    /// The DN is not under this directory's naming context.
    #[error("dn {dn}: not under the naming context {nc}")]
    OutsideNamingContext {
        /// The DN.
        dn: String,
        /// The naming context.
        nc: String,
    },
    /// A delete of an object that still has live children (use
    /// [`InMemoryAd::delete_subtree`]).
    #[error("dn {dn}: the object has children")]
    HasChildren {
        /// The DN.
        dn: String,
    },
    /// A move of an object under itself.
    #[error("dn {dn}: cannot move an object under itself")]
    MoveUnderItself {
        /// The DN.
        dn: String,
    },
    /// A membership change on an object that is not a group.
    #[error("dn {dn}: not a group")]
    NotAGroup {
        /// The DN.
        dn: String,
    },
    /// A name or DN that does not parse.
    #[error("name {name:?}: {source}")]
    BadName {
        /// The text given.
        name: String,
        /// The parse error.
        source: DnError,
    },
    /// An attribute the simulator maintains itself (objectGUID, USNs,
    /// objectClass, isDeleted, member): use the dedicated method.
    #[error("attribute {name}: maintained by the directory, not writable here")]
    ReadOnlyAttribute {
        /// The attribute.
        name: String,
    },
    /// The full read was cut short by an injected fault.
    #[error("full read interrupted after {after} objects")]
    ReadInterrupted {
        /// How many objects were returned before the failure.
        after: usize,
    },
}

/// A deleted object as a change read reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// objectGUID (the identity to key on).
    pub guid: Guid,
    /// The tombstone's DN (`CN=<rdn>\0ADEL:<guid>,CN=Deleted Objects,<nc>`).
    pub dn: Dn,
    /// The container it was deleted from.
    pub last_known_parent: Option<Dn>,
    /// Its kind (objectClass survives the delete).
    pub kind: ObjectKind,
    /// The USN of the delete.
    pub usn: i64,
}

/// The result of [`InMemoryAd::changed_since`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedSince {
    /// The current state of every live object whose `uSNChanged` is above
    /// the watermark, in USN order.
    pub objects: Vec<SourceObject>,
    /// Every object deleted since the watermark, in USN order.
    pub tombstones: Vec<Tombstone>,
    /// The highest committed USN (the next watermark).
    pub highest_usn: i64,
    /// The directory's invocationId: a change means it was restored from
    /// a backup, and the caller must run a full sync.
    pub invocation_id: Guid,
}

#[derive(Debug, Clone)]
struct Entry {
    object: SourceObject,
    deleted: bool,
    last_known_parent: Option<Dn>,
    /// The leaf RDN text before the delete (for reanimation).
    original_rdn: String,
    /// What the delete stripped (the Recycle Bin keeps it for a restore).
    recycled: Attributes,
    usn_changed: i64,
    /// The password hash (password hash sync), never among the attributes;
    /// kept through a delete and restore (Recycle Bin behaviour).
    password_hash: Option<Secret>,
    /// The USN of the last password change.
    password_usn: i64,
    /// The last USN at which the object was created, renamed, moved or
    /// restored: a delta from before it reports the whole object.
    whole_usn: i64,
    /// Per attribute, the USN of its last change (AD's per-attribute
    /// replication metadata), for deltas of changed attributes.
    attr_usn: HashMap<AttrName, i64>,
    /// The attributes as of the last USN, to learn which a write changed.
    stamped: Attributes,
}

/// What a delta reports of an object written since the watermark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeltaStyle {
    /// Its whole current state (an `add` record), as a uSNChanged read does.
    #[default]
    WholeObjects,
    /// Only the attributes written since (a `modify` record), as DirSync
    /// does; an object created, renamed, moved or restored since is still
    /// reported whole.
    ChangedAttributes,
}

#[derive(Debug, Clone, Copy, Default)]
struct ReadFault {
    cut_after: Option<usize>,
    percent: Option<u8>,
}

/// An in-memory Active Directory domain.
///
/// ```
/// use idsync::dn::Dn;
/// use idsync::memory::InMemoryAd;
///
/// let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
/// let sales = ad.add_ou(&ad.domain().clone(), "Sales")?;
/// let ann = ad.add_user(&ad.dn_of(sales)?, "Ann Lee")?;
/// let watermark = ad.highest_usn();
/// let emea = ad.add_ou(&ad.domain().clone(), "EMEA")?;
/// ad.move_to(sales, &ad.dn_of(emea)?)?;
/// // The child's DN changed, its uSNChanged did not: a delta reports only
/// // the moved OU (and the new one).
/// assert_eq!(ad.dn_of(ann)?, Dn::parse("CN=Ann Lee,OU=Sales,OU=EMEA,DC=corp,DC=example,DC=com")?);
/// let delta = ad.changed_since(watermark);
/// assert_eq!(delta.objects.len(), 2);
/// assert!(delta.objects.iter().all(|o| o.guid != ann));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryAd {
    nc: Dn,
    dns_domain: String,
    entries: BTreeMap<Guid, Entry>,
    by_dn: HashMap<Dn, Guid>,
    usn: i64,
    invocation_id: Guid,
    seed: u64,
    counter: u64,
    fault: ReadFault,
    source: ConfigId,
    dc: String,
    page_size: usize,
    delta_style: DeltaStyle,
}

fn bad_name(name: &str, source: DnError) -> AdError {
    AdError::BadName {
        name: name.to_owned(),
        source,
    }
}

/// An RDN value escaped for a DN (RFC 4514), for names given as plain text.
fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            _ => out.push(c),
        }
    }
    out
}

impl InMemoryAd {
    /// An empty domain whose naming context is `nc`
    /// (`DC=corp,DC=example,DC=com`), GUIDs seeded with 0, USNs from 1000.
    pub fn new(nc: &str) -> Result<InMemoryAd, AdError> {
        let nc_dn = Dn::parse(nc).map_err(|e| bad_name(nc, e))?;
        let dns_domain = (0..nc_dn.len())
            .filter_map(|i| nc_dn.rdn_avas(i))
            .filter_map(|avas| avas.into_iter().next())
            .filter(|a| a.attr_type.eq_ignore_ascii_case("dc"))
            .map(|a| a.value.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(".");
        let mut ad = InMemoryAd {
            nc: nc_dn,
            dns_domain: dns_domain.clone(),
            entries: BTreeMap::new(),
            by_dn: HashMap::new(),
            usn: 1000,
            invocation_id: Guid::NIL,
            seed: 0,
            counter: 0,
            fault: ReadFault::default(),
            source: ConfigId::new(&dns_domain),
            dc: format!("dc1.{dns_domain}"),
            page_size: 1000,
            delta_style: DeltaStyle::default(),
        };
        ad.invocation_id = ad.next_guid();
        Ok(ad)
    }

    /// Reseeds the GUID generator (GUIDs are `seed << 64 | counter`), and
    /// draws a new invocationId from it.
    pub fn with_seed(mut self, seed: u64) -> InMemoryAd {
        self.seed = seed;
        self.invocation_id = self.next_guid();
        self
    }

    fn next_guid(&mut self) -> Guid {
        self.counter += 1;
        Guid::from_u128((u128::from(self.seed) << 64) | u128::from(self.counter))
    }

    fn bump(&mut self) -> i64 {
        self.usn += 1;
        self.usn
    }

    /// Chooses what deltas report of a modified object: its whole state
    /// (the default) or the attributes written since the watermark.
    pub fn set_delta_style(&mut self, style: DeltaStyle) {
        self.delta_style = style;
    }

    /// Names the configuration its change batches are read for (default:
    /// the DNS domain name).
    pub fn with_source(mut self, source: ConfigId) -> InMemoryAd {
        self.source = source;
        self
    }

    /// Names the domain controller (default `dc1.<dns domain>`); the
    /// uSNChanged watermark carries it.
    pub fn with_dc_name(mut self, dc: &str) -> InMemoryAd {
        self.dc = dc.to_owned();
        self
    }

    /// Like [`InMemoryAd::with_source`], in place.
    pub fn set_source(&mut self, source: ConfigId) {
        self.source = source;
    }

    /// Like [`InMemoryAd::with_dc_name`], in place.
    pub fn set_dc_name(&mut self, dc: &str) {
        self.dc = dc.to_owned();
    }

    /// Sets how many objects a full-read page holds (at least 1; default
    /// 1000, about what DirSync returns per page).
    pub fn set_page_size(&mut self, objects: usize) {
        self.page_size = objects.max(1);
    }

    /// The uSNChanged watermark of the directory as it stands.
    pub fn watermark(&self) -> Watermark {
        Watermark::usn(
            u64::try_from(self.usn).unwrap_or(0),
            self.invocation_id,
            &self.dc,
        )
    }

    /// The naming context (the domain's DN).
    pub fn domain(&self) -> &Dn {
        &self.nc
    }

    /// The DNS name of the domain (`corp.example.com`), the builders' UPN
    /// suffix.
    pub fn dns_domain(&self) -> &str {
        &self.dns_domain
    }

    /// The highest committed USN.
    pub fn highest_usn(&self) -> i64 {
        self.usn
    }

    /// The domain controller's invocationId.
    pub fn invocation_id(&self) -> Guid {
        self.invocation_id
    }

    /// Simulates a restore of the domain controller from a backup: the
    /// invocationId changes (a reader must then run a full sync).
    pub fn restore_from_backup(&mut self) {
        self.invocation_id = self.next_guid();
    }

    // ----- building ---------------------------------------------------------

    /// Adds an object at `dn` with these object classes and attributes;
    /// returns its new objectGUID.
    pub fn add_object(
        &mut self,
        dn: &Dn,
        object_classes: &[&str],
        attributes: Attributes,
    ) -> Result<Guid, AdError> {
        if !dn.is_under(&self.nc) || dn == &self.nc {
            return Err(AdError::OutsideNamingContext {
                dn: dn.to_string(),
                nc: self.nc.to_string(),
            });
        }
        if self.by_dn.contains_key(dn) {
            return Err(AdError::AlreadyExists { dn: dn.to_string() });
        }
        self.check_parent(dn)?;
        for (name, _) in attributes.iter() {
            if is_maintained(name.as_str()) {
                return Err(AdError::ReadOnlyAttribute {
                    name: name.to_string(),
                });
            }
        }
        let guid = self.next_guid();
        let usn = self.bump();
        let kind = ObjectKind::classify(object_classes.iter().copied());
        let mut object = SourceObject::new(guid, dn.clone(), kind);
        object.attributes = attributes;
        object
            .attributes
            .set("objectClass", object_classes.iter().map(|c| Value::str(c)));
        object
            .attributes
            .set("objectGUID", [Value::bytes(&guid.to_ad_bytes())]);
        object.attributes.set("uSNCreated", [Value::Int(usn)]);
        object.attributes.set("uSNChanged", [Value::Int(usn)]);
        self.by_dn.insert(dn.clone(), guid);
        self.entries.insert(
            guid,
            Entry {
                object,
                deleted: false,
                last_known_parent: None,
                original_rdn: String::new(),
                recycled: Attributes::new(),
                usn_changed: usn,
                password_hash: None,
                password_usn: 0,
                whole_usn: usn,
                attr_usn: HashMap::new(),
                stamped: Attributes::new(),
            },
        );
        if let Some(e) = self.entries.get_mut(&guid) {
            e.stamped = e.object.attributes.clone();
        }
        Ok(guid)
    }

    fn check_parent(&self, dn: &Dn) -> Result<(), AdError> {
        let parent = dn.parent().unwrap_or_else(Dn::root);
        if parent == self.nc || self.live_guid(&parent).is_some() {
            Ok(())
        } else {
            Err(AdError::NoParent { dn: dn.to_string() })
        }
    }

    fn live_guid(&self, dn: &Dn) -> Option<Guid> {
        self.by_dn
            .get(dn)
            .copied()
            .filter(|g| self.entries.get(g).is_some_and(|e| !e.deleted))
    }

    fn named_child(&self, parent: &Dn, attr: &str, name: &str) -> Result<Dn, AdError> {
        let rdn = format!("{attr}={}", escape_value(name));
        parent.child(&rdn).map_err(|e| bad_name(name, e))
    }

    /// Adds an organizational unit `OU=<name>` under `parent`.
    pub fn add_ou(&mut self, parent: &Dn, name: &str) -> Result<Guid, AdError> {
        let dn = self.named_child(parent, "OU", name)?;
        let attrs = Attributes::new()
            .with("ou", [Value::str(name)])
            .with("name", [Value::str(name)]);
        self.add_object(&dn, &["top", "organizationalUnit"], attrs)
    }

    /// Adds a user `CN=<name>` under `ou` with `sAMAccountName` (the name
    /// lowercased, spaces as dots, at most 20 characters),
    /// `userPrincipalName` (`<sAMAccountName>@<dns domain>`), `givenName` and
    /// `sn` (split at the first space), `displayName` and
    /// `userAccountControl` 512 (enabled).
    pub fn add_user(&mut self, ou: &Dn, name: &str) -> Result<Guid, AdError> {
        let dn = self.named_child(ou, "CN", name)?;
        let sam: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c == ' ' { '.' } else { c })
            .take(20)
            .collect();
        let mut attrs = person(name)
            .with("sAMAccountName", [Value::str(&sam)])
            .with(
                "userPrincipalName",
                [Value::from(format!("{sam}@{}", self.dns_domain))],
            )
            .with("userAccountControl", [Value::Int(512)]);
        if let Some((given, sn)) = name.split_once(' ') {
            attrs.set("givenName", [Value::str(given)]);
            attrs.set("sn", [Value::str(sn)]);
        }
        self.add_object(
            &dn,
            &["top", "person", "organizationalPerson", "user"],
            attrs,
        )
    }

    /// Adds a global security group `CN=<name>` under `ou` (`groupType`
    /// -2147483646, `sAMAccountName` = name).
    pub fn add_group(&mut self, ou: &Dn, name: &str) -> Result<Guid, AdError> {
        let dn = self.named_child(ou, "CN", name)?;
        let attrs = Attributes::new()
            .with("cn", [Value::str(name)])
            .with("name", [Value::str(name)])
            .with("sAMAccountName", [Value::str(name)])
            .with("groupType", [Value::Int(-2_147_483_646)]);
        self.add_object(&dn, &["top", "group"], attrs)
    }

    /// Adds a contact `CN=<name>` under `ou`.
    pub fn add_contact(&mut self, ou: &Dn, name: &str) -> Result<Guid, AdError> {
        let dn = self.named_child(ou, "CN", name)?;
        self.add_object(
            &dn,
            &["top", "person", "organizationalPerson", "contact"],
            person(name),
        )
    }

    // ----- reading one object -------------------------------------------------

    /// The object with this GUID (live or tombstone).
    pub fn get(&self, guid: Guid) -> Option<&SourceObject> {
        self.entries.get(&guid).map(|e| &e.object)
    }

    /// The live object at this DN.
    pub fn get_by_dn(&self, dn: &Dn) -> Option<&SourceObject> {
        self.live_guid(dn).and_then(|g| self.get(g))
    }

    /// The current DN of an object (a tombstone's DN when deleted).
    pub fn dn_of(&self, guid: Guid) -> Result<Dn, AdError> {
        self.entries
            .get(&guid)
            .map(|e| e.object.dn.clone())
            .ok_or(AdError::NoSuchObject { guid })
    }

    /// Whether the object is a tombstone.
    pub fn is_deleted(&self, guid: Guid) -> bool {
        self.entries.get(&guid).is_some_and(|e| e.deleted)
    }

    /// The `uSNChanged` of an object.
    pub fn usn_changed(&self, guid: Guid) -> Option<i64> {
        self.entries.get(&guid).map(|e| e.usn_changed)
    }

    /// Every live object, ancestors first (by depth, then DN), with no fault
    /// applied.
    pub fn live_objects(&self) -> impl Iterator<Item = &SourceObject> {
        self.ordered_live().into_iter()
    }

    fn ordered_live(&self) -> Vec<&SourceObject> {
        let mut v: Vec<&SourceObject> = self
            .entries
            .values()
            .filter(|e| !e.deleted)
            .map(|e| &e.object)
            .collect();
        v.sort_by(|a, b| {
            a.dn.len()
                .cmp(&b.dn.len())
                .then_with(|| a.dn.normalized().cmp(b.dn.normalized()))
        });
        v
    }

    // ----- writing ------------------------------------------------------------

    fn live_mut(&mut self, guid: Guid) -> Result<&mut Entry, AdError> {
        match self.entries.get_mut(&guid) {
            None => Err(AdError::NoSuchObject { guid }),
            Some(e) if e.deleted => Err(AdError::Deleted { guid }),
            Some(e) => Ok(e),
        }
    }

    fn stamp(&mut self, guid: Guid) {
        let usn = self.bump();
        if let Some(e) = self.entries.get_mut(&guid) {
            e.usn_changed = usn;
            e.object.attributes.set("uSNChanged", [Value::Int(usn)]);
            let now = &e.object.attributes;
            for (name, values) in now.iter() {
                if e.stamped.get(name.as_str()) != values {
                    e.attr_usn.insert(name.clone(), usn);
                }
            }
            for (name, _) in e.stamped.iter() {
                if !now.contains(name.as_str()) {
                    e.attr_usn.insert(name.clone(), usn);
                }
            }
            e.stamped = now.clone();
        }
    }

    /// Marks an object to be reported whole by deltas from before now.
    fn stamp_whole(&mut self, guid: Guid) {
        self.stamp(guid);
        if let Some(e) = self.entries.get_mut(&guid) {
            e.whole_usn = e.usn_changed;
        }
    }

    /// Replaces the values of an attribute (no values: clears it); one USN.
    pub fn set(
        &mut self,
        guid: Guid,
        name: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<(), AdError> {
        self.set_many(guid, [(name, values.into_iter().collect::<Values>())])
    }

    /// Replaces several attributes in one write (one USN). The attributes
    /// the directory maintains and the naming attributes (`cn`, `name`,
    /// `ou`: use [`InMemoryAd::rename`]) are refused.
    pub fn set_many<'a>(
        &mut self,
        guid: Guid,
        changes: impl IntoIterator<Item = (&'a str, Values)>,
    ) -> Result<(), AdError> {
        let changes: Vec<(&str, Values)> = changes.into_iter().collect();
        // The naming attributes change only with the DN (rename).
        let naming = |n: &str| {
            ["cn", "name", "ou"]
                .iter()
                .any(|m| m.eq_ignore_ascii_case(n))
        };
        if let Some((name, _)) = changes.iter().find(|(n, _)| is_maintained(n) || naming(n)) {
            return Err(AdError::ReadOnlyAttribute {
                name: (*name).to_owned(),
            });
        }
        let entry = self.live_mut(guid)?;
        for (name, values) in changes {
            entry.object.attributes.set(name, values);
        }
        self.stamp(guid);
        Ok(())
    }

    /// Sets the user's password hash (what password hash sync reads); one
    /// USN, as a password change stamps the object. It travels only in the
    /// change records' own field, never among the attributes.
    pub fn set_password_hash(&mut self, guid: Guid, hash: Secret) -> Result<(), AdError> {
        let entry = self.live_mut(guid)?;
        entry.password_hash = Some(hash);
        self.stamp(guid);
        if let Some(e) = self.entries.get_mut(&guid) {
            e.password_usn = e.usn_changed;
        }
        Ok(())
    }

    /// Sets ms-DS-ConsistencyGuid (any length is stored, so tests can build
    /// the malformed 15-byte case).
    pub fn set_consistency_guid(&mut self, guid: Guid, bytes: &[u8]) -> Result<(), AdError> {
        self.set(guid, CONSISTENCY_GUID, [Value::bytes(bytes)])
    }

    /// Clears ms-DS-ConsistencyGuid.
    pub fn clear_consistency_guid(&mut self, guid: Guid) -> Result<(), AdError> {
        self.set(guid, CONSISTENCY_GUID, [])
    }

    fn group_and_member(&self, group: Guid, member: Guid) -> Result<Dn, AdError> {
        let g = match self.entries.get(&group) {
            None => return Err(AdError::NoSuchObject { guid: group }),
            Some(e) if e.deleted => return Err(AdError::Deleted { guid: group }),
            Some(e) => e,
        };
        if g.object.kind != ObjectKind::Group {
            return Err(AdError::NotAGroup {
                dn: g.object.dn.to_string(),
            });
        }
        match self.entries.get(&member) {
            None => Err(AdError::NoSuchObject { guid: member }),
            Some(e) if e.deleted => Err(AdError::Deleted { guid: member }),
            Some(e) => Ok(e.object.dn.clone()),
        }
    }

    /// Adds a direct member to a group (its `member` holds the member's DN);
    /// bumps the group's `uSNChanged`, not the member's. Returns whether the
    /// group changed (adding a present member is a no-op).
    pub fn add_member(&mut self, group: Guid, member: Guid) -> Result<bool, AdError> {
        let dn = self.group_and_member(group, member)?;
        let entry = self.live_mut(group)?;
        let mut values: Values = entry
            .object
            .attributes
            .get("member")
            .iter()
            .cloned()
            .collect();
        if values.iter().any(|v| matches!(v, Value::Dn(d) if *d == dn)) {
            return Ok(false);
        }
        values.push(Value::Dn(dn));
        entry.object.attributes.set("member", values);
        self.stamp(group);
        Ok(true)
    }

    /// Removes a direct member; returns whether the group changed.
    pub fn remove_member(&mut self, group: Guid, member: Guid) -> Result<bool, AdError> {
        let dn = self.group_and_member(group, member)?;
        let entry = self.live_mut(group)?;
        let before = entry.object.attributes.get("member").len();
        let values: Values = entry
            .object
            .attributes
            .get("member")
            .iter()
            .filter(|v| !matches!(v, Value::Dn(d) if *d == dn))
            .cloned()
            .collect();
        if values.len() == before {
            return Ok(false);
        }
        entry.object.attributes.set("member", values);
        self.stamp(group);
        Ok(true)
    }

    /// The direct members of a group, as GUIDs, in `member` order.
    pub fn members(&self, group: Guid) -> Vec<Guid> {
        self.get(group)
            .map(|g| {
                g.attributes
                    .get("member")
                    .iter()
                    .filter_map(|v| match v {
                        Value::Dn(d) => self.by_dn.get(d).copied(),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Renames an object (its RDN value, `cn`/`ou` and `name` change; the
    /// RDN attribute type stays).
    pub fn rename(&mut self, guid: Guid, new_name: &str) -> Result<(), AdError> {
        let dn = self.live_mut(guid)?.object.dn.clone();
        let attr = dn
            .rdn_avas(0)
            .and_then(|a| a.into_iter().next())
            .map_or_else(|| "CN".to_owned(), |a| a.attr_type);
        let parent = dn.parent().unwrap_or_else(Dn::root);
        let new_dn = self.named_child(&parent, &attr, new_name)?;
        self.relocate(guid, new_dn)?;
        let entry = self.live_mut(guid)?;
        entry
            .object
            .attributes
            .set(&*attr.to_ascii_lowercase(), [Value::str(new_name)]);
        entry.object.attributes.set("name", [Value::str(new_name)]);
        Ok(())
    }

    /// Moves an object (and its subtree) under `new_parent`.
    pub fn move_to(&mut self, guid: Guid, new_parent: &Dn) -> Result<(), AdError> {
        let dn = self.live_mut(guid)?.object.dn.clone();
        let rdn = dn.rdn().unwrap_or_default().to_owned();
        let new_dn = new_parent.child(&rdn).map_err(|e| bad_name(&rdn, e))?;
        self.relocate(guid, new_dn)
    }

    /// Gives an object a new DN: only it gets a new USN; its subtree's DNs
    /// and every DN-valued attribute pointing into the subtree follow
    /// without a USN, as linked attributes do.
    fn relocate(&mut self, guid: Guid, new_dn: Dn) -> Result<(), AdError> {
        let old = self.live_mut(guid)?.object.dn.clone();
        if new_dn == old {
            return Ok(());
        }
        if new_dn.is_under(&old) {
            return Err(AdError::MoveUnderItself {
                dn: old.to_string(),
            });
        }
        if !new_dn.is_under(&self.nc) || new_dn == self.nc {
            return Err(AdError::OutsideNamingContext {
                dn: new_dn.to_string(),
                nc: self.nc.to_string(),
            });
        }
        if self.by_dn.contains_key(&new_dn) {
            return Err(AdError::AlreadyExists {
                dn: new_dn.to_string(),
            });
        }
        self.check_parent(&new_dn)?;
        let subtree: Vec<(Guid, Dn)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.deleted && e.object.dn.is_under(&old))
            .map(|(g, e)| (*g, e.object.dn.clone()))
            .collect();
        for (g, dn) in &subtree {
            let Some(moved) = dn.rebase(&old, &new_dn) else {
                continue;
            };
            self.by_dn.remove(dn);
            self.by_dn.insert(moved.clone(), *g);
            if let Some(e) = self.entries.get_mut(g) {
                e.object.dn = moved;
            }
        }
        // Links follow the object they name (AD keeps them by reference),
        // also those a tombstone keeps for its restore.
        for e in self.entries.values_mut() {
            if e.deleted {
                rebase_links(&mut e.recycled, &old, &new_dn);
                if let Some(p) = e
                    .last_known_parent
                    .as_ref()
                    .and_then(|p| p.rebase(&old, &new_dn))
                {
                    e.last_known_parent = Some(p);
                }
            } else {
                rebase_links(&mut e.object.attributes, &old, &new_dn);
            }
        }
        self.stamp_whole(guid);
        Ok(())
    }

    /// Deletes an object with no live children: it becomes a tombstone;
    /// DN-valued attributes of other objects that pointed at it lose that
    /// value (those objects get a new USN, as a group does when a member
    /// goes).
    pub fn delete(&mut self, guid: Guid) -> Result<(), AdError> {
        let dn = self.live_mut(guid)?.object.dn.clone();
        let has_children = self
            .entries
            .values()
            .any(|e| !e.deleted && e.object.dn != dn && e.object.dn.is_under(&dn));
        if has_children {
            return Err(AdError::HasChildren { dn: dn.to_string() });
        }
        let tomb_rdn = format!("{}\\0ADEL:{guid}", dn.rdn().unwrap_or_default());
        let tomb_dn = self
            .nc
            .child("CN=Deleted Objects")
            .and_then(|d| d.child(&tomb_rdn))
            .map_err(|e| bad_name(&tomb_rdn, e))?;
        let mangled = tomb_dn
            .rdn_avas(0)
            .and_then(|a| a.into_iter().next())
            .map(|a| a.value)
            .unwrap_or_default();
        let referrers: Vec<Guid> = self
            .entries
            .iter()
            .filter(|(g, e)| {
                **g != guid
                    && !e.deleted
                    && e.object
                        .attributes
                        .iter()
                        .any(|(_, vs)| vs.iter().any(|v| matches!(v, Value::Dn(d) if *d == dn)))
            })
            .map(|(g, _)| *g)
            .collect();
        for g in referrers {
            if let Some(e) = self.entries.get_mut(&g) {
                drop_links(&mut e.object.attributes, &dn);
            }
            self.stamp(g);
        }
        // A tombstone's kept links to it go too (a restore brings back no
        // membership of a deleted object, whichever is restored first).
        for e in self.entries.values_mut().filter(|e| e.deleted) {
            drop_links(&mut e.recycled, &dn);
        }
        let usn = self.bump();
        let Some(entry) = self.entries.get_mut(&guid) else {
            return Err(AdError::NoSuchObject { guid });
        };
        let mut kept = Attributes::new();
        let mut stripped = Attributes::new();
        for (name, values) in entry.object.attributes.iter() {
            if PRESERVED.iter().any(|p| name.is(p)) {
                kept.set(name.clone(), values.iter().cloned());
            } else {
                stripped.set(name.clone(), values.iter().cloned());
            }
        }
        let rdn_attr = dn
            .rdn_avas(0)
            .and_then(|a| a.into_iter().next())
            .map(|a| a.attr_type.to_ascii_lowercase())
            .unwrap_or_else(|| "cn".to_owned());
        kept.set("name", [Value::str(&mangled)]);
        kept.set(&*rdn_attr, [Value::str(&mangled)]);
        let parent = dn.parent();
        if let Some(p) = &parent {
            kept.set("lastKnownParent", [Value::Dn(p.clone())]);
        }
        kept.set("isDeleted", [Value::Bool(true)]);
        kept.set("uSNChanged", [Value::Int(usn)]);
        entry.original_rdn = dn.rdn().unwrap_or_default().to_owned();
        entry.recycled = stripped;
        entry.last_known_parent = parent;
        entry.deleted = true;
        entry.usn_changed = usn;
        entry.object.attributes = kept;
        entry.object.dn = tomb_dn.clone();
        self.by_dn.remove(&dn);
        self.by_dn.insert(tomb_dn, guid);
        Ok(())
    }

    /// Deletes an object and everything under it, leaves first; returns the
    /// deleted GUIDs in deletion order.
    pub fn delete_subtree(&mut self, guid: Guid) -> Result<Vec<Guid>, AdError> {
        let dn = self.live_mut(guid)?.object.dn.clone();
        let mut subtree: Vec<(usize, String, Guid)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.deleted && e.object.dn.is_under(&dn))
            .map(|(g, e)| (e.object.dn.len(), e.object.dn.normalized().to_owned(), *g))
            .collect();
        subtree.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut done = Vec::with_capacity(subtree.len());
        for (_, _, g) in subtree {
            self.delete(g)?;
            done.push(g);
        }
        Ok(done)
    }

    /// Restores (reanimates) a tombstone under the same GUID, at `dn` or,
    /// when `None`, at its original RDN under `lastKnownParent`; the
    /// attributes the delete stripped come back (Recycle Bin behaviour),
    /// memberships do not.
    pub fn restore(&mut self, guid: Guid, dn: Option<&Dn>) -> Result<Dn, AdError> {
        let entry = self
            .entries
            .get(&guid)
            .ok_or(AdError::NoSuchObject { guid })?;
        if !entry.deleted {
            return Err(AdError::NotDeleted { guid });
        }
        let target = match dn {
            Some(d) => d.clone(),
            None => {
                let parent = entry
                    .last_known_parent
                    .clone()
                    .unwrap_or_else(|| self.nc.clone());
                parent
                    .child(&entry.original_rdn)
                    .map_err(|e| bad_name(&entry.original_rdn, e))?
            }
        };
        if !target.is_under(&self.nc) || target == self.nc {
            return Err(AdError::OutsideNamingContext {
                dn: target.to_string(),
                nc: self.nc.to_string(),
            });
        }
        if self.by_dn.contains_key(&target) {
            return Err(AdError::AlreadyExists {
                dn: target.to_string(),
            });
        }
        self.check_parent(&target)?;
        let leaf = target
            .rdn_avas(0)
            .and_then(|a| a.into_iter().next())
            .ok_or_else(|| AdError::NoParent {
                dn: target.to_string(),
            })?;
        let Some(entry) = self.entries.get_mut(&guid) else {
            return Err(AdError::NoSuchObject { guid });
        };
        let old_dn = entry.object.dn.clone();
        let mut attrs = entry.object.attributes.clone();
        attrs.remove("isDeleted");
        attrs.remove("lastKnownParent");
        for (name, values) in entry.recycled.iter() {
            attrs.set(name.clone(), values.iter().cloned());
        }
        attrs.set("name", [Value::str(&leaf.value)]);
        attrs.set(
            &*leaf.attr_type.to_ascii_lowercase(),
            [Value::str(&leaf.value)],
        );
        entry.object.attributes = attrs;
        entry.object.dn = target.clone();
        entry.deleted = false;
        entry.last_known_parent = None;
        entry.recycled = Attributes::new();
        self.by_dn.remove(&old_dn);
        self.by_dn.insert(target.clone(), guid);
        self.stamp_whole(guid);
        Ok(target)
    }

    // ----- change reading -------------------------------------------------------

    /// Makes the next full read fail after returning `k` objects.
    pub fn fail_next_full_read_after(&mut self, k: usize) {
        self.fault.cut_after = Some(k);
    }

    /// Makes the next full read silently return only `percent`% of the live
    /// objects (spread evenly over the read order); values above 100 are
    /// taken as 100.
    pub fn return_only_percent(&mut self, percent: u8) {
        self.fault.percent = Some(percent.min(100));
    }

    /// Removes pending read faults.
    pub fn clear_faults(&mut self) {
        self.fault = ReadFault::default();
    }

    /// A full read: every live object, ancestors first. Consumes the pending
    /// read faults: a cut-short read yields `k` objects then
    /// [`AdError::ReadInterrupted`]; a partial read silently skips objects.
    pub fn read_objects(&mut self) -> FullRead<'_> {
        let fault = std::mem::take(&mut self.fault);
        let this: &InMemoryAd = self;
        FullRead {
            objects: this.ordered_live().into_iter(),
            index: 0,
            yielded: 0,
            fault,
            failed: false,
        }
    }

    /// The changes since watermark `usn`, DirSync style: the current state
    /// of every live object written after it and a tombstone for every
    /// object deleted after it. Children of a moved container are not
    /// reported (their `uSNChanged` did not change): recompute their DNs
    /// from the parent's.
    pub fn changed_since(&self, usn: i64) -> ChangedSince {
        let mut changed: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.usn_changed > usn)
            .collect();
        changed.sort_by_key(|e| e.usn_changed);
        let mut objects = Vec::new();
        let mut tombstones = Vec::new();
        for e in changed {
            if e.deleted {
                tombstones.push(Tombstone {
                    guid: e.object.guid,
                    dn: e.object.dn.clone(),
                    last_known_parent: e.last_known_parent.clone(),
                    kind: e.object.kind,
                    usn: e.usn_changed,
                });
            } else {
                objects.push(e.object.clone());
            }
        }
        ChangedSince {
            objects,
            tombstones,
            highest_usn: self.usn,
            invocation_id: self.invocation_id,
        }
    }
}

/// The attributes of `e` written after USN `from`, as replaced values.
fn modify_record(e: &Entry, from: i64, password_hash: Option<Secret>) -> Change {
    let mut names: Vec<&AttrName> = e
        .attr_usn
        .iter()
        .filter(|(_, usn)| **usn > from)
        .map(|(n, _)| n)
        .collect();
    names.sort();
    Change::Modify {
        guid: e.object.guid,
        changes: names
            .into_iter()
            .map(|n| change::AttrChange {
                name: n.clone(),
                op: change::AttrOp::Replace(
                    e.object
                        .attributes
                        .get(n.as_str())
                        .iter()
                        .cloned()
                        .collect(),
                ),
            })
            .collect(),
        password_hash,
    }
}

fn add_record(object: &SourceObject, password_hash: Option<Secret>) -> Change {
    Change::Add {
        guid: object.guid,
        dn: object.dn.clone(),
        attributes: object.attributes.clone(),
        password_hash,
    }
}

/// The engine's view of the simulator.
///
/// - `full_read`: the live objects, ancestors first, as `add` records in
///   pages of [`InMemoryAd::set_page_size`] objects, every page carrying the
///   watermark read before the read began. The read faults apply: a cut
///   short read ends with a [`Completeness::CutShort`] page holding what
///   arrived; a partial read silently reports `Finished` (the case the
///   engine's deletion safeguards exist for).
/// - `changes_since`: a delta from a uSNChanged watermark of this DC and
///   invocationId, in USN order: every live object written since as an
///   `add` of its current state, or with [`DeltaStyle::ChangedAttributes`]
///   as a `modify` of the attributes written since (an object created,
///   renamed, moved or restored since stays an `add`), with the password
///   hash only when it changed since the watermark (DirSync semantics:
///   latest values, so the engine's replace-and-rebase handles renames and
///   moves; children of a moved container are not reported), every object
///   deleted since as a `delete`. A watermark of another DC, another invocationId (after
///   [`InMemoryAd::restore_from_backup`]), a higher USN, a DirSync cookie or
///   none is [`SourceError::WatermarkVoid`].
///
/// ```
/// use idsync::change::{BatchKind, Change, Completeness};
/// use idsync::memory::InMemoryAd;
/// use idsync::source::DirectorySource;
///
/// let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
/// let root = ad.domain().clone();
/// let ann = ad.add_user(&root, "Ann")?;
/// let pages = DirectorySource::full_read(&mut ad)?;
/// assert!(matches!(pages[0].header.kind,
///     BatchKind::Full { completeness: Completeness::Finished, objects: 1, .. }));
/// let since = pages[0].header.watermark.clone();
/// ad.delete(ann)?;
/// let delta = ad.changes_since(&since)?;
/// assert!(matches!(&delta.records[0], Change::Delete(t) if t.guid == ann));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl DirectorySource for InMemoryAd {
    fn full_read(&mut self) -> Result<Vec<ChangeBatch>, SourceError> {
        let watermark = self.watermark();
        let source = self.source.clone();
        let page_size = self.page_size;
        let mut records = Vec::new();
        let mut cut_short = false;
        for item in self.read_objects() {
            match item {
                Ok(o) => records.push(o.guid),
                Err(_) => {
                    cut_short = true;
                    break;
                }
            }
        }
        let records: Vec<Change> = records
            .into_iter()
            .filter_map(|g| {
                let e = self.entries.get(&g)?;
                Some(add_record(&e.object, e.password_hash.clone()))
            })
            .collect();
        let total = records.len();
        let chunks: Vec<Vec<Change>> = if records.is_empty() {
            vec![Vec::new()]
        } else {
            records.chunks(page_size).map(<[Change]>::to_vec).collect()
        };
        let last = chunks.len().saturating_sub(1);
        let mut seen = 0u64;
        let mut pages = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            seen += chunk.len() as u64;
            let completeness = match (i == last, cut_short) {
                (false, _) => Completeness::InProgress,
                (true, false) => Completeness::Finished,
                (true, true) => Completeness::CutShort,
            };
            let page = u32::try_from(i).map_err(|_| {
                SourceError::Other(format!("full read of {total} objects has too many pages"))
            })?;
            pages.push(ChangeBatch {
                header: BatchHeader {
                    source: source.clone(),
                    since: if i == 0 {
                        Watermark::None
                    } else {
                        watermark.clone()
                    },
                    watermark: watermark.clone(),
                    kind: BatchKind::Full {
                        page,
                        completeness,
                        objects: seen,
                    },
                },
                records: chunk,
            });
        }
        Ok(pages)
    }

    fn changes_since(&mut self, since: &Watermark) -> Result<ChangeBatch, SourceError> {
        let now = self.watermark();
        let from = match since {
            Watermark::Usn {
                highest_committed_usn,
                invocation_id,
                dc,
            } => {
                if !dc.eq_ignore_ascii_case(&self.dc) {
                    return Err(SourceError::WatermarkVoid(VoidReason::DcChanged {
                        old: dc.clone(),
                        new: self.dc.clone(),
                    }));
                }
                if *invocation_id != self.invocation_id {
                    return Err(SourceError::WatermarkVoid(
                        VoidReason::InvocationIdChanged {
                            old: *invocation_id,
                            new: self.invocation_id,
                        },
                    ));
                }
                let ours = u64::try_from(self.usn).unwrap_or(0);
                if *highest_committed_usn > ours {
                    return Err(SourceError::WatermarkVoid(VoidReason::UsnWentBack {
                        old: *highest_committed_usn,
                        new: ours,
                    }));
                }
                i64::try_from(*highest_committed_usn).unwrap_or(i64::MAX)
            }
            Watermark::None => return Err(SourceError::WatermarkVoid(VoidReason::NoBaseline)),
            Watermark::DirSync { .. } => {
                return Err(SourceError::WatermarkVoid(VoidReason::MethodChanged));
            }
        };
        let mut changed: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.usn_changed > from)
            .collect();
        changed.sort_by_key(|e| e.usn_changed);
        let records = changed
            .into_iter()
            .map(|e| {
                if e.deleted {
                    Change::Delete(change::Tombstone {
                        guid: e.object.guid,
                        dn: e.object.dn.clone(),
                        last_known_parent: e.last_known_parent.clone(),
                    })
                } else {
                    // A hash travels only when it changed since the watermark.
                    let hash = e.password_hash.clone().filter(|_| e.password_usn > from);
                    match self.delta_style {
                        DeltaStyle::ChangedAttributes if e.whole_usn <= from => {
                            modify_record(e, from, hash)
                        }
                        _ => add_record(&e.object, hash),
                    }
                }
            })
            .collect();
        Ok(ChangeBatch {
            header: BatchHeader {
                source: self.source.clone(),
                since: since.clone(),
                watermark: now,
                kind: BatchKind::Delta,
            },
            records,
        })
    }
}

/// The iterator of [`InMemoryAd::read_objects`].
#[derive(Debug)]
pub struct FullRead<'a> {
    objects: std::vec::IntoIter<&'a SourceObject>,
    index: usize,
    yielded: usize,
    fault: ReadFault,
    failed: bool,
}

impl<'a> Iterator for FullRead<'a> {
    type Item = Result<&'a SourceObject, AdError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.fault.cut_after == Some(self.yielded) {
                self.failed = true;
                // Only fail if the read had more to give.
                return self.objects.next().map(|_| {
                    Err(AdError::ReadInterrupted {
                        after: self.yielded,
                    })
                });
            }
            let obj = self.objects.next()?;
            let i = self.index;
            self.index += 1;
            if let Some(p) = self.fault.percent {
                let p = usize::from(p);
                if (i + 1) * p / 100 == i * p / 100 {
                    continue;
                }
            }
            self.yielded += 1;
            return Some(Ok(obj));
        }
    }
}

fn person(name: &str) -> Attributes {
    Attributes::new()
        .with("cn", [Value::str(name)])
        .with("name", [Value::str(name)])
        .with("displayName", [Value::str(name)])
}

fn is_maintained(name: &str) -> bool {
    [
        "objectGUID",
        "objectClass",
        "uSNChanged",
        "uSNCreated",
        "isDeleted",
        "lastKnownParent",
        "member",
        "distinguishedName",
    ]
    .iter()
    .any(|m| m.eq_ignore_ascii_case(name))
}

fn rebase_links(attrs: &mut Attributes, from: &Dn, to: &Dn) {
    let names: Vec<_> = attrs
        .iter()
        .filter(|(_, vs)| {
            vs.iter()
                .any(|v| matches!(v, Value::Dn(d) if d.is_under(from)))
        })
        .map(|(n, _)| n.clone())
        .collect();
    for name in names {
        let values: Values = attrs
            .get(name.as_str())
            .iter()
            .map(|v| match v {
                Value::Dn(d) => Value::Dn(d.rebase(from, to).unwrap_or_else(|| d.clone())),
                other => other.clone(),
            })
            .collect();
        attrs.set(name, values);
    }
}

fn drop_links(attrs: &mut Attributes, target: &Dn) {
    let names: Vec<_> = attrs
        .iter()
        .filter(|(_, vs)| vs.iter().any(|v| matches!(v, Value::Dn(d) if d == target)))
        .map(|(n, _)| n.clone())
        .collect();
    for name in names {
        let values: Values = attrs
            .get(name.as_str())
            .iter()
            .filter(|v| !matches!(v, Value::Dn(d) if d == target))
            .cloned()
            .collect();
        attrs.set(name, values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstone_dn_has_the_escaped_newline() {
        let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com").unwrap();
        let root = ad.domain().clone();
        let u = ad.add_user(&root, "Bob, Jr.").unwrap();
        ad.delete(u).unwrap();
        let dn = ad.dn_of(u).unwrap();
        assert_eq!(
            dn.as_str(),
            format!("CN=Bob\\, Jr.\\0ADEL:{u},CN=Deleted Objects,DC=corp,DC=example,DC=com")
        );
        let name = ad
            .get(u)
            .unwrap()
            .attributes
            .first("name")
            .unwrap()
            .to_string();
        assert_eq!(name, format!("Bob, Jr.\nDEL:{u}"));
    }

    #[test]
    fn percent_selection_is_even() {
        let mut ad = InMemoryAd::new("DC=x").unwrap();
        let root = ad.domain().clone();
        for i in 0..10 {
            ad.add_user(&root, &format!("u{i}")).unwrap();
        }
        ad.return_only_percent(30);
        assert_eq!(ad.read_objects().filter(Result::is_ok).count(), 3);
        assert_eq!(ad.read_objects().count(), 10);
    }
}
