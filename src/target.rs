//! The target side: what the engine knows of the cloud directory and what it
//! asks of it.
//!
//! - [`TargetObject`]: a cloud object as matching needs to see it (kind,
//!   immutable id, UPN, proxy addresses, admin role, attributes).
//! - [`TargetOp`]: one operation of a plan (create, update, delete, restore,
//!   stamp an anchor, add or remove a member, set a password hash), each with
//!   the reason it exists.
//! - [`DirectoryTarget`]: the trait an adapter implements to look objects up
//!   and apply one operation; [`apply_plan`] drives it in plan order and
//!   resolves references to objects created earlier in the same plan.
//!
//! Nothing here performs I/O itself; an implementation of the trait may.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::anchor::{Guid, ImmutableId};
use crate::object::{AttrName, ObjectKind, Secret, Values};

/// The id the target directory gives an object (Entra's object id).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetId(Arc<str>);

impl TargetId {
    /// Wraps an id.
    pub fn new(id: &str) -> TargetId {
        TargetId(Arc::from(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetId({})", self.0)
    }
}

/// A cloud object as the engine sees it when matching and diffing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetObject {
    /// The target's id.
    pub id: TargetId,
    /// User, group or contact.
    pub kind: ObjectKind,
    /// The anchor stamped on it (`onPremisesImmutableId`), if any.
    pub immutable_id: Option<ImmutableId>,
    /// Its userPrincipalName (users).
    pub user_principal_name: Option<String>,
    /// Its proxy addresses (`SMTP:` marks the primary one).
    pub proxy_addresses: Vec<String>,
    /// Whether a group is mail-enabled (only mail-enabled groups soft-match).
    pub mail_enabled: bool,
    /// Whether the object holds an admin role (never soft-matched).
    pub admin_role: bool,
    /// Whether it is soft-deleted (restorable).
    pub deleted: bool,
}

impl TargetObject {
    /// The primary SMTP address (the `SMTP:` value, case of the prefix
    /// significant), without its prefix.
    pub fn primary_smtp(&self) -> Option<&str> {
        primary_smtp(self.proxy_addresses.iter().map(String::as_str))
    }
}

/// The primary SMTP address among proxy addresses: the value whose prefix is
/// exactly `SMTP:` (upper case marks the primary), without the prefix.
pub fn primary_smtp<'a>(proxy_addresses: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    proxy_addresses
        .into_iter()
        .find_map(|p| p.strip_prefix("SMTP:"))
}

/// The id of an operation within a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub u64);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op#{}", self.0)
    }
}

/// A reference to a target object: by its id, or as the object that an
/// earlier create operation of the same plan makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetRef {
    /// An object that exists in the target.
    Id(TargetId),
    /// The object created by this earlier operation of the same plan.
    CreatedBy(OpId),
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetRef::Id(id) => write!(f, "{id}"),
            TargetRef::CreatedBy(op) => write!(f, "(created by {op})"),
        }
    }
}

/// One attribute change of an update, with the value before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    /// The target attribute.
    pub name: AttrName,
    /// The value last exported (empty: not set).
    pub from: Values,
    /// The new value (empty: clear it).
    pub to: Values,
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action")]
#[non_exhaustive]
pub enum Action {
    /// Create an object with these attributes and anchor.
    Create {
        /// The anchor to stamp (`onPremisesImmutableId`).
        anchor: ImmutableId,
        /// Every attribute to set.
        attributes: Vec<(AttrName, Values)>,
    },
    /// Change some attributes of an existing object (only those that changed).
    Update {
        /// The object.
        target: TargetRef,
        /// The changed attributes.
        changes: Vec<AttrChange>,
    },
    /// Stamp the source anchor on a soft-matched object, so later cycles
    /// hard-match it; carries the attributes the mappings give it.
    StampAnchor {
        /// The object.
        target: TargetId,
        /// The anchor.
        anchor: ImmutableId,
        /// The changed attributes.
        changes: Vec<AttrChange>,
    },
    /// Soft-delete the object.
    Delete {
        /// The object.
        target: TargetId,
    },
    /// Restore a soft-deleted object (an object that came back into scope).
    Restore {
        /// The object.
        target: TargetId,
    },
    /// Add a direct member to a group.
    AddMember {
        /// The group.
        group: TargetRef,
        /// The member.
        member: TargetRef,
    },
    /// Remove a direct member from a group.
    RemoveMember {
        /// The group.
        group: TargetRef,
        /// The member.
        member: TargetRef,
    },
    /// Set the user's password hash (password hash sync). The hash is a
    /// [`Secret`]: redacted in `Debug` and in this type's serialized form.
    SetPasswordHash {
        /// The user.
        target: TargetRef,
        /// The hash.
        hash: Secret,
    },
}

impl Action {
    /// A short name (`create`, `update`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Update { .. } => "update",
            Action::StampAnchor { .. } => "stampAnchor",
            Action::Delete { .. } => "delete",
            Action::Restore { .. } => "restore",
            Action::AddMember { .. } => "addMember",
            Action::RemoveMember { .. } => "removeMember",
            Action::SetPasswordHash { .. } => "setPasswordHash",
        }
    }

    /// Every reference this action makes to the result of an earlier op.
    pub fn created_refs(&self) -> impl Iterator<Item = OpId> + '_ {
        let refs: [Option<&TargetRef>; 2] = match self {
            Action::Update { target, .. } | Action::SetPasswordHash { target, .. } => {
                [Some(target), None]
            }
            Action::AddMember { group, member } | Action::RemoveMember { group, member } => {
                [Some(group), Some(member)]
            }
            _ => [None, None],
        };
        refs.into_iter().flatten().filter_map(|r| match r {
            TargetRef::CreatedBy(op) => Some(*op),
            TargetRef::Id(_) => None,
        })
    }

    fn resolve_refs(&mut self, mut f: impl FnMut(OpId) -> Option<TargetId>) -> Result<(), OpId> {
        let mut fix = |r: &mut TargetRef| -> Result<(), OpId> {
            if let TargetRef::CreatedBy(op) = r {
                let id = f(*op).ok_or(*op)?;
                *r = TargetRef::Id(id);
            }
            Ok(())
        };
        match self {
            Action::Update { target, .. } | Action::SetPasswordHash { target, .. } => fix(target),
            Action::AddMember { group, member } | Action::RemoveMember { group, member } => {
                fix(group)?;
                fix(member)
            }
            _ => Ok(()),
        }
    }
}

/// Why the engine planned an operation: the rule that decided, in words an
/// admin reads in the plan before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "rule")]
#[non_exhaustive]
pub enum Reason {
    /// In scope, no target object matched: a new object.
    NewObject,
    /// In scope and soft-matched on this attribute (`smtp` or `upn`).
    SoftMatch {
        /// `smtp` or `upn`.
        on: String,
    },
    /// In scope and hard-matched on its anchor to an object never exported by
    /// this engine.
    HardMatch,
    /// Mapped attributes changed since the last export.
    AttributesChanged,
    /// The object left scope (why, in words).
    LeftScope {
        /// The scoping rule that now excludes it.
        why: String,
    },
    /// The object was deleted in the source (a tombstone arrived).
    DeletedInSource,
    /// The object was missing from a full read.
    MissingFromFullRead,
    /// The object came back into scope while its target object was
    /// soft-deleted.
    BackInScope,
    /// A direct member that is in scope was added to or removed from a
    /// group in scope.
    Membership,
    /// A new password hash arrived.
    PasswordChanged,
    /// Grace-period deprovisioning: the object is disabled now and deleted
    /// after `delete_after` unless it comes back.
    GraceDisable {
        /// Why it is being deprovisioned.
        why: String,
        /// When it will be deleted.
        delete_after: crate::time::Timestamp,
    },
    /// The grace period of a pending deprovisioning ended.
    GracePeriodEnded,
    /// An operation carried over from an earlier cycle (retry).
    Retry {
        /// How many times it was tried before.
        attempts: u32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NewObject => f.write_str("in scope, no matching target object"),
            Reason::SoftMatch { on } => write!(f, "soft match on {on}"),
            Reason::HardMatch => f.write_str("hard match on source anchor"),
            Reason::AttributesChanged => f.write_str("mapped attributes changed"),
            Reason::LeftScope { why } => write!(f, "left scope: {why}"),
            Reason::DeletedInSource => f.write_str("deleted in the source"),
            Reason::MissingFromFullRead => f.write_str("missing from a full read"),
            Reason::BackInScope => f.write_str("back in scope"),
            Reason::Membership => f.write_str("direct membership changed"),
            Reason::PasswordChanged => f.write_str("password hash changed"),
            Reason::GraceDisable { why, delete_after } => {
                write!(
                    f,
                    "{why}: disabled, deleted after {delete_after} unless it comes back"
                )
            }
            Reason::GracePeriodEnded => f.write_str("grace period ended"),
            Reason::Retry { attempts } => write!(f, "retry after {attempts} attempt(s)"),
        }
    }
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetOp {
    /// Its id within the engine (unique across cycles).
    pub id: OpId,
    /// The source object it is for (objectGUID).
    pub object: Guid,
    /// The kind of that object.
    pub kind: ObjectKind,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Why.
    pub reason: Reason,
}

/// How an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum TargetErrorKind {
    /// Try again later (throttling, timeout, service unavailable).
    Transient,
    /// An attribute value the target refuses (format, length).
    AttributeFormat,
    /// A value that must be unique is taken (`AttributeValueMustBeUnique`).
    DuplicateValue,
    /// The sync identity may not do this.
    Permission,
    /// The object the op refers to does not exist in the target.
    NotFound,
    /// A matching conflict the target reports.
    Conflict,
    /// An op that depended on an earlier op of the plan that failed.
    DependencyFailed,
}

impl TargetErrorKind {
    /// Whether retrying the same op later may succeed without a change in
    /// the source.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            TargetErrorKind::Transient | TargetErrorKind::DependencyFailed
        )
    }
}

/// An operation the target refused or could not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct TargetError {
    /// The category.
    pub kind: TargetErrorKind,
    /// What the target said (never a secret).
    pub message: String,
}

impl TargetError {
    /// A new error.
    pub fn new(kind: TargetErrorKind, message: impl Into<String>) -> TargetError {
        TargetError {
            kind,
            message: message.into(),
        }
    }
}

/// A value the target quarantined instead of failing the object (duplicate
/// attribute resiliency): recorded on the object, the op still succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningError {
    /// `PropertyConflict`.
    pub category: String,
    /// `UserPrincipalName` or `ProxyAddress`.
    pub property_causing_error: String,
    /// The value that was quarantined.
    pub value: String,
}

/// What applying one op did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The id of the object the op created or touched.
    pub target_id: Option<TargetId>,
    /// Values the target quarantined (duplicate attribute resiliency).
    pub quarantined: Vec<ProvisioningError>,
}

/// The result of one op, fed back to the engine's commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpResult {
    /// The op.
    pub op: OpId,
    /// Applied, or why not.
    pub outcome: Result<Applied, TargetError>,
}

/// Read access to the cloud directory for matching: the engine asks only
/// for objects it has not exported yet.
pub trait TargetLookup {
    /// The object whose immutable id is `anchor`.
    fn find_by_immutable_id(&self, anchor: &ImmutableId) -> Option<TargetObject>;
    /// The object whose userPrincipalName is `upn` (case-insensitive).
    fn find_by_upn(&self, upn: &str) -> Option<TargetObject>;
    /// The object that has `smtp:<address>` among its proxy addresses
    /// (case-insensitive).
    fn find_by_proxy_address(&self, address: &str) -> Option<TargetObject>;
}

/// A cloud directory the engine's plans are applied to.
///
/// `apply` receives ops whose references are all resolved
/// ([`TargetRef::Id`]); use [`apply_plan`] to drive it.
pub trait DirectoryTarget: TargetLookup {
    /// Applies one op.
    fn apply(&mut self, op: &TargetOp) -> Result<Applied, TargetError>;
}

/// A read-only snapshot of target objects, for hosts that feed the engine
/// values instead of a live directory (the sans-IO path).
///
/// ```
/// use idsync::target::{TargetLookup, TargetObject, TargetId, TargetView};
/// use idsync::object::ObjectKind;
/// let view = TargetView::new(vec![TargetObject {
///     id: TargetId::new("u1"), kind: ObjectKind::User, immutable_id: None,
///     user_principal_name: Some("ann@contoso.com".into()),
///     proxy_addresses: vec!["SMTP:ann@contoso.com".into()],
///     mail_enabled: true, admin_role: false, deleted: false,
/// }]);
/// assert!(view.find_by_upn("ANN@contoso.com").is_some());
/// assert!(view.find_by_proxy_address("ann@CONTOSO.com").is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct TargetView {
    objects: Vec<TargetObject>,
    by_anchor: std::collections::HashMap<ImmutableId, usize>,
    by_upn: std::collections::HashMap<String, usize>,
    by_proxy: std::collections::HashMap<String, usize>,
}

impl TargetView {
    /// Indexes the given objects.
    pub fn new(objects: Vec<TargetObject>) -> TargetView {
        let mut v = TargetView {
            objects,
            ..TargetView::default()
        };
        for (i, o) in v.objects.iter().enumerate() {
            if let Some(a) = o.immutable_id {
                v.by_anchor.entry(a).or_insert(i);
            }
            if let Some(u) = &o.user_principal_name {
                v.by_upn.entry(u.to_lowercase()).or_insert(i);
            }
            for p in &o.proxy_addresses {
                if let Some((prefix, addr)) = p.split_once(':') {
                    if prefix.eq_ignore_ascii_case("smtp") {
                        v.by_proxy.entry(addr.to_lowercase()).or_insert(i);
                    }
                }
            }
        }
        v
    }

    /// The objects.
    pub fn objects(&self) -> &[TargetObject] {
        &self.objects
    }
}

impl TargetLookup for TargetView {
    fn find_by_immutable_id(&self, anchor: &ImmutableId) -> Option<TargetObject> {
        self.by_anchor
            .get(anchor)
            .and_then(|&i| self.objects.get(i).cloned())
    }
    fn find_by_upn(&self, upn: &str) -> Option<TargetObject> {
        self.by_upn
            .get(&upn.to_lowercase())
            .and_then(|&i| self.objects.get(i).cloned())
    }
    fn find_by_proxy_address(&self, address: &str) -> Option<TargetObject> {
        self.by_proxy
            .get(&address.to_lowercase())
            .and_then(|&i| self.objects.get(i).cloned())
    }
}

/// Applies a plan's ops in order, resolving [`TargetRef::CreatedBy`] to the
/// ids earlier creates returned. An op whose dependency failed is not sent;
/// its result is a `DependencyFailed` error (retried next cycle).
pub fn apply_plan<'a, T: DirectoryTarget + ?Sized>(
    target: &mut T,
    ops: impl IntoIterator<Item = &'a TargetOp>,
) -> Vec<OpResult> {
    let mut created: std::collections::HashMap<OpId, TargetId> = std::collections::HashMap::new();
    let mut results = Vec::new();
    for op in ops {
        let mut op = op.clone();
        let outcome = match op.action.resolve_refs(|id| created.get(&id).cloned()) {
            Err(dep) => Err(TargetError::new(
                TargetErrorKind::DependencyFailed,
                format!("{dep} did not create its object"),
            )),
            Ok(()) => target.apply(&op),
        };
        if let (
            Action::Create { .. },
            Ok(Applied {
                target_id: Some(id),
                ..
            }),
        ) = (&op.action, &outcome)
        {
            created.insert(op.id, id.clone());
        }
        results.push(OpResult { op: op.id, outcome });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_smtp_needs_upper_prefix() {
        assert_eq!(
            primary_smtp(["smtp:a@x", "SMTP:b@x", "X400:c"]),
            Some("b@x")
        );
        assert_eq!(primary_smtp(["smtp:a@x"]), None);
    }

    #[test]
    fn secrets_stay_redacted_in_ops() {
        let op = TargetOp {
            id: OpId(1),
            object: Guid::from_u128(1),
            kind: ObjectKind::User,
            action: Action::SetPasswordHash {
                target: TargetRef::Id(TargetId::new("u1")),
                hash: Secret::new(b"canary-hash".to_vec()),
            },
            reason: Reason::PasswordChanged,
        };
        let text = format!("{op:?}{}", serde_json::to_string(&op).unwrap());
        assert!(!text.contains("canary-hash"));
    }
}
