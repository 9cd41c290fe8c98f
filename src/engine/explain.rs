//! `explain`: for one object, everything the engine decides about it and
//! why, computed the same way a plan computes it.

use serde::Serialize;

use crate::anchor::{self, Guid, MatchInput, MatchOutcome};
use crate::object::{AttrLookup, Value};
use crate::scope::{ScopeEnv, ScopedObject};
use crate::target::{TargetLookup, TargetOp, primary_smtp};
use crate::time::Timestamp;

use super::plan::{Desired, ObjectRow, TargetOracle, desired_of};
use super::{Engine, MirrorEntry};

/// One target attribute of an object and where its value comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeExplanation {
    /// The target attribute.
    pub target: String,
    /// The mapping (its path and source).
    pub mapping: String,
    /// The value the mapping gives now (`None`: no value / not flowing).
    pub value: Option<Vec<String>>,
    /// The value last exported.
    pub exported: Vec<String>,
}

/// How an object is or would be matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "how")]
pub enum MatchExplanation {
    /// Exported already (how it was first matched).
    Exported {
        /// The target id.
        target: String,
        /// How it was matched.
        matched: super::MatchedBy,
    },
    /// Not exported yet: what matching would do now.
    WouldMatch {
        /// `hard`, `soft on smtp`, `soft on upn`, `create`, or a conflict.
        outcome: String,
    },
    /// Not applicable (out of scope or gone).
    NotApplicable,
}

/// Everything about one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The object.
    pub object: Guid,
    /// Its DN.
    pub dn: Option<String>,
    /// Its kind.
    pub kind: String,
    /// In scope or not.
    pub in_scope: bool,
    /// The scoping rule that decided, in words.
    pub scope: String,
    /// Matching.
    pub matching: MatchExplanation,
    /// Mapped attributes (in scope only).
    pub attributes: Vec<AttributeExplanation>,
    /// A mapping error, if the object fails to map.
    pub mapping_error: Option<String>,
    /// The ops the next plan would make for it.
    pub pending_ops: Vec<TargetOp>,
    /// Held-set items waiting for a decision.
    pub held: Vec<u64>,
}

/// The mirror as the scope module sees it.
pub(super) struct MirrorEnv<'a>(pub(super) &'a super::Mirror);

impl ScopeEnv for MirrorEnv<'_> {
    fn container_dn(&self, guid: Guid) -> Option<&crate::dn::Dn> {
        self.0.get(&guid).map(|e| &e.dn)
    }
    fn guid_at(&self, dn: &crate::dn::Dn) -> Option<Guid> {
        self.0.guid_at(dn)
    }
    fn is_direct_member(&self, group: Guid, member: Guid) -> bool {
        self.0.is_direct_member(&group, &member)
    }
}

/// The scope decision for an object in the mirror: `Ok` in scope, `Err`
/// with the rule that excludes it.
pub(super) fn scope_decision(e: &Engine, g: &Guid, entry: &MirrorEntry) -> Result<(), String> {
    let obj = ScopedObject {
        guid: *g,
        dn: &entry.dn,
        kind: entry.kind,
        attrs: &entry.row,
    };
    let env = MirrorEnv(&e.st.mirror);
    if e.cfg.scope.evaluate(&obj, &env).is_in() {
        Ok(())
    } else {
        Err(e.cfg.scope.explain(&obj, &env).summary)
    }
}

pub(super) fn explain<T: TargetLookup + ?Sized>(
    e: &Engine,
    g: &Guid,
    now: Timestamp,
    target: &T,
) -> Option<Explanation> {
    let entry = e.st.mirror.get(g);
    let exported = e.st.exports.get(g);
    if entry.is_none() && exported.is_none() {
        return None;
    }
    let desired = desired_of(e, g);
    let scope = match (&desired, entry) {
        (_, Some(entry)) if entry.kind != crate::object::ObjectKind::Unsupported => {
            let obj = ScopedObject {
                guid: *g,
                dn: &entry.dn,
                kind: entry.kind,
                attrs: &entry.row,
            };
            e.cfg.scope.explain(&obj, &MirrorEnv(&e.st.mirror)).summary
        }
        (Desired::Unsupported(c), _) => format!("unsupported kind (objectClass {c})"),
        (Desired::Gone(c), _) => format!("gone from the source ({c:?})"),
        _ => String::new(),
    };
    let kind = entry
        .map(|x| x.kind)
        .or(exported.map(|x| x.kind))
        .unwrap_or(crate::object::ObjectKind::Unsupported);
    let mut attributes = Vec::new();
    let mut mapping_error = None;
    let mut upn = None;
    let mut smtp = None;
    if let (Desired::In, Some(entry), Some(mappings)) = (&desired, entry, e.cfg.mappings(kind)) {
        let oracle = TargetOracle { target };
        let mut ctx = crate::expr::EvalContext::new(now)
            .with_seed(super::plan::seed_of(*g))
            .with_default_domain(&e.cfg.source.tenant.default_domain)
            .with_oracle(&oracle);
        let row = ObjectRow {
            entry,
            dn_slot: e.cfg.table.get("distinguishedName"),
            guid_slot: e.cfg.table.get("objectGUID"),
            dn_value: Value::Dn(entry.dn.clone()),
            guid_value: Value::bytes(&g.to_ad_bytes()),
        };
        let mut flows = Vec::new();
        match mappings.evaluate(&row, &mut ctx, exported.is_none(), &mut flows) {
            Ok(()) => {
                for (i, f) in flows.iter().enumerate() {
                    let Some(t) = mappings.target(i) else {
                        continue;
                    };
                    let value = match f {
                        crate::mapping::Flow::Set(v) => {
                            Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>())
                        }
                        _ => None,
                    };
                    if t.name.is("UserPrincipalName") {
                        upn = value.as_ref().and_then(|v| v.first().cloned());
                    }
                    if t.name.is("ProxyAddresses") {
                        smtp = value.as_ref().and_then(|v| {
                            primary_smtp(v.iter().map(String::as_str)).map(str::to_owned)
                        });
                    }
                    attributes.push(AttributeExplanation {
                        target: t.name.to_string(),
                        mapping: mappings.describe(i).unwrap_or_default(),
                        value,
                        exported: exported
                            .map(|x| {
                                x.value(t.name.as_str())
                                    .iter()
                                    .map(|v| v.to_string())
                                    .collect()
                            })
                            .unwrap_or_default(),
                    });
                }
            }
            Err(f) => mapping_error = Some(f.to_string()),
        }
        let _ = row.values(e.cfg.slots.object_class);
    }
    let matching = match (exported, &desired) {
        (Some(x), _) => MatchExplanation::Exported {
            target: x.target.to_string(),
            matched: x.matched.clone(),
        },
        (None, Desired::In) => {
            let outcome = match super::plan_anchor(e, *g) {
                Err(msg) => format!("error: {msg}"),
                Ok(anchor) => {
                    let input = MatchInput {
                        kind,
                        anchor,
                        user_principal_name: upn.as_deref(),
                        primary_smtp: smtp.as_deref(),
                    };
                    match anchor::find_match(&input, target, &e.cfg.source.matching) {
                        MatchOutcome::Hard(t) => format!("hard match to {}", t.id),
                        MatchOutcome::Soft { target, on } => {
                            format!("soft match on {on} to {}", target.id)
                        }
                        MatchOutcome::Create => "create".to_owned(),
                        MatchOutcome::Conflict { code, message } => {
                            format!("conflict {code}: {message}")
                        }
                    }
                }
            };
            MatchExplanation::WouldMatch { outcome }
        }
        _ => MatchExplanation::NotApplicable,
    };
    let plan = e.plan_for(now, target, *g);
    let pending_ops = plan.ops.into_iter().filter(|o| o.object == *g).collect();
    let held =
        e.st.held
            .iter()
            .filter(|s| {
                s.status == super::HeldStatus::Held && s.items.iter().any(|i| i.key.object == *g)
            })
            .map(|s| s.id)
            .collect();
    Some(Explanation {
        object: *g,
        dn: e.dn_text(g),
        kind: kind.to_string(),
        in_scope: desired == Desired::In,
        scope,
        matching,
        attributes,
        mapping_error,
        pending_ops,
        held,
    })
}
