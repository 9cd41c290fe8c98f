//! The engine: the mirror, the export state, and the cycle (ingest, scope,
//! match, map, members, gate) that turns changes into a [`Plan`], then the
//! commit that records what was applied.
//!
//! The engine is a sans-IO state machine in the manner of quinn-proto: it
//! never calls the source or the target on its own. The host loop is
//!
//! 1. [`Engine::ingest`] each [`ChangeBatch`] the source delivered (the mirror
//!    changes at once; the batch's watermark is staged);
//! 2. [`Engine::plan`] with `now` and a read-only view of the target (for
//!    matching): a [`Plan`] of [`TargetOp`]s with their reasons, the
//!    provisioning log, the deletion gate's decision and any held sets. The
//!    plan does not change the engine: planning twice gives the same plan;
//! 3. apply the plan's ops in order ([`crate::target::apply_plan`] does it
//!    for a [`DirectoryTarget`](crate::target::DirectoryTarget));
//! 4. [`Engine::commit`] the plan with the op results: export state records
//!    what succeeded, failed objects stay due for the next cycle (or are
//!    quarantined after repeated permanent failures), held sets are kept for
//!    [`Engine::approve`] / [`Engine::reject`], and the staged watermark
//!    becomes the committed one;
//! 5. persist [`Engine::snapshot`].
//!
//! Advancing the watermark at commit is safe even when some ops failed: the
//! mirror already holds the changes and every object whose op failed stays
//! marked due in the state, so the next cycle retries it from the mirror. A
//! crash before commit loses nothing either: the host restores the last
//! snapshot and the source replays from its committed watermark; replaying
//! a batch is idempotent.
//!
//! Nothing is deleted because of an error, and no error stops the cycle:
//! a bad object is logged and fails alone.

mod explain;
mod mirror;
mod plan;

pub(crate) use plan::anchor_of as plan_anchor;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use explain::{AttributeExplanation, Explanation, MatchExplanation};
pub use mirror::{AttrEdit, Mirror, MirrorEntry};

use crate::anchor::{Guid, ImmutableId};
use crate::change::{
    AttrOp, BatchKind, Change, ChangeBatch, Committed, Completeness, Resume, ResumeError, Watermark,
};
use crate::config::{CompiledConfig, ConfigError, SyncConfig};
use crate::deletion::{Category, GateDecision, HoldWhy};
use crate::dn::Dn;
use crate::log::{ErrorCategory, LogEntry, Outcome, SkipReason};
use crate::object::{AttrName, ObjectKind, Row, Secret, Slot, SlotSet, Value, Values};
use crate::target::{Action, OpId, OpResult, TargetId, TargetLookup, TargetOp};
use crate::time::Timestamp;

/// How an exported object was first tied to its target object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchedBy {
    /// The engine created it.
    Created,
    /// It existed with this object's anchor.
    HardMatch,
    /// It existed and matched on `smtp` or `upn`; the anchor was stamped.
    SoftMatch(String),
}

/// The target-side state of an exported object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExportStatus {
    /// Live in the target.
    Active,
    /// Soft-deleted in the target by this engine (restorable).
    Deleted,
}

/// What the engine knows of an exported object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    /// The target's id.
    pub target: TargetId,
    /// The anchor stamped on it.
    pub anchor: ImmutableId,
    /// Its kind.
    pub kind: ObjectKind,
    /// The values last exported, by target attribute.
    pub values: Vec<(AttrName, Values)>,
    /// For groups: the direct members exported (source objectGUIDs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Guid>,
    /// Live or soft-deleted.
    pub status: ExportStatus,
    /// How it was matched.
    pub matched: MatchedBy,
    /// Whether `values` hold what every mapping gave the source object as
    /// it was when last planned: the last plan that processed it evaluated
    /// all its mappings and every op it planned for it committed, with
    /// none gated. Then a modification of some attributes re-evaluates
    /// only the mappings that read them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_sync: bool,
}

impl Exported {
    /// The last exported value of a target attribute.
    pub fn value(&self, name: &str) -> &[Value] {
        self.values
            .iter()
            .find(|(n, _)| n.is(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    fn set_value(&mut self, name: &AttrName, to: &Values) {
        match self.values.iter().position(|(n, _)| n == name) {
            Some(i) if to.is_empty() => {
                self.values.remove(i);
            }
            Some(i) => self.values[i].1 = to.clone(),
            None if to.is_empty() => {}
            None => self.values.push((name.clone(), to.clone())),
        }
    }
}

/// Why an object left the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GoneCause {
    /// A tombstone arrived (deleted in the source).
    Tombstone,
    /// A finished full read did not return it.
    MissingFromFullRead,
}

/// An object that left the mirror while it had a target object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gone {
    /// Why.
    pub cause: GoneCause,
    /// Its last DN.
    pub dn: Dn,
    /// Its kind.
    pub kind: ObjectKind,
    /// Its last known values (protections still apply to them).
    #[serde(default)]
    pub row: Row,
}

/// Repeated failures of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Permanent failures in a row.
    pub count: u32,
    /// The last error.
    pub last_error: String,
    /// Quarantined: skipped until the object changes in the source.
    pub quarantined: bool,
}

/// The key of an op the gate counts: the object, the member for membership
/// removals, and the category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateKey {
    /// The object (the group, for membership removals).
    pub object: Guid,
    /// The member, for membership removals.
    pub member: Option<Guid>,
    /// The category.
    pub category: Category,
}

/// The state of a held set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum HeldStatus {
    /// Waiting for an admin.
    Held,
    /// Approved: the next plan applies exactly these ops.
    Approved {
        /// Who approved (as the host names them).
        by: String,
        /// When.
        at: Timestamp,
    },
    /// Rejected: the ops are dropped and the target objects stay.
    Rejected {
        /// Who rejected.
        by: String,
        /// When.
        at: Timestamp,
    },
}

/// One held op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldItem {
    /// What the gate counted.
    pub key: GateKey,
    /// The object's DN when known.
    pub dn: Option<String>,
    /// The op as it was planned.
    pub op: TargetOp,
}

/// A set of ops the deletion gate held: released exactly by an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldSet {
    /// Its id.
    pub id: u64,
    /// The category held.
    pub category: Category,
    /// Why.
    pub why: HoldWhy,
    /// The ops.
    pub items: Vec<HeldItem>,
    /// When it was held.
    pub created: Timestamp,
    /// Held, approved or rejected.
    #[serde(flatten)]
    pub status: HeldStatus,
}

/// Whether a plan may be applied as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum PlanStatus {
    /// Nothing held.
    Ready,
    /// Some ops are held for approval; the rest of the plan is ready.
    Paused {
        /// How many ops are held (this plan's and earlier ones').
        held: usize,
    },
}

/// What one cycle will do: visible, and serializable, before anything is
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The cycle number.
    pub cycle: u64,
    /// When it was planned.
    pub at: Timestamp,
    /// The ops to apply, in order.
    pub ops: Vec<TargetOp>,
    /// One entry per object considered.
    pub log: Vec<LogEntry>,
    /// The deletion gate's decision.
    pub gate: GateDecision,
    /// Sets this plan holds for approval.
    pub held: Vec<HeldSet>,
    /// Ready, or paused with held ops.
    #[serde(flatten)]
    pub status: PlanStatus,
    /// The watermark the commit of this plan persists.
    pub watermark: Watermark,
    #[serde(default)]
    pub(crate) book: Bookkeeping,
}

/// What commit needs beyond the ops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bookkeeping {
    /// Objects considered, with the generation of their due mark.
    pub(crate) processed: Vec<(Guid, u64)>,
    /// Objects that failed before any op (mapping, anchor, conflict):
    /// (object, permanent, message).
    pub(crate) failed: Vec<(Guid, bool, String)>,
    /// Gone objects to forget (never exported or nothing left to do).
    pub(crate) forget: Vec<Guid>,
    /// The committed-read state to persist.
    pub(crate) committed: Committed,
    /// Staged batches this plan covers.
    pub(crate) batches: usize,
    /// The next op id after this plan.
    pub(crate) next_op: u64,
    /// The next held set id after this plan.
    pub(crate) next_held: u64,
    /// Approvals this plan uses.
    pub(crate) approvals_used: Vec<GateKey>,
    /// Grace-period deprovisionings cancelled (the object came back).
    pub(crate) deprovision_cancelled: Vec<Guid>,
    /// (referrer, referenced): a reference attribute waits for the
    /// referenced object's export.
    pub(crate) waiting_refs: Vec<(Guid, Guid)>,
    /// Objects created or updated with every mapping's flow (their export
    /// is in sync once all their ops commit).
    pub(crate) in_sync: HashSet<Guid>,
}

/// What ingesting a batch did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    /// Records applied.
    pub applied: usize,
    /// The batch was applied before (a replay): nothing changed.
    pub replay: bool,
    /// Objects that left the mirror because a finished full read did not
    /// return them.
    pub missing_from_full_read: usize,
    /// A full read was cut short: no deletion was inferred.
    pub cut_short: bool,
    /// A finished full read returned far fewer objects than the last healthy
    /// one: deletions inferred from it are held ("source read looks
    /// incomplete").
    pub suspect: bool,
}

/// A batch the engine refused (nothing of it was applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The batch is for another configuration.
    #[error("batch is for configuration {got}, this engine runs {expected}")]
    WrongSource {
        /// The engine's configuration.
        expected: String,
        /// The batch's.
        got: String,
    },
    /// The batch does not continue the committed state.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// Applying it would exceed the object limit.
    #[error("applying the batch would hold {would_hold} objects; the limit is {limit}")]
    ObjectLimit {
        /// Objects after the batch.
        would_hold: usize,
        /// The limit.
        limit: usize,
    },
}

/// A commit the engine refused (nothing was recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The plan is not the engine's next cycle (already committed, or
    /// planned before another commit).
    #[error("plan of cycle {plan} does not follow committed cycle {committed}")]
    StalePlan {
        /// The plan's cycle.
        plan: u64,
        /// The engine's last committed cycle.
        committed: u64,
    },
    /// A result for an op the plan does not have.
    #[error("result for unknown {0}")]
    UnknownOp(OpId),
    /// Two results for one op.
    #[error("two results for {0}")]
    DuplicateResult(OpId),
}

/// An approval or rejection the engine refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeldError {
    /// No held set with this id.
    #[error("no held set {0}")]
    Unknown(u64),
    /// The set was approved or rejected already.
    #[error("held set {0} was already decided")]
    AlreadyDecided(u64),
}

/// What commit recorded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitReport {
    /// Ops that succeeded.
    pub succeeded: usize,
    /// Ops that failed.
    pub failed: usize,
    /// Log entries for the results.
    pub log: Vec<LogEntry>,
}

/// The persisted state of an engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Format version of this snapshot.
    pub v: u32,
    /// The mirror.
    pub mirror: Mirror,
    /// Export state by source objectGUID.
    pub exports: HashMap<Guid, Exported>,
    /// Objects gone from the mirror with target objects.
    pub gone: HashMap<Guid, Gone>,
    /// Objects due for the next plan, with their mark's generation.
    pub due: HashMap<Guid, u64>,
    /// The committed read position.
    pub committed: Committed,
    /// Held sets.
    pub held: Vec<HeldSet>,
    /// Approved gate keys not used yet.
    pub approved: Vec<GateKey>,
    /// Rejected gate keys (not proposed again until the object changes).
    pub rejected: Vec<GateKey>,
    /// Failures per object.
    pub failures: HashMap<Guid, Failure>,
    /// The last committed cycle.
    pub cycle: u64,
    /// The next op id.
    pub next_op: u64,
    /// The next held set id.
    pub next_held: u64,
    /// The due-mark generation counter.
    pub generation: u64,
    /// Objects in the last finished full read that looked healthy.
    pub last_full_read: Option<u64>,
    /// Set while the last finished full read looked too short to infer
    /// deletions from: (objects read, objects in the healthy read before).
    pub suspect_read: Option<(u64, u64)>,
    /// Users disabled for grace-period deprovisioning, with the time after
    /// which they are deleted.
    pub deprovision_after: HashMap<Guid, Timestamp>,
    /// objectGUIDs found for scoping OUs and groups configured by DN, so a
    /// rename or move of the container keeps its scope.
    #[serde(default)]
    pub pins: Vec<crate::scope::Pin>,
    /// The attribute of each slot the mirror's rows use (the configuration's
    /// table when the snapshot was taken), so a snapshot restored under a
    /// changed configuration is re-keyed, never misread.
    #[serde(default)]
    pub attributes: Vec<AttrName>,
    /// A digest of the configuration the state was built under.
    #[serde(default)]
    pub config_digest: u64,
    /// The configuration changed so that the mirror lacks attributes it now
    /// needs: the next cycle must be a full read.
    #[serde(default)]
    pub full_read_required: bool,
    /// Objects whose reference attributes wait for another object's export:
    /// referenced -> referrers (marked due when it is exported).
    #[serde(default)]
    pub waiting_refs: HashMap<Guid, Vec<Guid>>,
    /// Objects with ops that may have been applied but were not committed
    /// (recorded by [`Engine::begin`], cleared by commit): after a crash
    /// their target state is unknown, so the next plan writes every mapped
    /// attribute and looks them up by anchor. The value is the anchor.
    #[serde(default)]
    pub in_flight: HashMap<Guid, ImmutableId>,
    /// Membership ops that may have been applied but were not committed
    /// (recorded by [`Engine::begin`]; a pair is cleared when an op for it
    /// commits): group -> members. After a crash the target's link is
    /// unknown, so the next plans add each of them the source lists and
    /// remove the others, whatever the export state says.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub in_flight_members: HashMap<Guid, HashSet<Guid>>,
}

/// A stable digest of a configuration (FNV-1a over its JSON form).
fn config_digest(config: &SyncConfig) -> u64 {
    let text = serde_json::to_string(config).unwrap_or_default();
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A full read in progress (pages applied so far).
#[derive(Debug, Clone, Default)]
struct FullRead {
    seen: HashSet<Guid>,
}

/// The sync engine of one configuration.
pub struct Engine {
    cfg: CompiledConfig,
    limits: crate::limits::Limits,
    st: State,
    /// Read state including staged (uncommitted) batches.
    working: Committed,
    staged: usize,
    full_read: Option<FullRead>,
    /// Password hashes waiting to flow (never persisted).
    secrets: HashMap<Guid, Secret>,
    /// target id -> source object, over the export state (rebuilt on
    /// restore), so matching and membership commits never scan exports.
    by_target: HashMap<TargetId, Guid>,
    /// Live exports per kind (users, groups, contacts; kept by commit,
    /// rebuilt on restore): the gate's percentages are of these, and
    /// counting them per plan would walk the whole export state.
    active: ActiveCounts,
    /// member -> groups that have it among their exported members (rebuilt
    /// on restore), so a member's change re-plans the groups the target
    /// says it belongs to, not only those the source says.
    exported_member_of: HashMap<Guid, Vec<Guid>>,
    /// Due objects that are due only because of attribute modifications,
    /// with the attributes modified (never persisted: a restored engine
    /// re-evaluates every mapping of its due objects). An object due for
    /// any other reason has no entry.
    changed: HashMap<Guid, SlotSet>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.cfg.source.name)
            .field("objects", &self.st.mirror.len())
            .field("exported", &self.st.exports.len())
            .field("cycle", &self.st.cycle)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with empty state for a configuration (validated here), with
    /// the product's limits ([`crate::limits::Limits::default`]).
    pub fn new(config: &SyncConfig) -> Result<Engine, ConfigError> {
        Engine::with_limits(config, crate::limits::Limits::default())
    }

    /// An engine with other limits (a host that follows Microsoft's current
    /// numbers, or a bench that measures a larger mirror). Past
    /// `max_objects_per_configuration` the engine refuses to grow; it never
    /// truncates.
    pub fn with_limits(
        config: &SyncConfig,
        limits: crate::limits::Limits,
    ) -> Result<Engine, ConfigError> {
        let cfg = config.compile("configuration")?;
        let member_slot = Some(cfg.slots.member);
        Ok(Engine {
            cfg,
            limits,
            st: State {
                v: 1,
                mirror: Mirror::new(member_slot),
                exports: HashMap::new(),
                gone: HashMap::new(),
                due: HashMap::new(),
                committed: Committed::default(),
                held: Vec::new(),
                approved: Vec::new(),
                rejected: Vec::new(),
                failures: HashMap::new(),
                cycle: 0,
                next_op: 1,
                next_held: 1,
                generation: 0,
                last_full_read: None,
                suspect_read: None,
                deprovision_after: HashMap::new(),
                pins: Vec::new(),
                attributes: Vec::new(),
                config_digest: config_digest(config),
                full_read_required: false,
                waiting_refs: HashMap::new(),
                in_flight: HashMap::new(),
                in_flight_members: HashMap::new(),
            },
            working: Committed::default(),
            staged: 0,
            full_read: None,
            secrets: HashMap::new(),
            by_target: HashMap::new(),
            active: ActiveCounts::default(),
            exported_member_of: HashMap::new(),
            changed: HashMap::new(),
        })
    }

    /// Restores an engine from a snapshot; it plans the same next cycle as
    /// the engine that took it (password hashes never rest in a snapshot: a
    /// pending one flows with the object's next password change).
    pub fn restore(config: &SyncConfig, state: State) -> Result<Engine, ConfigError> {
        Engine::restore_with_limits(config, crate::limits::Limits::default(), state)
    }

    /// Raises (or lowers) the object limit of this engine: a documented way
    /// past the product's 150,000 for benches that measure larger mirrors.
    pub fn with_object_limit(mut self, limit: usize) -> Engine {
        self.limits.max_objects_per_configuration = u64::try_from(limit).unwrap_or(u64::MAX);
        self
    }

    /// [`Engine::restore`] with other limits.
    pub fn restore_with_limits(
        config: &SyncConfig,
        limits: crate::limits::Limits,
        mut state: State,
    ) -> Result<Engine, ConfigError> {
        let digest = config_digest(config);
        let mut config = config.clone();
        config.scope.apply_pins(&state.pins);
        let mut engine = Engine::with_limits(&config, limits)?;
        let new_names = engine.cfg.table.names().to_vec();
        if !state.attributes.is_empty() && state.attributes != new_names {
            // Re-key every row from the old slots to the new ones.
            let map: Vec<Option<Slot>> = state
                .attributes
                .iter()
                .map(|n| engine.cfg.table.get(n.as_str()))
                .collect();
            state.mirror.remap(&map, Some(engine.cfg.slots.member));
            for g in state.gone.values_mut() {
                g.row = remap_row(&g.row, &map);
            }
            if new_names.iter().any(|n| !state.attributes.contains(n)) {
                state.full_read_required = true;
            }
        }
        state.attributes = new_names;
        state.mirror.reindex();
        let changed = state.config_digest != digest;
        state.config_digest = digest;
        engine.working = state.committed.clone();
        engine.by_target = state
            .exports
            .iter()
            .map(|(g, x)| (x.target.clone(), *g))
            .collect();
        engine.active = ActiveCounts::default();
        for x in state.exports.values() {
            engine.active.add(live_kind(x), 1);
        }
        for (g, x) in &state.exports {
            for m in &x.members {
                engine.exported_member_of.entry(*m).or_default().push(*g);
            }
        }
        let uncertain: Vec<Guid> = state.in_flight.keys().copied().collect();
        if changed {
            // The values were exported under other mappings.
            for x in state.exports.values_mut() {
                x.in_sync = false;
            }
        }
        engine.st = state;
        if changed {
            // A configuration change re-evaluates every object.
            engine.mark_all_due();
        }
        // Ops begun but never committed: their objects are planned again
        // with their target state treated as unknown.
        for g in uncertain {
            engine.mark_due(g);
        }
        Ok(engine)
    }

    /// A snapshot of the committed state (call after [`Engine::commit`]).
    pub fn snapshot(&self) -> State {
        let mut s = self.st.clone();
        s.attributes = self.cfg.table.names().to_vec();
        s
    }

    /// Whether the next cycle must be a full read (the configuration now
    /// needs attributes the mirror does not hold). [`Engine::run_cycle`]
    /// honours it.
    pub fn full_read_required(&self) -> bool {
        self.st.full_read_required
    }

    /// The compiled configuration.
    pub fn config(&self) -> &CompiledConfig {
        &self.cfg
    }

    /// The mirror.
    pub fn mirror(&self) -> &Mirror {
        &self.st.mirror
    }

    /// The export state of an object.
    pub fn exported(&self, object: &Guid) -> Option<&Exported> {
        self.st.exports.get(object)
    }

    /// Every exported object.
    pub fn exports(&self) -> impl Iterator<Item = (&Guid, &Exported)> {
        self.st.exports.iter()
    }

    /// The held sets (held, approved or rejected).
    pub fn held_sets(&self) -> &[HeldSet] {
        &self.st.held
    }

    /// The committed read position (what a source resumes from).
    pub fn committed(&self) -> &Committed {
        &self.st.committed
    }

    /// The last committed cycle.
    pub fn cycle(&self) -> u64 {
        self.st.cycle
    }

    /// The failure record of an object.
    pub fn failure(&self, object: &Guid) -> Option<&Failure> {
        self.st.failures.get(object)
    }

    /// Objects due for the next plan.
    pub fn due_count(&self) -> usize {
        self.st.due.len()
    }

    fn mark_due(&mut self, guid: Guid) {
        self.st.generation += 1;
        self.st.due.insert(guid, self.st.generation);
        self.changed.remove(&guid);
    }

    /// Marks an object due because the attributes in `slots` were modified.
    /// An object already due for another reason stays due for everything.
    fn mark_modified(&mut self, guid: Guid, slots: &SlotSet) {
        let whole = self.st.due.contains_key(&guid) && !self.changed.contains_key(&guid);
        self.st.generation += 1;
        self.st.due.insert(guid, self.st.generation);
        if !whole {
            self.changed.entry(guid).or_default().extend(slots);
        }
    }

    /// The attributes modified since the object was last planned, when
    /// modifications are all that made it due.
    pub(crate) fn changed_slots(&self, guid: &Guid) -> Option<&SlotSet> {
        self.changed.get(guid)
    }

    /// Merges a batch into the mirror (all or nothing) and stages its
    /// watermark; a replayed batch changes nothing.
    pub fn ingest(&mut self, batch: &ChangeBatch) -> Result<IngestReport, IngestError> {
        if batch.header.source.as_str() != self.cfg.source.name {
            return Err(IngestError::WrongSource {
                expected: self.cfg.source.name.clone(),
                got: batch.header.source.as_str().to_owned(),
            });
        }
        let mut report = IngestReport::default();
        match self.working.check(&batch.header)? {
            Resume::AlreadyApplied => {
                report.replay = true;
                return Ok(report);
            }
            Resume::Apply => {}
        }
        // All or nothing: check the object limit before touching anything.
        let new_objects: HashSet<Guid> = batch
            .records
            .iter()
            .filter_map(|r| match r {
                Change::Add { guid, .. } if self.st.mirror.get(guid).is_none() => Some(*guid),
                _ => None,
            })
            .collect();
        let would_hold = self.st.mirror.len() + new_objects.len();
        let limit =
            usize::try_from(self.limits.max_objects_per_configuration).unwrap_or(usize::MAX);
        if would_hold > limit {
            return Err(IngestError::ObjectLimit { would_hold, limit });
        }
        if let BatchKind::Full { page: 0, .. } = batch.header.kind {
            self.full_read = Some(FullRead::default());
        }
        let mut touched = HashSet::new();
        let mut modified: HashMap<Guid, SlotSet> = HashMap::new();
        for record in &batch.records {
            self.apply_record(record, &mut touched, &mut modified);
            report.applied += 1;
            if let Some(f) = self.full_read.as_mut() {
                if matches!(batch.header.kind, BatchKind::Full { .. }) {
                    f.seen.insert(record.guid());
                }
            }
        }
        if let BatchKind::Full {
            completeness,
            objects,
            ..
        } = batch.header.kind
        {
            match completeness {
                Completeness::InProgress => {}
                Completeness::Finished => {
                    let seen = self.full_read.take().map(|f| f.seen).unwrap_or_default();
                    let missing: Vec<Guid> = self
                        .st
                        .mirror
                        .guids()
                        .filter(|g| !seen.contains(g))
                        .collect();
                    for g in &missing {
                        self.remove_object(g, GoneCause::MissingFromFullRead, &mut touched);
                    }
                    report.missing_from_full_read = missing.len();
                    self.st.full_read_required = false;
                    let health = &self.cfg.source.deletion.source_health;
                    match self.st.last_full_read {
                        Some(last) if health.is_suspect(objects, last) => {
                            // Keep the healthy baseline; deletions inferred
                            // from this read are held.
                            self.st.suspect_read = Some((objects, last));
                            report.suspect = true;
                        }
                        _ => {
                            self.st.last_full_read = Some(objects);
                            self.st.suspect_read = None;
                        }
                    }
                    // A full read re-evaluates everything.
                    touched.extend(self.st.mirror.guids());
                    touched.extend(self.st.exports.keys().copied());
                }
                Completeness::CutShort => {
                    self.full_read = None;
                    report.cut_short = true;
                }
            }
        }
        // Scoping containers configured by DN are followed by objectGUID
        // from the moment they are seen, so renaming an in-scope OU keeps
        // its objects in scope.
        let pins = self
            .cfg
            .scope
            .pin_guids(&explain::MirrorEnv(&self.st.mirror));
        self.st.pins.extend(pins);
        for (g, slots) in &modified {
            if !touched.contains(g) {
                self.st.failures.remove(g);
                self.st.rejected.retain(|k| k.object != *g);
                self.mark_modified(*g, slots);
            }
        }
        for g in touched {
            self.st.failures.remove(&g);
            self.st.rejected.retain(|k| k.object != g);
            self.mark_due(g);
        }
        self.working.advance(&batch.header);
        self.staged += 1;
        Ok(report)
    }

    fn row_from(&self, attributes: &crate::object::Attributes) -> Row {
        self.cfg.table.project(attributes)
    }

    /// Applies one record to the mirror. Objects it touches go to `touched`
    /// (due for everything), except an object whose own attributes a
    /// modification changed: it goes to `modified` with those attributes.
    fn apply_record(
        &mut self,
        record: &Change,
        touched: &mut HashSet<Guid>,
        modified: &mut HashMap<Guid, SlotSet>,
    ) {
        match record {
            Change::Add {
                guid,
                dn,
                attributes,
                password_hash,
            } => {
                let classes: Vec<&str> = attributes
                    .get("objectClass")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let kind = ObjectKind::classify(classes.iter().copied());
                // Kept only to explain why an object of another kind is
                // skipped: a user's four classes are in its row anyway.
                let object_class = if kind == ObjectKind::Unsupported {
                    classes.join(",")
                } else {
                    String::new()
                };
                let row = self.row_from(attributes);
                self.st.gone.remove(guid);
                self.st
                    .mirror
                    .upsert(*guid, dn.clone(), kind, object_class, row, touched);
                if let Some(h) = password_hash {
                    self.secrets.insert(*guid, h.clone());
                }
            }
            Change::Modify {
                guid,
                changes,
                password_hash,
            } => {
                let edits = self.edits(changes);
                // The object itself is due for its modified attributes;
                // anything else the edit touches (a group's members) is
                // due for everything.
                let mut others = HashSet::new();
                if self.st.mirror.modify(*guid, &edits, &mut others) {
                    let slots = modified.entry(*guid).or_default();
                    for (slot, _) in &edits {
                        slots.insert(*slot);
                    }
                }
                others.remove(guid);
                touched.extend(others);
                if let Some(h) = password_hash {
                    self.secrets.insert(*guid, h.clone());
                    touched.insert(*guid);
                }
            }
            Change::Move {
                guid,
                dn,
                changes,
                password_hash,
            } => {
                self.st.mirror.rename(*guid, dn.clone(), touched);
                let edits = self.edits(changes);
                if !edits.is_empty() {
                    self.st.mirror.modify(*guid, &edits, touched);
                }
                if let Some(h) = password_hash {
                    self.secrets.insert(*guid, h.clone());
                }
            }
            Change::Delete(t) => {
                self.remove_object(&t.guid, GoneCause::Tombstone, touched);
            }
        }
    }

    fn edits(&self, changes: &[crate::change::AttrChange]) -> Vec<(Slot, AttrEdit)> {
        changes
            .iter()
            .filter_map(|c| {
                let slot = self.cfg.table.get(c.name.as_str())?;
                Some(match &c.op {
                    AttrOp::Replace(v) => vec![(slot, AttrEdit::Replace(v.clone()))],
                    AttrOp::Incremental { add, remove } => vec![
                        (slot, AttrEdit::Remove(remove.clone())),
                        (slot, AttrEdit::Add(add.clone())),
                    ],
                })
            })
            .flatten()
            .collect()
    }

    fn remove_object(&mut self, guid: &Guid, cause: GoneCause, touched: &mut HashSet<Guid>) {
        if let Some(entry) = self.st.mirror.remove(guid, touched) {
            self.secrets.remove(guid);
            if self.st.exports.contains_key(guid) {
                self.st.gone.insert(
                    *guid,
                    Gone {
                        cause,
                        dn: entry.dn,
                        kind: entry.kind,
                        row: entry.row,
                    },
                );
            }
        }
    }

    /// Marks every object due (a full re-evaluation without a new read: after
    /// a configuration change the host would rather run a full read).
    pub fn mark_all_due(&mut self) {
        let all: Vec<Guid> = self
            .st
            .mirror
            .guids()
            .chain(self.st.exports.keys().copied())
            .collect();
        for g in all {
            self.mark_due(g);
        }
    }

    /// Plans the next cycle. Does not change the engine.
    pub fn plan<T: TargetLookup + ?Sized>(&self, now: Timestamp, target: &T) -> Plan {
        plan::Planner::new(self, now, target).run()
    }

    /// Records that a plan's ops are about to be applied (write-ahead). A
    /// host that must survive a crash between applying and committing calls
    /// this, persists [`Engine::snapshot`], then applies: if it crashes, the
    /// engine restored from that snapshot re-plans those objects with their
    /// target state unknown (every mapped attribute written again, objects
    /// looked up by anchor), so no value of the lost cycle stays behind and
    /// no created object is orphaned. [`Engine::run_cycle`] calls it.
    pub fn begin(&mut self, plan: &Plan) {
        // The plan's own creates and matches, which membership ops may name
        // before the export state knows them (they come first in a plan).
        let mut created_by: HashMap<OpId, Guid> = HashMap::new();
        let mut matched: HashMap<&TargetId, Guid> = HashMap::new();
        for op in &plan.ops {
            let anchor = match &op.action {
                Action::Create { anchor, .. } | Action::StampAnchor { anchor, .. } => Some(*anchor),
                _ => self.st.exports.get(&op.object).map(|x| x.anchor),
            };
            if let Some(a) = anchor {
                self.st.in_flight.insert(op.object, a);
            }
            match &op.action {
                Action::Create { .. } => {
                    created_by.insert(op.id, op.object);
                }
                Action::StampAnchor { target, .. } => {
                    matched.insert(target, op.object);
                }
                _ => {}
            }
            if let Action::AddMember { member, .. } | Action::RemoveMember { member, .. } =
                &op.action
            {
                let m = match member {
                    crate::target::TargetRef::Id(id) => {
                        self.by_target.get(id).or_else(|| matched.get(id)).copied()
                    }
                    crate::target::TargetRef::CreatedBy(o) => created_by.get(o).copied(),
                };
                if let Some(m) = m {
                    self.st
                        .in_flight_members
                        .entry(op.object)
                        .or_default()
                        .insert(m);
                }
            }
        }
    }

    /// The ops the next plan would make for one object.
    pub(crate) fn plan_for<T: TargetLookup + ?Sized>(
        &self,
        now: Timestamp,
        target: &T,
        g: Guid,
    ) -> Plan {
        plan::Planner::new(self, now, target).run_only(g)
    }

    /// Records the results of applying a plan.
    pub fn commit(
        &mut self,
        plan: &Plan,
        results: &[OpResult],
        now: Timestamp,
    ) -> Result<CommitReport, CommitError> {
        if plan.cycle != self.st.cycle + 1 || plan.book.next_op < self.st.next_op {
            return Err(CommitError::StalePlan {
                plan: plan.cycle,
                committed: self.st.cycle,
            });
        }
        let by_id: HashMap<OpId, &TargetOp> = plan.ops.iter().map(|o| (o.id, o)).collect();
        let mut seen = HashSet::new();
        for r in results {
            if !by_id.contains_key(&r.op) {
                return Err(CommitError::UnknownOp(r.op));
            }
            if !seen.insert(r.op) {
                return Err(CommitError::DuplicateResult(r.op));
            }
        }
        let mut report = CommitReport::default();
        let mut failed_objects: HashMap<Guid, (bool, String)> = HashMap::new();
        let mut created: HashMap<OpId, TargetId> = HashMap::new();
        let results_by_op: HashMap<OpId, &OpResult> = results.iter().map(|r| (r.op, r)).collect();
        for op in &plan.ops {
            let Some(result) = results_by_op.get(&op.id) else {
                // Not applied (the host stopped early): due again.
                failed_objects
                    .entry(op.object)
                    .or_insert((false, "not applied".to_owned()));
                continue;
            };
            let dn = self.dn_text(&op.object);
            match &result.outcome {
                Ok(applied) => {
                    report.succeeded += 1;
                    if let Some(id) = &applied.target_id {
                        created.insert(op.id, id.clone());
                    }
                    self.record_success(op, applied.target_id.as_ref(), &created);
                    report.log.push(LogEntry {
                        at: now,
                        cycle: plan.cycle,
                        object: op.object,
                        dn,
                        kind: op.kind,
                        outcome: Outcome::Success {
                            op: op.id,
                            action: op.action.name().to_owned(),
                        },
                    });
                }
                Err(e) => {
                    report.failed += 1;
                    let permanent = !e.kind.is_transient();
                    failed_objects.insert(op.object, (permanent, e.to_string()));
                    report.log.push(LogEntry {
                        at: now,
                        cycle: plan.cycle,
                        object: op.object,
                        dn,
                        kind: op.kind,
                        outcome: Outcome::Error {
                            category: error_category(e.kind),
                            code: None,
                            message: format!("{} failed: {}", op.action.name(), e.message),
                        },
                    });
                }
            }
        }
        for (g, permanent, msg) in &plan.book.failed {
            failed_objects.insert(*g, (*permanent, msg.clone()));
        }
        // An object whose op the gate holds (or an admin rejected) stays as
        // the target has it: if a crashed plan left that unknown, it stays
        // unknown until an op of a later plan writes the object.
        let held_objects: HashSet<Guid> = plan
            .held
            .iter()
            .chain(self.st.held.iter().filter(|s| s.status == HeldStatus::Held))
            .flat_map(|s| s.items.iter().map(|i| i.key.object))
            .chain(self.st.rejected.iter().map(|k| k.object))
            .collect();
        // Processed objects are no longer due, unless they failed or were
        // marked again since the plan.
        for (g, generation) in &plan.book.processed {
            let in_sync = !failed_objects.contains_key(g)
                && !held_objects.contains(g)
                && plan.book.in_sync.contains(g);
            if let Some(x) = self.st.exports.get_mut(g) {
                x.in_sync = in_sync;
            }
            if failed_objects.contains_key(g) {
                continue;
            }
            if self.st.due.get(g) == Some(generation) {
                self.st.due.remove(g);
                self.changed.remove(g);
            }
            self.st.failures.remove(g);
            if !held_objects.contains(g) {
                self.st.in_flight.remove(g);
            }
        }
        // What was applied is no longer uncertain; what failed is retried next
        // cycle even if nothing in the source changes.
        for op in &plan.ops {
            if !failed_objects.contains_key(&op.object) {
                self.st.in_flight.remove(&op.object);
            }
        }
        for g in failed_objects.keys() {
            // Retried with every mapping: what failed is not among the
            // attributes modified since.
            self.changed.remove(g);
            if let Some(x) = self.st.exports.get_mut(g) {
                x.in_sync = false;
            }
        }
        let failed_now: Vec<Guid> = failed_objects
            .keys()
            .filter(|g| !self.st.due.contains_key(g))
            .copied()
            .collect();
        for g in failed_now {
            self.mark_due(g);
        }
        let limit = self.cfg.source.quarantine_after;
        for (g, (permanent, msg)) in failed_objects {
            let f = self.st.failures.entry(g).or_insert(Failure {
                count: 0,
                last_error: String::new(),
                quarantined: false,
            });
            if permanent {
                f.count += 1;
            }
            f.last_error = msg;
            if f.count >= limit {
                f.quarantined = true;
            }
        }
        for g in &plan.book.forget {
            self.st.gone.remove(g);
        }
        for g in &plan.book.deprovision_cancelled {
            self.st.deprovision_after.remove(g);
        }
        for (referrer, referenced) in &plan.book.waiting_refs {
            let list = self.st.waiting_refs.entry(*referenced).or_default();
            if !list.contains(referrer) {
                list.push(*referrer);
            }
        }
        let exported_now: Vec<Guid> = self
            .st
            .waiting_refs
            .keys()
            .filter(|g| {
                self.st
                    .exports
                    .get(g)
                    .is_some_and(|x| x.status == ExportStatus::Active)
            })
            .copied()
            .collect();
        for g in exported_now {
            for referrer in self.st.waiting_refs.remove(&g).unwrap_or_default() {
                self.mark_due(referrer);
            }
        }
        for k in &plan.book.approvals_used {
            self.st.approved.retain(|a| a != k);
        }
        for set in &plan.held {
            self.st.held.push(set.clone());
        }
        self.st.committed = plan.book.committed.clone();
        self.staged = self.staged.saturating_sub(plan.book.batches);
        self.st.cycle = plan.cycle;
        self.st.next_op = plan.book.next_op;
        self.st.next_held = plan.book.next_held;
        Ok(report)
    }

    fn dn_text(&self, g: &Guid) -> Option<String> {
        self.st
            .mirror
            .get(g)
            .map(|e| e.dn.to_string())
            .or_else(|| self.st.gone.get(g).map(|x| x.dn.to_string()))
    }

    fn record_success(
        &mut self,
        op: &TargetOp,
        target_id: Option<&TargetId>,
        created: &HashMap<OpId, TargetId>,
    ) {
        let before = self.st.exports.get(&op.object).and_then(live_kind);
        self.record_export(op, target_id, created);
        let after = self.st.exports.get(&op.object).and_then(live_kind);
        if before != after {
            self.active.add(before, -1);
            self.active.add(after, 1);
        }
    }

    /// Live exports per kind: users, groups, contacts.
    pub(crate) fn active_counts(&self) -> (u32, u32, u32) {
        let a = &self.active;
        (a.users, a.groups, a.contacts)
    }

    fn record_export(
        &mut self,
        op: &TargetOp,
        target_id: Option<&TargetId>,
        created: &HashMap<OpId, TargetId>,
    ) {
        match &op.action {
            Action::Create { anchor, attributes } => {
                if let Some(id) = target_id {
                    self.by_target.insert(id.clone(), op.object);
                    self.st.exports.insert(
                        op.object,
                        Exported {
                            target: id.clone(),
                            anchor: *anchor,
                            kind: op.kind,
                            values: attributes.clone(),
                            members: Vec::new(),
                            status: ExportStatus::Active,
                            matched: MatchedBy::Created,
                            in_sync: false,
                        },
                    );
                }
            }
            Action::StampAnchor {
                target,
                anchor,
                changes,
            } => {
                let matched = match &op.reason {
                    crate::target::Reason::SoftMatch { on } => MatchedBy::SoftMatch(on.clone()),
                    _ => MatchedBy::HardMatch,
                };
                self.by_target.insert(target.clone(), op.object);
                self.st.exports.insert(
                    op.object,
                    Exported {
                        target: target.clone(),
                        anchor: *anchor,
                        kind: op.kind,
                        values: changes
                            .iter()
                            .filter(|c| !c.to.is_empty())
                            .map(|c| (c.name.clone(), c.to.clone()))
                            .collect(),
                        members: Vec::new(),
                        status: ExportStatus::Active,
                        matched,
                        in_sync: false,
                    },
                );
            }
            Action::Update { changes, .. } => {
                if let Some(x) = self.st.exports.get_mut(&op.object) {
                    for c in changes {
                        x.set_value(&c.name, &c.to);
                    }
                }
                if let crate::target::Reason::GraceDisable { delete_after, .. } = &op.reason {
                    self.st.deprovision_after.insert(op.object, *delete_after);
                }
            }
            Action::Delete { .. } => {
                // The memberships stay recorded: a soft-deleted object keeps
                // its links in the target (hidden while it is deleted) and a
                // restore brings them back, as Entra's restore does. The
                // planner leaves such dormant links alone until one side is
                // restored, then diffs them like any other.
                if let Some(x) = self.st.exports.get_mut(&op.object) {
                    x.status = ExportStatus::Deleted;
                }
                self.st.gone.remove(&op.object);
                self.st.deprovision_after.remove(&op.object);
            }
            Action::Restore { .. } => {
                if let Some(x) = self.st.exports.get_mut(&op.object) {
                    x.status = ExportStatus::Active;
                }
            }
            Action::AddMember { member, .. } => {
                let member_guid = self.member_guid(member, created);
                self.link_known(op.object, member_guid);
                if let (Some(x), Some(m)) = (self.st.exports.get_mut(&op.object), member_guid) {
                    if !x.members.contains(&m) {
                        x.members.push(m);
                        self.exported_member_of
                            .entry(m)
                            .or_default()
                            .push(op.object);
                    }
                }
            }
            Action::RemoveMember { member, .. } => {
                let member_guid = self.member_guid(member, created);
                self.link_known(op.object, member_guid);
                if let (Some(x), Some(m)) = (self.st.exports.get_mut(&op.object), member_guid) {
                    x.members.retain(|g| *g != m);
                    if let Some(groups) = self.exported_member_of.get_mut(&m) {
                        groups.retain(|g| *g != op.object);
                    }
                }
            }
            Action::SetPasswordHash { .. } => {
                self.secrets.remove(&op.object);
            }
        }
    }

    /// A committed membership op settles what a crashed plan left unknown
    /// about that link.
    fn link_known(&mut self, group: Guid, member: Option<Guid>) {
        let Some(m) = member else { return };
        if let Some(set) = self.st.in_flight_members.get_mut(&group) {
            set.remove(&m);
            if set.is_empty() {
                self.st.in_flight_members.remove(&group);
            }
        }
    }

    fn member_guid(
        &self,
        member: &crate::target::TargetRef,
        created: &HashMap<OpId, TargetId>,
    ) -> Option<Guid> {
        let id = match member {
            crate::target::TargetRef::Id(id) => id,
            crate::target::TargetRef::CreatedBy(o) => created.get(o)?,
        };
        self.by_target.get(id).copied()
    }

    /// The groups whose exported members include `member`.
    pub(crate) fn exported_groups_of(&self, member: &Guid) -> &[Guid] {
        self.exported_member_of
            .get(member)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The source object exported to a target object.
    pub fn object_of(&self, target: &TargetId) -> Option<Guid> {
        self.by_target.get(target).copied()
    }

    /// Approves a held set: the next plan applies exactly its ops (those
    /// still called for: an object that came back into scope is not
    /// deleted).
    pub fn approve(&mut self, held_set: u64, by: &str, now: Timestamp) -> Result<(), HeldError> {
        let status = HeldStatus::Approved {
            by: by.to_owned(),
            at: now,
        };
        for k in self.decide(held_set, status)? {
            self.st.approved.push(k);
            self.mark_due(k.object);
        }
        Ok(())
    }

    /// Rejects a held set: its ops are dropped, the target objects stay as
    /// they are, and they are not proposed again until the source object
    /// changes.
    pub fn reject(&mut self, held_set: u64, by: &str, now: Timestamp) -> Result<(), HeldError> {
        let status = HeldStatus::Rejected {
            by: by.to_owned(),
            at: now,
        };
        let keys = self.decide(held_set, status)?;
        self.st.rejected.extend(keys);
        Ok(())
    }

    /// Records the decision on a held set; returns its gate keys.
    fn decide(&mut self, id: u64, status: HeldStatus) -> Result<Vec<GateKey>, HeldError> {
        let set = self
            .st
            .held
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(HeldError::Unknown(id))?;
        if set.status != HeldStatus::Held {
            return Err(HeldError::AlreadyDecided(id));
        }
        set.status = status;
        Ok(set.items.iter().map(|i| i.key).collect())
    }

    /// Explains one object: scope, match, every mapped attribute, and the
    /// ops the next plan would make for it.
    pub fn explain<T: TargetLookup + ?Sized>(
        &self,
        object: &Guid,
        now: Timestamp,
        target: &T,
    ) -> Option<Explanation> {
        explain::explain(self, object, now, target)
    }

    /// Marks an object due, for tests and for hosts that know better.
    pub fn touch(&mut self, object: Guid) {
        self.mark_due(object);
    }

    /// The watermark the next full-read or delta continues from, including
    /// staged batches not yet committed.
    pub fn working(&self) -> &Committed {
        &self.working
    }

    /// Staged batches not yet committed.
    pub fn staged(&self) -> usize {
        self.staged
    }

    /// The source object as the mirror holds it.
    pub fn object_row(&self, object: &Guid) -> Option<&Row> {
        self.st.mirror.get(object).map(|e| &e.row)
    }

    pub(crate) fn secret(&self, g: &Guid) -> Option<&Secret> {
        self.secrets.get(g)
    }
}

fn remap_row(row: &Row, map: &[Option<Slot>]) -> Row {
    let mut out = Row::default();
    for (slot, values) in row.iter() {
        if let Some(Some(new)) = map.get(usize::from(slot.0)) {
            out.set(*new, values.iter().cloned().collect());
        }
    }
    out
}

fn error_category(kind: crate::target::TargetErrorKind) -> ErrorCategory {
    use crate::target::TargetErrorKind as K;
    match kind {
        K::Transient | K::DependencyFailed => ErrorCategory::Transient,
        K::AttributeFormat => ErrorCategory::AttributeFormat,
        K::DuplicateValue => ErrorCategory::DuplicateUpn,
        K::Permission => ErrorCategory::Permission,
        K::Conflict => ErrorCategory::Conflict,
        _ => ErrorCategory::Other,
    }
}

/// A log entry helper.
pub(crate) fn entry(
    at: Timestamp,
    cycle: u64,
    object: Guid,
    dn: Option<String>,
    kind: ObjectKind,
    outcome: Outcome,
) -> LogEntry {
    LogEntry {
        at,
        cycle,
        object,
        dn,
        kind,
        outcome,
    }
}

/// A skipped outcome.
pub(crate) fn skipped(reason: SkipReason) -> Outcome {
    Outcome::Skipped(reason)
}

/// What one cycle of [`Engine::run_cycle`] did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// Whether the cycle read everything (first run, on request, or because
    /// the watermark was void).
    pub full_read: bool,
    /// What ingesting each batch did.
    pub ingested: Vec<IngestReport>,
    /// The plan.
    pub plan: Plan,
    /// The results of applying it.
    pub results: Vec<OpResult>,
    /// What commit recorded.
    pub commit: CommitReport,
}

/// Why a cycle stopped before committing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CycleError {
    /// The source could not deliver.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// A batch was refused.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The commit was refused.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Engine {
    /// One whole cycle against a source and a target: read (a full read when
    /// `full` is set, nothing was committed yet, or the watermark turns out
    /// void), ingest, plan, apply in order, commit. The host persists
    /// [`Engine::snapshot`] afterwards.
    pub fn run_cycle<S, T>(
        &mut self,
        source: &mut S,
        target: &mut T,
        now: Timestamp,
        full: bool,
    ) -> Result<CycleReport, CycleError>
    where
        S: crate::source::DirectorySource + ?Sized,
        T: crate::target::DirectoryTarget + ?Sized,
    {
        let mut full_read = full || self.working.watermark.is_none() || self.st.full_read_required;
        let mut ingested = Vec::new();
        if !full_read {
            match source.changes_since(&self.working.watermark.clone()) {
                Ok(batch) => match self.ingest(&batch) {
                    Ok(r) => ingested.push(r),
                    Err(IngestError::Resume(ResumeError::FullSyncRequired { .. })) => {
                        full_read = true;
                    }
                    Err(e) => return Err(e.into()),
                },
                Err(crate::source::SourceError::WatermarkVoid(_)) => full_read = true,
                Err(e) => return Err(e.into()),
            }
        }
        if full_read {
            for batch in source.full_read()? {
                ingested.push(self.ingest(&batch)?);
            }
        }
        let plan = self.plan(now, &*target);
        self.begin(&plan);
        let results = crate::target::apply_plan(target, &plan.ops);
        let commit = self.commit(&plan, &results, now)?;
        Ok(CycleReport {
            full_read,
            ingested,
            plan,
            results,
            commit,
        })
    }
}

/// Live exports per kind.
#[derive(Debug, Clone, Copy, Default)]
struct ActiveCounts {
    users: u32,
    groups: u32,
    contacts: u32,
}

impl ActiveCounts {
    fn add(&mut self, kind: Option<ObjectKind>, by: i32) {
        let n = match kind {
            Some(ObjectKind::User) => &mut self.users,
            Some(ObjectKind::Group) => &mut self.groups,
            Some(ObjectKind::Contact) => &mut self.contacts,
            _ => return,
        };
        *n = n.saturating_add_signed(by);
    }
}

/// An export's kind while it is live on the target.
fn live_kind(x: &Exported) -> Option<ObjectKind> {
    (x.status == ExportStatus::Active).then_some(x.kind)
}
