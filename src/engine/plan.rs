//! Planning one cycle: for every object due, decide its scope, match it on
//! first export, map its attributes and diff them against what was last
//! exported; then the direct memberships of the groups concerned; then the
//! deletion gate. Reads the engine, never changes it.

use std::collections::{HashMap, HashSet};

use crate::anchor::{self, Guid, ImmutableId, MatchInput, MatchOutcome, SourceAnchor};
use crate::deletion::{Category, GateItem, GateTotals, HoldWhy, Protection, Verdict};
use crate::expr::EvalContext;
use crate::log::{ErrorCategory, LogEntry, Outcome, SkipReason};
use crate::mapping::Flow;
use crate::object::{AttrLookup, AttrName, ObjectKind, SlotSet, Value, Values};
use crate::target::{
    Action, AttrChange, OpId, Reason, TargetId, TargetLookup, TargetOp, TargetRef, primary_smtp,
};
use crate::time::Timestamp;

use super::{
    Bookkeeping, Engine, ExportStatus, Exported, GateKey, GoneCause, HeldItem, HeldSet, HeldStatus,
    Plan, PlanStatus, entry, skipped,
};

/// What the configuration wants for an object now.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Desired {
    /// In scope.
    In,
    /// Out of scope, with the rule.
    Out(String),
    /// Never synchronized (objectClass).
    Unsupported(String),
    /// No longer in the source.
    Gone(GoneCause),
}

/// An op the deletion gate counts.
struct Gated {
    key: GateKey,
    op: TargetOp,
    dn: Option<String>,
}

pub(super) struct Planner<'a, T: ?Sized> {
    e: &'a Engine,
    now: Timestamp,
    target: &'a T,
    cycle: u64,
    next_op: u64,
    main: Vec<TargetOp>,
    members: Vec<TargetOp>,
    gated: Vec<Gated>,
    log: Vec<LogEntry>,
    book: Bookkeeping,
    desired: HashMap<Guid, Desired>,
    created: HashMap<Guid, OpId>,
    matched: HashMap<Guid, TargetId>,
    claimed: HashSet<TargetId>,
    groups: HashSet<Guid>,
    restored: HashSet<Guid>,
    failed: HashSet<Guid>,
    flows: Vec<Flow>,
    /// Per mapping, where its target attribute sits in the export's values.
    exported_at: Vec<u32>,
    /// Looked up once per plan, not once per object.
    default_domain: std::sync::Arc<str>,
    dn_slot: Option<crate::object::Slot>,
    guid_slot: Option<crate::object::Slot>,
}

impl<'a, T: TargetLookup + ?Sized> Planner<'a, T> {
    pub(super) fn new(e: &'a Engine, now: Timestamp, target: &'a T) -> Self {
        Planner {
            e,
            now,
            target,
            cycle: e.st.cycle + 1,
            next_op: e.st.next_op,
            main: Vec::new(),
            members: Vec::new(),
            gated: Vec::new(),
            log: Vec::new(),
            book: Bookkeeping::default(),
            desired: HashMap::new(),
            created: HashMap::new(),
            matched: HashMap::new(),
            claimed: HashSet::new(),
            groups: HashSet::new(),
            restored: HashSet::new(),
            failed: HashSet::new(),
            flows: Vec::new(),
            exported_at: Vec::new(),
            default_domain: std::sync::Arc::from(e.cfg.source.tenant.default_domain.as_str()),
            dn_slot: e.cfg.table.get("distinguishedName"),
            guid_slot: e.cfg.table.get("objectGUID"),
        }
    }

    pub(super) fn run(self) -> Plan {
        let mut due: Vec<(Guid, u64)> = self.e.st.due.iter().map(|(g, n)| (*g, *n)).collect();
        for (g, after) in &self.e.st.deprovision_after {
            if self.now >= *after && !self.e.st.due.contains_key(g) {
                due.push((*g, 0));
            }
        }
        due.sort_unstable();
        self.run_over(due)
    }

    /// Plans as if only `g` were due (for explain).
    pub(super) fn run_only(self, g: Guid) -> Plan {
        let generation = self.e.st.due.get(&g).copied().unwrap_or(0);
        self.run_over(vec![(g, generation)])
    }

    fn run_over(mut self, due: Vec<(Guid, u64)>) -> Plan {
        // member -> groups a crashed plan may have linked it to (empty
        // unless a crash left membership ops uncommitted).
        let mut unsure_groups_of: HashMap<Guid, Vec<Guid>> = HashMap::new();
        for (group, members) in &self.e.st.in_flight_members {
            for m in members {
                unsure_groups_of.entry(*m).or_default().push(*group);
            }
        }
        for (g, generation) in &due {
            self.book.processed.push((*g, *generation));
            self.object(*g);
            if let Some(entry) = self.e.st.mirror.get(g) {
                if entry.kind == ObjectKind::Group {
                    self.groups.insert(*g);
                }
            }
            if self.membership_may_change(g) {
                self.groups
                    .extend(self.e.st.mirror.groups_of(g).iter().copied());
                self.groups
                    .extend(self.e.exported_groups_of(g).iter().copied());
            } else {
                // Live and in scope before and now: see membership_may_change.
                for grp in self.e.st.mirror.groups_of(g) {
                    let agrees = self
                        .e
                        .st
                        .exports
                        .get(grp)
                        .is_none_or(|x| x.members.contains(g));
                    if !agrees {
                        self.groups.insert(*grp);
                    }
                }
                for grp in self.e.exported_groups_of(g) {
                    if !self.e.st.mirror.groups_of(g).contains(grp) {
                        self.groups.insert(*grp);
                    }
                }
            }
            if let Some(groups) = unsure_groups_of.get(g) {
                self.groups.extend(groups.iter().copied());
            }
        }
        let mut groups: Vec<Guid> = self.groups.iter().copied().collect();
        groups.sort_unstable();
        for g in groups {
            self.memberships(g);
        }
        self.finish()
    }

    /// Whether all the groups `g` is in must be planned again. A group's
    /// memberships depend on each member only through "is it in scope with
    /// a target object", so a member that was live and is still in scope
    /// with a target object changes no group by itself; for it `run_over`
    /// plans only the groups whose exported members disagree with the
    /// source's (a membership added while the member was out of scope with
    /// its deletion held leaves such a disagreement). Every other member
    /// (created, matched, deleted, leaving or entering scope, restored with
    /// memberships AD dropped, or uncertain after a crash) re-plans all its
    /// groups. Without this, one attribute change of a user in a 30-member
    /// group re-evaluated all 30 members' scope, and a batch touching most
    /// groups re-planned the whole directory's memberships.
    fn membership_may_change(&mut self, g: &Guid) -> bool {
        if self.restored.contains(g) || self.e.st.in_flight.contains_key(g) {
            return true;
        }
        let before = self
            .e
            .st
            .exports
            .get(g)
            .is_some_and(|x| x.status == ExportStatus::Active);
        let after = self.desired(g) == Desired::In && self.target_ref(g).is_some();
        !(before && after)
    }

    fn op(&mut self, object: Guid, kind: ObjectKind, action: Action, reason: Reason) -> TargetOp {
        let id = OpId(self.next_op);
        self.next_op += 1;
        TargetOp {
            id,
            object,
            kind,
            action,
            reason,
        }
    }

    fn dn(&self, g: &Guid) -> Option<String> {
        self.e.dn_text(g)
    }

    fn note(&mut self, g: Guid, kind: ObjectKind, outcome: Outcome) {
        let dn = self.dn(&g);
        self.log
            .push(entry(self.now, self.cycle, g, dn, kind, outcome));
    }

    fn planned(&mut self, op: TargetOp) {
        if matches!(op.action, Action::Restore { .. }) {
            self.restored.insert(op.object);
        }
        self.note(
            op.object,
            op.kind,
            Outcome::Planned {
                op: op.id,
                action: op.action.name().to_owned(),
            },
        );
        self.main.push(op);
    }

    fn fail(
        &mut self,
        g: Guid,
        kind: ObjectKind,
        category: ErrorCategory,
        code: Option<&str>,
        message: String,
        permanent: bool,
    ) {
        self.book.failed.push((g, permanent, message.clone()));
        self.failed.insert(g);
        self.note(
            g,
            kind,
            Outcome::Error {
                category,
                code: code.map(str::to_owned),
                message,
            },
        );
    }

    pub(super) fn desired(&mut self, g: &Guid) -> Desired {
        if let Some(d) = self.desired.get(g) {
            return d.clone();
        }
        let d = desired_of(self.e, g);
        self.desired.insert(*g, d.clone());
        d
    }

    fn object(&mut self, g: Guid) {
        let kind = self.kind_of(&g);
        if let Some(f) = self.e.st.failures.get(&g) {
            if f.quarantined {
                let last_error = f.last_error.clone();
                self.note(g, kind, skipped(SkipReason::Quarantined { last_error }));
                return;
            }
        }
        let desired = self.desired(&g);
        let exported = self.e.st.exports.get(&g);
        match (desired, exported) {
            (Desired::Unsupported(object_class), _) => {
                self.note(
                    g,
                    kind,
                    skipped(SkipReason::UnsupportedKind { object_class }),
                );
            }
            (Desired::In, None) => self.create_or_match(g, kind),
            (Desired::In, Some(x)) => self.update(g, kind, x),
            (Desired::Out(why), Some(x))
                if x.status == ExportStatus::Active || self.live(&g, x) =>
            {
                self.delete(g, x, Reason::LeftScope { why });
            }
            (Desired::Gone(cause), Some(x))
                if x.status == ExportStatus::Active || self.live(&g, x) =>
            {
                let reason = match cause {
                    GoneCause::Tombstone => Reason::DeletedInSource,
                    GoneCause::MissingFromFullRead => Reason::MissingFromFullRead,
                };
                self.delete(g, x, reason);
            }
            (Desired::Out(why), None) if self.orphan(g).is_some() => {
                self.delete_orphan(g, Reason::LeftScope { why });
            }
            (Desired::Gone(cause), None) if self.orphan(g).is_some() => {
                let reason = match cause {
                    GoneCause::Tombstone => Reason::DeletedInSource,
                    GoneCause::MissingFromFullRead => Reason::MissingFromFullRead,
                };
                self.delete_orphan(g, reason);
            }
            (Desired::Out(why), _) => {
                self.note(g, kind, skipped(SkipReason::OutOfScope { why }));
            }
            (Desired::Gone(_), _) => {
                self.book.forget.push(g);
            }
        }
    }

    /// Whether the target object of an export is live. After a crash the
    /// export state may miss a restore the target did, so an object with
    /// uncommitted ops is looked up. (A delete it missed is planned again:
    /// deleting a soft-deleted object is a no-op that fixes the record.)
    fn live(&self, g: &Guid, x: &Exported) -> bool {
        match self.unsure_deleted(g, x) {
            Some(deleted) => !deleted,
            None => x.status == ExportStatus::Active,
        }
    }

    /// For an object with uncommitted ops: whether its target object is
    /// soft-deleted (`None`: no uncommitted ops, or not found).
    fn unsure_deleted(&self, g: &Guid, x: &Exported) -> Option<bool> {
        if !self.e.st.in_flight.contains_key(g) {
            return None;
        }
        self.target
            .find_by_immutable_id(&x.anchor)
            .filter(|t| t.id == x.target)
            .map(|t| t.deleted)
    }

    /// A live target object that an uncommitted (crashed) cycle may have
    /// created for `g`: found by the anchor recorded before applying.
    fn orphan(&self, g: Guid) -> Option<crate::target::TargetObject> {
        let anchor = self.e.st.in_flight.get(&g)?;
        self.target
            .find_by_immutable_id(anchor)
            .filter(|t| !t.deleted)
    }

    fn delete_orphan(&mut self, g: Guid, reason: Reason) {
        let Some(t) = self.orphan(g) else { return };
        let x = Exported {
            target: t.id,
            anchor: t.immutable_id.unwrap_or_else(|| g.immutable_id()),
            kind: t.kind,
            values: Vec::new(),
            members: Vec::new(),
            status: ExportStatus::Active,
            matched: super::MatchedBy::HardMatch,
            in_sync: false,
        };
        self.delete(g, &x, reason);
    }

    fn kind_of(&self, g: &Guid) -> ObjectKind {
        self.e
            .st
            .mirror
            .get(g)
            .map(|e| e.kind)
            .or_else(|| self.e.st.gone.get(g).map(|x| x.kind))
            .or_else(|| self.e.st.exports.get(g).map(|x| x.kind))
            .unwrap_or(ObjectKind::Unsupported)
    }

    fn anchor(&self, g: Guid) -> Result<ImmutableId, String> {
        anchor_of(self.e, g)
    }

    /// Evaluates the kind's mappings into `self.flows`: all of them, or
    /// with `changed`, those that read a changed attribute (see
    /// [`crate::mapping::CompiledMappings::evaluate_changed`]).
    fn map(
        &mut self,
        g: Guid,
        kind: ObjectKind,
        creating: bool,
        changed: Option<&SlotSet>,
    ) -> Result<(), (ErrorCategory, String)> {
        let Some(mappings) = self.e.cfg.mappings(kind) else {
            return Err((ErrorCategory::Other, format!("no mappings for kind {kind}")));
        };
        let Some(entry) = self.e.st.mirror.get(&g) else {
            return Err((ErrorCategory::Other, "object is not in the mirror".into()));
        };
        let oracle = TargetOracle {
            target: self.target,
        };
        let mut ctx = EvalContext::new(self.now)
            .with_seed(seed_of(g))
            .with_oracle(&oracle);
        ctx.default_domain = Some(self.default_domain.clone());
        let row = ObjectRow {
            entry,
            dn_slot: self.dn_slot,
            guid_slot: self.guid_slot,
            guid_value: Value::bytes(&g.to_ad_bytes()),
            dn_value: Value::Dn(entry.dn.clone()),
        };
        let mut flows = std::mem::take(&mut self.flows);
        let r = match changed {
            Some(c) => mappings.evaluate_changed(&row, &mut ctx, c, &mut flows),
            None => mappings.evaluate(&row, &mut ctx, creating, &mut flows),
        };
        if r.is_ok() {
            self.resolve_references(g, mappings, &mut flows);
        }
        self.flows = flows;
        r.map_err(|f| {
            let cat = if f.format {
                ErrorCategory::AttributeFormat
            } else {
                ErrorCategory::Mapping
            };
            (cat, f.to_string())
        })
    }

    /// Reference attributes (manager, assistant, ...) arrive as source DNs;
    /// the target needs the referenced object's target id. A reference to an
    /// object not exported yet flows once it is: the pair is recorded and
    /// commit marks the referrer due when the referenced object is exported.
    /// A reference to an object outside this source flows nothing.
    fn resolve_references(
        &mut self,
        g: Guid,
        mappings: &crate::mapping::CompiledMappings,
        flows: &mut [Flow],
    ) {
        for (i, f) in flows.iter_mut().enumerate() {
            let Some(t) = mappings.target(i) else {
                continue;
            };
            if t.ty != crate::mapping::TargetType::Reference {
                continue;
            }
            let Flow::Set(values) = f else { continue };
            let mut out = Values::new();
            for v in values.iter() {
                let Value::Dn(d) = v else { continue };
                let Some(referenced) = self.e.st.mirror.guid_at(d) else {
                    continue;
                };
                match self.e.st.exports.get(&referenced) {
                    Some(x) if x.status == ExportStatus::Active => {
                        out.push(Value::str(x.target.as_str()));
                    }
                    _ => self.book.waiting_refs.push((g, referenced)),
                }
            }
            *f = if out.is_empty() {
                Flow::Unset
            } else {
                Flow::Set(out)
            };
        }
    }

    fn mapped_attributes(&self, kind: ObjectKind) -> Vec<(AttrName, Values)> {
        let Some(m) = self.e.cfg.mappings(kind) else {
            return Vec::new();
        };
        self.flows
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Flow::Set(v) => Some((m.target(i)?.name.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    fn create_or_match(&mut self, g: Guid, kind: ObjectKind) {
        let anchor = match self.anchor(g) {
            Ok(a) => a,
            Err(msg) => {
                self.fail(g, kind, ErrorCategory::Anchor, None, msg, true);
                return;
            }
        };
        if let Err((cat, msg)) = self.map(g, kind, true, None) {
            self.fail(g, kind, cat, None, msg, true);
            return;
        }
        let attributes = self.mapped_attributes(kind);
        // Mapped strings are borrowed; another value's text is rendered.
        fn text(v: &Value) -> std::borrow::Cow<'_, str> {
            v.as_str()
                .map_or_else(|| v.to_string().into(), std::borrow::Cow::Borrowed)
        }
        let upn = attributes
            .iter()
            .find(|(n, _)| n.is("UserPrincipalName"))
            .and_then(|(_, v)| v.first())
            .map(text);
        let proxies: Vec<std::borrow::Cow<'_, str>> = attributes
            .iter()
            .find(|(n, _)| n.is("ProxyAddresses"))
            .map(|(_, v)| v.iter().map(text).collect())
            .unwrap_or_default();
        let smtp = primary_smtp(proxies.iter().map(|p| &**p)).map(str::to_owned);
        let input = MatchInput {
            kind,
            anchor,
            user_principal_name: upn.as_deref(),
            primary_smtp: smtp.as_deref(),
        };
        let outcome = anchor::find_match(&input, self.target, &self.e.cfg.source.matching);
        let (target_obj, reason) = match outcome {
            MatchOutcome::Create => {
                let op = self.op(
                    g,
                    kind,
                    Action::Create { anchor, attributes },
                    Reason::NewObject,
                );
                self.created.insert(g, op.id);
                self.book.in_sync.insert(g);
                let id = op.id;
                self.planned(op);
                self.password(g, kind, TargetRef::CreatedBy(id));
                return;
            }
            MatchOutcome::Conflict { code, message } => {
                self.fail(g, kind, ErrorCategory::Conflict, Some(code), message, true);
                return;
            }
            MatchOutcome::Hard(t) => (t, Reason::HardMatch),
            MatchOutcome::Soft { target, on } => (target, Reason::SoftMatch { on: on.to_owned() }),
        };
        // One target object is one source object's.
        let taken_by_other = self
            .e
            .object_of(&target_obj.id)
            .is_some_and(|other| other != g);
        if taken_by_other || !self.claimed.insert(target_obj.id.clone()) {
            self.fail(
                g,
                kind,
                ErrorCategory::Conflict,
                Some("AttributeValueMustBeUnique"),
                format!(
                    "target object {} is already tied to another source object",
                    target_obj.id
                ),
                true,
            );
            return;
        }
        if target_obj.deleted {
            let op = self.op(
                g,
                kind,
                Action::Restore {
                    target: target_obj.id.clone(),
                },
                Reason::BackInScope,
            );
            self.planned(op);
        }
        let changes = attributes
            .into_iter()
            .map(|(name, to)| AttrChange {
                name,
                from: Values::new(),
                to,
            })
            .collect();
        let op = self.op(
            g,
            kind,
            Action::StampAnchor {
                target: target_obj.id.clone(),
                anchor,
                changes,
            },
            reason,
        );
        self.matched.insert(g, target_obj.id.clone());
        self.planned(op);
        self.password(g, kind, TargetRef::Id(target_obj.id));
    }

    fn password(&mut self, g: Guid, kind: ObjectKind, target: TargetRef) {
        if kind != ObjectKind::User {
            return;
        }
        if let Some(hash) = self.e.secret(&g) {
            let op = self.op(
                g,
                kind,
                Action::SetPasswordHash {
                    target,
                    hash: hash.clone(),
                },
                Reason::PasswordChanged,
            );
            self.planned(op);
        }
    }

    fn update(&mut self, g: Guid, kind: ObjectKind, x: &Exported) {
        match self.anchor(g) {
            Ok(a) if a == x.anchor => {}
            Ok(a) => {
                self.fail(
                    g,
                    kind,
                    ErrorCategory::Anchor,
                    None,
                    format!(
                        "source anchor changed after export from {} to {a}: the object is not re-created",
                        x.anchor
                    ),
                    true,
                );
                return;
            }
            Err(msg) => {
                self.fail(g, kind, ErrorCategory::Anchor, None, msg, true);
                return;
            }
        }
        let uncertain = self.e.st.in_flight.contains_key(&g);
        // After a crash the export state may miss a delete the target did:
        // a soft-deleted target object is restored before it is written.
        let restoring =
            x.status == ExportStatus::Deleted || self.unsure_deleted(&g, x) == Some(true);
        if self.e.st.deprovision_after.contains_key(&g) {
            // Back in scope within the grace period: the mapping re-enables it.
            self.book.deprovision_cancelled.push(g);
        }
        // Only attributes were modified since an export that holds every
        // mapping's flow: the mappings that read none of them are skipped.
        let changed = self
            .e
            .changed_slots(&g)
            .filter(|_| x.in_sync && !uncertain && !restoring)
            .filter(|_| !self.e.st.deprovision_after.contains_key(&g));
        if let Err((cat, msg)) = self.map(g, kind, restoring, changed) {
            self.fail(g, kind, cat, None, msg, true);
            return;
        }
        let Some(mappings) = self.e.cfg.mappings(kind) else {
            return;
        };
        let at = &mut self.exported_at;
        if changed.is_none() {
            locate_exported(mappings, x, at);
        }
        let mut changes = Vec::new();
        for (i, f) in self.flows.iter().enumerate() {
            if matches!(f, Flow::Ignore) {
                continue;
            }
            let Some(t) = mappings.target(i) else {
                continue;
            };
            let from = match at.get(i) {
                Some(&j) if changed.is_none() => x
                    .values
                    .get(j as usize)
                    .map_or(&[][..], |(_, v)| v.as_slice()),
                _ => x.value(t.name.as_str()),
            };
            match f {
                // After a crash the target may hold anything: write it all.
                Flow::Set(v) if uncertain => changes.push(AttrChange {
                    name: t.name.clone(),
                    from: from.iter().cloned().collect(),
                    to: v.clone(),
                }),
                Flow::Unset if uncertain => changes.push(AttrChange {
                    name: t.name.clone(),
                    from: from.iter().cloned().collect(),
                    to: Values::new(),
                }),
                Flow::Set(v) if v.as_slice() != from => changes.push(AttrChange {
                    name: t.name.clone(),
                    from: from.iter().cloned().collect(),
                    to: v.clone(),
                }),
                Flow::Unset if !from.is_empty() => changes.push(AttrChange {
                    name: t.name.clone(),
                    from: from.iter().cloned().collect(),
                    to: Values::new(),
                }),
                _ => {}
            }
        }
        let target = TargetRef::Id(x.target.clone());
        if restoring {
            let op = self.op(
                g,
                kind,
                Action::Restore {
                    target: x.target.clone(),
                },
                Reason::BackInScope,
            );
            self.planned(op);
        }
        // A disable (AccountEnabled true -> false) is gated on its own.
        let disable_at = changes.iter().position(|c| {
            c.name.is("AccountEnabled")
                && c.from.first() == Some(&Value::Bool(true))
                && c.to.first() == Some(&Value::Bool(false))
        });
        if let Some(i) = disable_at.filter(|_| !restoring) {
            let c = changes.remove(i);
            let op = self.op(
                g,
                kind,
                Action::Update {
                    target: target.clone(),
                    changes: vec![c],
                },
                Reason::AttributesChanged,
            );
            let dn = self.dn(&g);
            self.gated.push(Gated {
                key: GateKey {
                    object: g,
                    member: None,
                    category: Category::Disables,
                },
                op,
                dn,
            });
        }
        if disable_at.is_none() {
            self.book.in_sync.insert(g);
        }
        if !changes.is_empty() {
            let op = self.op(
                g,
                kind,
                Action::Update {
                    target: target.clone(),
                    changes,
                },
                Reason::AttributesChanged,
            );
            self.planned(op);
        } else if disable_at.is_none() && !restoring && self.e.secret(&g).is_none() {
            self.note(g, kind, skipped(SkipReason::Unchanged));
        }
        self.password(g, kind, target);
    }

    fn delete(&mut self, g: Guid, x: &Exported, reason: Reason) {
        let grace = self.e.cfg.source.deletion.grace_period_secs;
        let pending = self.e.st.deprovision_after.get(&g).copied();
        let (action, reason, category) = match (grace, pending) {
            // Grace-period deprovisioning: disable first (users only).
            (Some(secs), None) if x.kind == ObjectKind::User => {
                let from: Values = x.value("AccountEnabled").iter().cloned().collect();
                let secs = i64::try_from(secs).unwrap_or(i64::MAX);
                (
                    Action::Update {
                        target: TargetRef::Id(x.target.clone()),
                        changes: vec![AttrChange {
                            name: AttrName::new("AccountEnabled"),
                            from,
                            to: std::iter::once(Value::Bool(false)).collect(),
                        }],
                    },
                    Reason::GraceDisable {
                        why: reason.to_string(),
                        delete_after: self.now.add_secs(secs),
                    },
                    Category::Disables,
                )
            }
            (_, Some(after)) if self.now < after => {
                self.note(
                    g,
                    x.kind,
                    skipped(SkipReason::Waiting {
                        what: format!("grace period: disabled, deleted after {after}"),
                    }),
                );
                return;
            }
            (_, Some(_)) => (
                Action::Delete {
                    target: x.target.clone(),
                },
                Reason::GracePeriodEnded,
                Category::Deletions,
            ),
            _ => (
                Action::Delete {
                    target: x.target.clone(),
                },
                reason,
                Category::Deletions,
            ),
        };
        let op = self.op(g, x.kind, action, reason);
        let dn = self.dn(&g);
        self.gated.push(Gated {
            key: GateKey {
                object: g,
                member: None,
                category,
            },
            op,
            dn,
        });
    }

    /// The target reference of an object that is or will be exported.
    fn target_ref(&self, g: &Guid) -> Option<TargetRef> {
        if let Some(op) = self.created.get(g) {
            return Some(TargetRef::CreatedBy(*op));
        }
        if let Some(id) = self.matched.get(g) {
            return Some(TargetRef::Id(id.clone()));
        }
        match self.e.st.exports.get(g) {
            Some(x) if x.status == ExportStatus::Active || self.restoring(g) => {
                Some(TargetRef::Id(x.target.clone()))
            }
            _ => None,
        }
    }

    fn restoring(&self, g: &Guid) -> bool {
        self.restored.contains(g)
    }

    fn memberships(&mut self, group: Guid) {
        if self.desired(&group) != Desired::In {
            return;
        }
        if self.failed.contains(&group) {
            return;
        }
        let Some(group_ref) = self.target_ref(&group) else {
            return;
        };
        let Some(entry) = self.e.st.mirror.get(&group) else {
            return;
        };
        // A group restored by this plan comes back with the members it had
        // when it was deleted (the target keeps them): diff against those.
        let exported: Vec<Guid> = self
            .e
            .st
            .exports
            .get(&group)
            .filter(|x| x.status == ExportStatus::Active || self.restoring(&group))
            .map(|x| x.members.clone())
            .unwrap_or_default();
        let mut wanted: Vec<(Guid, TargetRef)> = Vec::new();
        let source_members = entry.members.clone();
        let mut skipped_members = 0usize;
        for m in &source_members {
            if self.desired(m) != Desired::In {
                skipped_members += 1;
                continue;
            }
            if let Some(r) = self.target_ref(m) {
                wanted.push((*m, r));
            }
        }
        if skipped_members > 0 {
            // Only members in scope are exported; say how many were not.
            self.note(
                group,
                ObjectKind::Group,
                skipped(SkipReason::MembersOutOfScope {
                    count: skipped_members,
                }),
            );
        }
        // Members a crashed plan may have added or removed: unknown in the
        // target, so added when wanted and removed when not. (One whose
        // link is dormant stays unknown until it is restored.)
        let no_unsure = HashSet::new();
        let unsure = self
            .e
            .st
            .in_flight_members
            .get(&group)
            .unwrap_or(&no_unsure);
        for (m, r) in &wanted {
            if !exported.contains(m) || unsure.contains(m) {
                let op = self.op(
                    group,
                    ObjectKind::Group,
                    Action::AddMember {
                        group: group_ref.clone(),
                        member: r.clone(),
                    },
                    Reason::Membership,
                );
                let _ = m;
                self.note(
                    group,
                    ObjectKind::Group,
                    Outcome::Planned {
                        op: op.id,
                        action: op.action.name().to_owned(),
                    },
                );
                self.members.push(op);
            }
        }
        let mut candidates = exported;
        let mut more: Vec<Guid> = unsure
            .iter()
            .filter(|m| !candidates.contains(m))
            .copied()
            .collect();
        // Sorted: a plan never depends on a hash order.
        more.sort_unstable();
        candidates.append(&mut more);
        for m in candidates {
            if wanted.iter().any(|(w, _)| *w == m) {
                continue;
            }
            // A member that leaves scope is deleted (or its deletion held);
            // the target drops the membership with the object.
            let member_leaving = match self.desired(&m) {
                Desired::In => false,
                _ => self
                    .e
                    .st
                    .exports
                    .get(&m)
                    .is_some_and(|x| x.status == ExportStatus::Active),
            };
            if member_leaving {
                continue;
            }
            // A soft-deleted member's link is dormant (the target hides it and
            // refuses to change it); it is removed once the member is restored.
            // An object this plan creates has no link to remove.
            let Some(TargetRef::Id(member_id)) = self.target_ref(&m) else {
                continue;
            };
            let member_ref = TargetRef::Id(member_id);
            let op = self.op(
                group,
                ObjectKind::Group,
                Action::RemoveMember {
                    group: group_ref.clone(),
                    member: member_ref,
                },
                Reason::Membership,
            );
            let dn = self.dn(&group);
            self.gated.push(Gated {
                key: GateKey {
                    object: group,
                    member: Some(m),
                    category: Category::MembershipRemovals,
                },
                op,
                dn,
            });
        }
    }

    /// A hold that applies to one item whatever the counts: protected
    /// objects, and deletions inferred from a full read that looks short.
    fn pre_hold(&self, g: &Gated) -> Option<HoldWhy> {
        if g.key.category == Category::MembershipRemovals {
            return None;
        }
        let cfg = &self.e.cfg;
        let anchor = self.e.st.exports.get(&g.key.object).map(|x| x.anchor);
        let dn = self
            .e
            .st
            .mirror
            .get(&g.key.object)
            .map(|x| &x.dn)
            .or_else(|| self.e.st.gone.get(&g.key.object).map(|x| &x.dn));
        let row = self
            .e
            .st
            .mirror
            .get(&g.key.object)
            .map(|x| &x.row)
            .or_else(|| self.e.st.gone.get(&g.key.object).map(|x| &x.row));
        for (i, p) in cfg.source.deletion.protected.iter().enumerate() {
            let hit = match p {
                Protection::Anchor { anchor: a } => anchor.as_ref() == Some(a),
                Protection::Subtree { dn: root } => dn.is_some_and(|d| d.is_under(root)),
                Protection::Attribute { attribute, values } => {
                    match (cfg.table.get(attribute), row) {
                        (Some(slot), Some(row)) => row.values(slot).iter().any(|v| {
                            let text = v.to_string();
                            values.iter().any(|w| w.eq_ignore_ascii_case(&text))
                        }),
                        _ => false,
                    }
                }
                Protection::Filter { .. } => {
                    let scope = cfg.protected_filters.iter().find(|(j, _)| *j == i);
                    match (scope, row, dn) {
                        (Some((_, scope)), Some(row), Some(dn)) => {
                            let obj =
                                crate::scope::ScopedObject::new(g.key.object, dn, g.op.kind, row);
                            scope
                                .evaluate(&obj, &super::explain::MirrorEnv(&self.e.st.mirror))
                                .is_in()
                        }
                        _ => false,
                    }
                }
            };
            if hit {
                return Some(HoldWhy::Protected {
                    rule: protection_text(p),
                });
            }
        }
        if g.key.category == Category::Deletions {
            if let (Some(gone), Some((read, last))) =
                (self.e.st.gone.get(&g.key.object), self.e.st.suspect_read)
            {
                let by_absence = gone.cause == GoneCause::MissingFromFullRead;
                if by_absence || cfg.source.deletion.source_health.tombstones_too {
                    return Some(HoldWhy::SourceReadIncomplete { read, last });
                }
            }
        }
        None
    }

    /// What the gate's percentages are of.
    fn totals(&self, gated: &[Gated]) -> GateTotals {
        let (users, groups, contacts) = self.e.active_counts();
        // The counters are kept by commit; every debug test re-derives them.
        #[cfg(debug_assertions)]
        {
            let live = |k: ObjectKind| {
                self.e
                    .st
                    .exports
                    .values()
                    .filter(|x| x.status == ExportStatus::Active && x.kind == k)
                    .count() as u32
            };
            debug_assert_eq!(
                (users, groups, contacts),
                (
                    live(ObjectKind::User),
                    live(ObjectKind::Group),
                    live(ObjectKind::Contact)
                ),
                "live export counters disagree with the export state"
            );
        }
        let mut t = GateTotals {
            users,
            groups,
            contacts,
            ..GateTotals::default()
        };
        for g in gated {
            if g.key.member.is_some() {
                let n = self
                    .e
                    .st
                    .exports
                    .get(&g.key.object)
                    .map(|x| x.members.len() as u32)
                    .unwrap_or(0);
                t.group_members.insert(g.key.object, n);
            }
        }
        t
    }

    fn finish(mut self) -> Plan {
        let st = &self.e.st;
        let approved: HashSet<GateKey> = st.approved.iter().copied().collect();
        let rejected: HashSet<GateKey> = st.rejected.iter().copied().collect();
        let already_held: HashMap<GateKey, u64> = st
            .held
            .iter()
            .filter(|s| s.status == HeldStatus::Held)
            .flat_map(|s| s.items.iter().map(move |i| (i.key, s.id)))
            .collect();
        // Items the gate counts: not rejected, not already held, not
        // approved; protected objects and deletions from a suspect read are
        // held before counting.
        let gated = std::mem::take(&mut self.gated);
        let mut pre: Vec<Option<HoldWhy>> = Vec::with_capacity(gated.len());
        let mut items = Vec::new();
        let mut item_of = Vec::with_capacity(gated.len());
        for g in &gated {
            let free = !approved.contains(&g.key)
                && !rejected.contains(&g.key)
                && !already_held.contains_key(&g.key);
            let hold = if free { self.pre_hold(g) } else { None };
            if free && hold.is_none() {
                item_of.push(Some(items.len()));
                items.push(GateItem {
                    category: g.key.category,
                    kind: g.op.kind,
                    group: g.key.member.map(|_| g.key.object),
                });
            } else {
                item_of.push(None);
            }
            pre.push(hold);
        }
        let totals = self.totals(&gated);
        let (decision, verdicts) = self.e.cfg.source.deletion.decide(&items, &totals);
        let mut next_held = st.next_held;
        let mut new_sets: Vec<HeldSet> = Vec::new();
        let mut deletes = Vec::new();
        let mut removals = Vec::new();
        for (idx, g) in gated.into_iter().enumerate() {
            let kind = g.op.kind;
            let object = g.key.object;
            let verdict = match (&pre[idx], item_of[idx]) {
                (Some(why), _) => Verdict::Held(why.clone()),
                (None, Some(i)) => verdicts.get(i).cloned().unwrap_or(Verdict::Open),
                (None, None) => Verdict::Open,
            };
            let emit = if rejected.contains(&g.key) {
                self.note(object, kind, skipped(SkipReason::DeletionRejected));
                false
            } else if let Some(id) = already_held.get(&g.key) {
                self.note(
                    object,
                    kind,
                    skipped(SkipReason::HeldForApproval {
                        why: format!("waiting for a decision on held set {id}"),
                    }),
                );
                false
            } else if approved.contains(&g.key) {
                self.book.approvals_used.push(g.key);
                true
            } else {
                match verdict {
                    Verdict::Open => true,
                    Verdict::Held(why) => {
                        let set = match new_sets
                            .iter_mut()
                            .position(|s| s.category == g.key.category && s.why == why)
                        {
                            Some(i) => &mut new_sets[i],
                            None => {
                                new_sets.push(HeldSet {
                                    id: next_held,
                                    category: g.key.category,
                                    why: why.clone(),
                                    items: Vec::new(),
                                    created: self.now,
                                    status: HeldStatus::Held,
                                });
                                next_held += 1;
                                let last = new_sets.len() - 1;
                                &mut new_sets[last]
                            }
                        };
                        let why_text = format!("{}: {}", g.key.category, why);
                        let set_id = set.id;
                        set.items.push(HeldItem {
                            key: g.key,
                            dn: g.dn.clone(),
                            op: g.op.clone(),
                        });
                        self.note(
                            object,
                            kind,
                            skipped(SkipReason::HeldForApproval {
                                why: format!("{why_text} (held set {set_id})"),
                            }),
                        );
                        false
                    }
                }
            };
            if emit {
                self.note(
                    object,
                    kind,
                    Outcome::Planned {
                        op: g.op.id,
                        action: g.op.action.name().to_owned(),
                    },
                );
                match g.key.category {
                    Category::Deletions => deletes.push(g.op),
                    Category::Disables => self.main.push(g.op),
                    Category::MembershipRemovals => removals.push(g.op),
                }
            }
        }
        let mut ops = std::mem::take(&mut self.main);
        ops.append(&mut self.members);
        ops.append(&mut removals);
        ops.append(&mut deletes);
        let held_total: usize = new_sets.iter().map(|s| s.items.len()).sum::<usize>()
            + st.held
                .iter()
                .filter(|s| s.status == HeldStatus::Held)
                .map(|s| s.items.len())
                .sum::<usize>();
        let status = if held_total > 0 {
            PlanStatus::Paused { held: held_total }
        } else {
            PlanStatus::Ready
        };
        self.book.committed = self.e.working.clone();
        self.book.batches = self.e.staged;
        self.book.next_op = self.next_op;
        self.book.next_held = next_held;
        Plan {
            cycle: self.cycle,
            at: self.now,
            ops,
            log: self.log,
            gate: decision,
            held: new_sets,
            status,
            watermark: self.e.working.watermark.clone(),
            book: self.book,
        }
    }
}

/// The anchor of an object in the mirror.
pub(crate) fn anchor_of(e: &Engine, g: Guid) -> Result<ImmutableId, String> {
    let Some(entry) = e.st.mirror.get(&g) else {
        return Err("object is not in the mirror".into());
    };
    let values = entry.row.values(e.cfg.slots.consistency_guid);
    let bytes = match values {
        [] => None,
        [Value::Bytes(b)] => Some(&b[..]),
        [other] => {
            return Err(format!(
                "ms-DS-ConsistencyGuid holds a {} value, expected 16 bytes",
                other.kind_name()
            ));
        }
        many => {
            return Err(format!(
                "ms-DS-ConsistencyGuid holds {} values, expected one",
                many.len()
            ));
        }
    };
    SourceAnchor::resolve(g, bytes)
        .map(|a| a.immutable_id)
        .map_err(|e| e.to_string())
}

fn protection_text(p: &Protection) -> String {
    match p {
        Protection::Anchor { anchor } => format!("anchor {anchor}"),
        Protection::Subtree { dn } => format!("subtree {dn}"),
        Protection::Attribute { attribute, values } => {
            format!("{attribute} in {values:?}")
        }
        Protection::Filter { .. } => "protection filter".to_owned(),
    }
}

/// What the configuration wants for an object (no caching).
pub(super) fn desired_of(e: &Engine, g: &Guid) -> Desired {
    let Some(entry) = e.st.mirror.get(g) else {
        let cause =
            e.st.gone
                .get(g)
                .map(|x| x.cause)
                .unwrap_or(GoneCause::Tombstone);
        return Desired::Gone(cause);
    };
    if entry.kind == ObjectKind::Unsupported {
        return Desired::Unsupported(entry.object_class.clone());
    }
    match super::explain::scope_decision(e, g, entry) {
        Ok(()) => Desired::In,
        Err(why) => Desired::Out(why),
    }
}

/// A deterministic seed per object, so `Guid()` and `RandomString()` give the
/// same values when the same object is planned again.
pub(super) fn seed_of(g: Guid) -> u64 {
    let b = g.as_rfc_bytes();
    let mut s = 0u64;
    for (i, x) in b.iter().enumerate() {
        s ^= u64::from(*x) << ((i % 8) * 8);
    }
    s
}

/// An object's values by slot, with `distinguishedName` and `objectGUID`
/// supplied from the mirror entry itself (AD does not send them as
/// attributes in every read).
pub(super) struct ObjectRow<'a> {
    pub(super) entry: &'a super::MirrorEntry,
    pub(super) dn_slot: Option<crate::object::Slot>,
    pub(super) guid_slot: Option<crate::object::Slot>,
    pub(super) dn_value: Value,
    pub(super) guid_value: Value,
}

impl AttrLookup for ObjectRow<'_> {
    fn values(&self, slot: crate::object::Slot) -> &[Value] {
        let v = self.entry.row.values(slot);
        if !v.is_empty() {
            return v;
        }
        if Some(slot) == self.dn_slot {
            return std::slice::from_ref(&self.dn_value);
        }
        if Some(slot) == self.guid_slot {
            return std::slice::from_ref(&self.guid_value);
        }
        &[]
    }

    fn for_each_present(&self, f: &mut dyn FnMut(crate::object::Slot)) -> bool {
        self.entry.row.for_each_present(f);
        // `values` always answers for these two, from the entry itself.
        if let Some(s) = self.dn_slot {
            f(s);
        }
        if let Some(s) = self.guid_slot {
            f(s);
        }
        true
    }
}

/// `SelectUniqueValue`'s view of the target.
pub(super) struct TargetOracle<'a, T: ?Sized> {
    pub(super) target: &'a T,
}

impl<T: TargetLookup + ?Sized> crate::expr::UniquenessOracle for TargetOracle<'_, T> {
    fn is_taken(&self, attribute: &str, value: &str) -> bool {
        if attribute.eq_ignore_ascii_case("UserPrincipalName") {
            self.target.find_by_upn(value).is_some()
        } else if attribute.eq_ignore_ascii_case("ProxyAddresses")
            || attribute.eq_ignore_ascii_case("Mail")
        {
            let address = value.split_once(':').map(|(_, a)| a).unwrap_or(value);
            self.target.find_by_proxy_address(address).is_some()
        } else {
            false
        }
    }
}

/// Fills `at` with, per mapping of `mappings`, the index of its target
/// attribute in `x.values` (`u32::MAX`: not exported). The values are kept
/// in mapping order (a create exports them so; an update appends the
/// newly set ones), so each name is found by a scan resuming after the
/// last one found, comparing names that are mostly the configuration's own
/// (pointer-equal); one pass instead of one search per mapping.
fn locate_exported(mappings: &crate::mapping::CompiledMappings, x: &Exported, at: &mut Vec<u32>) {
    at.clear();
    at.resize(mappings.len(), u32::MAX);
    let mut next = 0;
    for (j, (name, _)) in x.values.iter().enumerate() {
        let found = (next..mappings.len())
            .find(|&i| mappings.target(i).is_some_and(|t| t.name == *name))
            .or_else(|| mappings.index_of(name.as_str()));
        if let (Some(i), Ok(j)) = (found, u32::try_from(j)) {
            if let Some(slot) = at.get_mut(i) {
                *slot = j;
            }
            next = i + 1;
        }
    }
}
