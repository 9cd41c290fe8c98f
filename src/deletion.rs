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

/// The default threshold (objects per cycle).
pub const DEFAULT_THRESHOLD: u32 = 500;
/// The smallest threshold allowed.
pub const MIN_THRESHOLD: u32 = 10;
/// The largest threshold allowed.
pub const MAX_THRESHOLD: u32 = 100_000;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Default for DeletionConfig {
    fn default() -> DeletionConfig {
        DeletionConfig {
            policy: DeletionPolicy::HoldForApproval,
            disable_threshold: DEFAULT_THRESHOLD,
            membership_removal_threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// A deletion setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: threshold {value} is outside {MIN_THRESHOLD}..={MAX_THRESHOLD}")]
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
    /// assert_eq!(e.to_string(), "deletion.policy.threshold: threshold 5 is outside 10..=100000");
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl fmt::Display for HoldWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldWhy::ApprovalRequired => f.write_str("deletions are held for approval (policy)"),
            HoldWhy::OverThreshold { count, threshold } => {
                write!(f, "{count} exceed the threshold of {threshold} per cycle")
            }
        }
    }
}

/// The gate's verdict for one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "verdict")]
pub enum Verdict {
    /// The ops of this category may be applied.
    Open,
    /// The ops of this category are held.
    Held(HoldWhy),
}

/// The gate's decision for a cycle: part of the plan, visible before anything
/// is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
