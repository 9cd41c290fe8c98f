//! Scoping: which source objects a configuration synchronizes, and why.
//!
//! This module owns the product's scoping rules and nothing else:
//! - the configuration as serde data ([`ScopeConfig`]: JSON and TOML), checked
//!   and compiled once by [`compile`] into a [`CompiledScope`] whose errors
//!   name the field ([`ScopeConfigError`]);
//! - evaluation of one object ([`CompiledScope::evaluate`] -> [`Decision`]) in
//!   a fixed order: object kind, OU subtrees (includes with excludes under
//!   them), scoping groups (direct members only), the built-in exclusions
//!   ([`BuiltinExclusion`]), the kind's attribute filter ([`Operator`]s);
//!   OU and group scope combine with AND;
//! - [`CompiledScope::explain`], the same walk with every detail recorded
//!   ([`Explanation`]), so "why is this object in or out?" has an answer that
//!   always agrees with the decision;
//! - overlap detection between configurations ([`check_overlaps`] before
//!   anything runs, [`claims`] for one object at run time).
//!
//! It must never do I/O, read a clock, or keep state about objects: what it
//! needs from the directory (the current DN of an OU by objectGUID, the
//! objectGUID at a DN, direct group membership) comes through [`ScopeEnv`],
//! which the engine implements over its mirror. OUs and groups are tracked by
//! objectGUID when it is known (configured, or pinned with
//! [`CompiledScope::pin_guids`]), so renaming or moving one keeps its scope.
//! Nested groups are never followed.
//!
//! The hot path ([`CompiledScope::evaluate`]) reads attributes by [`Slot`](crate::object::Slot),
//! compares DNs with [`Dn::is_under`] (never string prefixes), runs regexes
//! compiled once with size limits, and does not allocate.
//!
//! ```
//! use idsync::anchor::Guid;
//! use idsync::dn::Dn;
//! use idsync::object::{AttrTable, Attributes, ObjectKind, Value};
//! use idsync::scope::{compile, MemoryEnv, ScopeConfig, ScopedObject};
//!
//! let config: ScopeConfig = serde_json::from_str(r#"{
//!     "kinds": ["user"],
//!     "ous": [{"dn": "OU=Staff,DC=corp", "exclude": [{"dn": "OU=Lab,OU=Staff,DC=corp"}]}],
//!     "filters": {"user": {"groups": [[
//!         {"attribute": "department", "operator": "EQUALS", "values": ["Sales"]}
//!     ]]}}
//! }"#)?;
//! let mut table = AttrTable::new();
//! let scope = compile(&config, &mut table)?;
//!
//! let dn = Dn::parse("CN=Ann,OU=Staff,DC=corp")?;
//! let row = table.project(&Attributes::new().with("department", [Value::str("Sales")]));
//! let ann = ScopedObject::new(Guid::from_u128(1), &dn, ObjectKind::User, &row);
//! let env = MemoryEnv::new();
//! assert!(scope.evaluate(&ann, &env).is_in());
//!
//! let lab = Dn::parse("CN=Bot,OU=Lab,OU=Staff,DC=corp")?;
//! let bot = ScopedObject::new(Guid::from_u128(2), &lab, ObjectKind::User, &row);
//! let why = scope.explain(&bot, &env);
//! assert!(!why.in_scope);
//! assert_eq!(why.summary, "out of scope: under excluded OU OU=Lab,OU=Staff,DC=corp (scope.ous[0].exclude[0])");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builtin;
mod explain;
mod filter;
mod overlap;

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::anchor::{Guid, GuidError};
use crate::dn::{Dn, DnError};
use crate::object::{AttrLookup, AttrTable, ObjectKind, TooManyAttributes};

pub use builtin::BuiltinExclusion;
pub use explain::{
    BuiltinTrace, ClauseTrace, ContainerTrace, Explanation, GroupTrace, Step, Tracking,
};
pub use filter::{
    MAX_FILTER_GROUPS, MAX_GROUP_CLAUSES, MAX_PATTERN_LEN, Operator, REGEX_SIZE_LIMIT,
};
pub use overlap::{Claim, OverlapError, OverlapScope, check_overlaps, claims};

use builtin::Builtins;
use filter::CompiledFilter;

/// At most this many included OUs (and as many excludes under each) and
/// scoping groups in one configuration.
pub const MAX_CONTAINERS: usize = 1000;

// ---------------------------------------------------------------------------
// Configuration (serde)
// ---------------------------------------------------------------------------

/// The scope of one configuration, as written by an admin (JSON or TOML).
///
/// Empty `ous` means the whole directory; empty `groups` means no group
/// restriction; with both set an object must satisfy both. DNs and GUIDs are
/// kept as text here and checked by [`compile`], so a mistake is reported
/// with its field path.
///
/// ```
/// use idsync::scope::ScopeConfig;
/// let config: ScopeConfig = toml::from_str(r#"
///     kinds = ["user", "group"]
///     [[ous]]
///     dn = "OU=Branch,DC=corp"
///     guid = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
///     [[groups]]
///     dn = "CN=Cloud Users,OU=Groups,DC=corp"
///     [filters.user]
///     multivalued = "any"
///     groups = [[{ attribute = "title", operator = "REGEX MATCH", values = ["^Eng"] }]]
/// "#)?;
/// assert!(config.builtin_exclusions); // on unless switched off
/// assert_eq!(config.ous[0].guid.as_deref(), Some("6f9619ff-8b86-d011-b42d-00c04fc964ff"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// The object kinds synced (`user`, `group`, `contact`); all three by default.
    #[serde(default = "default_kinds")]
    pub kinds: Vec<ObjectKind>,
    /// OU subtrees to include, each with OUs under it to exclude.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ous: Vec<OuScope>,
    /// Scoping groups: their direct members are in scope (nested groups are
    /// not followed; a scoping group itself is in scope only if it is a
    /// direct member of one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ContainerRef>,
    /// Attribute filters, one per object kind.
    #[serde(default, skip_serializing_if = "KindFilters::is_empty")]
    pub filters: KindFilters,
    /// Whether the product's built-in exclusions apply (default true).
    #[serde(default = "default_true")]
    pub builtin_exclusions: bool,
}

fn default_kinds() -> Vec<ObjectKind> {
    vec![ObjectKind::User, ObjectKind::Group, ObjectKind::Contact]
}

fn default_true() -> bool {
    true
}

impl Default for ScopeConfig {
    /// Users, groups and contacts of the whole directory, built-in exclusions on.
    fn default() -> ScopeConfig {
        ScopeConfig {
            kinds: default_kinds(),
            ous: Vec::new(),
            groups: Vec::new(),
            filters: KindFilters::default(),
            builtin_exclusions: true,
        }
    }
}

/// An OU or a group, by DN and optionally by objectGUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerRef {
    /// The distinguished name as configured.
    pub dn: String,
    /// The objectGUID, when known; scope then follows the object through
    /// renames and moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
}

impl ContainerRef {
    /// A reference by DN only.
    pub fn dn(dn: &str) -> ContainerRef {
        ContainerRef {
            dn: dn.to_owned(),
            guid: None,
        }
    }
}

/// An included OU subtree with the OUs under it to exclude.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuScope {
    /// The included OU's DN.
    pub dn: String,
    /// The included OU's objectGUID, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// OUs under this one whose subtrees are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<ContainerRef>,
}

impl OuScope {
    /// An included OU by DN, without excludes.
    pub fn dn(dn: &str) -> OuScope {
        OuScope {
            dn: dn.to_owned(),
            guid: None,
            exclude: Vec::new(),
        }
    }
}

/// One attribute filter per object kind (Entra has one scoping filter per
/// object mapping).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindFilters {
    /// The filter for users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<AttributeFilter>,
    /// The filter for groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<AttributeFilter>,
    /// The filter for contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<AttributeFilter>,
}

impl KindFilters {
    /// Whether no kind has a filter.
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.group.is_none() && self.contact.is_none()
    }

    /// The filter for a kind.
    pub fn get(&self, kind: ObjectKind) -> Option<&AttributeFilter> {
        match kind {
            ObjectKind::User => self.user.as_ref(),
            ObjectKind::Group => self.group.as_ref(),
            ObjectKind::Contact => self.contact.as_ref(),
            ObjectKind::Unsupported => None,
        }
    }
}

/// An attribute scoping filter: groups of clauses; the clauses of a group are
/// ANDed, the groups ORed. No groups means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeFilter {
    /// The ORed groups of ANDed clauses.
    #[serde(default)]
    pub groups: Vec<Vec<Clause>>,
    /// How multi-valued attributes are compared (default `all`).
    #[serde(default)]
    pub multivalued: Multivalued,
}

/// How a clause treats a multi-valued attribute (the Graph schema's
/// `multivaluedComparisonType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Multivalued {
    /// Every value must satisfy the clause (the product's default).
    #[default]
    #[serde(alias = "All")]
    All,
    /// At least one value must satisfy the clause.
    #[serde(alias = "Any")]
    Any,
}

/// One clause: a source attribute, an operator (the product's exact name) and
/// the clause values (one, or none for the `IS ...` operators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// The source attribute (case-insensitive).
    pub attribute: String,
    /// The operator's exact name (`EQUALS`, `IS NULL`, `&`, ...); checked by [`compile`].
    pub operator: String,
    /// The clause values.
    #[serde(default)]
    pub values: Vec<FilterValue>,
}

/// A clause value: written as a string, an integer or a boolean in the
/// configuration, kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilterValue(pub String);

impl Serialize for FilterValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FilterValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FilterValue, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FilterValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an integer or a boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FilterValue, E> {
                Ok(FilterValue(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FilterValue, E> {
                Ok(FilterValue(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FilterValue, E> {
                Ok(FilterValue(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<FilterValue, E> {
                Ok(FilterValue(if v { "true" } else { "false" }.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A configuration mistake and the field it sits in
/// (`scope.filters.user.groups[0][2].operator: unknown operator "EQUAL"; did you mean "EQUALS"?`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct ScopeConfigError {
    /// The field path, starting at `scope.`.
    pub path: String,
    /// What is wrong there.
    pub kind: ScopeErrorKind,
}

impl ScopeConfigError {
    #[cold]
    pub(crate) fn new(path: String, kind: ScopeErrorKind) -> ScopeConfigError {
        ScopeConfigError { path, kind }
    }

    /// The same error with `prefix` put before its path, for a configuration
    /// that sits inside a larger one (`configurations[1].`).
    ///
    /// ```
    /// use idsync::object::AttrTable;
    /// use idsync::scope::{compile, ScopeConfig};
    /// let config: ScopeConfig = serde_json::from_str(r#"{"ous": [{"dn": "OU=,,"}]}"#)?;
    /// let err = compile(&config, &mut AttrTable::new()).unwrap_err().prefixed("configurations[1].");
    /// assert!(err.to_string().starts_with("configurations[1].scope.ous[0].dn: invalid dn"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn prefixed(mut self, prefix: &str) -> ScopeConfigError {
        self.path.insert_str(0, prefix);
        self
    }
}

/// What is wrong with a scoping configuration field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeErrorKind {
    /// An operator name the product does not have.
    #[error("unknown operator {name:?}{}", suggestion.map(|s| format!("; did you mean {s:?}?")).unwrap_or_default())]
    UnknownOperator {
        /// The name as written (clipped).
        name: String,
        /// The closest valid name.
        suggestion: Option<&'static str>,
    },
    /// The wrong number of clause values.
    #[error("operator {operator} takes {}, got {got}", if *expected == 0 { "no value" } else { "exactly one value" })]
    ValueCount {
        /// The operator.
        operator: Operator,
        /// How many values it takes.
        expected: usize,
        /// How many were given.
        got: usize,
    },
    /// A value that must be an integer is not.
    #[error("operator {operator} needs an integer, got {value:?}")]
    NotAnInteger {
        /// The operator.
        operator: Operator,
        /// The value as written (clipped).
        value: String,
    },
    /// A regular expression that does not compile or is too large.
    #[error("invalid regex {pattern:?}: {message}")]
    BadRegex {
        /// The pattern (clipped).
        pattern: String,
        /// Why it was refused.
        message: String,
    },
    /// A regular expression longer than [`MAX_PATTERN_LEN`].
    #[error("regex of {len} bytes is longer than the limit of {max}")]
    RegexTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not an LDAP attribute name.
    #[error("invalid attribute name {name:?}")]
    BadAttribute {
        /// The name as written (clipped).
        name: String,
    },
    /// The attribute table is full.
    #[error("{0}")]
    TooManyAttributes(TooManyAttributes),
    /// A clause group without clauses (it would match everything).
    #[error("empty clause group (a group needs at least one clause)")]
    EmptyGroup,
    /// More entries than a limit allows.
    #[error("more than {max} {what}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A DN that does not parse.
    #[error("invalid dn {dn:?}: {error}")]
    BadDn {
        /// The DN as written (clipped).
        dn: String,
        /// Why.
        error: DnError,
    },
    /// A GUID that does not parse.
    #[error("invalid guid {guid:?}: {error}")]
    BadGuid {
        /// The GUID as written (clipped).
        guid: String,
        /// Why.
        error: GuidError,
    },
    /// An excluded OU that is not strictly under its included OU.
    #[error("excluded OU {exclude:?} is not strictly under the included OU {include:?}")]
    ExcludeNotUnder {
        /// The excluded OU.
        exclude: String,
        /// The included OU.
        include: String,
    },
    /// No object kind selected.
    #[error("no object kind selected (choose among user, group, contact)")]
    NoKinds,
    /// `unsupported` in the kinds list.
    #[error("unsupported objects (computers, devices) are never synced")]
    UnsupportedKind,
    /// A filter for a kind the configuration does not sync.
    #[error("filter for {kind} objects, which this configuration does not sync")]
    FilterForUnsyncedKind {
        /// The kind.
        kind: ObjectKind,
    },
}

/// Cuts input echoed in an error to a readable length.
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// What the engine provides
// ---------------------------------------------------------------------------

/// What scoping needs to know about the directory beyond the object itself;
/// the engine implements it over its mirror.
pub trait ScopeEnv {
    /// The current DN of the OU or group with this objectGUID, if known.
    fn container_dn(&self, guid: Guid) -> Option<&Dn>;
    /// The objectGUID of the object at this DN, if known.
    fn guid_at(&self, dn: &Dn) -> Option<Guid>;
    /// Whether `member` is a direct member of `group` (nested groups are not
    /// followed).
    fn is_direct_member(&self, group: Guid, member: Guid) -> bool;
}

/// A plain in-memory [`ScopeEnv`] (for tests, examples and hosts without a
/// mirror of their own).
///
/// ```
/// use idsync::anchor::Guid;
/// use idsync::dn::Dn;
/// use idsync::scope::{MemoryEnv, ScopeEnv};
/// let mut env = MemoryEnv::new();
/// let ou = Guid::from_u128(7);
/// env.add_container(ou, Dn::parse("OU=Old,DC=corp")?);
/// env.add_container(ou, Dn::parse("OU=New,DC=corp")?); // renamed
/// assert_eq!(env.container_dn(ou).map(|d| d.as_str()), Some("OU=New,DC=corp"));
/// assert_eq!(env.guid_at(&Dn::parse("OU=Old,DC=corp")?), None);
/// # Ok::<(), idsync::dn::DnError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryEnv {
    dns: HashMap<Guid, Dn>,
    guids: HashMap<Dn, Guid>,
    members: HashSet<(Guid, Guid)>,
}

impl MemoryEnv {
    /// An empty directory.
    pub fn new() -> MemoryEnv {
        MemoryEnv::default()
    }

    /// Records (or moves) a container: `guid` now lives at `dn`.
    pub fn add_container(&mut self, guid: Guid, dn: Dn) {
        if let Some(old) = self.dns.insert(guid, dn.clone()) {
            self.guids.remove(&old);
        }
        self.guids.insert(dn, guid);
    }

    /// Forgets a container.
    pub fn remove_container(&mut self, guid: Guid) {
        if let Some(old) = self.dns.remove(&guid) {
            self.guids.remove(&old);
        }
    }

    /// Makes `member` a direct member of `group`.
    pub fn add_member(&mut self, group: Guid, member: Guid) {
        self.members.insert((group, member));
    }

    /// Removes `member` from `group`.
    pub fn remove_member(&mut self, group: Guid, member: Guid) {
        self.members.remove(&(group, member));
    }
}

impl ScopeEnv for MemoryEnv {
    fn container_dn(&self, guid: Guid) -> Option<&Dn> {
        self.dns.get(&guid)
    }

    fn guid_at(&self, dn: &Dn) -> Option<Guid> {
        self.guids.get(dn).copied()
    }

    fn is_direct_member(&self, group: Guid, member: Guid) -> bool {
        self.members.contains(&(group, member))
    }
}

/// The object being scoped: identity, place, kind and its values by slot
/// (from the same [`AttrTable`] the scope was compiled against).
#[derive(Clone, Copy)]
pub struct ScopedObject<'a> {
    /// objectGUID.
    pub guid: Guid,
    /// The current DN.
    pub dn: &'a Dn,
    /// The kind.
    pub kind: ObjectKind,
    /// The values by slot.
    pub attrs: &'a dyn AttrLookup,
}

impl<'a> ScopedObject<'a> {
    /// An object to scope.
    pub fn new(
        guid: Guid,
        dn: &'a Dn,
        kind: ObjectKind,
        attrs: &'a dyn AttrLookup,
    ) -> ScopedObject<'a> {
        ScopedObject {
            guid,
            dn,
            kind,
            attrs,
        }
    }
}

impl fmt::Debug for ScopedObject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedObject")
            .field("guid", &self.guid)
            .field("dn", self.dn)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------

/// In or out of scope, with the rule that decided (cheap: `Copy`, no
/// allocation). [`CompiledScope::explain`] gives the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// In scope.
    In,
    /// Out of scope, and the rule that decided.
    Out(OutReason),
}

impl Decision {
    /// Whether the object is in scope.
    pub fn is_in(&self) -> bool {
        matches!(self, Decision::In)
    }
}

/// The rule that put an object out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutReason {
    /// A kind that is never synced (computers, devices, anything unsupported).
    KindNeverSynced,
    /// A kind this configuration does not sync.
    KindNotSelected,
    /// Not under any included OU.
    OutsideOus,
    /// Under an included OU but also under one of its excludes
    /// (`scope.ous[include].exclude[exclude]`).
    ExcludedOu {
        /// Index in `ous`.
        include: usize,
        /// Index in that OU's `exclude`.
        exclude: usize,
    },
    /// Not a direct member of any scoping group.
    NotInGroup,
    /// Caught by a built-in exclusion.
    Builtin(BuiltinExclusion),
    /// No group of the kind's attribute filter holds.
    Filter,
}

// ---------------------------------------------------------------------------
// Compiled scope
// ---------------------------------------------------------------------------

/// Which container of a configuration: an included OU, an excluded OU under
/// one, or a scoping group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerId {
    /// `ous[i]`.
    Ou(usize),
    /// `ous[i].exclude[j]`.
    OuExclude(usize, usize),
    /// `groups[i]`.
    Group(usize),
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerId::Ou(i) => write!(f, "scope.ous[{i}]"),
            ContainerId::OuExclude(i, j) => write!(f, "scope.ous[{i}].exclude[{j}]"),
            ContainerId::Group(i) => write!(f, "scope.groups[{i}]"),
        }
    }
}

/// An objectGUID discovered for a container configured by DN only; persist
/// it with [`ScopeConfig::apply_pins`] so later renames keep the scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Which container.
    pub container: ContainerId,
    /// Its DN when the GUID was found.
    pub dn: Dn,
    /// Its objectGUID.
    pub guid: Guid,
}

#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub(crate) dn: Dn,
    pub(crate) guid: Option<Guid>,
}

impl Container {
    /// The DN the container has now: followed by objectGUID when both the
    /// GUID and its current place are known, else the configured DN.
    pub(crate) fn current<'a>(&'a self, env: &'a impl ScopeEnv) -> (&'a Dn, Tracking) {
        match self.guid.and_then(|g| env.container_dn(g)) {
            Some(dn) => (dn, Tracking::Guid),
            None => (&self.dn, Tracking::Dn),
        }
    }

    /// The objectGUID, configured or looked up at the configured DN.
    pub(crate) fn resolve_guid(&self, env: &impl ScopeEnv) -> Option<Guid> {
        self.guid.or_else(|| env.guid_at(&self.dn))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledOu {
    pub(crate) include: Container,
    pub(crate) excludes: Vec<Container>,
}

/// A [`ScopeConfig`] checked and compiled against an [`AttrTable`]: ready to
/// evaluate objects.
#[derive(Debug, Clone)]
pub struct CompiledScope {
    kinds: [bool; 3],
    pub(crate) ous: Vec<CompiledOu>,
    pub(crate) groups: Vec<Container>,
    pub(crate) filters: [Option<CompiledFilter>; 3],
    pub(crate) builtins: Option<Builtins>,
}

fn kind_index(kind: ObjectKind) -> Option<usize> {
    match kind {
        ObjectKind::User => Some(0),
        ObjectKind::Group => Some(1),
        ObjectKind::Contact => Some(2),
        ObjectKind::Unsupported => None,
    }
}

/// Checks a configuration and compiles it: parses DNs and GUIDs, checks every
/// clause (operator name, value count, integers, regexes with size limits),
/// and interns every attribute it reads into `table`.
///
/// ```
/// use idsync::object::AttrTable;
/// use idsync::scope::{compile, ScopeConfig};
/// let config: ScopeConfig = serde_json::from_str(r#"{"filters": {"user": {"groups": [[
///     {"attribute": "department", "operator": "EQUALS", "values": ["Sales"]},
///     {"attribute": "employeeID", "operator": "IS NOT NULL"},
///     {"attribute": "title", "operator": "EQUAL", "values": ["Boss"]}
/// ]]}}}"#)?;
/// let err = compile(&config, &mut AttrTable::new()).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"scope.filters.user.groups[0][2].operator: unknown operator "EQUAL"; did you mean "EQUALS"?"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn compile(
    config: &ScopeConfig,
    table: &mut AttrTable,
) -> Result<CompiledScope, ScopeConfigError> {
    let mut kinds = [false; 3];
    if config.kinds.is_empty() {
        return Err(ScopeConfigError::new(
            "scope.kinds".into(),
            ScopeErrorKind::NoKinds,
        ));
    }
    for (i, kind) in config.kinds.iter().enumerate() {
        match kind_index(*kind) {
            Some(k) => kinds[k] = true,
            None => {
                return Err(ScopeConfigError::new(
                    format!("scope.kinds[{i}]"),
                    ScopeErrorKind::UnsupportedKind,
                ));
            }
        }
    }
    if config.ous.len() > MAX_CONTAINERS {
        return Err(too_many("scope.ous".into(), "included OUs"));
    }
    let mut ous = Vec::with_capacity(config.ous.len());
    for (i, ou) in config.ous.iter().enumerate() {
        let path = format!("scope.ous[{i}]");
        let include = container(&ou.dn, ou.guid.as_deref(), &path)?;
        if ou.exclude.len() > MAX_CONTAINERS {
            return Err(too_many(format!("{path}.exclude"), "excluded OUs"));
        }
        let mut excludes = Vec::with_capacity(ou.exclude.len());
        for (j, ex) in ou.exclude.iter().enumerate() {
            let xpath = format!("{path}.exclude[{j}]");
            let c = container(&ex.dn, ex.guid.as_deref(), &xpath)?;
            if !c.dn.is_under(&include.dn) || c.dn == include.dn {
                return Err(ScopeConfigError::new(
                    format!("{xpath}.dn"),
                    ScopeErrorKind::ExcludeNotUnder {
                        exclude: clip(&ex.dn),
                        include: clip(&ou.dn),
                    },
                ));
            }
            excludes.push(c);
        }
        ous.push(CompiledOu { include, excludes });
    }
    if config.groups.len() > MAX_CONTAINERS {
        return Err(too_many("scope.groups".into(), "scoping groups"));
    }
    let mut groups = Vec::with_capacity(config.groups.len());
    for (i, g) in config.groups.iter().enumerate() {
        groups.push(container(
            &g.dn,
            g.guid.as_deref(),
            &format!("scope.groups[{i}]"),
        )?);
    }
    let mut filters: [Option<CompiledFilter>; 3] = [None, None, None];
    for kind in [ObjectKind::User, ObjectKind::Group, ObjectKind::Contact] {
        let (Some(filter), Some(k)) = (config.filters.get(kind), kind_index(kind)) else {
            continue;
        };
        let path = format!("scope.filters.{kind}");
        if !kinds[k] {
            return Err(ScopeConfigError::new(
                path,
                ScopeErrorKind::FilterForUnsyncedKind { kind },
            ));
        }
        let compiled = filter::compile_filter(filter, &path, table)?;
        if !compiled.groups.is_empty() {
            filters[k] = Some(compiled);
        }
    }
    let builtins = if config.builtin_exclusions {
        Some(Builtins::compile(table)?)
    } else {
        None
    };
    Ok(CompiledScope {
        kinds,
        ous,
        groups,
        filters,
        builtins,
    })
}

#[cold]
fn too_many(path: String, what: &'static str) -> ScopeConfigError {
    ScopeConfigError::new(
        path,
        ScopeErrorKind::TooMany {
            what,
            max: MAX_CONTAINERS,
        },
    )
}

fn container(dn: &str, guid: Option<&str>, path: &str) -> Result<Container, ScopeConfigError> {
    let parsed = Dn::parse(dn).map_err(|error| {
        ScopeConfigError::new(
            format!("{path}.dn"),
            ScopeErrorKind::BadDn {
                dn: clip(dn),
                error,
            },
        )
    })?;
    let guid = guid
        .map(|g| {
            Guid::parse(g).map_err(|error| {
                ScopeConfigError::new(
                    format!("{path}.guid"),
                    ScopeErrorKind::BadGuid {
                        guid: clip(g),
                        error,
                    },
                )
            })
        })
        .transpose()?;
    Ok(Container { dn: parsed, guid })
}

impl ScopeConfig {
    /// Same as [`compile`].
    pub fn compile(&self, table: &mut AttrTable) -> Result<CompiledScope, ScopeConfigError> {
        compile(self, table)
    }

    /// Writes discovered objectGUIDs ([`CompiledScope::pin_guids`]) into the
    /// configuration, where no GUID was set, so the host can persist them.
    pub fn apply_pins(&mut self, pins: &[Pin]) {
        for pin in pins {
            let slot = match pin.container {
                ContainerId::Ou(i) => self.ous.get_mut(i).map(|o| &mut o.guid),
                ContainerId::OuExclude(i, j) => self
                    .ous
                    .get_mut(i)
                    .and_then(|o| o.exclude.get_mut(j))
                    .map(|e| &mut e.guid),
                ContainerId::Group(i) => self.groups.get_mut(i).map(|g| &mut g.guid),
            };
            if let Some(slot @ None) = slot {
                *slot = Some(pin.guid.to_string());
            }
        }
    }
}

/// One step's outcome as the hot path sees it: the index that let the
/// object through (if the step applies), or why it is out.
type StepResult = Result<Option<usize>, OutReason>;

impl CompiledScope {
    /// Whether this configuration syncs objects of `kind`.
    pub fn syncs(&self, kind: ObjectKind) -> bool {
        kind_index(kind).is_some_and(|k| self.kinds[k])
    }

    /// Whether the scope depends on group membership (the engine must then
    /// re-evaluate members when a scoping group's members change).
    pub fn has_group_scope(&self) -> bool {
        !self.groups.is_empty()
    }

    /// Every OU and group the scope refers to, with its configured DN and
    /// its objectGUID when known.
    pub fn containers(&self) -> impl Iterator<Item = (ContainerId, &Dn, Option<Guid>)> + '_ {
        let ous = self.ous.iter().enumerate().flat_map(|(i, ou)| {
            std::iter::once((ContainerId::Ou(i), &ou.include.dn, ou.include.guid)).chain(
                ou.excludes
                    .iter()
                    .enumerate()
                    .map(move |(j, e)| (ContainerId::OuExclude(i, j), &e.dn, e.guid)),
            )
        });
        let groups = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (ContainerId::Group(i), &g.dn, g.guid));
        ous.chain(groups)
    }

    /// Looks up the objectGUID of every container configured by DN only, at
    /// its configured DN, and tracks it by that GUID from now on. Returns
    /// what was found, for [`ScopeConfig::apply_pins`].
    ///
    /// ```
    /// use idsync::anchor::Guid;
    /// use idsync::dn::Dn;
    /// use idsync::object::{AttrTable, ObjectKind, Row};
    /// use idsync::scope::{compile, MemoryEnv, OuScope, ScopeConfig, ScopedObject};
    ///
    /// let mut config = ScopeConfig { ous: vec![OuScope::dn("OU=Sales,DC=corp")], ..ScopeConfig::default() };
    /// let mut scope = compile(&config, &mut AttrTable::new())?;
    /// let mut env = MemoryEnv::new();
    /// let ou = Guid::from_u128(9);
    /// env.add_container(ou, Dn::parse("OU=Sales,DC=corp")?);
    /// let pins = scope.pin_guids(&env);
    /// config.apply_pins(&pins);
    /// assert_eq!(config.ous[0].guid, Some(ou.to_string()));
    ///
    /// env.add_container(ou, Dn::parse("OU=Revenue,DC=corp")?); // the OU is renamed
    /// let dn = Dn::parse("CN=Ann,OU=Revenue,DC=corp")?;
    /// let row = Row::default();
    /// let ann = ScopedObject::new(Guid::from_u128(1), &dn, ObjectKind::User, &row);
    /// assert!(scope.evaluate(&ann, &env).is_in());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pin_guids(&mut self, env: &impl ScopeEnv) -> Vec<Pin> {
        let mut pins = Vec::new();
        let mut pin = |c: &mut Container, id: ContainerId| {
            if c.guid.is_none() {
                if let Some(g) = env.guid_at(&c.dn) {
                    c.guid = Some(g);
                    pins.push(Pin {
                        container: id,
                        dn: c.dn.clone(),
                        guid: g,
                    });
                }
            }
        };
        for (i, ou) in self.ous.iter_mut().enumerate() {
            pin(&mut ou.include, ContainerId::Ou(i));
            for (j, e) in ou.excludes.iter_mut().enumerate() {
                pin(e, ContainerId::OuExclude(i, j));
            }
        }
        for (i, g) in self.groups.iter_mut().enumerate() {
            pin(g, ContainerId::Group(i));
        }
        pins
    }

    /// Decides whether an object is in scope. Rules run in order (kind, OU,
    /// group, built-in exclusions, attribute filter) and the first that fails
    /// decides. Does not allocate.
    pub fn evaluate(&self, obj: &ScopedObject<'_>, env: &impl ScopeEnv) -> Decision {
        match self.walk(obj, env) {
            Ok(()) => Decision::In,
            Err(reason) => Decision::Out(reason),
        }
    }

    fn walk(&self, obj: &ScopedObject<'_>, env: &impl ScopeEnv) -> Result<(), OutReason> {
        self.check_kind(obj.kind)?;
        self.check_ous(obj, env)?;
        self.check_groups(obj, env)?;
        self.check_builtins(obj)?;
        self.check_filter(obj)?;
        Ok(())
    }

    pub(crate) fn check_kind(&self, kind: ObjectKind) -> Result<(), OutReason> {
        match kind_index(kind) {
            None => Err(OutReason::KindNeverSynced),
            Some(k) if !self.kinds[k] => Err(OutReason::KindNotSelected),
            Some(_) => Ok(()),
        }
    }

    /// The first include that takes the object; if none does, the first
    /// include whose exclude caught it, else "outside". Excludes count only
    /// while they sit strictly under their include.
    pub(crate) fn check_ous(&self, obj: &ScopedObject<'_>, env: &impl ScopeEnv) -> StepResult {
        if self.ous.is_empty() {
            return Ok(None);
        }
        let mut excluded = None;
        for (i, ou) in self.ous.iter().enumerate() {
            let include = ou.include.current(env).0;
            if !obj.dn.is_under(include) {
                continue;
            }
            // An exclude that has since moved out of its include (or above
            // it) no longer carves anything out of it.
            let excluded_by = |e: &Container| {
                let ex = e.current(env).0;
                obj.dn.is_under(ex) && ex.is_under(include) && ex != include
            };
            match ou.excludes.iter().position(excluded_by) {
                None => return Ok(Some(i)),
                Some(j) => {
                    excluded.get_or_insert(OutReason::ExcludedOu {
                        include: i,
                        exclude: j,
                    });
                }
            }
        }
        Err(excluded.unwrap_or(OutReason::OutsideOus))
    }

    pub(crate) fn check_groups(&self, obj: &ScopedObject<'_>, env: &impl ScopeEnv) -> StepResult {
        if self.groups.is_empty() {
            return Ok(None);
        }
        self.groups
            .iter()
            .position(|g| {
                g.resolve_guid(env)
                    .is_some_and(|gg| env.is_direct_member(gg, obj.guid))
            })
            .map(Some)
            .ok_or(OutReason::NotInGroup)
    }

    pub(crate) fn check_builtins(&self, obj: &ScopedObject<'_>) -> Result<(), OutReason> {
        match &self.builtins {
            Some(b) => b
                .check(obj.kind, obj.dn, obj.attrs)
                .map_err(|(e, _)| OutReason::Builtin(e)),
            None => Ok(()),
        }
    }

    pub(crate) fn filter(&self, kind: ObjectKind) -> Option<&CompiledFilter> {
        kind_index(kind).and_then(|k| self.filters[k].as_ref())
    }

    pub(crate) fn check_filter(&self, obj: &ScopedObject<'_>) -> StepResult {
        match self.filter(obj.kind) {
            None => Ok(None),
            Some(f) => f
                .matching_group(obj.attrs, obj.dn)
                .map(Some)
                .ok_or(OutReason::Filter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Attributes, Value};

    fn cfg(json: &str) -> ScopeConfig {
        serde_json::from_str(json).unwrap()
    }

    fn err(json: &str) -> String {
        compile(&cfg(json), &mut AttrTable::new())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn config_errors_name_the_field() {
        assert_eq!(
            err(r#"{"kinds": []}"#),
            "scope.kinds: no object kind selected (choose among user, group, contact)"
        );
        assert_eq!(
            err(r#"{"kinds": ["user", "unsupported"]}"#),
            "scope.kinds[1]: unsupported objects (computers, devices) are never synced"
        );
        assert_eq!(
            err(r#"{"ous": [{"dn": "OU=A,DC=x", "exclude": [{"dn": "OU=B,DC=x"}]}]}"#),
            r#"scope.ous[0].exclude[0].dn: excluded OU "OU=B,DC=x" is not strictly under the included OU "OU=A,DC=x""#
        );
        assert!(
            err(r#"{"ous": [{"dn": "OU=A,DC=x", "exclude": [{"dn": "ou=a, dc=X"}]}]}"#)
                .contains("not strictly under")
        );
        assert!(
            err(r#"{"groups": [{"dn": "CN=G,DC=x", "guid": "nope"}]}"#)
                .starts_with("scope.groups[0].guid: invalid guid \"nope\"")
        );
        assert_eq!(
            err(
                r#"{"kinds": ["user"], "filters": {"group": {"groups": [[{"attribute": "a", "operator": "IS NULL"}]]}}}"#
            ),
            "scope.filters.group: filter for group objects, which this configuration does not sync"
        );
        assert_eq!(
            err(
                r#"{"filters": {"user": {"groups": [[{"attribute": "a", "operator": "IS NULL", "values": ["x"]}]]}}}"#
            ),
            "scope.filters.user.groups[0][0].values: operator IS NULL takes no value, got 1"
        );
        assert_eq!(
            err(
                r#"{"filters": {"user": {"groups": [[{"attribute": "a", "operator": "EQUALS"}]]}}}"#
            ),
            "scope.filters.user.groups[0][0].values: operator EQUALS takes exactly one value, got 0"
        );
        assert_eq!(
            err(
                r#"{"filters": {"contact": {"groups": [[{"attribute": "a", "operator": "IS NULL"}], []]}}}"#
            ),
            "scope.filters.contact.groups[1]: empty clause group (a group needs at least one clause)"
        );
        assert_eq!(
            err(
                r#"{"filters": {"user": {"groups": [[{"attribute": "bad name", "operator": "IS NULL"}]]}}}"#
            ),
            r#"scope.filters.user.groups[0][0].attribute: invalid attribute name "bad name""#
        );
        let long = "x".repeat(5000);
        let e = err(&format!(r#"{{"groups": [{{"dn": "CN={long}\\"}}]}}"#));
        assert!(e.len() < 400, "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_by_serde() {
        assert!(
            serde_json::from_str::<ScopeConfig>(r#"{"ous": [{"dn": "OU=A", "exlude": []}]}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<ScopeConfig>(r#"{"builtin_exclusion": false}"#).is_err());
    }

    #[test]
    fn compile_interns_filter_and_builtin_attributes() {
        let mut t = AttrTable::new();
        compile(
            &cfg(r#"{"filters": {"user": {"groups": [[{"attribute": "Department", "operator": "IS NOT NULL"}]]}}}"#),
            &mut t,
        )
        .unwrap();
        assert!(t.get("department").is_some());
        assert!(t.get("sAMAccountName").is_some());
        let mut t = AttrTable::new();
        compile(&cfg(r#"{"builtin_exclusions": false}"#), &mut t).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn evaluate_order_and_reasons() {
        let mut t = AttrTable::new();
        let scope = compile(
            &cfg(r#"{"kinds": ["user", "group"], "ous": [{"dn": "OU=S,DC=x"}],
                "filters": {"user": {"groups": [[{"attribute": "department", "operator": "EQUALS", "values": ["Sales"]}]]}}}"#),
            &mut t,
        )
        .unwrap();
        let env = MemoryEnv::new();
        let row = t.project(&Attributes::new().with("department", [Value::str("HR")]));
        let at = |dn: &str| Dn::parse(dn).unwrap();
        let decide = |dn: &Dn, kind| {
            scope.evaluate(&ScopedObject::new(Guid::from_u128(1), dn, kind, &row), &env)
        };
        assert_eq!(
            decide(&at("CN=a,OU=S,DC=x"), ObjectKind::Unsupported),
            Decision::Out(OutReason::KindNeverSynced)
        );
        assert_eq!(
            decide(&at("CN=a,OU=S,DC=x"), ObjectKind::Contact),
            Decision::Out(OutReason::KindNotSelected)
        );
        assert_eq!(
            decide(&at("CN=a,OU=T,DC=x"), ObjectKind::User),
            Decision::Out(OutReason::OutsideOus)
        );
        assert_eq!(
            decide(&at("CN=a,OU=S,DC=x"), ObjectKind::User),
            Decision::Out(OutReason::Filter)
        );
        assert_eq!(
            decide(&at("CN=a,OU=S,DC=x"), ObjectKind::Group),
            Decision::In
        );
        assert_eq!(
            decide(&at("CN=a\\0ACNF:1,OU=S,DC=x"), ObjectKind::Group),
            Decision::Out(OutReason::Builtin(BuiltinExclusion::ReplicationConflict))
        );
    }
}
