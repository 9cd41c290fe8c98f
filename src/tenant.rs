//! Several configurations sharing one target: one per forest or domain, plus
//! pilots. A [`Tenant`] owns one [`Engine`] per configuration and keeps them
//! from stepping on each other:
//!
//! - at load ([`Tenant::new`]): duplicate configuration names and
//!   statically overlapping scopes ([`crate::scope::check_overlaps`]) are
//!   refused, naming both configurations and the scope they share;
//! - at run time ([`Tenant::plan`]): every engine plans against the same
//!   target, then the plans are compared. An object is *claimed* by a
//!   configuration when its plan creates it, hard- or soft-matches it
//!   (stamps the anchor) or restores it. A claim conflicts when
//!   - another configuration claims the same source anchor (ImmutableId)
//!     in the same cycle, or already exported an active object with it
//!     ([`ConflictCode::DuplicateSourceAnchor`]);
//!   - another configuration claims or already exported the same
//!     objectGUID (the same object in two mirrors, e.g. scopes that
//!     partition by filters that turned out not to)
//!     ([`ConflictCode::ObjectInTwoConfigurations`]);
//!   - the target object it would stamp is already exported by another
//!     configuration ([`ConflictCode::TargetObjectTaken`]).
//!
//!   A conflict is logged for every object involved (a
//!   [`LogEntry`] with [`ErrorCategory::Conflict`] and the code in each
//!   plan's log) and the claiming ops are withheld: never a silent
//!   overwrite, never a double export. The object that was already exported
//!   keeps its target object and its updates.
//!
//! ## How withheld ops keep the engine's commit right
//!
//! [`Engine::commit`] decides what stays due from the plan's ops and their
//! results: an op with no result counts as "not applied" (due again, no
//! failure counted), an op with a failed result counts as failed, and an
//! object the plan processed that has neither is *done*. Simply dropping
//! ops from a plan would therefore mark the conflicting object done and
//! never retry it.
//!
//! So a [`PartPlan`] carries the engine's plan with the withheld ops taken
//! out of `plan.ops` (a host that applies `plan.ops` directly cannot
//! double-export by mistake) and keeps them, with their original positions,
//! in [`PartPlan::withheld`]. [`Tenant::commit`] puts them back in place and
//! gives each a failed [`OpResult`]: [`TargetErrorKind::Conflict`] for the
//! conflicting object's own ops (a permanent failure: the object stays due,
//! is logged each cycle, and is quarantined after the configuration's
//! `quarantine_after` cycles until it changes in the source) and
//! [`TargetErrorKind::DependencyFailed`] for other objects' ops that refer
//! to a withheld create or match (a membership of the conflicting object:
//! transient, retried once the conflict is resolved). Results a host sends
//! for a withheld op are refused before anything is committed.
//!
//! Only *active* exports count as taken: an object another configuration
//! soft-deleted (it left that forest's scope) may be claimed, which is how
//! an account migrated between forests with its ms-DS-ConsistencyGuid is
//! hard-matched and restored by its new configuration. Should the old one
//! later try to restore it, that restore is the conflicting claim.
//!
//! A conflict is not resolved by the tenant: each cycle logs it again until
//! a source changes. Because the withheld ops count as permanent failures,
//! a conflicting object is quarantined after its configuration's
//! `quarantine_after` cycles and stops claiming; if the other side is not
//! quarantined yet (a lower setting on one side), the other side's claim
//! then stands alone and is exported: first come, first served, never both.
//!
//! Static overlap detection only compares configurations that may read the
//! same directory: two configurations whose `domain.fqdn` are both set and
//! differ read different directories, and "the whole directory" of one is
//! not the other's. Run-time claims catch the rest.
//!
//! This module never applies ops itself beyond [`TenantPlan::apply`], which
//! only drives [`apply_plan`] over the parts; it never reads a clock.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::anchor::{Guid, ImmutableId};
use crate::change::ChangeBatch;
use crate::config::{ConfigError, SyncConfig};
use crate::engine::{
    CommitError, CommitReport, Engine, ExportStatus, IngestError, IngestReport, Plan, State,
};
use crate::limits::Limits;
use crate::log::{ErrorCategory, LogEntry, Outcome};
use crate::object::ObjectKind;
use crate::scope::{OverlapError, check_overlaps};
use crate::target::{
    Action, DirectoryTarget, OpId, OpResult, TargetError, TargetErrorKind, TargetId, TargetLookup,
    TargetOp, TargetRef, apply_plan,
};
use crate::time::Timestamp;

/// A set of configurations the tenant refuses to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// Two configurations have the same name (names are compared without
    /// case: they name batches and logs).
    #[error("configurations[{second}]: name {name:?} is already used by configurations[{first}]")]
    DuplicateName {
        /// The name.
        name: String,
        /// The index of the first configuration with it.
        first: usize,
        /// The index of the second.
        second: usize,
    },
    /// A configuration does not validate.
    #[error("configurations[{index}] ({name:?}): {source}")]
    Config {
        /// Its index.
        index: usize,
        /// Its name.
        name: String,
        /// Why.
        source: ConfigError,
    },
    /// A snapshot for a configuration the tenant does not have.
    #[error("snapshot for configuration {name:?}, which the tenant does not have")]
    UnknownSnapshot {
        /// The snapshot's configuration name.
        name: String,
    },
    /// Configurations whose scopes overlap (one error per pair, each naming
    /// both configurations and the scope they share).
    #[error("{}", overlaps_text(.0))]
    Overlap(Vec<OverlapError>),
}

fn overlaps_text(errors: &[OverlapError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

/// A tenant plan the tenant refuses to commit (nothing was committed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantCommitError {
    /// The plan's parts are not this tenant's configurations, in order.
    #[error("plan part {index} is for configuration {got:?}, the tenant's is {expected:?}")]
    WrongPart {
        /// The part's index.
        index: usize,
        /// The tenant's configuration at that index.
        expected: String,
        /// The part's configuration.
        got: String,
    },
    /// The plan has another number of parts than the tenant configurations.
    #[error("the plan has {got} parts, the tenant has {expected} configurations")]
    PartCount {
        /// The tenant's configurations.
        expected: usize,
        /// The plan's parts.
        got: usize,
    },
    /// One result list per part is needed.
    #[error("{got} result lists for {expected} plan parts")]
    ResultCount {
        /// The plan's parts.
        expected: usize,
        /// The result lists given.
        got: usize,
    },
    /// A result for an op the tenant withheld: it must never be applied.
    #[error("configuration {config:?}: result for withheld {op}; it must not be applied")]
    WithheldApplied {
        /// The configuration.
        config: String,
        /// The op.
        op: OpId,
    },
    /// An engine refused its part.
    #[error("configuration {config:?}: {source}")]
    Engine {
        /// The configuration.
        config: String,
        /// Why.
        source: CommitError,
    },
}

/// A batch the tenant could not route or its engine refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantIngestError {
    /// No configuration of this tenant has the batch's source name.
    #[error("batch is for configuration {0:?}, which this tenant does not have")]
    UnknownConfiguration(String),
    /// The configuration's engine refused the batch.
    #[error("configuration {config:?}: {source}")]
    Engine {
        /// The configuration.
        config: String,
        /// Why.
        source: IngestError,
    },
}

/// The product-style code of a cross-configuration conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConflictCode {
    /// The same source anchor arrives from two configurations.
    DuplicateSourceAnchor,
    /// The same objectGUID is claimed by two configurations.
    ObjectInTwoConfigurations,
    /// The target object to stamp is another configuration's export.
    TargetObjectTaken,
}

impl ConflictCode {
    /// The code as it appears in the provisioning log.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictCode::DuplicateSourceAnchor => "DuplicateSourceAnchor",
            ConflictCode::ObjectInTwoConfigurations => "ObjectInTwoConfigurations",
            ConflictCode::TargetObjectTaken => "TargetObjectTaken",
        }
    }
}

impl fmt::Display for ConflictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object involved in a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claimant {
    /// The configuration.
    pub config: String,
    /// The source object (objectGUID).
    pub object: Guid,
    /// Its DN when known.
    pub dn: Option<String>,
    /// Its anchor, when the plan or the export state gives one.
    pub anchor: Option<ImmutableId>,
    /// `true`: already exported (it keeps its target object); `false`:
    /// claimed this cycle (its ops are withheld).
    pub exported: bool,
}

impl fmt::Display for Claimant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration {:?} object ", self.config)?;
        match &self.dn {
            Some(dn) => write!(f, "{dn} ({})", self.object),
            None => write!(f, "{}", self.object),
        }
    }
}

/// A conflict between configurations found while planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// What kind.
    pub code: ConflictCode,
    /// What the claimants share: the anchor, the objectGUID or the target id.
    pub on: String,
    /// Every object involved, in configuration order (at least two
    /// configurations).
    pub claimants: Vec<Claimant>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who: Vec<String> = self.claimants.iter().map(ToString::to_string).collect();
        write!(f, "{} {}: {}", self.code, self.on, who.join(", "))
    }
}

/// A withheld op: kept out of the plan part, failed at commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Withheld {
    /// Its position in the engine's original plan.
    pub index: usize,
    /// The op.
    pub op: TargetOp,
    /// The failure it is committed with (`conflict` or `dependencyFailed`).
    pub error: TargetError,
}

/// One configuration's part of a tenant plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartPlan {
    /// The configuration.
    pub config: String,
    /// The engine's plan without the withheld ops (apply `plan.ops`); its
    /// log carries the conflict entries.
    pub plan: Plan,
    /// Ops withheld because of a conflict, with their original positions.
    pub withheld: Vec<Withheld>,
}

/// What [`Tenant::plan`] returns: one part per configuration, in the
/// tenant's order, and the conflicts found across them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantPlan {
    /// When it was planned.
    pub at: Timestamp,
    /// One part per configuration.
    pub parts: Vec<PartPlan>,
    /// Conflicts between configurations.
    pub conflicts: Vec<Conflict>,
}

impl TenantPlan {
    /// The part of a configuration.
    pub fn part(&self, config: &str) -> Option<&PartPlan> {
        self.parts
            .iter()
            .find(|p| p.config.eq_ignore_ascii_case(config))
    }

    /// Every op to apply, part by part.
    pub fn ops(&self) -> impl Iterator<Item = &TargetOp> {
        self.parts.iter().flat_map(|p| p.plan.ops.iter())
    }

    /// Applies every part's ops to `target` in order ([`apply_plan`] per
    /// part, as op ids are per engine); the result lists go to
    /// [`Tenant::commit`].
    pub fn apply<T: DirectoryTarget + ?Sized>(&self, target: &mut T) -> Vec<Vec<OpResult>> {
        self.parts
            .iter()
            .map(|p| apply_plan(target, &p.plan.ops))
            .collect()
    }
}

/// What [`Tenant::commit`] recorded, per configuration in the tenant's
/// order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantCommitReport {
    /// (configuration, what its engine recorded).
    pub parts: Vec<(String, CommitReport)>,
}

impl TenantCommitReport {
    /// Ops that succeeded, over all configurations.
    pub fn succeeded(&self) -> usize {
        self.parts.iter().map(|(_, r)| r.succeeded).sum()
    }

    /// Ops that failed (withheld ones included), over all configurations.
    pub fn failed(&self) -> usize {
        self.parts.iter().map(|(_, r)| r.failed).sum()
    }
}

/// Several configurations sharing one target, one engine each.
///
/// ```
/// use idsync::config::SyncConfig;
/// use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
/// use idsync::source::DirectorySource;
/// use idsync::tenant::{ConflictCode, Tenant};
/// use idsync::time::Timestamp;
///
/// // Two configurations of one domain whose scopes overlap are refused.
/// let mut corp = SyncConfig::new("corp");
/// corp.domain.fqdn = "corp.example.com".into();
/// let mut pilot = corp.clone();
/// pilot.name = "pilot".into();
/// let err = Tenant::new(vec![corp.clone(), pilot]).unwrap_err();
/// assert!(err.to_string().contains(r#""corp" and "pilot" overlap"#));
///
/// // Two forests whose users share a source anchor: neither is exported.
/// let mut fab = SyncConfig::new("fabrikam");
/// fab.domain.fqdn = "fabrikam.com".into();
/// let mut tenant = Tenant::new(vec![corp, fab])?;
/// let mut ad1 = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
/// let mut ad2 = InMemoryAd::new("DC=fabrikam,DC=com")?;
/// for ad in [&mut ad1, &mut ad2] {
///     // Both simulators draw the same GUIDs (same seed).
///     let ou = ad.add_ou(&ad.domain().clone(), "Staff")?;
///     ad.add_user(&ad.dn_of(ou)?, "Ann Lee")?;
/// }
/// for batch in AdSource::new(&mut ad1, "corp").full_read()? {
///     tenant.ingest(&batch)?;
/// }
/// for batch in AdSource::new(&mut ad2, "fabrikam").full_read()? {
///     tenant.ingest(&batch)?;
/// }
/// let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
/// let now = Timestamp::from_secs(1_767_225_600);
/// let plan = tenant.plan(now, &cloud);
/// assert_eq!(plan.conflicts[0].code, ConflictCode::DuplicateSourceAnchor);
/// assert!(plan.ops().next().is_none());
/// let results = plan.apply(&mut cloud);
/// tenant.commit(&plan, &results, now)?;
/// assert_eq!(cloud.live().count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Tenant {
    engines: Vec<(String, Engine)>,
    limits: Limits,
}

impl Tenant {
    /// Loads the configurations: names must be unique, each must validate,
    /// and no two scopes may overlap. Engines get the product's limits.
    pub fn new(configs: Vec<SyncConfig>) -> Result<Tenant, TenantError> {
        Tenant::with_limits(configs, Limits::default())
    }

    /// [`Tenant::new`] with other limits for every engine.
    pub fn with_limits(configs: Vec<SyncConfig>, limits: Limits) -> Result<Tenant, TenantError> {
        for (second, c) in configs.iter().enumerate() {
            if let Some(first) = configs[..second]
                .iter()
                .position(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                return Err(TenantError::DuplicateName {
                    name: c.name.clone(),
                    first,
                    second,
                });
            }
        }
        let mut engines = Vec::with_capacity(configs.len());
        for (index, c) in configs.iter().enumerate() {
            let engine =
                Engine::with_limits(c, limits.clone()).map_err(|source| TenantError::Config {
                    index,
                    name: c.name.clone(),
                    source,
                })?;
            engines.push((c.name.clone(), engine));
        }
        let mut overlaps = Vec::new();
        for (i, a) in configs.iter().enumerate() {
            for b in configs.iter().skip(i + 1) {
                if !may_share_directory(a, b) {
                    continue;
                }
                if let Err(errors) =
                    check_overlaps(&[(a.name.as_str(), &a.scope), (b.name.as_str(), &b.scope)])
                {
                    overlaps.extend(errors);
                }
            }
        }
        if !overlaps.is_empty() {
            return Err(TenantError::Overlap(overlaps));
        }
        Ok(Tenant { engines, limits })
    }

    /// Loads the configurations like [`Tenant::new`] and restores each
    /// engine from its snapshot (by configuration name; a configuration
    /// without one starts empty). A snapshot for a configuration the
    /// tenant does not have is refused.
    pub fn restore(
        configs: Vec<SyncConfig>,
        states: Vec<(String, State)>,
    ) -> Result<Tenant, TenantError> {
        Tenant::restore_with_limits(configs, Limits::default(), states)
    }

    /// [`Tenant::restore`] with other limits for every engine.
    pub fn restore_with_limits(
        configs: Vec<SyncConfig>,
        limits: Limits,
        states: Vec<(String, State)>,
    ) -> Result<Tenant, TenantError> {
        let mut tenant = Tenant::with_limits(configs.clone(), limits)?;
        for (name, state) in states {
            let Some(i) = tenant.index_of(&name) else {
                return Err(TenantError::UnknownSnapshot { name });
            };
            let (config_name, engine) = &mut tenant.engines[i];
            let config = configs
                .iter()
                .find(|c| &c.name == config_name)
                .ok_or_else(|| TenantError::UnknownSnapshot { name: name.clone() })?;
            let limits = tenant.limits.clone();
            *engine = Engine::restore_with_limits(config, limits, state).map_err(|source| {
                TenantError::Config {
                    index: i,
                    name: config_name.clone(),
                    source,
                }
            })?;
        }
        Ok(tenant)
    }

    /// A snapshot of every engine, by configuration name (call after
    /// [`Tenant::commit`]).
    pub fn snapshot(&self) -> Vec<(String, State)> {
        self.engines
            .iter()
            .map(|(n, e)| (n.clone(), e.snapshot()))
            .collect()
    }

    /// The configuration names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.engines.iter().map(|(n, _)| n.as_str())
    }

    /// The engine of a configuration.
    pub fn engine(&self, config: &str) -> Option<&Engine> {
        self.index_of(config).map(|i| &self.engines[i].1)
    }

    /// The engine of a configuration, to ingest, approve, reject.
    pub fn engine_mut(&mut self, config: &str) -> Option<&mut Engine> {
        self.index_of(config).map(|i| &mut self.engines[i].1)
    }

    /// Every engine with its configuration name, in order.
    pub fn engines(&self) -> impl Iterator<Item = (&str, &Engine)> {
        self.engines.iter().map(|(n, e)| (n.as_str(), e))
    }

    fn index_of(&self, config: &str) -> Option<usize> {
        self.engines
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(config))
    }

    /// Routes a batch to its configuration's engine (by the batch's source
    /// name) and ingests it there.
    pub fn ingest(&mut self, batch: &ChangeBatch) -> Result<IngestReport, TenantIngestError> {
        let source = batch.header.source.as_str();
        let Some(i) = self.index_of(source) else {
            return Err(TenantIngestError::UnknownConfiguration(source.to_owned()));
        };
        let (name, engine) = &mut self.engines[i];
        engine
            .ingest(batch)
            .map_err(|source| TenantIngestError::Engine {
                config: name.clone(),
                source,
            })
    }

    /// Plans every engine against the same target, then finds the
    /// conflicts between them (see the module documentation). Does not
    /// change the tenant.
    pub fn plan<T: TargetLookup + ?Sized>(&self, now: Timestamp, target: &T) -> TenantPlan {
        let plans: Vec<Plan> = self
            .engines
            .iter()
            .map(|(_, e)| e.plan(now, target))
            .collect();
        Detector::new(self, now, plans).run()
    }

    /// Write-ahead for every part ([`Engine::begin`]): call it, persist
    /// [`Tenant::snapshot`], then apply. Withheld ops are never applied, so
    /// they are not recorded as in flight.
    pub fn begin(&mut self, plan: &TenantPlan) {
        for part in &plan.parts {
            if let Some(i) = self.index_of(&part.config) {
                self.engines[i].1.begin(&part.plan);
            }
        }
    }

    /// Commits each engine's part: the results of the applied ops plus a
    /// failure for every withheld op (so the engine keeps those objects
    /// due). `results` holds one list per part, as [`TenantPlan::apply`]
    /// returns them. Everything is checked before any engine commits.
    pub fn commit(
        &mut self,
        plan: &TenantPlan,
        results: &[Vec<OpResult>],
        now: Timestamp,
    ) -> Result<TenantCommitReport, TenantCommitError> {
        if plan.parts.len() != self.engines.len() {
            return Err(TenantCommitError::PartCount {
                expected: self.engines.len(),
                got: plan.parts.len(),
            });
        }
        if results.len() != plan.parts.len() {
            return Err(TenantCommitError::ResultCount {
                expected: plan.parts.len(),
                got: results.len(),
            });
        }
        let checks = plan.parts.iter().zip(&self.engines).zip(results);
        for (index, ((part, (name, engine)), results)) in checks.enumerate() {
            if &part.config != name {
                return Err(TenantCommitError::WrongPart {
                    index,
                    expected: name.clone(),
                    got: part.config.clone(),
                });
            }
            check_part(part, results, engine)?;
        }
        let mut report = TenantCommitReport::default();
        for ((part, results), (name, engine)) in
            plan.parts.iter().zip(results).zip(&mut self.engines)
        {
            let r = if part.withheld.is_empty() {
                engine.commit(&part.plan, results, now)
            } else {
                let (full, all) = restore_withheld(part, results);
                engine.commit(&full, &all, now)
            }
            .map_err(|source| TenantCommitError::Engine {
                config: name.clone(),
                source,
            })?;
            report.parts.push((name.clone(), r));
        }
        Ok(report)
    }
}

/// Whether two configurations may read the same directory.
fn may_share_directory(a: &SyncConfig, b: &SyncConfig) -> bool {
    let (x, y) = (a.domain.fqdn.trim(), b.domain.fqdn.trim());
    x.is_empty() || y.is_empty() || x.eq_ignore_ascii_case(y)
}

/// The checks [`Engine::commit`] makes on results, plus the withheld ops,
/// done for every part before any engine commits.
fn check_part(
    part: &PartPlan,
    results: &[OpResult],
    engine: &Engine,
) -> Result<(), TenantCommitError> {
    let engine_error = |source| TenantCommitError::Engine {
        config: part.config.clone(),
        source,
    };
    if part.plan.cycle != engine.cycle() + 1 {
        return Err(engine_error(CommitError::StalePlan {
            plan: part.plan.cycle,
            committed: engine.cycle(),
        }));
    }
    let planned: HashSet<OpId> = part.plan.ops.iter().map(|o| o.id).collect();
    let withheld: HashSet<OpId> = part.withheld.iter().map(|w| w.op.id).collect();
    let mut seen = HashSet::new();
    for r in results {
        if withheld.contains(&r.op) {
            return Err(TenantCommitError::WithheldApplied {
                config: part.config.clone(),
                op: r.op,
            });
        }
        if !planned.contains(&r.op) {
            return Err(engine_error(CommitError::UnknownOp(r.op)));
        }
        if !seen.insert(r.op) {
            return Err(engine_error(CommitError::DuplicateResult(r.op)));
        }
    }
    Ok(())
}

/// The engine's original plan (withheld ops back at their positions) and
/// the results with a failure for each withheld op.
fn restore_withheld(part: &PartPlan, results: &[OpResult]) -> (Plan, Vec<OpResult>) {
    let mut full = part.plan.clone();
    let mut withheld: Vec<&Withheld> = part.withheld.iter().collect();
    withheld.sort_by_key(|w| w.index);
    for w in withheld {
        let at = w.index.min(full.ops.len());
        full.ops.insert(at, w.op.clone());
    }
    let mut all = results.to_vec();
    all.extend(part.withheld.iter().map(|w| OpResult {
        op: w.op.id,
        outcome: Err(w.error.clone()),
    }));
    (full, all)
}

/// A claim: engine `engine` creates, matches or restores `object`.
#[derive(Debug, Clone)]
struct Claim {
    engine: usize,
    object: Guid,
    anchor: Option<ImmutableId>,
    target: Option<TargetId>,
}

/// What claims are grouped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Anchor(ImmutableId),
    Object(Guid),
    Target(TargetId),
}

impl Key {
    fn code(&self) -> ConflictCode {
        match self {
            Key::Anchor(_) => ConflictCode::DuplicateSourceAnchor,
            Key::Object(_) => ConflictCode::ObjectInTwoConfigurations,
            Key::Target(_) => ConflictCode::TargetObjectTaken,
        }
    }

    fn text(&self) -> String {
        match self {
            Key::Anchor(a) => a.to_string(),
            Key::Object(g) => g.to_string(),
            Key::Target(t) => t.to_string(),
        }
    }
}

/// An active export of another configuration.
#[derive(Debug, Clone, Copy)]
struct Held {
    engine: usize,
    object: Guid,
}

struct Detector<'a> {
    tenant: &'a Tenant,
    now: Timestamp,
    plans: Vec<Plan>,
}

impl<'a> Detector<'a> {
    fn new(tenant: &'a Tenant, now: Timestamp, plans: Vec<Plan>) -> Detector<'a> {
        Detector { tenant, now, plans }
    }

    fn engine(&self, i: usize) -> &Engine {
        &self.tenant.engines[i].1
    }

    fn name(&self, i: usize) -> &str {
        &self.tenant.engines[i].0
    }

    /// The claims of every plan, in plan order, one per (engine, object).
    fn claims(&self) -> Vec<Claim> {
        let mut claims: Vec<Claim> = Vec::new();
        let mut at: HashMap<(usize, Guid), usize> = HashMap::new();
        for (i, plan) in self.plans.iter().enumerate() {
            for op in &plan.ops {
                let (anchor, target) = match &op.action {
                    Action::Create { anchor, .. } => (Some(*anchor), None),
                    Action::StampAnchor { target, anchor, .. } => {
                        (Some(*anchor), Some(target.clone()))
                    }
                    Action::Restore { target } => (
                        self.engine(i).exported(&op.object).map(|x| x.anchor),
                        Some(target.clone()),
                    ),
                    _ => continue,
                };
                let k = *at.entry((i, op.object)).or_insert_with(|| {
                    claims.push(Claim {
                        engine: i,
                        object: op.object,
                        anchor: None,
                        target: None,
                    });
                    claims.len() - 1
                });
                if let Some(c) = claims.get_mut(k) {
                    c.anchor = c.anchor.or(anchor);
                    if c.target.is_none() {
                        c.target = target;
                    }
                }
            }
        }
        claims
    }

    fn run(mut self) -> TenantPlan {
        let claims = self.claims();
        let mut conflicts = Vec::new();
        if !claims.is_empty() && self.tenant.engines.len() > 1 {
            conflicts = self.find(&claims);
        }
        let mut withheld: Vec<Vec<Withheld>> = vec![Vec::new(); self.plans.len()];
        for conflict in &conflicts {
            self.log(conflict);
        }
        let mut conflicted: Vec<HashMap<Guid, String>> = vec![HashMap::new(); self.plans.len()];
        for conflict in &conflicts {
            for c in conflict.claimants.iter().filter(|c| !c.exported) {
                if let Some(i) = self.tenant.index_of(&c.config) {
                    conflicted[i]
                        .entry(c.object)
                        .or_insert_with(|| conflict_message(conflict, c));
                }
            }
        }
        for (i, objects) in conflicted.iter().enumerate() {
            if !objects.is_empty() {
                withheld[i] = self.withhold(i, objects);
            }
        }
        let at = self.now;
        let parts = self
            .plans
            .into_iter()
            .zip(withheld)
            .zip(&self.tenant.engines)
            .map(|((plan, withheld), (name, _))| PartPlan {
                config: name.clone(),
                plan,
                withheld,
            })
            .collect();
        TenantPlan {
            at,
            parts,
            conflicts,
        }
    }

    /// Every conflict among the claims and the other configurations'
    /// active exports, anchors first; a claim is reported once.
    fn find(&self, claims: &[Claim]) -> Vec<Conflict> {
        let anchors: HashSet<ImmutableId> = claims.iter().filter_map(|c| c.anchor).collect();
        let objects: HashSet<Guid> = claims.iter().map(|c| c.object).collect();
        let targets: HashSet<TargetId> = claims.iter().filter_map(|c| c.target.clone()).collect();
        // Only the exports the claims could collide with are indexed.
        let mut by_anchor: HashMap<ImmutableId, Vec<Held>> = HashMap::new();
        let mut by_object: HashMap<Guid, Vec<Held>> = HashMap::new();
        let mut by_target: HashMap<TargetId, Vec<Held>> = HashMap::new();
        for (engine, (_, e)) in self.tenant.engines.iter().enumerate() {
            for (g, x) in e.exports() {
                if x.status != ExportStatus::Active {
                    continue;
                }
                let held = Held { engine, object: *g };
                if anchors.contains(&x.anchor) {
                    by_anchor.entry(x.anchor).or_default().push(held);
                }
                if objects.contains(g) {
                    by_object.entry(*g).or_default().push(held);
                }
                if targets.contains(&x.target) {
                    by_target.entry(x.target.clone()).or_default().push(held);
                }
            }
        }
        let mut reported: HashSet<(usize, Guid)> = HashSet::new();
        let mut conflicts = Vec::new();
        // Anchors, objects and targets, each grouped in first-claim order.
        // Keys stay typed: text is made only for a conflict.
        let mut groups: Vec<(Key, Vec<&Claim>)> = Vec::new();
        let mut group_of: HashMap<Key, usize> = HashMap::new();
        for c in claims {
            let keys = [
                c.anchor.map(Key::Anchor),
                Some(Key::Object(c.object)),
                c.target.clone().map(Key::Target),
            ];
            for key in keys.into_iter().flatten() {
                let k = match group_of.get(&key) {
                    Some(k) => *k,
                    None => {
                        group_of.insert(key.clone(), groups.len());
                        groups.push((key, Vec::new()));
                        groups.len() - 1
                    }
                };
                if let Some(g) = groups.get_mut(k) {
                    g.1.push(c);
                }
            }
        }
        // Report in code order so an anchor conflict hides the objectGUID
        // conflict of the same pair.
        for code in [
            ConflictCode::DuplicateSourceAnchor,
            ConflictCode::ObjectInTwoConfigurations,
            ConflictCode::TargetObjectTaken,
        ] {
            for (key, group_claims) in &groups {
                if key.code() != code {
                    continue;
                }
                let held: &[Held] = match key {
                    Key::Anchor(a) => by_anchor.get(a),
                    Key::Object(g) => by_object.get(g),
                    Key::Target(t) => by_target.get(t),
                }
                .map_or(&[], Vec::as_slice);
                let first = group_claims.first().map(|c| c.engine);
                let alone = group_claims.iter().all(|c| Some(c.engine) == first)
                    && held.iter().all(|h| Some(h.engine) == first);
                if alone {
                    continue;
                }
                let claimed: HashSet<usize> = group_claims.iter().map(|c| c.engine).collect();
                let held: Vec<Held> = held
                    .iter()
                    .copied()
                    .filter(|h| !claimed.contains(&h.engine))
                    .collect();
                let fresh = group_claims
                    .iter()
                    .any(|c| !reported.contains(&(c.engine, c.object)));
                if !fresh {
                    continue;
                }
                reported.extend(group_claims.iter().map(|c| (c.engine, c.object)));
                let mut claimants: Vec<(usize, Claimant)> = group_claims
                    .iter()
                    .map(|c| (c.engine, self.claimant(c.engine, c.object, c.anchor, false)))
                    .collect();
                claimants.extend(held.iter().map(|h| {
                    let anchor = self.engine(h.engine).exported(&h.object).map(|x| x.anchor);
                    (h.engine, self.claimant(h.engine, h.object, anchor, true))
                }));
                claimants.sort_by_key(|(e, c)| (*e, c.object));
                conflicts.push(Conflict {
                    code,
                    on: key.text(),
                    claimants: claimants.into_iter().map(|(_, c)| c).collect(),
                });
            }
        }
        conflicts
    }

    fn claimant(
        &self,
        i: usize,
        object: Guid,
        anchor: Option<ImmutableId>,
        exported: bool,
    ) -> Claimant {
        Claimant {
            config: self.name(i).to_owned(),
            object,
            dn: self
                .engine(i)
                .mirror()
                .get(&object)
                .map(|e| e.dn.to_string()),
            anchor,
            exported,
        }
    }

    /// One error entry per claimant, in its configuration's plan log.
    fn log(&mut self, conflict: &Conflict) {
        for c in &conflict.claimants {
            let Some(i) = self.tenant.index_of(&c.config) else {
                continue;
            };
            let kind = self.kind_of(i, &c.object);
            let message = conflict_message(conflict, c);
            if let Some(plan) = self.plans.get_mut(i) {
                let cycle = plan.cycle;
                plan.log.push(LogEntry {
                    at: self.now,
                    cycle,
                    object: c.object,
                    dn: c.dn.clone(),
                    kind,
                    outcome: Outcome::Error {
                        category: ErrorCategory::Conflict,
                        code: Some(conflict.code.as_str().to_owned()),
                        message,
                    },
                });
            }
        }
    }

    fn kind_of(&self, i: usize, object: &Guid) -> ObjectKind {
        let e = self.engine(i);
        e.mirror()
            .get(object)
            .map(|m| m.kind)
            .or_else(|| e.exported(object).map(|x| x.kind))
            .unwrap_or(ObjectKind::Unsupported)
    }

    /// Takes the conflicting objects' ops, and the ops that depend on them,
    /// out of engine `i`'s plan.
    fn withhold(&mut self, i: usize, objects: &HashMap<Guid, String>) -> Vec<Withheld> {
        let Some(plan) = self.plans.get_mut(i) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut kept = Vec::with_capacity(plan.ops.len());
        let mut gone_ops: HashSet<OpId> = HashSet::new();
        let mut gone_targets: HashSet<TargetId> = HashSet::new();
        for (index, op) in std::mem::take(&mut plan.ops).into_iter().enumerate() {
            let error = if let Some(message) = objects.get(&op.object) {
                match &op.action {
                    Action::StampAnchor { target, .. } | Action::Restore { target } => {
                        gone_targets.insert(target.clone());
                    }
                    _ => {}
                }
                Some(TargetError::new(TargetErrorKind::Conflict, message.clone()))
            } else if refs_of(&op.action).any(|r| match r {
                TargetRef::CreatedBy(o) => gone_ops.contains(o),
                TargetRef::Id(t) => gone_targets.contains(t),
            }) {
                Some(TargetError::new(
                    TargetErrorKind::DependencyFailed,
                    "withheld: it refers to an object in a conflict between configurations",
                ))
            } else {
                None
            };
            match error {
                Some(error) => {
                    gone_ops.insert(op.id);
                    out.push(Withheld { index, op, error });
                }
                None => kept.push(op),
            }
        }
        plan.ops = kept;
        plan.log.retain(|e| match &e.outcome {
            Outcome::Planned { op, .. } => !gone_ops.contains(op),
            _ => true,
        });
        out
    }
}

/// Every target reference an action makes.
fn refs_of(action: &Action) -> impl Iterator<Item = &TargetRef> {
    let refs: [Option<&TargetRef>; 2] = match action {
        Action::Update { target, .. } | Action::SetPasswordHash { target, .. } => {
            [Some(target), None]
        }
        Action::AddMember { group, member } | Action::RemoveMember { group, member } => {
            [Some(group), Some(member)]
        }
        _ => [None, None],
    };
    refs.into_iter().flatten()
}

/// The log message for one claimant: what it collides with.
fn conflict_message(conflict: &Conflict, me: &Claimant) -> String {
    let others: Vec<String> = conflict
        .claimants
        .iter()
        .filter(|c| !(c.config == me.config && c.object == me.object))
        .map(|c| {
            if c.exported {
                format!("{c} (already exported)")
            } else {
                c.to_string()
            }
        })
        .collect();
    let what = match conflict.code {
        ConflictCode::DuplicateSourceAnchor => format!("source anchor {}", conflict.on),
        ConflictCode::ObjectInTwoConfigurations => format!("objectGUID {}", conflict.on),
        ConflictCode::TargetObjectTaken => format!("target object {}", conflict.on),
    };
    let outcome = if me.exported {
        "this object keeps its target object"
    } else {
        "this object is not exported until the conflict is resolved"
    };
    format!("{what} is also claimed by {}; {outcome}", others.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::OuScope;

    fn cfg(name: &str, fqdn: &str, ous: &[&str]) -> SyncConfig {
        let mut c = SyncConfig::new(name);
        c.domain.fqdn = fqdn.into();
        c.scope.ous = ous.iter().map(|o| OuScope::dn(o)).collect();
        c
    }

    #[test]
    fn duplicate_names_are_refused_without_case() {
        let err =
            Tenant::new(vec![cfg("corp", "a.com", &[]), cfg("CORP", "b.com", &[])]).unwrap_err();
        assert_eq!(
            err,
            TenantError::DuplicateName {
                name: "CORP".into(),
                first: 0,
                second: 1
            }
        );
        assert_eq!(
            err.to_string(),
            r#"configurations[1]: name "CORP" is already used by configurations[0]"#
        );
    }

    #[test]
    fn different_domains_do_not_overlap_statically() {
        assert!(Tenant::new(vec![cfg("a", "a.com", &[]), cfg("b", "b.com", &[])]).is_ok());
        // Unknown domain: it may be the same directory.
        let err = Tenant::new(vec![cfg("a", "a.com", &[]), cfg("b", "", &[])]).unwrap_err();
        assert!(matches!(err, TenantError::Overlap(ref v) if v.len() == 1));
    }

    #[test]
    fn pilot_carved_out_of_the_domain_loads() {
        let mut corp = cfg("corp", "corp.com", &["DC=corp,DC=com"]);
        corp.scope.ous[0].exclude = vec![crate::scope::ContainerRef::dn("OU=Pilot,DC=corp,DC=com")];
        let pilot = cfg("pilot", "corp.com", &["OU=Pilot,DC=corp,DC=com"]);
        assert!(Tenant::new(vec![corp, pilot]).is_ok());
    }

    #[test]
    fn bad_configuration_is_named() {
        let err = Tenant::new(vec![cfg("a", "a.com", &[]), cfg(" ", "b.com", &[])]).unwrap_err();
        assert!(matches!(err, TenantError::Config { index: 1, .. }));
    }

    #[test]
    fn restore_withheld_puts_ops_back_in_place() {
        let mut tenant = Tenant::new(vec![cfg("a", "a.com", &[])]).unwrap();
        let plan = tenant.plan(
            Timestamp::from_secs(0),
            &crate::target::TargetView::default(),
        );
        let mut part = plan.parts[0].clone();
        let op = |n: u64| TargetOp {
            id: OpId(n),
            object: Guid::from_u128(u128::from(n)),
            kind: ObjectKind::User,
            action: Action::Delete {
                target: TargetId::new("x"),
            },
            reason: crate::target::Reason::DeletedInSource,
        };
        part.plan.ops = vec![op(1), op(3)];
        part.withheld = vec![
            Withheld {
                index: 1,
                op: op(2),
                error: TargetError::new(TargetErrorKind::Conflict, "c"),
            },
            Withheld {
                index: 3,
                op: op(4),
                error: TargetError::new(TargetErrorKind::Conflict, "c"),
            },
        ];
        let (full, results) = restore_withheld(&part, &[]);
        let ids: Vec<u64> = full.ops.iter().map(|o| o.id.0).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| r.outcome.is_err()));
        // An empty tenant plan commits.
        let results = plan.apply(&mut crate::memory::InMemoryTarget::new("x.onmicrosoft.com"));
        tenant
            .commit(&plan, &results, Timestamp::from_secs(0))
            .unwrap();
    }
}
