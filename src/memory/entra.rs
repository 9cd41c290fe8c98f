//! The in-memory Entra-like directory: [`InMemoryTarget`].
//!
//! It owns the cloud's rules as `reference/matching.md` states them, so the
//! engine's tests meet the same surprises a real tenant gives: unique
//! immutable ids, userPrincipalName and proxy addresses unique across users,
//! groups and contacts with duplicate attribute resiliency, unverified UPN
//! suffixes rewritten to the initial domain, soft delete and restore, group
//! memberships, and a fault switch. It must never panic on an op (an unknown
//! id is a `NotFound` error) and never keep a password hash (only a
//! fingerprint and a count).
//!
//! Choices where the reference is silent (documented on the items):
//! - soft-deleted objects keep holding their immutable id, UPN and proxy
//!   addresses (as in Entra) and are found by the lookups with
//!   `deleted: true`, so the engine can restore them;
//! - resiliency applies on create, update, stamp and restore alike;
//! - deleting an already deleted object and restoring a live one succeed
//!   (idempotent replay); an update of a soft-deleted object is `NotFound`;
//! - uniqueness is modelled for userPrincipalName (among users) and proxy
//!   addresses (among all kinds, `SMTP:` and `smtp:` alike); a UPN equal to
//!   another object's proxy address, and the uniqueness of `mail` and
//!   `OnPremiseSecurityIdentifier`, are not modelled;
//! - the placeholder UPN is kept across updates while its conflict lasts,
//!   so an object's UPN does not change with every unrelated write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::anchor::{Guid, ImmutableId};
use crate::object::{Attributes, ObjectKind, Secret, Value};
use crate::target::{
    Action, Applied, AttrChange, DirectoryTarget, OpId, ProvisioningError, TargetError,
    TargetErrorKind, TargetId, TargetLookup, TargetObject, TargetOp, TargetRef, TargetView,
};
use crate::time::Timestamp;

/// How long a soft-deleted object stays restorable: 30 days, in seconds.
pub const SOFT_DELETE_RETENTION_SECS: i64 = 30 * 24 * 3600;

const UPN: &str = "UserPrincipalName";
const PROXY: &str = "ProxyAddresses";

/// Whether a user has a password hash, without the hash.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct PasswordState {
    /// How many times a hash was set.
    pub times_set: u32,
    /// A 64-bit FNV-1a fingerprint of the last hash (to tell "the same hash
    /// again" from "a new hash"); never the hash itself.
    fingerprint: Option<u64>,
}

impl PasswordState {
    /// Whether a hash was ever set.
    pub fn has_hash(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// The fingerprint of the last hash set (FNV-1a 64 of its bytes).
    pub fn fingerprint(&self) -> Option<u64> {
        self.fingerprint
    }
}

impl fmt::Debug for PasswordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordState")
            .field("has_hash", &self.has_hash())
            .field("times_set", &self.times_set)
            .finish()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One object of the in-memory cloud directory.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudObject {
    /// Its id (`u-000001`, `g-000001`, `c-000001`).
    pub id: TargetId,
    /// User, group or contact.
    pub kind: ObjectKind,
    /// `onPremisesImmutableId`, unique in the tenant.
    pub immutable_id: Option<ImmutableId>,
    /// The attributes as the directory holds them, by target attribute name
    /// (case-insensitive). `UserPrincipalName` and `ProxyAddresses` hold the
    /// effective values (after placeholders and dropped duplicates).
    pub attributes: Attributes,
    /// The userPrincipalName the last write asked for (before any rewrite).
    pub requested_upn: Option<String>,
    /// The proxy addresses the last write asked for (before any drop).
    pub requested_proxy_addresses: Vec<String>,
    /// Values quarantined by duplicate attribute resiliency
    /// (`onPremisesProvisioningErrors`).
    pub provisioning_errors: Vec<ProvisioningError>,
    /// Soft-deleted (restorable until purged).
    pub deleted: bool,
    /// When it was soft-deleted (the target's time then).
    pub deleted_at: Option<Timestamp>,
    /// Holds an admin role (never soft-matched).
    pub admin_role: bool,
    /// Direct members (groups).
    pub members: BTreeSet<TargetId>,
    /// Password hash state (users).
    pub password: PasswordState,
    /// The effective UPN is a placeholder for this original value.
    placeholder_for: Option<String>,
}

impl CloudObject {
    /// The effective userPrincipalName.
    pub fn user_principal_name(&self) -> Option<&str> {
        self.attributes.first(UPN).and_then(Value::as_str)
    }

    /// The effective proxy addresses.
    pub fn proxy_addresses(&self) -> Vec<String> {
        self.attributes
            .get(PROXY)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn mail_enabled(&self) -> bool {
        let flag = self.attributes.first("MailEnabled").and_then(truthy);
        match (self.kind, flag) {
            (ObjectKind::Group, Some(b)) => b,
            _ => {
                self.attributes
                    .get(PROXY)
                    .iter()
                    .any(|v| v.to_string().to_ascii_lowercase().starts_with("smtp:"))
                    || self.attributes.contains("Mail")
            }
        }
    }

    fn view(&self) -> TargetObject {
        TargetObject {
            id: self.id.clone(),
            kind: self.kind,
            immutable_id: self.immutable_id,
            user_principal_name: self.user_principal_name().map(str::to_owned),
            proxy_addresses: self.proxy_addresses(),
            mail_enabled: self.mail_enabled(),
            admin_role: self.admin_role,
            deleted: self.deleted,
        }
    }
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A fault the target injects instead of applying an op.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultRule {
    /// Fail the next `remaining` ops (any), then stop.
    Next {
        /// Ops still to fail.
        remaining: u32,
        /// The error kind to return.
        kind: TargetErrorKind,
    },
    /// Fail every op that refers to this target object.
    OnTarget {
        /// The object.
        id: TargetId,
        /// The error kind to return.
        kind: TargetErrorKind,
    },
    /// Fail every op made for this source object.
    OnObject {
        /// The source object's objectGUID.
        object: Guid,
        /// The error kind to return.
        kind: TargetErrorKind,
    },
}

/// One entry of the target's operation log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedOp {
    /// The op's id.
    pub op: OpId,
    /// The source object it was for.
    pub object: Guid,
    /// The action's short name (`create`, `update`, ...).
    pub action: &'static str,
    /// The target objects it referred to (group first for memberships).
    pub targets: Vec<TargetId>,
    /// What happened.
    pub outcome: Result<Applied, TargetError>,
    /// Whether the outcome was an injected fault.
    pub injected: bool,
}

/// An in-memory Entra-like directory implementing [`DirectoryTarget`].
///
/// ```
/// use idsync::anchor::Guid;
/// use idsync::memory::InMemoryTarget;
/// use idsync::object::{AttrName, ObjectKind, Value, Values};
/// use idsync::target::{Action, DirectoryTarget, OpId, Reason, TargetOp};
///
/// let mut entra = InMemoryTarget::new("contoso.onmicrosoft.com");
/// entra.add_verified_domain("contoso.com");
/// entra.seed_user("ann@contoso.com")?; // cloud-only, takes the UPN first
/// let guid = Guid::from_u128(7);
/// let op = TargetOp {
///     id: OpId(1),
///     object: guid,
///     kind: ObjectKind::User,
///     action: Action::Create {
///         anchor: guid.immutable_id(),
///         attributes: vec![(AttrName::new("UserPrincipalName"),
///                           Values::from_iter([Value::str("ann@contoso.com")]))],
///     },
///     reason: Reason::NewObject,
/// };
/// let applied = entra.apply(&op)?;
/// // Duplicate attribute resiliency: created with a placeholder UPN.
/// assert_eq!(applied.quarantined[0].property_causing_error, "UserPrincipalName");
/// let id = applied.target_id.ok_or("no id")?;
/// let upn = entra.get(&id).and_then(|o| o.user_principal_name()).ok_or("no upn")?;
/// assert!(upn.starts_with("ann") && upn.ends_with("@contoso.onmicrosoft.com"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryTarget {
    objects: BTreeMap<TargetId, CloudObject>,
    by_anchor: HashMap<ImmutableId, TargetId>,
    by_upn: HashMap<String, TargetId>,
    by_proxy: HashMap<String, TargetId>,
    counters: [u64; 3],
    initial_domain: String,
    verified: BTreeSet<String>,
    resiliency: bool,
    rng: u64,
    now: Timestamp,
    faults: Vec<FaultRule>,
    log: Vec<LoggedOp>,
}

/// The effective unique values computed for one object before commit.
struct Resolved {
    upn: Option<String>,
    placeholder_for: Option<String>,
    proxies: Vec<String>,
    errors: Vec<ProvisioningError>,
}

fn conflict(property: &str, value: &str) -> ProvisioningError {
    ProvisioningError {
        category: "PropertyConflict".to_owned(),
        property_causing_error: property.to_owned(),
        value: value.to_owned(),
    }
}

fn err(kind: TargetErrorKind, message: impl Into<String>) -> TargetError {
    TargetError::new(kind, message)
}

fn not_found(id: &TargetId) -> TargetError {
    err(
        TargetErrorKind::NotFound,
        format!("object {id} does not exist"),
    )
}

fn first_text(values: &[Value]) -> Option<String> {
    values.first().map(ToString::to_string)
}

impl InMemoryTarget {
    /// An empty tenant whose initial (always verified) domain is
    /// `initial_domain`, with duplicate attribute resiliency on and the
    /// placeholder generator seeded with 0.
    pub fn new(initial_domain: &str) -> InMemoryTarget {
        let initial = initial_domain.to_ascii_lowercase();
        let mut verified = BTreeSet::new();
        verified.insert(initial.clone());
        InMemoryTarget {
            objects: BTreeMap::new(),
            by_anchor: HashMap::new(),
            by_upn: HashMap::new(),
            by_proxy: HashMap::new(),
            counters: [0; 3],
            initial_domain: initial,
            verified,
            resiliency: true,
            rng: 0,
            now: Timestamp::EPOCH,
            faults: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Seeds the placeholder-digit generator (same seed, same digits).
    pub fn with_seed(mut self, seed: u64) -> InMemoryTarget {
        self.rng = seed;
        self
    }

    /// Adds a verified domain (case-insensitive).
    pub fn add_verified_domain(&mut self, domain: &str) {
        self.verified.insert(domain.to_ascii_lowercase());
    }

    /// The initial domain (`contoso.onmicrosoft.com`).
    pub fn initial_domain(&self) -> &str {
        &self.initial_domain
    }

    /// Whether `domain` is verified in this tenant.
    pub fn is_verified_domain(&self, domain: &str) -> bool {
        self.verified.contains(&domain.to_ascii_lowercase())
    }

    /// Turns duplicate attribute resiliency on (the default) or off. Off, a
    /// duplicate UPN or proxy address fails the op with `DuplicateValue`.
    pub fn set_duplicate_attribute_resiliency(&mut self, on: bool) {
        self.resiliency = on;
    }

    /// Sets the target's notion of the current time, stamped on soft
    /// deletes (the model never reads a clock).
    pub fn set_time(&mut self, now: Timestamp) {
        self.now = now;
    }

    // ----- faults and the log -------------------------------------------

    /// Fails the next `n` ops with `kind`.
    pub fn fail_next(&mut self, n: u32, kind: TargetErrorKind) {
        self.faults.push(FaultRule::Next { remaining: n, kind });
    }

    /// Fails every op referring to target object `id` with `kind`.
    pub fn fail_on_target(&mut self, id: TargetId, kind: TargetErrorKind) {
        self.faults.push(FaultRule::OnTarget { id, kind });
    }

    /// Fails every op made for source object `object` with `kind`.
    pub fn fail_on_object(&mut self, object: Guid, kind: TargetErrorKind) {
        self.faults.push(FaultRule::OnObject { object, kind });
    }

    /// Removes every fault rule.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// The fault rules in force.
    pub fn faults(&self) -> &[FaultRule] {
        &self.faults
    }

    /// Every op applied (or refused), in order.
    pub fn log(&self) -> &[LoggedOp] {
        &self.log
    }

    /// Empties the operation log.
    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    fn injected_fault(&mut self, op: &TargetOp, targets: &[TargetId]) -> Option<TargetError> {
        for rule in &mut self.faults {
            let kind = match rule {
                FaultRule::Next { remaining, kind } if *remaining > 0 => {
                    *remaining -= 1;
                    *kind
                }
                FaultRule::OnTarget { id, kind } if targets.contains(id) => *kind,
                FaultRule::OnObject { object, kind } if *object == op.object => *kind,
                _ => continue,
            };
            return Some(err(kind, format!("injected fault on {}", op.id)));
        }
        None
    }

    // ----- seeding and admin switches ------------------------------------

    /// Adds a cloud-only object (no immutable id) with these attributes,
    /// as an admin would create it. Uniqueness is enforced without
    /// resiliency: a taken UPN or proxy address is a `DuplicateValue` error.
    pub fn seed(
        &mut self,
        kind: ObjectKind,
        attributes: Attributes,
    ) -> Result<TargetId, TargetError> {
        self.seed_object(kind, None, attributes)
    }

    /// Like [`InMemoryTarget::seed`], with an immutable id already stamped
    /// (an object synced earlier by another engine).
    pub fn seed_with_anchor(
        &mut self,
        kind: ObjectKind,
        anchor: ImmutableId,
        attributes: Attributes,
    ) -> Result<TargetId, TargetError> {
        self.seed_object(kind, Some(anchor), attributes)
    }

    /// A cloud-only user with this UPN (display name = the UPN's prefix).
    pub fn seed_user(&mut self, upn: &str) -> Result<TargetId, TargetError> {
        let name = upn.split('@').next().unwrap_or(upn);
        self.seed(
            ObjectKind::User,
            Attributes::new()
                .with(UPN, [Value::str(upn)])
                .with("DisplayName", [Value::str(name)])
                .with("AccountEnabled", [Value::Bool(true)]),
        )
    }

    fn seed_object(
        &mut self,
        kind: ObjectKind,
        anchor: Option<ImmutableId>,
        attributes: Attributes,
    ) -> Result<TargetId, TargetError> {
        let saved = self.resiliency;
        self.resiliency = false;
        let result = self.create(kind, anchor, attributes);
        self.resiliency = saved;
        result.map(|(id, _)| id)
    }

    /// Gives or takes an admin role.
    pub fn set_admin_role(&mut self, id: &TargetId, admin: bool) -> Result<(), TargetError> {
        let obj = self.objects.get_mut(id).ok_or_else(|| not_found(id))?;
        obj.admin_role = admin;
        Ok(())
    }

    // ----- reading -------------------------------------------------------

    /// The object with this id (live or soft-deleted).
    pub fn get(&self, id: &TargetId) -> Option<&CloudObject> {
        self.objects.get(id)
    }

    /// Every object (live and soft-deleted), in id order.
    pub fn iter(&self) -> impl Iterator<Item = &CloudObject> {
        self.objects.values()
    }

    /// Every live (not soft-deleted) object, in id order.
    pub fn live(&self) -> impl Iterator<Item = &CloudObject> {
        self.objects.values().filter(|o| !o.deleted)
    }

    /// How many objects exist (live and soft-deleted).
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the directory holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The values of attribute `name` of object `id` (empty when absent or
    /// when there is no such object).
    pub fn attribute(&self, id: &TargetId, name: &str) -> &[Value] {
        self.objects
            .get(id)
            .map(|o| o.attributes.get(name))
            .unwrap_or(&[])
    }

    /// The live direct members of a group, in id order (soft-deleted members
    /// keep their membership for a restore but are not listed).
    pub fn members(&self, group: &TargetId) -> Vec<TargetId> {
        self.objects
            .get(group)
            .map(|g| {
                g.members
                    .iter()
                    .filter(|m| self.objects.get(*m).is_some_and(|o| !o.deleted))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A snapshot of every object (live and soft-deleted) as a
    /// [`TargetView`], for the engine's sans-IO path.
    pub fn snapshot(&self) -> TargetView {
        TargetView::new(self.objects.values().map(CloudObject::view).collect())
    }

    /// The matching view of an object.
    pub fn view(&self, id: &TargetId) -> Option<TargetObject> {
        self.objects.get(id).map(CloudObject::view)
    }

    // ----- lifecycle outside ops -----------------------------------------

    /// Hard-deletes every object soft-deleted at least
    /// [`SOFT_DELETE_RETENTION_SECS`] before `now`; returns their ids.
    pub fn purge_deleted(&mut self, now: Timestamp) -> Vec<TargetId> {
        let due: Vec<TargetId> = self
            .objects
            .values()
            .filter(|o| {
                o.deleted
                    && o.deleted_at
                        .is_some_and(|t| t.add_secs(SOFT_DELETE_RETENTION_SECS) <= now)
            })
            .map(|o| o.id.clone())
            .collect();
        for id in &due {
            self.hard_delete(id);
        }
        due
    }

    /// Removes an object for good (its values become free); `false` when
    /// there is no such object.
    pub fn hard_delete(&mut self, id: &TargetId) -> bool {
        let Some(obj) = self.objects.get(id).cloned() else {
            return false;
        };
        self.unindex(&obj);
        self.objects.remove(id);
        for o in self.objects.values_mut() {
            o.members.remove(id);
        }
        true
    }

    /// Re-evaluates every object with quarantined values, restoring those
    /// whose conflict is gone (Entra does this in the background); returns
    /// the ids whose quarantine changed.
    pub fn resolve_conflicts(&mut self) -> Vec<TargetId> {
        let ids: Vec<TargetId> = self
            .objects
            .values()
            .filter(|o| !o.provisioning_errors.is_empty())
            .map(|o| o.id.clone())
            .collect();
        let mut changed = Vec::new();
        for id in ids {
            let Some(before) = self.objects.get(&id).map(|o| o.provisioning_errors.clone()) else {
                continue;
            };
            if self.rewrite(&id, |_| Ok(())).is_ok()
                && self.objects.get(&id).map(|o| &o.provisioning_errors) != Some(&before)
            {
                changed.push(id);
            }
        }
        changed
    }

    // ----- the rules -------------------------------------------------------

    fn next_id(&mut self, kind: ObjectKind) -> Result<TargetId, TargetError> {
        let [users, groups, contacts] = &mut self.counters;
        let (counter, prefix) = match kind {
            ObjectKind::User => (users, "u"),
            ObjectKind::Group => (groups, "g"),
            ObjectKind::Contact => (contacts, "c"),
            ObjectKind::Unsupported => {
                return Err(err(
                    TargetErrorKind::AttributeFormat,
                    "object kind unsupported cannot be created in the target",
                ));
            }
        };
        *counter += 1;
        Ok(TargetId::new(&format!("{prefix}-{:06}", *counter)))
    }

    fn next_digits(&mut self) -> u64 {
        // splitmix64: deterministic, and well spread for the 4 digits.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 10_000
    }

    fn unindex(&mut self, obj: &CloudObject) {
        if let Some(a) = obj.immutable_id {
            if self.by_anchor.get(&a) == Some(&obj.id) {
                self.by_anchor.remove(&a);
            }
        }
        if let Some(u) = obj.user_principal_name() {
            let key = u.to_lowercase();
            if self.by_upn.get(&key) == Some(&obj.id) {
                self.by_upn.remove(&key);
            }
        }
        for p in obj.proxy_addresses() {
            let key = p.to_lowercase();
            if self.by_proxy.get(&key) == Some(&obj.id) {
                self.by_proxy.remove(&key);
            }
        }
    }

    fn index(&mut self, obj: &CloudObject) {
        if let Some(a) = obj.immutable_id {
            self.by_anchor.insert(a, obj.id.clone());
        }
        if obj.kind == ObjectKind::User {
            if let Some(u) = obj.user_principal_name() {
                self.by_upn.insert(u.to_lowercase(), obj.id.clone());
            }
        }
        for p in obj.proxy_addresses() {
            self.by_proxy.insert(p.to_lowercase(), obj.id.clone());
        }
    }

    /// Applies the uniqueness and domain rules to the values `obj` asks for.
    fn resolve(&mut self, obj: &CloudObject) -> Result<Resolved, TargetError> {
        let mut errors = Vec::new();
        let mut upn = None;
        let mut placeholder_for = None;
        if let (ObjectKind::User, Some(requested)) = (obj.kind, &obj.requested_upn) {
            let (prefix, suffix) = requested
                .rsplit_once('@')
                .filter(|(p, s)| !p.is_empty() && !s.is_empty())
                .ok_or_else(|| {
                    err(
                        TargetErrorKind::AttributeFormat,
                        format!("userPrincipalName {requested:?} has no prefix@suffix form"),
                    )
                })?;
            let candidate = if self.is_verified_domain(suffix) {
                requested.clone()
            } else {
                let alias = obj
                    .attributes
                    .first("MailNickname")
                    .or_else(|| obj.attributes.first("Alias"))
                    .map(ToString::to_string)
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| prefix.to_owned());
                format!("{alias}@{}", self.initial_domain)
            };
            match self.by_upn.get(&candidate.to_lowercase()) {
                Some(owner) if *owner != obj.id => {
                    if !self.resiliency {
                        return Err(err(
                            TargetErrorKind::DuplicateValue,
                            format!(
                                "userPrincipalName {candidate} is already used by object {owner}"
                            ),
                        ));
                    }
                    // The placeholder already given stays while the conflict
                    // lasts (read from the stored object: the working copy's
                    // attributes may hold the requested value).
                    let current = self
                        .objects
                        .get(&obj.id)
                        .and_then(CloudObject::user_principal_name);
                    let keep = obj
                        .placeholder_for
                        .as_deref()
                        .filter(|orig| orig.eq_ignore_ascii_case(&candidate))
                        .and(current)
                        .map(str::to_owned);
                    let placeholder = match keep {
                        Some(current) => current,
                        None => self.placeholder(&candidate)?,
                    };
                    errors.push(conflict("UserPrincipalName", &candidate));
                    placeholder_for = Some(candidate);
                    upn = Some(placeholder);
                }
                _ => upn = Some(candidate),
            }
        }
        let mut proxies: Vec<String> = Vec::new();
        for p in &obj.requested_proxy_addresses {
            let (kind, address) = p
                .split_once(':')
                .filter(|(k, a)| !k.is_empty() && !a.is_empty())
                .ok_or_else(|| {
                    err(
                        TargetErrorKind::AttributeFormat,
                        format!("proxy address {p:?} has no type:address form"),
                    )
                })?;
            let key = p.to_lowercase();
            if proxies.iter().any(|q| q.to_lowercase() == key) {
                continue;
            }
            match self.by_proxy.get(&key).and_then(|o| self.objects.get(o)) {
                Some(owner) if owner.id != obj.id => {
                    let owner_primary = owner.kind == ObjectKind::Group
                        && owner.proxy_addresses().iter().any(|q| {
                            q.strip_prefix("SMTP:")
                                .is_some_and(|a| a.eq_ignore_ascii_case(address))
                        });
                    if obj.kind == ObjectKind::User && kind == "smtp" && owner_primary {
                        return Err(err(
                            TargetErrorKind::DuplicateValue,
                            format!(
                                "proxy address {p} collides with the primary SMTP address of group {}",
                                owner.id
                            ),
                        ));
                    }
                    if !self.resiliency {
                        return Err(err(
                            TargetErrorKind::DuplicateValue,
                            format!("proxy address {p} is already used by object {}", owner.id),
                        ));
                    }
                    errors.push(conflict("ProxyAddress", p));
                }
                _ => proxies.push(p.clone()),
            }
        }
        Ok(Resolved {
            upn,
            placeholder_for,
            proxies,
            errors,
        })
    }

    fn placeholder(&mut self, candidate: &str) -> Result<String, TargetError> {
        let prefix = candidate.rsplit_once('@').map_or(candidate, |(p, _)| p);
        for _ in 0..1000 {
            let value = format!("{prefix}{:04}@{}", self.next_digits(), self.initial_domain);
            if !self.by_upn.contains_key(&value.to_lowercase()) {
                return Ok(value);
            }
        }
        Err(err(
            TargetErrorKind::DuplicateValue,
            format!("no free placeholder userPrincipalName for {candidate}"),
        ))
    }

    /// Resolves `obj`'s unique values and stores it (replacing the old copy).
    fn commit(&mut self, mut obj: CloudObject) -> Result<Vec<ProvisioningError>, TargetError> {
        let resolved = self.resolve(&obj)?;
        if obj.kind == ObjectKind::User {
            obj.attributes.set(UPN, resolved.upn.map(Value::from));
        }
        obj.attributes
            .set(PROXY, resolved.proxies.into_iter().map(Value::from));
        obj.placeholder_for = resolved.placeholder_for;
        obj.provisioning_errors = resolved.errors.clone();
        if let Some(old) = self.objects.get(&obj.id).cloned() {
            self.unindex(&old);
        }
        self.index(&obj);
        self.objects.insert(obj.id.clone(), obj);
        Ok(resolved.errors)
    }

    fn create(
        &mut self,
        kind: ObjectKind,
        anchor: Option<ImmutableId>,
        attributes: Attributes,
    ) -> Result<(TargetId, Vec<ProvisioningError>), TargetError> {
        if let Some(a) = anchor {
            if let Some(owner) = self.by_anchor.get(&a) {
                return Err(err(
                    TargetErrorKind::DuplicateValue,
                    format!("onPremisesImmutableId {a} is already used by object {owner}"),
                ));
            }
        }
        let id = self.next_id(kind)?;
        let requested_upn = first_text(attributes.get(UPN));
        let requested_proxy_addresses = attributes
            .get(PROXY)
            .iter()
            .map(|v| v.to_string())
            .collect();
        let obj = CloudObject {
            id: id.clone(),
            kind,
            immutable_id: anchor,
            attributes,
            requested_upn,
            requested_proxy_addresses,
            provisioning_errors: Vec::new(),
            deleted: false,
            deleted_at: None,
            admin_role: false,
            members: BTreeSet::new(),
            password: PasswordState::default(),
            placeholder_for: None,
        };
        // On an error the id stays spent, as a real directory's would;
        // ids are still deterministic for a given sequence of ops.
        let errors = self.commit(obj)?;
        Ok((id, errors))
    }

    /// Changes a live object through `f`, then re-resolves its unique values
    /// (this is where a quarantined value comes back once its conflict is
    /// gone).
    fn rewrite(
        &mut self,
        id: &TargetId,
        f: impl FnOnce(&mut CloudObject) -> Result<(), TargetError>,
    ) -> Result<Vec<ProvisioningError>, TargetError> {
        let mut obj = match self.objects.get(id) {
            Some(o) if !o.deleted => o.clone(),
            _ => return Err(not_found(id)),
        };
        f(&mut obj)?;
        self.commit(obj)
    }

    fn apply_changes(obj: &mut CloudObject, changes: &[AttrChange]) -> Result<(), TargetError> {
        for c in changes {
            if let Some(Value::Secret(_)) = c.to.first() {
                return Err(err(
                    TargetErrorKind::AttributeFormat,
                    format!("attribute {} cannot hold a secret", c.name),
                ));
            }
            // The unique values are written by `commit` once resolved.
            if c.name.is(UPN) {
                obj.requested_upn = first_text(&c.to);
            } else if c.name.is(PROXY) {
                obj.requested_proxy_addresses = c.to.iter().map(ToString::to_string).collect();
            } else {
                obj.attributes.set(c.name.clone(), c.to.iter().cloned());
            }
        }
        Ok(())
    }

    fn live_id<'a>(&self, r: &'a TargetRef) -> Result<&'a TargetId, TargetError> {
        match r {
            TargetRef::Id(id) => match self.objects.get(id) {
                Some(o) if !o.deleted => Ok(id),
                _ => Err(not_found(id)),
            },
            TargetRef::CreatedBy(op) => Err(err(
                TargetErrorKind::DependencyFailed,
                format!("reference to the object {op} creates was not resolved"),
            )),
        }
    }

    fn apply_action(&mut self, op: &TargetOp) -> Result<Applied, TargetError> {
        let applied = |id: &TargetId, quarantined| Applied {
            target_id: Some(id.clone()),
            quarantined,
        };
        match &op.action {
            Action::Create { anchor, attributes } => {
                let mut attrs = Attributes::new();
                for (name, values) in attributes {
                    if values.iter().any(|v| matches!(v, Value::Secret(_))) {
                        return Err(err(
                            TargetErrorKind::AttributeFormat,
                            format!("attribute {name} cannot hold a secret"),
                        ));
                    }
                    attrs.set(name.clone(), values.iter().cloned());
                }
                let (id, q) = self.create(op.kind, Some(*anchor), attrs)?;
                Ok(applied(&id, q))
            }
            Action::Update { target, changes } => {
                let id = self.live_id(target)?.clone();
                let q = self.rewrite(&id, |o| Self::apply_changes(o, changes))?;
                Ok(applied(&id, q))
            }
            Action::StampAnchor {
                target,
                anchor,
                changes,
            } => {
                if let Some(owner) = self.by_anchor.get(anchor).filter(|o| *o != target) {
                    return Err(err(
                        TargetErrorKind::DuplicateValue,
                        format!("onPremisesImmutableId {anchor} is already used by object {owner}"),
                    ));
                }
                let q = self.rewrite(target, |o| {
                    match o.immutable_id {
                        Some(existing) if existing != *anchor => {
                            return Err(err(
                                TargetErrorKind::Conflict,
                                format!(
                                    "InvalidSoftMatch: object {} already has onPremisesImmutableId {existing}",
                                    o.id
                                ),
                            ));
                        }
                        _ => o.immutable_id = Some(*anchor),
                    }
                    Self::apply_changes(o, changes)
                })?;
                Ok(applied(target, q))
            }
            Action::Delete { target } => {
                let now = self.now;
                let obj = self
                    .objects
                    .get_mut(target)
                    .ok_or_else(|| not_found(target))?;
                if !obj.deleted {
                    obj.deleted = true;
                    obj.deleted_at = Some(now);
                }
                Ok(applied(target, Vec::new()))
            }
            Action::Restore { target } => {
                let obj = self.objects.get(target).ok_or_else(|| not_found(target))?;
                if !obj.deleted {
                    return Ok(applied(target, obj.provisioning_errors.clone()));
                }
                let mut obj = obj.clone();
                obj.deleted = false;
                obj.deleted_at = None;
                let q = self.commit(obj)?;
                Ok(applied(target, q))
            }
            Action::AddMember { group, member } | Action::RemoveMember { group, member } => {
                let g = self.live_id(group)?.clone();
                let m = self.live_id(member)?.clone();
                let add = matches!(op.action, Action::AddMember { .. });
                let obj = self.objects.get_mut(&g).ok_or_else(|| not_found(&g))?;
                if obj.kind != ObjectKind::Group {
                    return Err(err(
                        TargetErrorKind::AttributeFormat,
                        format!("object {g} is a {}, not a group", obj.kind),
                    ));
                }
                if add {
                    obj.members.insert(m);
                } else {
                    obj.members.remove(&m);
                }
                Ok(applied(&g, Vec::new()))
            }
            Action::SetPasswordHash { target, hash } => {
                let id = self.live_id(target)?.clone();
                let obj = self.objects.get_mut(&id).ok_or_else(|| not_found(&id))?;
                if obj.kind != ObjectKind::User {
                    return Err(err(
                        TargetErrorKind::AttributeFormat,
                        format!("object {id} is a {}; only users have a password", obj.kind),
                    ));
                }
                set_hash(&mut obj.password, hash);
                Ok(applied(&id, Vec::new()))
            }
        }
    }
}

fn set_hash(state: &mut PasswordState, hash: &Secret) {
    state.times_set = state.times_set.saturating_add(1);
    state.fingerprint = Some(fnv1a(hash.expose()));
}

fn refs(action: &Action) -> Vec<TargetId> {
    let of = |r: &TargetRef| match r {
        TargetRef::Id(id) => Some(id.clone()),
        TargetRef::CreatedBy(_) => None,
    };
    match action {
        Action::Update { target, .. } | Action::SetPasswordHash { target, .. } => {
            of(target).into_iter().collect()
        }
        Action::StampAnchor { target, .. }
        | Action::Delete { target }
        | Action::Restore { target } => vec![target.clone()],
        Action::AddMember { group, member } | Action::RemoveMember { group, member } => {
            of(group).into_iter().chain(of(member)).collect()
        }
        _ => Vec::new(),
    }
}

impl TargetLookup for InMemoryTarget {
    /// Finds live and soft-deleted objects alike (`deleted` tells them apart).
    fn find_by_immutable_id(&self, anchor: &ImmutableId) -> Option<TargetObject> {
        self.by_anchor.get(anchor).and_then(|id| self.view(id))
    }

    /// Users only (the one kind with a UPN); live or soft-deleted.
    fn find_by_upn(&self, upn: &str) -> Option<TargetObject> {
        self.by_upn
            .get(&upn.to_lowercase())
            .and_then(|id| self.view(id))
    }

    /// Matches `smtp:<address>` (primary or secondary, case-insensitive);
    /// an `smtp:` prefix on `address` itself is ignored. Live or
    /// soft-deleted.
    fn find_by_proxy_address(&self, address: &str) -> Option<TargetObject> {
        let bare = match address.split_once(':') {
            Some((k, a)) if k.eq_ignore_ascii_case("smtp") => a,
            _ => address,
        };
        let key = format!("smtp:{}", bare.to_lowercase());
        self.by_proxy.get(&key).and_then(|id| self.view(id))
    }
}

impl DirectoryTarget for InMemoryTarget {
    fn apply(&mut self, op: &TargetOp) -> Result<Applied, TargetError> {
        let targets = refs(&op.action);
        let (outcome, injected) = match self.injected_fault(op, &targets) {
            Some(e) => (Err(e), true),
            None => (self.apply_action(op), false),
        };
        self.log.push(LoggedOp {
            op: op.id,
            object: op.object,
            action: op.action.name(),
            targets,
            outcome: outcome.clone(),
            injected,
        });
        outcome
    }
}

impl From<&CloudObject> for TargetObject {
    fn from(o: &CloudObject) -> TargetObject {
        o.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{AttrName, Values};
    use crate::target::Reason;

    fn _values<'a>(vals: impl IntoIterator<Item = &'a str>) -> Values {
        vals.into_iter().map(Value::str).collect()
    }

    fn op(id: u64, object: u128, kind: ObjectKind, action: Action) -> TargetOp {
        TargetOp {
            id: OpId(id),
            object: Guid::from_u128(object),
            kind,
            action,
            reason: Reason::NewObject,
        }
    }

    fn create_user(t: &mut InMemoryTarget, n: u128, upn: &str, proxies: &[&str]) -> Applied {
        let g = Guid::from_u128(n);
        let mut attrs = vec![(AttrName::new("UserPrincipalName"), _values([upn]))];
        if !proxies.is_empty() {
            attrs.push((
                AttrName::new("ProxyAddresses"),
                _values(proxies.iter().copied()),
            ));
        }
        t.apply(&op(
            n as u64,
            n,
            ObjectKind::User,
            Action::Create {
                anchor: g.immutable_id(),
                attributes: attrs,
            },
        ))
        .unwrap()
    }

    #[test]
    fn ids_are_counters_per_kind() {
        let mut t = InMemoryTarget::new("contoso.onmicrosoft.com");
        let a = create_user(&mut t, 1, "a@contoso.onmicrosoft.com", &[]);
        let b = create_user(&mut t, 2, "b@contoso.onmicrosoft.com", &[]);
        assert_eq!(a.target_id.unwrap().as_str(), "u-000001");
        assert_eq!(b.target_id.unwrap().as_str(), "u-000002");
        let g = t
            .seed(
                ObjectKind::Group,
                Attributes::new().with("DisplayName", [Value::str("G")]),
            )
            .unwrap();
        assert_eq!(g.as_str(), "g-000001");
    }

    #[test]
    fn placeholder_digits_are_seeded() {
        let run = |seed| {
            let mut t = InMemoryTarget::new("contoso.onmicrosoft.com").with_seed(seed);
            t.add_verified_domain("contoso.com");
            create_user(&mut t, 1, "ann@contoso.com", &[]);
            let id = create_user(&mut t, 2, "ann@contoso.com", &[])
                .target_id
                .unwrap();
            t.get(&id)
                .unwrap()
                .user_principal_name()
                .unwrap()
                .to_owned()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let upn = run(1);
        assert_eq!(upn.len(), "ann0000@contoso.onmicrosoft.com".len());
        assert!(upn[3..7].bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn password_state_debug_has_no_fingerprint() {
        let mut p = PasswordState::default();
        set_hash(&mut p, &Secret::new(b"x".to_vec()));
        let text = format!("{p:?}");
        assert!(text.contains("has_hash: true"));
        assert!(!text.contains(&p.fingerprint().unwrap().to_string()));
    }
}
