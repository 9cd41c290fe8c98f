//! Deletion safety: the policy for deletions and the per-cycle gate that
//! counts deletions, disables and membership removals against thresholds.
//!
//! The product's default is kept: deletions are never exported unless an
//! admin turns automatic deletion on, and then a cycle that would delete more
//! than the threshold (default 500, allowed 10 to 100,000) is held whole
//! until approved or rejected. idsync also counts disables
//! (`AccountEnabled` true -> false) and membership removals, each against its
//! own threshold, because a mass disable or an emptied group hurts as much.
//!
//! This module decides; it holds no state and never applies anything. The
//! engine keeps the held sets and releases exactly what an approval names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::anchor::Guid;
use crate::object::ObjectKind;

pub use crate::limits::{
    DELETION_THRESHOLD_DEFAULT as DEFAULT_THRESHOLD, DELETION_THRESHOLD_MAX as MAX_THRESHOLD,
    DELETION_THRESHOLD_MIN as MIN_THRESHOLD,
};

/// What happens to deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum DeletionPolicy {
    /// Deletions are logged and held for an admin's approval; nothing is
    /// deleted automatically (the product's default).
    #[default]
    HoldForApproval,
    /// Deletions are exported automatically while a cycle has at most
    /// `threshold` of them; over it, all of the cycle's deletions are held.
    Automatic {
        /// Deletions allowed per cycle (10 to 100,000; default 500).
        #[serde(default = "default_threshold")]
        threshold: u32,
    },
}

fn default_threshold() -> u32 {
    DEFAULT_THRESHOLD
}

/// The deletion settings of a configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletionConfig {
    /// The policy for deletions.
    #[serde(default)]
    pub policy: DeletionPolicy,
    /// Disables (`AccountEnabled` true -> false) allowed per cycle.
    #[serde(default = "default_threshold")]
    pub disable_threshold: u32,
    /// Membership removals allowed per cycle.
    #[serde(default = "default_threshold")]
    pub membership_removal_threshold: u32,
    /// Deletions allowed per cycle as a percentage of the synced objects
    /// (with automatic deletion; the stricter of this and the count applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_percent: Option<f64>,
    /// Deletions allowed per cycle for one kind (count, percentage of the
    /// synced objects of that kind, or both).
    #[serde(default)]
    pub per_kind: PerKind,
    /// Membership removals allowed per cycle from one group (count,
    /// percentage of its exported members, or both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_group_removals: Option<Limit>,
    /// When a full read looks too short to trust.
    #[serde(default)]
    pub source_health: SourceHealth,
    /// Grace-period deprovisioning: a deleted user is first disabled and
    /// deleted only this many seconds later (cancelled if it comes back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_secs: Option<u64>,
    /// Objects never deleted or disabled automatically.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<Protection>,
}

/// A limit per cycle: a count, a percentage, or both (the stricter applies).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limit {
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// At most this percentage of the objects concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
}

impl Limit {
    /// Why `n` changes out of `base` objects exceed the limit, if they do.
    pub fn exceeded(&self, n: u32, base: u32) -> Option<HoldWhy> {
        if let Some(c) = self.count {
            if n > c {
                return Some(HoldWhy::OverThreshold {
                    count: n,
                    threshold: c,
                });
            }
        }
        if let Some(p) = self.percent {
            if f64::from(n) > f64::from(base) * p / 100.0 {
                return Some(HoldWhy::OverPercent {
                    count: n,
                    of: base,
                    percent: p,
                });
            }
        }
        None
    }
}

/// Per-kind deletion limits.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerKind {
    /// Users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Limit>,
    /// Groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Limit>,
    /// Contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Limit>,
}

impl PerKind {
    fn of(&self, kind: ObjectKind) -> Option<&Limit> {
        match kind {
            ObjectKind::User => self.user.as_ref(),
            ObjectKind::Group => self.group.as_ref(),
            ObjectKind::Contact => self.contact.as_ref(),
            ObjectKind::Unsupported => None,
        }
    }
}

/// When a finished full read is too short to infer deletions from: it
/// returned more than `max_drop_percent` percent fewer objects than the last
/// committed full read, and more than `max_drop_objects` fewer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceHealth {
    /// The drop, in percent of the last full read, that makes a read suspect.
    #[serde(default = "default_drop_percent")]
    pub max_drop_percent: f64,
    /// The drop, in objects, that makes a read suspect.
    #[serde(default = "default_drop_objects")]
    pub max_drop_objects: u64,
    /// Whether deletions by tombstone are held too while the source looks
    /// unhealthy (by default only deletions by absence are).
    #[serde(default)]
    pub tombstones_too: bool,
}

fn default_drop_percent() -> f64 {
    10.0
}

fn default_drop_objects() -> u64 {
    50
}

impl Default for SourceHealth {
    fn default() -> SourceHealth {
        SourceHealth {
            max_drop_percent: default_drop_percent(),
            max_drop_objects: default_drop_objects(),
            tombstones_too: false,
        }
    }
}

impl SourceHealth {
    /// Whether a full read of `now` objects after one of `last` looks short.
    ///
    /// ```
    /// use idsync::deletion::SourceHealth;
    /// let h = SourceHealth::default();
    /// assert!(h.is_suspect(400, 1000));   // 60% fewer
    /// assert!(!h.is_suspect(950, 1000));  // 5% fewer
    /// assert!(!h.is_suspect(60, 100));    // 40% but only 40 objects
    /// ```
    pub fn is_suspect(&self, now: u64, last: u64) -> bool {
        let drop = last.saturating_sub(now);
        drop > self.max_drop_objects
            && (drop as f64) > (last as f64) * self.max_drop_percent / 100.0
    }
}

/// An object (or set of objects) never deleted or disabled automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum Protection {
    /// The object with this source anchor.
    Anchor {
        /// Its ImmutableId.
        anchor: crate::anchor::ImmutableId,
    },
    /// Every object in this subtree.
    Subtree {
        /// The subtree's root.
        dn: crate::dn::Dn,
    },
    /// Every object whose attribute has one of these values (exact,
    /// case-insensitive), for example `adminCount` = `1`.
    Attribute {
        /// The source attribute.
        attribute: String,
        /// The values that protect.
        values: Vec<String>,
    },
    /// Every object a scoping-style attribute filter selects (the same
    /// clauses and operators as scoping filters).
    Filter {
        /// The filter.
        filter: crate::scope::AttributeFilter,
    },
}

impl Default for DeletionConfig {
    fn default() -> DeletionConfig {
        DeletionConfig {
            policy: DeletionPolicy::HoldForApproval,
            disable_threshold: DEFAULT_THRESHOLD,
            membership_removal_threshold: DEFAULT_THRESHOLD,
            threshold_percent: None,
            per_kind: PerKind::default(),
            per_group_removals: None,
            source_health: SourceHealth::default(),
            grace_period_secs: None,
            protected: Vec::new(),
        }
    }
}

/// A deletion setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{field}: {value} is out of range (thresholds {MIN_THRESHOLD}..={MAX_THRESHOLD}, percentages above 0 up to 100)"
)]
pub struct DeletionConfigError {
    /// The field path (`deletion.policy.threshold`).
    pub field: String,
    /// The value given.
    pub value: u32,
}

impl DeletionConfig {
    /// Automatic deletion with the given threshold, the other thresholds at
    /// their defaults.
    pub fn automatic(threshold: u32) -> DeletionConfig {
        DeletionConfig {
            policy: DeletionPolicy::Automatic { threshold },
            ..DeletionConfig::default()
        }
    }

    /// Checks every threshold is in 10..=100,000; `path` prefixes the field
    /// names in errors.
    ///
    /// ```
    /// use idsync::deletion::DeletionConfig;
    /// assert!(DeletionConfig::automatic(500).validate("deletion").is_ok());
    /// let e = DeletionConfig::automatic(5).validate("deletion").unwrap_err();
    /// assert_eq!(e.field, "deletion.policy.threshold");
    /// assert_eq!(e.value, 5);
    /// ```
    pub fn validate(&self, path: &str) -> Result<(), DeletionConfigError> {
        let check = |field: &str, value: u32| {
            if (MIN_THRESHOLD..=MAX_THRESHOLD).contains(&value) {
                Ok(())
            } else {
                Err(DeletionConfigError {
                    field: format!("{path}.{field}"),
                    value,
                })
            }
        };
        if let DeletionPolicy::Automatic { threshold } = self.policy {
            check("policy.threshold", threshold)?;
        }
        check("disableThreshold", self.disable_threshold)?;
        check(
            "membershipRemovalThreshold",
            self.membership_removal_threshold,
        )
    }

    /// Decides, for one cycle's counts, which categories may proceed.
    ///
    /// ```
    /// use idsync::deletion::{DeletionConfig, GateCounts, Category};
    /// let cfg = DeletionConfig::automatic(500);
    /// let ok = cfg.gate(&GateCounts { deletions: 500, ..Default::default() });
    /// assert!(ok.is_open(Category::Deletions));
    /// let held = cfg.gate(&GateCounts { deletions: 600, ..Default::default() });
    /// assert!(!held.is_open(Category::Deletions));
    /// assert!(held.is_open(Category::Disables));
    /// ```
    pub fn gate(&self, counts: &GateCounts) -> GateDecision {
        let deletions = match self.policy {
            _ if counts.deletions == 0 => Verdict::Open,
            DeletionPolicy::HoldForApproval => Verdict::Held(HoldWhy::ApprovalRequired),
            DeletionPolicy::Automatic { threshold } => over(counts.deletions, threshold),
        };
        GateDecision {
            deletions,
            disables: over(counts.disables, self.disable_threshold),
            membership_removals: over(
                counts.membership_removals,
                self.membership_removal_threshold,
            ),
            counts: *counts,
        }
    }
}

/// One op the gate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateItem {
    /// Its category.
    pub category: Category,
    /// The kind of the object deleted or disabled (the group, for
    /// membership removals).
    pub kind: ObjectKind,
    /// For membership removals: the group.
    pub group: Option<Guid>,
}

/// What the percentages are of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateTotals {
    /// Synced (exported, live) users, groups and contacts.
    pub users: u32,
    /// Synced groups.
    pub groups: u32,
    /// Synced contacts.
    pub contacts: u32,
    /// Exported members per group.
    pub group_members: std::collections::HashMap<Guid, u32>,
}

impl GateTotals {
    fn of(&self, kind: ObjectKind) -> u32 {
        match kind {
            ObjectKind::User => self.users,
            ObjectKind::Group => self.groups,
            ObjectKind::Contact => self.contacts,
            ObjectKind::Unsupported => 0,
        }
    }

    fn all(&self) -> u32 {
        self.users
            .saturating_add(self.groups)
            .saturating_add(self.contacts)
    }
}

impl DeletionConfig {
    /// Decides for each item whether it may proceed: the category-wide
    /// thresholds of [`DeletionConfig::gate`], then the percentage, per-kind
    /// and per-group limits. The first limit exceeded names the reason.
    pub fn decide(&self, items: &[GateItem], totals: &GateTotals) -> (GateDecision, Vec<Verdict>) {
        let mut counts = GateCounts::default();
        let mut by_kind: std::collections::HashMap<ObjectKind, u32> = Default::default();
        let mut by_group: std::collections::HashMap<Guid, u32> = Default::default();
        for i in items {
            counts.bump(i.category);
            if i.category == Category::Deletions {
                *by_kind.entry(i.kind).or_default() += 1;
            }
            if let Some(g) = i.group {
                *by_group.entry(g).or_default() += 1;
            }
        }
        let mut decision = self.gate(&counts);
        if decision.deletions == Verdict::Open {
            if let (DeletionPolicy::Automatic { .. }, Some(p)) =
                (self.policy, self.threshold_percent)
            {
                let limit = Limit {
                    count: None,
                    percent: Some(p),
                };
                if let Some(why) = limit.exceeded(counts.deletions, totals.all()) {
                    decision.deletions = Verdict::Held(why);
                }
            }
        }
        let verdicts = items
            .iter()
            .map(|i| {
                let overall = decision.verdict(i.category);
                if overall != &Verdict::Open {
                    return overall.clone();
                }
                match i.category {
                    Category::Deletions => self
                        .per_kind
                        .of(i.kind)
                        .and_then(|l| {
                            l.exceeded(
                                by_kind.get(&i.kind).copied().unwrap_or(0),
                                totals.of(i.kind),
                            )
                        })
                        .map_or(Verdict::Open, Verdict::Held),
                    Category::MembershipRemovals => match (self.per_group_removals, i.group) {
                        (Some(l), Some(g)) => l
                            .exceeded(
                                by_group.get(&g).copied().unwrap_or(0),
                                totals.group_members.get(&g).copied().unwrap_or(0),
                            )
                            .map_or(Verdict::Open, Verdict::Held),
                        _ => Verdict::Open,
                    },
                    Category::Disables => Verdict::Open,
                }
            })
            .collect();
        (decision, verdicts)
    }
}

fn over(count: u32, threshold: u32) -> Verdict {
    if count > threshold {
        Verdict::Held(HoldWhy::OverThreshold { count, threshold })
    } else {
        Verdict::Open
    }
}

/// What the gate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Category {
    /// Deletions of target objects.
    Deletions,
    /// Disables (`AccountEnabled` true -> false).
    Disables,
    /// Removals of direct members from groups.
    MembershipRemovals,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Deletions => "deletions",
            Category::Disables => "disables",
            Category::MembershipRemovals => "membership removals",
        })
    }
}

/// One cycle's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateCounts {
    /// Deletions the cycle would export.
    pub deletions: u32,
    /// Disables the cycle would export.
    pub disables: u32,
    /// Membership removals the cycle would export.
    pub membership_removals: u32,
}

impl GateCounts {
    /// Adds one to a category.
    pub fn bump(&mut self, c: Category) {
        let n = match c {
            Category::Deletions => &mut self.deletions,
            Category::Disables => &mut self.disables,
            Category::MembershipRemovals => &mut self.membership_removals,
        };
        *n = n.saturating_add(1);
    }
}

/// Why a category is held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "why")]
pub enum HoldWhy {
    /// The policy holds every deletion for approval.
    ApprovalRequired,
    /// More than the threshold in one cycle.
    OverThreshold {
        /// How many the cycle has.
        count: u32,
        /// The threshold.
        threshold: u32,
    },
    /// More than a percentage of the objects concerned in one cycle.
    OverPercent {
        /// How many the cycle has.
        count: u32,
        /// Of how many objects.
        of: u32,
        /// The percentage allowed.
        percent: f64,
    },
    /// The full read that made these deletions looks incomplete.
    SourceReadIncomplete {
        /// Objects the read returned.
        read: u64,
        /// Objects the last committed full read returned.
        last: u64,
    },
    /// A protected object.
    Protected {
        /// The protection rule.
        rule: String,
    },
}

impl fmt::Display for HoldWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldWhy::ApprovalRequired => f.write_str("deletions are held for approval (policy)"),
            HoldWhy::OverThreshold { count, threshold } => {
                write!(f, "{count} exceed the threshold of {threshold} per cycle")
            }
            HoldWhy::OverPercent { count, of, percent } => {
                write!(f, "{count} of {of} exceed {percent}% per cycle")
            }
            HoldWhy::SourceReadIncomplete { read, last } => write!(
                f,
                "source read looks incomplete: {read} objects, the last full read had {last}"
            ),
            HoldWhy::Protected { rule } => write!(f, "protected object ({rule})"),
        }
    }
}

/// The gate's verdict for one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "verdict")]
pub enum Verdict {
    /// The ops of this category may be applied.
    Open,
    /// The ops of this category are held.
    Held(HoldWhy),
}

/// The gate's decision for a cycle: part of the plan, visible before anything
/// is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateDecision {
    /// Deletions.
    pub deletions: Verdict,
    /// Disables.
    pub disables: Verdict,
    /// Membership removals.
    pub membership_removals: Verdict,
    /// The counts it decided on.
    pub counts: GateCounts,
}

impl GateDecision {
    /// The verdict of a category.
    pub fn verdict(&self, c: Category) -> &Verdict {
        match c {
            Category::Deletions => &self.deletions,
            Category::Disables => &self.disables,
            Category::MembershipRemovals => &self.membership_removals,
        }
    }

    /// Whether a category may proceed.
    pub fn is_open(&self, c: Category) -> bool {
        matches!(self.verdict(c), Verdict::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_for_approval_holds_any_deletion() {
        let cfg = DeletionConfig::default();
        let d = cfg.gate(&GateCounts {
            deletions: 1,
            ..Default::default()
        });
        assert_eq!(d.deletions, Verdict::Held(HoldWhy::ApprovalRequired));
        assert!(
            cfg.gate(&GateCounts::default())
                .is_open(Category::Deletions)
        );
    }

    #[test]
    fn thresholds_are_exclusive_and_per_category() {
        let cfg = DeletionConfig::automatic(10);
        let d = cfg.gate(&GateCounts {
            deletions: 11,
            disables: 500,
            membership_removals: 501,
        });
        assert!(!d.is_open(Category::Deletions));
        assert!(d.is_open(Category::Disables));
        assert_eq!(
            d.membership_removals,
            Verdict::Held(HoldWhy::OverThreshold {
                count: 501,
                threshold: 500
            })
        );
    }

    #[test]
    fn percentages_kinds_and_groups() {
        let cfg = DeletionConfig {
            threshold_percent: Some(10.0),
            per_kind: PerKind {
                group: Some(Limit {
                    count: Some(1),
                    percent: None,
                }),
                ..PerKind::default()
            },
            per_group_removals: Some(Limit {
                count: None,
                percent: Some(50.0),
            }),
            ..DeletionConfig::automatic(500)
        };
        let totals = GateTotals {
            users: 100,
            groups: 10,
            contacts: 0,
            group_members: [(Guid::from_u128(1), 4), (Guid::from_u128(2), 100)]
                .into_iter()
                .collect(),
        };
        let user = GateItem {
            category: Category::Deletions,
            kind: ObjectKind::User,
            group: None,
        };
        // 11 of 110 synced objects is 10%: allowed; 12 is over.
        let (d, v) = cfg.decide(&[user; 11], &totals);
        assert!(d.is_open(Category::Deletions) && v.iter().all(|x| *x == Verdict::Open));
        let (d, _) = cfg.decide(&[user; 12], &totals);
        assert!(matches!(
            d.deletions,
            Verdict::Held(HoldWhy::OverPercent {
                count: 12,
                of: 110,
                ..
            })
        ));
        // two group deletions exceed the per-kind count of 1; the user's passes
        let group = GateItem {
            kind: ObjectKind::Group,
            ..user
        };
        let (_, v) = cfg.decide(&[group, group, user], &totals);
        assert!(matches!(v[0], Verdict::Held(_)) && v[2] == Verdict::Open);
        // 3 of group 1's 4 members (75%) is over 50%; 3 of group 2's 100 is not
        let rm = |g| GateItem {
            category: Category::MembershipRemovals,
            kind: ObjectKind::Group,
            group: Some(Guid::from_u128(g)),
        };
        let (_, v) = cfg.decide(&[rm(1), rm(1), rm(1), rm(2), rm(2), rm(2)], &totals);
        assert!(v[..3].iter().all(|x| matches!(x, Verdict::Held(_))));
        assert!(v[3..].iter().all(|x| *x == Verdict::Open));
    }

    #[test]
    fn range_is_validated() {
        assert!(DeletionConfig::automatic(10).validate("d").is_ok());
        assert!(DeletionConfig::automatic(100_000).validate("d").is_ok());
        assert!(DeletionConfig::automatic(9).validate("d").is_err());
        assert!(DeletionConfig::automatic(100_001).validate("d").is_err());
        let c = DeletionConfig {
            membership_removal_threshold: 0,
            ..DeletionConfig::default()
        };
        assert_eq!(
            c.validate("cfg").unwrap_err().field,
            "cfg.membershipRemovalThreshold"
        );
    }

    #[test]
    fn serde_defaults() {
        let c: DeletionConfig = serde_json::from_str(r#"{"policy":{"mode":"automatic"}}"#).unwrap();
        assert_eq!(c, DeletionConfig::automatic(500));
        let c: DeletionConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DeletionConfig::default());
    }
}
