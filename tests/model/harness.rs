//! The reliability harness shared by `tests/model.rs` (proptest drives it)
//! and `examples/simulate.rs` (a seeded generator drives it): an in-memory
//! AD, an in-memory target, the engine behind a host loop that can crash,
//! replay and deliver batches twice, and the reference model it is checked
//! against after every settled cycle.
//!
//! The reference model is a fresh engine doing a full sync of the current AD
//! into a copy of the initial target, run until it settles. The invariants:
//! the live synced target objects (by anchor) and their key attributes (UPN,
//! DisplayName, AccountEnabled, memberships) equal the model's; nothing the
//! model keeps is missing; with HoldForApproval nothing is ever deleted;
//! the committed watermark never moves before the commit that carries it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use idsync::agent::{ChangeQueue, Pushed};
use idsync::anchor::Guid;
use idsync::change::{ChangeBatch, Committed};
use idsync::config::SyncConfig;
use idsync::deletion::DeletionConfig;
use idsync::dn::Dn;
use idsync::engine::{Engine, IngestError, State};
use idsync::memory::{AdSource, DeltaStyle, InMemoryAd, InMemoryTarget};
use idsync::object::{ObjectKind, Value};
use idsync::scope::OuScope;
use idsync::source::{DirectorySource, SourceError};
use idsync::target::{Action, TargetErrorKind, apply_plan};
use idsync::time::Timestamp;

/// How many cycles a settle may take before the harness calls it a failure.
pub const SETTLE_BOUND: usize = 40;

/// One step of a run. Object operands are indices taken modulo the number of
/// objects of that kind created so far (so any sequence is valid and
/// shrinking keeps it valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new user in the in-scope OU or the out-of-scope OU.
    AddUser {
        in_scope: bool,
    },
    /// A new group.
    AddGroup {
        in_scope: bool,
    },
    /// displayName of a user or group.
    SetDisplayName {
        obj: u8,
        v: u8,
    },
    /// A new userPrincipalName for a user.
    SetUpn {
        user: u8,
        v: u8,
    },
    /// Flip userAccountControl between enabled and disabled.
    ToggleEnabled {
        user: u8,
    },
    /// Mark a user a leaver (extensionAttribute15, which the user scoping
    /// filter excludes) or clear the mark: scope crossed by a modification.
    SetLeaver {
        user: u8,
        on: bool,
    },
    /// A new RDN (same parent).
    Rename {
        obj: u8,
        v: u8,
    },
    /// Move to the in-scope or the out-of-scope OU.
    Move {
        obj: u8,
        to_in: bool,
    },
    /// Delete (a tombstone).
    Delete {
        obj: u8,
    },
    /// Restore a deleted object under its last parent.
    Restore {
        obj: u8,
    },
    /// Group member add / remove.
    AddMember {
        group: u8,
        member: u8,
    },
    RemoveMember {
        group: u8,
        member: u8,
    },
    /// ms-DS-ConsistencyGuid on an object no cycle has read yet.
    SetConsistencyGuid {
        obj: u8,
    },
    /// An ordinary cycle.
    Cycle,
    /// The target fails the next `n` ops (transiently).
    FailNext {
        n: u8,
    },
    /// Crash between apply and commit: the plan is dropped and the engine
    /// restored from the last persisted snapshot.
    CrashBeforeCommit,
    /// Crash after commit but before the snapshot was persisted: the source
    /// replays from the older watermark after the restart.
    CrashBeforePersist,
    /// The read batch is delivered twice (before and after the commit).
    DeliverTwice,
    /// Run cycles until one has no ops and no failures, then check the
    /// invariants against the model.
    Settle,
    /// A new configuration, taken the way a host takes one: persist, then
    /// restore under it. `widen` scopes the out-of-scope OU in as well (or
    /// back out); `tag` maps DisplayName through an expression (or back to
    /// the default direct mapping). The model syncs under the current one.
    ChangeConfig {
        widen: bool,
        tag: bool,
    },
    /// The agent's local queue overflows while it buffers the next delta:
    /// its records are dropped (the engine never sees them) and the queue
    /// asks for a full sync, which runs at once.
    QueueOverflow,
    /// What the AD's deltas report of a modified object: the attributes
    /// written since (DirSync; the default) or its whole state.
    DeltaStyle {
        changed: bool,
    },
}

/// What the harness counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub cycles: u64,
    pub settles: u64,
    pub ops_applied: u64,
    pub ops_failed: u64,
    pub crashes: u64,
    pub replays: u64,
    pub deletes: u64,
    pub config_changes: u64,
    pub overflows: u64,
}

/// The comparable view of a target: anchor -> (kind, UPN, DisplayName,
/// AccountEnabled, member anchors).
pub type View = BTreeMap<String, (ObjectKind, String, String, String, BTreeSet<String>)>;

pub struct Sim {
    pub ad: InMemoryAd,
    pub target: InMemoryTarget,
    initial_target: InMemoryTarget,
    pub config: SyncConfig,
    pub engine: Engine,
    persisted: State,
    in_ou: Dn,
    out_ou: Dn,
    users: Vec<Guid>,
    groups: Vec<Guid>,
    /// Objects no cycle has read yet.
    fresh: BTreeSet<Guid>,
    counter: u32,
    pub now: Timestamp,
    pub hold: bool,
    /// Target ids of objects any op deleted.
    pub deleted: Vec<String>,
    /// The batch headers the last persisted cycle committed.
    pub last_headers: Vec<idsync::change::BatchHeader>,
    cloud_only: idsync::target::TargetId,
    pub stats: Stats,
}

fn s(v: &str) -> Value {
    Value::str(v)
}

impl Sim {
    /// A company with a few objects; `hold` selects HoldForApproval instead
    /// of automatic deletion with a threshold that never holds.
    pub fn new(hold: bool) -> Result<Sim, String> {
        let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com").map_err(|e| e.to_string())?;
        ad.set_delta_style(DeltaStyle::ChangedAttributes);
        let root = ad.domain().clone();
        let in_g = ad.add_ou(&root, "Staff").map_err(|e| e.to_string())?;
        let out_g = ad.add_ou(&root, "Alumni").map_err(|e| e.to_string())?;
        let in_ou = ad.dn_of(in_g).map_err(|e| e.to_string())?;
        let out_ou = ad.dn_of(out_g).map_err(|e| e.to_string())?;
        let mut target = InMemoryTarget::new("contoso.onmicrosoft.com");
        target.add_verified_domain("corp.example.com");
        // A cloud-only user nobody may touch, and one the first sync
        // soft-matches on UPN.
        let cloud_only = target
            .seed_user("cloud.only@corp.example.com")
            .map_err(|e| e.to_string())?;
        target
            .seed_user("soft.match@corp.example.com")
            .map_err(|e| e.to_string())?;
        let initial_target = target.clone();
        let mut config = SyncConfig::new("corp");
        config.domain.fqdn = "corp.example.com".into();
        config.domain.netbios = "CORP".into();
        config.scope.ous = vec![OuScope::dn(in_ou.as_str())];
        config.scope.filters = serde_json::from_value(serde_json::json!({"user": {"groups": [[
            {"attribute": "extensionAttribute15", "operator": "IS NULL"}
        ]]}}))
        .map_err(|e| e.to_string())?;
        config.deletion = if hold {
            DeletionConfig::default()
        } else {
            DeletionConfig::automatic(100_000)
        };
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        let persisted = engine.snapshot();
        let mut sim = Sim {
            ad,
            target,
            initial_target,
            config,
            engine,
            persisted,
            in_ou,
            out_ou,
            users: Vec::new(),
            groups: Vec::new(),
            fresh: BTreeSet::new(),
            counter: 0,
            now: Timestamp::from_secs(1_767_225_600),
            hold,
            deleted: Vec::new(),
            last_headers: Vec::new(),
            cloud_only,
            stats: Stats::default(),
        };
        let soft = sim
            .ad
            .add_user(&sim.in_ou.clone(), "Soft Match")
            .map_err(|e| e.to_string())?;
        sim.users.push(soft);
        for i in 0..3 {
            sim.step(&Op::AddUser { in_scope: i != 2 })?;
        }
        sim.step(&Op::AddGroup { in_scope: true })?;
        sim.step(&Op::AddMember {
            group: 0,
            member: 1,
        })?;
        sim.step(&Op::AddMember {
            group: 0,
            member: 3,
        })?;
        sim.settle()?;
        Ok(sim)
    }

    fn all(&self) -> Vec<Guid> {
        self.users.iter().chain(&self.groups).copied().collect()
    }

    fn pick(list: &[Guid], i: u8) -> Option<Guid> {
        if list.is_empty() {
            None
        } else {
            Some(list[usize::from(i) % list.len()])
        }
    }

    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    /// Applies one step; AD refusals (deleting a deleted object, a name
    /// taken) are no-ops, engine misbehaviour is an `Err`.
    pub fn step(&mut self, op: &Op) -> Result<(), String> {
        let ou = |sim: &Sim, in_scope: bool| {
            if in_scope {
                sim.in_ou.clone()
            } else {
                sim.out_ou.clone()
            }
        };
        match *op {
            Op::AddUser { in_scope } => {
                let n = self.next();
                let ou = ou(self, in_scope);
                if let Ok(g) = self.ad.add_user(&ou, &format!("U{n} Person")) {
                    self.users.push(g);
                    self.fresh.insert(g);
                }
            }
            Op::AddGroup { in_scope } => {
                let n = self.next();
                let ou = ou(self, in_scope);
                if let Ok(g) = self.ad.add_group(&ou, &format!("G{n}")) {
                    self.groups.push(g);
                    self.fresh.insert(g);
                }
            }
            Op::SetDisplayName { obj, v } => {
                if let Some(g) = Self::pick(&self.all(), obj) {
                    let _ = self.ad.set(g, "displayName", [s(&format!("Name {v}"))]);
                }
            }
            Op::SetUpn { user, v } => {
                if let Some(g) = Self::pick(&self.users, user) {
                    let n = self.next();
                    let _ = self.ad.set(
                        g,
                        "userPrincipalName",
                        [s(&format!("upn{v}.{n}@corp.example.com"))],
                    );
                }
            }
            Op::SetLeaver { user, on } => {
                if let Some(g) = Self::pick(&self.users, user) {
                    let values = if on { vec![s("leaver")] } else { Vec::new() };
                    let _ = self.ad.set(g, "extensionAttribute15", values);
                }
            }
            Op::ToggleEnabled { user } => {
                if let Some(g) = Self::pick(&self.users, user) {
                    let uac = self
                        .ad
                        .get(g)
                        .and_then(|o| o.attributes.first("userAccountControl").cloned());
                    let next = if uac == Some(Value::Int(514)) {
                        512
                    } else {
                        514
                    };
                    let _ = self.ad.set(g, "userAccountControl", [Value::Int(next)]);
                }
            }
            Op::Rename { obj, v } => {
                if let Some(g) = Self::pick(&self.all(), obj) {
                    let n = self.next();
                    let _ = self.ad.rename(g, &format!("R{v} {n}"));
                }
            }
            Op::Move { obj, to_in } => {
                if let Some(g) = Self::pick(&self.all(), obj) {
                    let ou = ou(self, to_in);
                    let _ = self.ad.move_to(g, &ou);
                }
            }
            Op::Delete { obj } => {
                if let Some(g) = Self::pick(&self.all(), obj) {
                    let _ = self.ad.delete(g);
                }
            }
            Op::Restore { obj } => {
                if let Some(g) = Self::pick(&self.all(), obj) {
                    let _ = self.ad.restore(g, None);
                }
            }
            Op::AddMember { group, member } => {
                if let (Some(g), Some(m)) = (
                    Self::pick(&self.groups, group),
                    Self::pick(&self.all(), member),
                ) {
                    if g != m {
                        let _ = self.ad.add_member(g, m);
                    }
                }
            }
            Op::RemoveMember { group, member } => {
                if let Some(g) = Self::pick(&self.groups, group) {
                    let members = self.ad.members(g);
                    if let Some(m) = Self::pick(&members, member) {
                        let _ = self.ad.remove_member(g, m);
                    }
                }
            }
            Op::SetConsistencyGuid { obj } => {
                let fresh: Vec<Guid> = self.fresh.iter().copied().collect();
                if let Some(g) = Self::pick(&fresh, obj) {
                    let n = self.next();
                    let anchor =
                        Guid::from_u128(0xC0C0_0000_0000_0000_0000_0000_0000_0000 | u128::from(n));
                    let _ = self.ad.set_consistency_guid(g, &anchor.to_ad_bytes());
                }
            }
            Op::Cycle => {
                self.cycle(Mode::Normal)?;
            }
            Op::FailNext { n } => self
                .target
                .fail_next(u32::from(n % 4) + 1, TargetErrorKind::Transient),
            Op::CrashBeforeCommit => {
                self.cycle(Mode::CrashBeforeCommit)?;
            }
            Op::CrashBeforePersist => {
                self.cycle(Mode::CrashBeforePersist)?;
            }
            Op::DeliverTwice => {
                self.cycle(Mode::DeliverTwice)?;
            }
            Op::Settle => self.settle()?,
            Op::ChangeConfig { widen, tag } => self.change_config(widen, tag)?,
            Op::QueueOverflow => self.overflow()?,
            Op::DeltaStyle { changed } => self.ad.set_delta_style(if changed {
                DeltaStyle::ChangedAttributes
            } else {
                DeltaStyle::WholeObjects
            }),
        }
        Ok(())
    }

    fn overflow(&mut self) -> Result<(), String> {
        let since = self.engine.working().watermark.clone();
        if since.is_none() {
            return Ok(());
        }
        let Ok(batch) = AdSource::new(&mut self.ad, "corp").changes_since(&since) else {
            return Ok(());
        };
        // A queue too small for any record: every record overflows it.
        let mut queue = ChangeQueue::new(1);
        for r in &batch.records {
            match queue.push(r) {
                Ok(Pushed::Overflowed(_)) => {}
                Ok(Pushed::Queued { .. }) => return Err("a 1-byte queue took a record".into()),
                Err(e) => return Err(format!("a record does not encode: {e}")),
            }
        }
        if queue.take_full_sync_required().is_some() {
            self.stats.overflows += 1;
            self.cycle_with(Mode::Normal, true)?;
        }
        Ok(())
    }

    fn change_config(&mut self, widen: bool, tag: bool) -> Result<(), String> {
        let mut config = self.config.clone();
        config.scope.ous = vec![OuScope::dn(self.in_ou.as_str())];
        if widen {
            config.scope.ous.push(OuScope::dn(self.out_ou.as_str()));
        }
        config.mappings.user.custom.clear();
        if tag {
            config
                .mappings
                .user
                .custom
                .push(idsync::mapping::AttributeMapping::expression(
                    "DisplayName",
                    r#"Join(" ", [displayName], "(corp)")"#,
                ));
        }
        if config == self.config {
            return Ok(());
        }
        self.persist()?;
        self.config = config;
        self.restart()?;
        self.stats.config_changes += 1;
        Ok(())
    }

    /// The batches a host would read now: a delta from the engine's working
    /// watermark, or a full read when there is none or it is void.
    fn read(&mut self, full: bool) -> Result<Vec<ChangeBatch>, String> {
        let since = self.engine.working().watermark.clone();
        let mut source = AdSource::new(&mut self.ad, "corp").with_page_size(7);
        if !full && !since.is_none() {
            match source.changes_since(&since) {
                Ok(b) => return Ok(vec![b]),
                Err(SourceError::WatermarkVoid(_)) => {}
                Err(e) => return Err(format!("source: {e}")),
            }
        }
        source.full_read().map_err(|e| format!("source: {e}"))
    }

    fn ingest_all(&mut self, batches: &[ChangeBatch]) -> Result<bool, String> {
        for b in batches {
            match self.engine.ingest(b) {
                Ok(_) => {}
                Err(IngestError::Resume(idsync::change::ResumeError::FullSyncRequired {
                    ..
                })) => return Ok(false),
                Err(e) => return Err(format!("ingest refused a batch: {e}")),
            }
        }
        Ok(true)
    }

    /// One cycle; returns (ops planned, ops failed).
    pub fn cycle(&mut self, mode: Mode) -> Result<(usize, usize), String> {
        self.cycle_with(mode, false)
    }

    /// One cycle, a full read when `full`; returns (ops planned, ops failed).
    /// The headers of the batches a committed and persisted cycle covered
    /// are left in `last_headers`.
    pub fn cycle_with(&mut self, mode: Mode, full: bool) -> Result<(usize, usize), String> {
        self.stats.cycles += 1;
        self.last_headers.clear();
        let committed_before: Committed = self.engine.committed().clone();
        let full = full || self.engine.full_read_required();
        let mut batches = self.read(full)?;
        if !self.ingest_all(&batches)? {
            batches = self.read(true)?;
            if !self.ingest_all(&batches)? {
                return Err("a fresh full read was refused".into());
            }
        }
        if mode == Mode::DeliverTwice {
            // The same batches again before the commit. A delta is a replay
            // and changes nothing; a full read delivered again is a new full
            // read of the same objects, so it must plan the same.
            let working = self.engine.working().clone();
            let before = self.engine.plan(self.now, &self.target);
            for b in &batches {
                let r = self
                    .engine
                    .ingest(b)
                    .map_err(|e| format!("a batch delivered twice was refused: {e}"))?;
                if b.header.kind == idsync::change::BatchKind::Delta && r.applied != 0 && !r.replay
                {
                    return Err(format!("a batch delivered twice applied again: {r:?}"));
                }
            }
            if *self.engine.working() != working {
                return Err("a batch delivered twice moved the working watermark".into());
            }
            let after = self.engine.plan(self.now, &self.target);
            if before.ops != after.ops {
                return Err(format!(
                    "a batch delivered twice changed the plan: {:?} then {:?}",
                    before.ops, after.ops
                ));
            }
            self.stats.replays += 1;
        }
        self.fresh.clear();
        if *self.engine.committed() != committed_before {
            return Err(format!(
                "the committed watermark moved at ingest, before any commit: {:?} -> {:?}",
                committed_before,
                self.engine.committed()
            ));
        }
        self.target.set_time(self.now);
        let plan = self.engine.plan(self.now, &self.target);
        let again = self.engine.plan(self.now, &self.target);
        if plan != again {
            return Err("planning twice without new input gave different plans".into());
        }
        if self.hold
            && plan
                .ops
                .iter()
                .any(|o| matches!(o.action, Action::Delete { .. }))
        {
            return Err(format!(
                "HoldForApproval planned a deletion without approval: {:?}",
                plan.ops
                    .iter()
                    .filter(|o| matches!(o.action, Action::Delete { .. }))
                    .collect::<Vec<_>>()
            ));
        }
        // The write-ahead protocol a crash-safe host follows: record the plan
        // as begun and persist before applying anything.
        self.engine.begin(&plan);
        self.persist()?;
        let results = apply_plan(&mut self.target, &plan.ops);
        if std::env::var_os("IDSYNC_MODEL_TRACE").is_some() {
            eprintln!("cycle {} {mode:?} status {:?}", plan.cycle, plan.status);
            for (op, r) in plan.ops.iter().zip(&results) {
                eprintln!(
                    "  {} {} {} -> {:?}",
                    op.action.name(),
                    op.object,
                    op.reason,
                    r.outcome.as_ref().map(|_| ())
                );
            }
            for l in &plan.log {
                eprintln!("  log: {l}");
            }
        }
        let mut failed = 0;
        for (op, r) in plan.ops.iter().zip(&results) {
            match &r.outcome {
                Ok(_) => {
                    self.stats.ops_applied += 1;
                    if let Action::Delete { target } = &op.action {
                        self.deleted.push(target.to_string());
                        self.stats.deletes += 1;
                    }
                }
                Err(_) => failed += 1,
            }
        }
        self.stats.ops_failed += failed as u64;
        if mode == Mode::CrashBeforeCommit {
            self.restart()?;
            self.stats.crashes += 1;
            return Ok((plan.ops.len(), failed.max(1)));
        }
        self.engine
            .commit(&plan, &results, self.now)
            .map_err(|e| format!("commit refused: {e}"))?;
        if self.engine.committed() != self.engine.working() {
            return Err("after commit the committed read state is not the working one".into());
        }
        self.now = self.now.add_secs(60);
        if mode == Mode::CrashBeforePersist {
            self.restart()?;
            self.stats.crashes += 1;
            return Ok((plan.ops.len(), failed.max(1)));
        }
        if mode == Mode::DeliverTwice && failed == 0 {
            // After the commit the same batches are a replay: no ops.
            for b in &batches {
                let r = self
                    .engine
                    .ingest(b)
                    .map_err(|e| format!("a replayed batch was refused: {e}"))?;
                if b.header.kind == idsync::change::BatchKind::Delta && r.applied != 0 && !r.replay
                {
                    return Err(format!("a replayed batch applied again: {r:?}"));
                }
            }
            let replan = self.engine.plan(self.now, &self.target);
            if !replan.ops.is_empty() {
                return Err(format!(
                    "the same batch applied twice gave ops the second time: {:?}",
                    replan.ops
                ));
            }
        }
        self.persist()?;
        self.last_headers = batches.iter().map(|b| b.header.clone()).collect();
        Ok((plan.ops.len(), failed))
    }

    fn persist(&mut self) -> Result<(), String> {
        let json = serde_json::to_string(&self.engine.snapshot())
            .map_err(|e| format!("snapshot does not serialize: {e}"))?;
        self.persisted =
            serde_json::from_str(&json).map_err(|e| format!("snapshot does not load: {e}"))?;
        Ok(())
    }

    fn restart(&mut self) -> Result<(), String> {
        let committed = self.persisted.committed.clone();
        self.engine = Engine::restore(&self.config, self.persisted.clone())
            .map_err(|e| format!("restore: {e}"))?;
        if *self.engine.committed() != committed {
            return Err("a restored engine does not resume at the persisted watermark".into());
        }
        Ok(())
    }

    /// Cycles until one has no ops and no failures, then the invariants.
    pub fn settle(&mut self) -> Result<(), String> {
        self.stats.settles += 1;
        let mut settled = false;
        for _ in 0..SETTLE_BOUND {
            let (ops, failed) = self.cycle(Mode::Normal)?;
            if ops == 0 && failed == 0 {
                settled = true;
                break;
            }
        }
        if !settled {
            return Err(format!(
                "did not settle within {SETTLE_BOUND} cycles (faults left: {:?})",
                self.target.faults()
            ));
        }
        self.check()
    }

    /// The model's target: a fresh engine's full sync of the current AD into
    /// a copy of the initial target.
    pub fn model(&self) -> Result<InMemoryTarget, String> {
        let mut ad = self.ad.clone();
        ad.clear_faults();
        let mut target = self.initial_target.clone();
        target.set_time(self.now);
        let mut engine = Engine::new(&self.config).map_err(|e| e.to_string())?;
        for i in 0..SETTLE_BOUND {
            let r = engine
                .run_cycle(
                    &mut AdSource::new(&mut ad, "corp"),
                    &mut target,
                    self.now,
                    i == 0,
                )
                .map_err(|e| format!("model cycle: {e}"))?;
            if r.plan.ops.is_empty() && r.commit.failed == 0 {
                return Ok(target);
            }
        }
        Err("the model did not settle".into())
    }

    /// Checks the invariants against the model.
    pub fn check(&self) -> Result<(), String> {
        let model = self.model()?;
        let got = view(&self.target);
        let want = view(&model);
        if self.hold {
            // Nothing deleted; every object the model has is there and equal
            // (the real target keeps objects whose deletion is held).
            if !self.deleted.is_empty() {
                return Err(format!("deleted without approval: {:?}", self.deleted));
            }
            for (k, (kind, upn, name, enabled, members)) in &want {
                match got.get(k) {
                    None => return Err(format!("object {k} the model keeps is missing")),
                    Some((k2, u2, n2, e2, m2)) => {
                        if (kind, upn, name, enabled) != (k2, u2, n2, e2) || !members.is_subset(m2)
                        {
                            return Err(format!(
                                "object {k} differs: got {:?}, model {:?}",
                                got.get(k),
                                want.get(k)
                            ));
                        }
                    }
                }
            }
        } else if got != want {
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            let differ: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .map(|(k, v)| format!("{k}: got {:?} model {:?}", got.get(k), v))
                .collect();
            return Err(format!(
                "target differs from the model: missing {missing:?}, extra {extra:?}, differ {differ:?}"
            ));
        }
        if self.target.get(&self.cloud_only) != self.initial_target.get(&self.cloud_only) {
            return Err(format!(
                "the cloud-only user changed: {:?}",
                self.target.get(&self.cloud_only)
            ));
        }
        Ok(())
    }
}

/// How a cycle ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    CrashBeforeCommit,
    CrashBeforePersist,
    DeliverTwice,
}

/// The live synced objects of a target, by anchor.
pub fn view(t: &InMemoryTarget) -> View {
    let anchor_of = |id: &idsync::target::TargetId| {
        t.get(id)
            .and_then(|o| o.immutable_id.as_ref().map(ToString::to_string))
            .unwrap_or_else(|| format!("unsynced:{id}"))
    };
    let text = |o: &idsync::memory::CloudObject, name: &str| {
        o.attributes
            .get(name)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("|")
    };
    t.live()
        .filter_map(|o| {
            let anchor = o.immutable_id.as_ref()?.to_string();
            let members = t.members(&o.id).iter().map(anchor_of).collect();
            Some((
                anchor,
                (
                    o.kind,
                    o.user_principal_name().unwrap_or("").to_owned(),
                    text(o, "DisplayName"),
                    text(o, "AccountEnabled"),
                    members,
                ),
            ))
        })
        .collect()
}
