//! `explain`: the same walk as `evaluate`, recording every detail.
//!
//! Each step calls the very check `evaluate` calls and only then gathers
//! details for display, so an explanation can never disagree with the
//! decision.

use serde::Serialize;

use super::filter::{ClauseFail, CompiledClause, Operator, with_text};
use super::{
    BuiltinExclusion, CompiledScope, Container, ContainerId, Decision, OutReason, ScopeEnv,
    ScopedObject,
};
use crate::anchor::Guid;
use crate::dn::Dn;
use crate::object::{ObjectKind, Value};

/// At most this many values of one attribute are copied into an
/// explanation (a group's `member` can hold thousands).
const MAX_SHOWN_VALUES: usize = 16;

/// Why an object is in or out of scope, step by step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The object's objectGUID.
    pub guid: Guid,
    /// The object's DN.
    pub dn: Dn,
    /// The object's kind.
    pub kind: ObjectKind,
    /// Whether it is in scope (always `decision.is_in()`).
    pub in_scope: bool,
    /// The decision, exactly as [`CompiledScope::evaluate`] returns it.
    pub decision: Decision,
    /// One line for a log or a UI.
    pub summary: String,
    /// The rules checked, in order, up to the one that decided.
    pub steps: Vec<Step>,
}

/// How a container's current DN was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    /// Followed by objectGUID (a rename or move is followed).
    Guid,
    /// The configured DN (no GUID known, or the GUID is not in the directory).
    Dn,
}

/// An OU or group that took part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerTrace {
    /// Where it is configured (`scope.ous[0].exclude[1]`).
    pub path: String,
    /// The DN as configured.
    pub configured_dn: Dn,
    /// Its objectGUID, when known.
    pub guid: Option<Guid>,
    /// Where it is now.
    pub current_dn: Dn,
    /// How `current_dn` was found.
    pub tracked_by: Tracking,
}

/// The built-in exclusion that caught an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuiltinTrace {
    /// The rule.
    pub exclusion: BuiltinExclusion,
    /// The rule as the product writes it.
    pub rule: &'static str,
    /// What it keeps out.
    pub description: &'static str,
    /// The values it looked at.
    pub values: Vec<String>,
}

/// One group of an attribute filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTrace {
    /// The group's index.
    pub index: usize,
    /// Whether all its clauses held.
    pub passed: bool,
    /// The first clause that was false.
    pub failed_clause: Option<ClauseTrace>,
}

/// A clause that was false, and with what value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClauseTrace {
    /// Where it is configured (`scope.filters.user.groups[0][2]`).
    pub path: String,
    /// The attribute.
    pub attribute: String,
    /// The operator.
    pub operator: Operator,
    /// The clause values.
    pub values: Vec<String>,
    /// The object's values (secrets redacted, long lists cut).
    pub actual: Vec<String>,
    /// Why the clause is false.
    pub reason: String,
}

/// One rule checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// The object kind.
    Kind {
        /// Whether the kind is synced.
        passed: bool,
        /// Why.
        detail: String,
    },
    /// OU subtrees.
    Ou {
        /// Whether an include took the object.
        passed: bool,
        /// The include that took it (or whose exclude caught it).
        include: Option<ContainerTrace>,
        /// The exclude that caught it.
        excluded_by: Option<ContainerTrace>,
        /// How many includes are configured.
        includes: usize,
    },
    /// Scoping groups.
    Group {
        /// Whether the object is a direct member of a scoping group.
        passed: bool,
        /// The group it is a member of.
        group: Option<ContainerTrace>,
        /// How many groups are configured.
        groups: usize,
    },
    /// Built-in exclusions.
    Builtin {
        /// Whether no rule caught the object.
        passed: bool,
        /// The rule that caught it.
        failed: Option<BuiltinTrace>,
        /// How many rules apply to the kind.
        rules: usize,
    },
    /// The kind's attribute filter.
    Filter {
        /// Whether a group held.
        passed: bool,
        /// The group that held.
        matched_group: Option<usize>,
        /// The groups checked, in order.
        groups: Vec<GroupTrace>,
    },
}

fn trace(c: &Container, id: ContainerId, env: &impl ScopeEnv) -> ContainerTrace {
    let (current, tracked_by) = c.current(env);
    ContainerTrace {
        path: id.to_string(),
        configured_dn: c.dn.clone(),
        guid: c.guid,
        current_dn: current.clone(),
        tracked_by,
    }
}

fn shown(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .take(MAX_SHOWN_VALUES)
        .map(|v| v.to_string())
        .collect()
}

fn kind_plural(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "users",
        ObjectKind::Group => "groups",
        ObjectKind::Contact => "contacts",
        ObjectKind::Unsupported => "unsupported objects",
    }
}

fn where_(t: &ContainerTrace) -> String {
    match t.tracked_by {
        Tracking::Guid if t.current_dn != t.configured_dn => format!(
            "{} ({}, configured as {}, followed by objectGUID)",
            t.current_dn, t.path, t.configured_dn
        ),
        _ => format!("{} ({})", t.current_dn, t.path),
    }
}

impl CompiledScope {
    /// Explains the decision for an object: every rule checked, the one that
    /// decided, and with what values. Always agrees with [`evaluate`](CompiledScope::evaluate).
    pub fn explain(&self, obj: &ScopedObject<'_>, env: &impl ScopeEnv) -> Explanation {
        let mut steps = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let outcome = self.explain_walk(obj, env, &mut steps, &mut reasons);
        let decision = match outcome {
            Ok(()) => Decision::In,
            Err(r) => Decision::Out(r),
        };
        let summary = match outcome {
            Ok(()) if reasons.is_empty() => "in scope".to_owned(),
            Ok(()) => format!("in scope: {}", reasons.join("; ")),
            Err(_) => format!(
                "out of scope: {}",
                reasons.last().map(String::as_str).unwrap_or_default()
            ),
        };
        Explanation {
            guid: obj.guid,
            dn: obj.dn.clone(),
            kind: obj.kind,
            in_scope: decision.is_in(),
            decision,
            summary,
            steps,
        }
    }

    fn explain_walk(
        &self,
        obj: &ScopedObject<'_>,
        env: &impl ScopeEnv,
        steps: &mut Vec<Step>,
        reasons: &mut Vec<String>,
    ) -> Result<(), OutReason> {
        // kind
        let kind = self.check_kind(obj.kind);
        let detail = match kind {
            Err(OutReason::KindNeverSynced) => {
                format!(
                    "{} (computers, devices and others) are never synced",
                    kind_plural(obj.kind)
                )
            }
            Err(_) => format!("this configuration does not sync {}", kind_plural(obj.kind)),
            Ok(()) => format!("this configuration syncs {}", kind_plural(obj.kind)),
        };
        steps.push(Step::Kind {
            passed: kind.is_ok(),
            detail: detail.clone(),
        });
        if let Err(r) = kind {
            reasons.push(detail);
            return Err(r);
        }

        // OUs
        let ou = self.check_ous(obj, env);
        if !self.ous.is_empty() {
            let (include, excluded_by, reason) = match ou {
                Ok(Some(i)) => {
                    let t = self
                        .ous
                        .get(i)
                        .map(|o| trace(&o.include, ContainerId::Ou(i), env));
                    let r = t.as_ref().map(|t| format!("under {}", where_(t)));
                    (t, None, r)
                }
                Err(OutReason::ExcludedOu { include, exclude }) => {
                    let ou = self.ous.get(include);
                    let inc = ou.map(|o| trace(&o.include, ContainerId::Ou(include), env));
                    let ex = ou
                        .and_then(|o| o.excludes.get(exclude))
                        .map(|e| trace(e, ContainerId::OuExclude(include, exclude), env));
                    let r = ex
                        .as_ref()
                        .map(|t| format!("under excluded OU {}", where_(t)));
                    (inc, ex, r)
                }
                _ => (None, None, Some("not under any included OU".to_owned())),
            };
            steps.push(Step::Ou {
                passed: ou.is_ok(),
                include,
                excluded_by,
                includes: self.ous.len(),
            });
            reasons.extend(reason);
        }
        ou?;

        // groups
        let group = self.check_groups(obj, env);
        if !self.groups.is_empty() {
            let t = match group {
                Ok(Some(i)) => self.groups.get(i).map(|g| ContainerTrace {
                    // a group configured by DN only was found by its GUID there
                    guid: g.resolve_guid(env),
                    ..trace(g, ContainerId::Group(i), env)
                }),
                _ => None,
            };
            reasons.push(match &t {
                Some(t) => format!("direct member of {}", where_(t)),
                None => format!(
                    "not a direct member of any of the {} scoping group(s) (nested groups are not followed)",
                    self.groups.len()
                ),
            });
            steps.push(Step::Group {
                passed: group.is_ok(),
                group: t,
                groups: self.groups.len(),
            });
        }
        group?;

        // built-in exclusions
        if let Some(b) = &self.builtins {
            let result = b.check(obj.kind, obj.dn, obj.attrs);
            let failed = result.err().map(|(exclusion, _)| {
                let values = match exclusion {
                    BuiltinExclusion::ReplicationConflict => vec![obj.dn.to_string()],
                    _ => b
                        .slot(obj.kind, exclusion)
                        .map(|s| shown(obj.attrs.values(s)))
                        .unwrap_or_default(),
                };
                BuiltinTrace {
                    exclusion,
                    rule: exclusion.rule(),
                    description: exclusion.description(),
                    values,
                }
            });
            if let Some(f) = &failed {
                reasons.push(format!(
                    "built-in exclusion {} ({}), value {:?}",
                    f.rule,
                    f.description,
                    f.values.join(", ")
                ));
            }
            steps.push(Step::Builtin {
                passed: failed.is_none(),
                failed,
                rules: b.count(obj.kind),
            });
            result.map_err(|(e, _)| OutReason::Builtin(e))?;
        }

        // attribute filter
        let filter = self.check_filter(obj);
        if let Some(f) = self.filter(obj.kind) {
            let mut groups = Vec::new();
            for (gi, group) in f.groups.iter().enumerate() {
                let failed = group.iter().enumerate().find_map(|(ci, c)| {
                    c.with_values(obj.attrs, obj.dn, |values| {
                        c.eval(values, f.multivalued)
                            .err()
                            .map(|why| clause_trace(c, values, why, obj.kind, gi, ci))
                    })
                });
                let passed = failed.is_none();
                groups.push(GroupTrace {
                    index: gi,
                    passed,
                    failed_clause: failed,
                });
                if passed {
                    break;
                }
            }
            match filter {
                Ok(Some(g)) => reasons.push(format!("{} filter group {g} holds", obj.kind)),
                _ => reasons.push(format!(
                    "no group of the {} filter holds: {}",
                    obj.kind,
                    groups
                        .iter()
                        .filter_map(|g| g.failed_clause.as_ref())
                        .map(|c| {
                            let values: String =
                                c.values.iter().map(|v| format!(" {v:?}")).collect();
                            format!(
                                "{} ({} {}{values}): {}",
                                c.path, c.attribute, c.operator, c.reason
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
            steps.push(Step::Filter {
                passed: filter.is_ok(),
                matched_group: filter.ok().flatten(),
                groups,
            });
        }
        filter?;
        Ok(())
    }
}

fn clause_trace(
    c: &CompiledClause,
    values: &[Value],
    why: ClauseFail,
    kind: ObjectKind,
    gi: usize,
    ci: usize,
) -> ClauseTrace {
    let reason = match why {
        ClauseFail::Null => "attribute is absent or empty (only IS NULL holds then)".to_owned(),
        ClauseFail::NotNull => "attribute has a value".to_owned(),
        ClauseFail::Value(i) => {
            let v = values.get(i).map(|v| v.to_string()).unwrap_or_default();
            let kind_note = match c.operator {
                Operator::GreaterThan
                | Operator::GreaterThanOrEquals
                | Operator::BitAnd
                | Operator::BitNotAnd
                    if values.get(i).and_then(super::filter::as_int).is_none() =>
                {
                    " (not an integer)"
                }
                _ if values.get(i).and_then(|v| with_text(v, |_| ())).is_none() => {
                    " (no text form)"
                }
                _ => "",
            };
            if values.len() > 1 {
                format!("value {i} {v:?}{kind_note} does not satisfy it (every value must)")
            } else {
                format!("value {v:?}{kind_note} does not satisfy it")
            }
        }
        ClauseFail::NoValue => "no value satisfies it".to_owned(),
    };
    ClauseTrace {
        path: format!("scope.filters.{kind}.groups[{gi}][{ci}]"),
        attribute: c.attribute.to_string(),
        operator: c.operator,
        values: c.values.clone(),
        actual: shown(values),
        reason,
    }
}
