//! Overlaps between configurations that share a target: statically, before
//! anything runs ([`check_overlaps`]), and for one object at run time
//! ([`claims`]).
//!
//! Static rules (for each pair of configurations):
//! - their OU regions intersect: two included subtrees of which one is under
//!   the other (no `ous` = the whole directory), unless the deeper one lies
//!   under an exclude of either configuration;
//! - for at least one common object kind, their filters cannot tell the
//!   objects apart: not both configurations have a filter for that kind, or
//!   both have the same filter (two different filters may partition the
//!   objects; run-time claims catch what they do not);
//! - and their group scopes can claim the same object: neither uses groups,
//!   exactly one does (its members in the common region are claimed by the
//!   other as well), or both use the same group (by objectGUID when both
//!   know it, else by DN). Different groups overlap only through a common
//!   member, which only run time can see.

use std::fmt;

use serde::Serialize;

use super::{AttributeFilter, ScopeConfig, kind_index};
use crate::anchor::Guid;
use crate::dn::Dn;
use crate::object::ObjectKind;

use super::Decision;

/// Two configurations that would claim the same objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("configurations {first:?} and {second:?} overlap: {scope} ({})", kinds_text(.kinds))]
pub struct OverlapError {
    /// The first configuration's name.
    pub first: String,
    /// The second configuration's name.
    pub second: String,
    /// The object kinds both would claim there.
    pub kinds: Vec<ObjectKind>,
    /// Where they overlap.
    pub scope: OverlapScope,
}

fn kinds_text(kinds: &[ObjectKind]) -> String {
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    format!("{}s", names.join("s, "))
}

/// Where two configurations overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "overlap", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OverlapScope {
    /// Both claim the objects of this subtree (the root DN: the whole directory).
    Subtree {
        /// The common subtree.
        dn: Dn,
    },
    /// Both scope on the same group: its direct members in `subtree`.
    Group {
        /// The group (as the first configuration names it).
        group: Dn,
        /// The common subtree.
        subtree: Dn,
    },
    /// One configuration scopes on groups; the other claims every object of
    /// the subtree the members may sit in.
    GroupMembersWithin {
        /// The configuration that scopes on groups.
        grouped: String,
        /// The common subtree.
        subtree: Dn,
    },
}

fn subtree_text(dn: &Dn) -> String {
    if dn.is_empty() {
        "the whole directory".to_owned()
    } else {
        format!("the subtree {dn}")
    }
}

impl fmt::Display for OverlapScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverlapScope::Subtree { dn } => {
                write!(f, "both claim the objects in {}", subtree_text(dn))
            }
            OverlapScope::Group { group, subtree } => write!(
                f,
                "both scope on group {group} (its direct members in {})",
                subtree_text(subtree)
            ),
            OverlapScope::GroupMembersWithin { grouped, subtree } => write!(
                f,
                "members of the scoping groups of {grouped:?} in {} are claimed by both",
                subtree_text(subtree)
            ),
        }
    }
}

/// What overlap detection needs of one configuration.
struct Shape<'a> {
    /// Included subtrees (the root for the whole directory) with their excludes.
    regions: Vec<(Dn, Vec<Dn>)>,
    groups: Vec<(Dn, Option<Guid>)>,
    kinds: [bool; 3],
    filters: [Option<&'a AttributeFilter>; 3],
}

/// DNs and GUIDs that do not parse are left out: [`super::compile`] refuses
/// such a configuration anyway, and checking overlaps comes after it.
fn shape(config: &ScopeConfig) -> Shape<'_> {
    let parse = |s: &str| Dn::parse(s).ok();
    let regions = if config.ous.is_empty() {
        vec![(Dn::root(), Vec::new())]
    } else {
        config
            .ous
            .iter()
            .filter_map(|ou| {
                let inc = parse(&ou.dn)?;
                let ex = ou.exclude.iter().filter_map(|e| parse(&e.dn)).collect();
                Some((inc, ex))
            })
            .collect()
    };
    let groups = config
        .groups
        .iter()
        .filter_map(|g| {
            let dn = parse(&g.dn)?;
            Some((dn, g.guid.as_deref().and_then(|t| Guid::parse(t).ok())))
        })
        .collect();
    let mut kinds = [false; 3];
    let mut filters = [None; 3];
    for kind in &config.kinds {
        if let Some(k) = kind_index(*kind) {
            kinds[k] = true;
            filters[k] = config.filters.get(*kind).filter(|f| !f.groups.is_empty());
        }
    }
    Shape {
        regions,
        groups,
        kinds,
        filters,
    }
}

/// The deepest common subtree of two regions, if they intersect.
fn common_subtree(a: &(Dn, Vec<Dn>), b: &(Dn, Vec<Dn>)) -> Option<Dn> {
    let deeper = if a.0.is_under(&b.0) {
        &a.0
    } else if b.0.is_under(&a.0) {
        &b.0
    } else {
        return None;
    };
    let cut = a.1.iter().chain(&b.1).any(|ex| deeper.is_under(ex));
    (!cut).then(|| deeper.clone())
}

const KINDS: [ObjectKind; 3] = [ObjectKind::User, ObjectKind::Group, ObjectKind::Contact];

fn overlap(a_name: &str, a: &Shape<'_>, b_name: &str, b: &Shape<'_>) -> Option<OverlapError> {
    let kinds: Vec<ObjectKind> = KINDS
        .iter()
        .enumerate()
        .filter(|&(k, _)| {
            a.kinds[k]
                && b.kinds[k]
                && match (a.filters[k], b.filters[k]) {
                    (Some(fa), Some(fb)) => fa == fb,
                    _ => true,
                }
        })
        .map(|(_, kind)| *kind)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let shared_group = a.groups.iter().find(|(adn, aguid)| {
        b.groups.iter().any(|(bdn, bguid)| match (aguid, bguid) {
            (Some(x), Some(y)) => x == y,
            _ => adn == bdn,
        })
    });
    for ra in &a.regions {
        for rb in &b.regions {
            let Some(subtree) = common_subtree(ra, rb) else {
                continue;
            };
            let scope = match (a.groups.is_empty(), b.groups.is_empty()) {
                (true, true) => OverlapScope::Subtree { dn: subtree },
                (false, true) => OverlapScope::GroupMembersWithin {
                    grouped: a_name.to_owned(),
                    subtree,
                },
                (true, false) => OverlapScope::GroupMembersWithin {
                    grouped: b_name.to_owned(),
                    subtree,
                },
                (false, false) => match shared_group {
                    Some((group, _)) => OverlapScope::Group {
                        group: group.clone(),
                        subtree,
                    },
                    None => return None,
                },
            };
            return Some(OverlapError {
                first: a_name.to_owned(),
                second: b_name.to_owned(),
                kinds,
                scope,
            });
        }
    }
    None
}

/// Finds every pair of configurations whose scopes statically overlap (see
/// the module documentation for the rules); one error per pair. Compile each
/// configuration first: DNs that do not parse are ignored here.
///
/// ```
/// use idsync::scope::{check_overlaps, ScopeConfig};
/// let forest: ScopeConfig = serde_json::from_str(r#"{"ous": [{"dn": "DC=corp",
///     "exclude": [{"dn": "OU=Pilot,DC=corp"}]}]}"#)?;
/// let pilot: ScopeConfig = serde_json::from_str(r#"{"ous": [{"dn": "OU=Pilot,DC=corp"}]}"#)?;
/// assert!(check_overlaps(&[("corp", &forest), ("pilot", &pilot)]).is_ok());
///
/// let sales: ScopeConfig = serde_json::from_str(r#"{"ous": [{"dn": "OU=Sales,DC=corp"}]}"#)?;
/// let errors = check_overlaps(&[("corp", &forest), ("sales", &sales)]).unwrap_err();
/// assert_eq!(
///     errors[0].to_string(),
///     r#"configurations "corp" and "sales" overlap: both claim the objects in the subtree OU=Sales,DC=corp (users, groups, contacts)"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn check_overlaps(configs: &[(&str, &ScopeConfig)]) -> Result<(), Vec<OverlapError>> {
    let shapes: Vec<(&str, Shape<'_>)> = configs.iter().map(|(n, c)| (*n, shape(c))).collect();
    let mut errors = Vec::new();
    for (i, (a_name, a)) in shapes.iter().enumerate() {
        for (b_name, b) in shapes.iter().skip(i + 1) {
            errors.extend(overlap(a_name, a, b_name, b));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Which configurations claim one object at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim<K> {
    /// No configuration has it in scope.
    Unclaimed,
    /// Exactly one does.
    One(K),
    /// Several do: a conflict to log for the object; none of them may
    /// export it on this account (never a double export).
    Conflict(Vec<K>),
}

/// Folds the decisions of several configurations on the same object (each
/// evaluated with its own attribute table and directory view) into a
/// [`Claim`]. Allocates only for a conflict.
///
/// ```
/// use idsync::scope::{claims, Claim, Decision, OutReason};
/// assert_eq!(claims([("a", Decision::In), ("b", Decision::Out(OutReason::OutsideOus))]), Claim::One("a"));
/// assert_eq!(claims([("a", Decision::In), ("b", Decision::In)]), Claim::Conflict(vec!["a", "b"]));
/// ```
pub fn claims<K>(decisions: impl IntoIterator<Item = (K, Decision)>) -> Claim<K> {
    let mut claim = Claim::Unclaimed;
    for (key, decision) in decisions {
        if !decision.is_in() {
            continue;
        }
        claim = match claim {
            Claim::Unclaimed => Claim::One(key),
            Claim::One(first) => Claim::Conflict(vec![first, key]),
            Claim::Conflict(mut all) => {
                all.push(key);
                Claim::Conflict(all)
            }
        };
    }
    claim
}
