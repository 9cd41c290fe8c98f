//! Agents and the engine together (issue 7, engine side): failover in the
//! middle of a batch, replays, a void watermark, the object limit, and a
//! duplicate anchor across two forests, on a simulated clock.
//!
//! The host loop these tests follow for a batch an agent sends:
//! `Registry::check_batch` -> `Engine::ingest` -> `Engine::plan` ->
//! `Registry::commit` (the fence: refused for an agent that lost its
//! configuration) -> apply -> `Engine::commit` -> snapshot. When the fence
//! refuses, the host discards the staged batch by restoring the engine
//! from its last snapshot, so nothing of the stale agent's batch reaches the
//! target and the new agent resumes from the committed watermark.

use std::collections::BTreeMap;

use idsync::agent::{AgentError, AgentId, FullReason, Registry, RegistryEvent, Schedule, Work};
use idsync::anchor::Guid;
use idsync::change::{
    BatchHeader, BatchKind, Change, ChangeBatch, Completeness, ConfigId, Resume, ResumeError,
    VoidReason, Watermark,
};
use idsync::config::SyncConfig;
use idsync::deletion::DeletionConfig;
use idsync::dn::Dn;
use idsync::engine::{Engine, IngestError, Plan, State};
use idsync::limits::Limits;
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::{Attributes, Value};
use idsync::source::DirectorySource;
use idsync::target::apply_plan;
use idsync::tenant::{ConflictCode, Tenant};
use idsync::time::Timestamp;

const NC: &str = "DC=corp,DC=example,DC=com";
const FQDN: &str = "corp.example.com";

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-03-02T08:00:00Z").unwrap()
}

fn at(minutes: i64, seconds: i64) -> Timestamp {
    t0().add_secs(minutes * 60 + seconds)
}

fn config() -> SyncConfig {
    let mut c = SyncConfig::new("corp");
    c.domain.fqdn = FQDN.into();
    c.domain.netbios = "CORP".into();
    // Deletions flow at once, so the target can be compared with a fresh
    // full sync of the same directory.
    c.deletion = DeletionConfig::automatic(500);
    c
}

fn cloud() -> InMemoryTarget {
    let mut t = InMemoryTarget::new("contoso.onmicrosoft.com");
    t.add_verified_domain(FQDN);
    t
}

/// The engine with its last persisted snapshot.
struct Host {
    config: SyncConfig,
    engine: Engine,
    snapshot: State,
}

impl Host {
    fn new(config: SyncConfig) -> Host {
        let engine = Engine::new(&config).unwrap();
        let snapshot = engine.snapshot();
        Host {
            config,
            engine,
            snapshot,
        }
    }

    /// Throws away whatever was staged since the last commit.
    fn discard(&mut self) {
        self.engine = Engine::restore(&self.config, self.snapshot.clone()).unwrap();
    }

    /// Checks and ingests batches from `agent`; the plan is not applied yet.
    fn stage(
        &mut self,
        registry: &Registry,
        agent: &AgentId,
        batches: &[ChangeBatch],
        now: Timestamp,
        target: &InMemoryTarget,
    ) -> Result<Plan, AgentError> {
        for b in batches {
            match registry.check_batch(now, agent, &b.header)? {
                Resume::Apply => {
                    let r = self.engine.ingest(b).unwrap();
                    assert!(!r.replay);
                }
                _ => {
                    assert!(self.engine.ingest(b).unwrap().replay);
                }
            }
        }
        Ok(self.engine.plan(now, target))
    }

    /// Fences the batches at the registry, then applies and commits; on a
    /// refusal the staged batches are discarded and nothing is applied.
    fn finish(
        &mut self,
        registry: &mut Registry,
        agent: &AgentId,
        batches: &[ChangeBatch],
        plan: &Plan,
        now: Timestamp,
        target: &mut InMemoryTarget,
    ) -> Result<(), AgentError> {
        for b in batches {
            if let Err(e) = registry.commit(now, agent, &b.header) {
                self.discard();
                return Err(e);
            }
        }
        let results = apply_plan(target, &plan.ops);
        self.engine.commit(plan, &results, now).unwrap();
        self.snapshot = self.engine.snapshot();
        Ok(())
    }
}

/// The live target objects by anchor: kind, attributes, members (as
/// anchors); ids differ between targets, anchors do not.
type Picture = BTreeMap<String, (String, Vec<(String, String)>, Vec<String>)>;

fn picture(t: &InMemoryTarget) -> Picture {
    let anchor_of = |id: &idsync::target::TargetId| {
        t.get(id)
            .and_then(|o| o.immutable_id)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "cloud-only".into())
    };
    t.live()
        .map(|o| {
            let mut attrs: Vec<(String, String)> = o
                .attributes
                .iter()
                .map(|(n, v)| {
                    let vals: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                    (n.as_str().to_lowercase(), vals.join("|"))
                })
                .collect();
            attrs.sort();
            let mut members: Vec<String> = t.members(&o.id).iter().map(anchor_of).collect();
            members.sort();
            (anchor_of(&o.id), (o.kind.to_string(), attrs, members))
        })
        .collect()
}

/// What a fresh engine and an empty target make of the directory now.
fn fresh_sync(ad: &mut InMemoryAd, now: Timestamp) -> Picture {
    let mut engine = Engine::new(&config()).unwrap();
    let mut target = cloud();
    let report = engine
        .run_cycle(&mut AdSource::new(ad, "corp"), &mut target, now, true)
        .unwrap();
    assert_eq!(report.commit.failed, 0);
    picture(&target)
}

struct Directory {
    ad: InMemoryAd,
    ann: Guid,
    bob: Guid,
    cy: Guid,
    team: Guid,
    staff: Dn,
}

fn directory() -> Directory {
    let mut ad = InMemoryAd::new(NC).unwrap();
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff").unwrap();
    let staff = ad.dn_of(staff).unwrap();
    let ann = ad.add_user(&staff, "Ann Lee").unwrap();
    let bob = ad.add_user(&staff, "Bob Ray").unwrap();
    let cy = ad.add_user(&staff, "Cy Doe").unwrap();
    let team = ad.add_group(&staff, "Team").unwrap();
    ad.add_member(team, ann).unwrap();
    ad.add_member(team, bob).unwrap();
    Directory {
        ad,
        ann,
        bob,
        cy,
        team,
        staff,
    }
}

fn two_agents(now: Timestamp) -> (Registry, AgentId, AgentId) {
    let mut r = Registry::new(Limits::default());
    let (a, b) = (AgentId::new("agent-a"), AgentId::new("agent-b"));
    r.register(now, a.clone()).unwrap();
    r.register(now, b.clone()).unwrap();
    r.assign(a.clone(), FQDN).unwrap();
    r.assign(b.clone(), FQDN).unwrap();
    r.add_configuration("corp".into(), FQDN).unwrap();
    assert_eq!(r.active_agent(&"corp".into()), Some(&a));
    (r, a, b)
}

fn successes(t: &InMemoryTarget, object: Guid, action: &str) -> usize {
    t.log()
        .iter()
        .filter(|l| l.object == object && l.action == action && l.outcome.is_ok())
        .count()
}

#[test]
fn failover_mid_batch_after_31_minutes_resumes_without_gap_or_double_apply() {
    let mut d = directory();
    let (mut registry, a, b) = two_agents(t0());
    let corp = ConfigId::new("corp");
    let mut host = Host::new(config());
    let mut target = cloud();

    // t=0: agent-a's first full read.
    let pages = AdSource::new(&mut d.ad, "corp").full_read().unwrap();
    let plan = host.stage(&registry, &a, &pages, t0(), &target).unwrap();
    host.finish(&mut registry, &a, &pages, &plan, t0(), &mut target)
        .unwrap();
    assert_eq!(host.engine.exports().count(), 4);

    // t=5: both agents heartbeat; then agent-a goes silent. agent-b keeps
    // its 5-minute heartbeat.
    registry.heartbeat(at(5, 0), &a).unwrap();
    for m in (5..=35).step_by(5) {
        registry.heartbeat(at(m, 0), &b).unwrap();
    }

    // Changes in the directory.
    let new_name = Value::str("Ann Lee-Smith");
    d.ad.set(d.ann, "displayName", [new_name.clone()]).unwrap();
    let dee = d.ad.add_user(&d.staff, "Dee Kim").unwrap();
    d.ad.add_member(d.team, dee).unwrap();
    d.ad.delete(d.cy).unwrap();

    // t=34: agent-a (29 minutes since its heartbeat, still active) reads a
    // delta; the engine stages it and plans.
    let committed = host.engine.committed().watermark.clone();
    let stale = vec![
        AdSource::new(&mut d.ad, "corp")
            .changes_since(&committed)
            .unwrap(),
    ];
    assert!(!stale[0].records.is_empty());
    let stale_plan = host
        .stage(&registry, &a, &stale, at(34, 0), &target)
        .unwrap();
    assert!(!stale_plan.ops.is_empty());
    assert_eq!(host.engine.staged(), 1);

    // t=36: the host ticks; agent-a has been silent for 31 minutes.
    let events = registry.tick(at(36, 0));
    assert!(events.contains(&RegistryEvent::AgentUnhealthy {
        agent: a.clone(),
        last_heartbeat: at(5, 0)
    }));
    let resume_from = events
        .iter()
        .find_map(|e| match e {
            RegistryEvent::Failover {
                config,
                from,
                to,
                resume_from,
            } if config == &corp && from == &a && to == &b => Some(resume_from.clone()),
            _ => None,
        })
        .expect("failover to agent-b");
    assert_eq!(
        resume_from, committed,
        "b resumes from the committed watermark"
    );

    // agent-a's batch reaches the fence after the failover: refused, and
    // the staged batch is discarded before anything reaches the target.
    let ops_before = target.log().len();
    let err = host
        .finish(
            &mut registry,
            &a,
            &stale,
            &stale_plan,
            at(36, 0),
            &mut target,
        )
        .unwrap_err();
    assert_eq!(
        err,
        AgentError::NotActive {
            config: corp.clone(),
            agent: a.clone(),
            active: Some(b.clone()),
        }
    );
    assert_eq!(
        target.log().len(),
        ops_before,
        "nothing of the stale batch applied"
    );
    assert_eq!(host.engine.staged(), 0);
    assert_eq!(host.engine.committed().watermark, resume_from);
    assert_eq!(registry.committed(&corp).unwrap().watermark, resume_from);
    // A retry from agent-a is refused at the door too.
    assert!(matches!(
        registry.check_batch(at(36, 10), &a, &stale[0].header),
        Err(AgentError::NotActive { .. })
    ));

    // One more change after agent-a's read.
    d.ad.set(d.bob, "title", [Value::str("Lead")]).unwrap();

    // t=36:30: agent-b resumes from the committed watermark.
    let batch = vec![
        AdSource::new(&mut d.ad, "corp")
            .changes_since(&resume_from)
            .unwrap(),
    ];
    assert_eq!(batch[0].header.since, resume_from);
    let plan = host
        .stage(&registry, &b, &batch, at(36, 30), &target)
        .unwrap();
    host.finish(&mut registry, &b, &batch, &plan, at(36, 30), &mut target)
        .unwrap();
    assert_eq!(
        registry.committed(&corp).unwrap().watermark,
        batch[0].header.watermark
    );
    assert_eq!(host.engine.committed().watermark, batch[0].header.watermark);

    // No gap: every change is in the target; no double apply: each change
    // was applied once.
    let ann_id = host.engine.exported(&d.ann).unwrap().target.clone();
    assert_eq!(target.attribute(&ann_id, "DisplayName"), [new_name]);
    assert!(host.engine.exported(&dee).is_some());
    assert_eq!(successes(&target, d.ann, "update"), 1);
    assert_eq!(successes(&target, dee, "create"), 1);
    assert_eq!(successes(&target, d.cy, "delete"), 1);
    for g in [d.ann, d.bob, d.cy, d.team, dee] {
        assert_eq!(successes(&target, g, "create"), 1, "{g}");
    }
    assert_eq!(picture(&target), fresh_sync(&mut d.ad, at(36, 30)));

    // agent-b sends the same batch again (a retry after a lost ack): the
    // registry says already applied and the engine changes nothing.
    let before = serde_json::to_string(&host.engine.snapshot()).unwrap();
    let replay = host
        .stage(&registry, &b, &batch, at(37, 0), &target)
        .unwrap();
    assert!(replay.ops.is_empty());
    assert_eq!(
        registry.commit(at(37, 0), &b, &batch[0].header).unwrap(),
        Resume::AlreadyApplied
    );
    assert_eq!(
        serde_json::to_string(&host.engine.snapshot()).unwrap(),
        before
    );

    // agent-a comes back: it recovers but does not take the configuration back.
    let events = registry.heartbeat(at(40, 0), &a).unwrap();
    assert_eq!(events, [RegistryEvent::AgentRecovered { agent: a.clone() }]);
    assert_eq!(registry.active_agent(&corp), Some(&b));
    assert!(matches!(
        registry.check_batch(at(40, 0), &a, &stale[0].header),
        Err(AgentError::NotActive { .. })
    ));
}

#[test]
fn a_replayed_batch_changes_nothing() {
    let mut d = directory();
    let mut engine = Engine::new(&config()).unwrap();
    let mut target = cloud();
    engine
        .run_cycle(
            &mut AdSource::new(&mut d.ad, "corp"),
            &mut target,
            t0(),
            false,
        )
        .unwrap();
    d.ad.set(d.ann, "displayName", [Value::str("Ann B")])
        .unwrap();
    let since = engine.committed().watermark.clone();
    let delta = AdSource::new(&mut d.ad, "corp")
        .changes_since(&since)
        .unwrap();
    assert!(!engine.ingest(&delta).unwrap().replay);
    let plan = engine.plan(at(1, 0), &target);
    assert_eq!(plan.ops.len(), 1);
    let results = apply_plan(&mut target, &plan.ops);
    engine.commit(&plan, &results, at(1, 0)).unwrap();

    let state = serde_json::to_string(&engine.snapshot()).unwrap();
    let picture_before = picture(&target);
    // The agent crashed before it saw the ack and sends the batch again.
    let r = engine.ingest(&delta).unwrap();
    assert!(r.replay);
    assert_eq!(r.applied, 0);
    assert_eq!(engine.staged(), 0);
    assert_eq!(engine.due_count(), 0);
    let plan = engine.plan(at(2, 0), &target);
    assert!(plan.ops.is_empty());
    let results = apply_plan(&mut target, &plan.ops);
    engine.commit(&plan, &results, at(2, 0)).unwrap();
    assert_eq!(picture(&target), picture_before);
    let mut after: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&engine.snapshot()).unwrap()).unwrap();
    let mut before: serde_json::Value = serde_json::from_str(&state).unwrap();
    // Only the cycle counter moved.
    after["cycle"] = 0.into();
    before["cycle"] = 0.into();
    assert_eq!(after, before);
}

#[test]
fn an_invocation_id_change_forces_a_full_read() {
    let mut d = directory();
    let mut engine = Engine::new(&config()).unwrap();
    let mut target = cloud();
    let (mut registry, a, _) = two_agents(t0());
    let pages = AdSource::new(&mut d.ad, "corp").full_read().unwrap();
    for p in &pages {
        registry.check_batch(t0(), &a, &p.header).unwrap();
        engine.ingest(p).unwrap();
        registry.commit(t0(), &a, &p.header).unwrap();
    }
    let plan = engine.plan(t0(), &target);
    let results = apply_plan(&mut target, &plan.ops);
    engine.commit(&plan, &results, t0()).unwrap();
    let committed = engine.committed().watermark.clone();
    let Watermark::Usn {
        highest_committed_usn,
        invocation_id: old,
        ..
    } = committed.clone()
    else {
        panic!("usn watermark expected: {committed:?}");
    };

    // The DC is restored from a backup; a change is made after.
    d.ad.restore_from_backup();
    let new = d.ad.invocation_id();
    assert_ne!(old, new);
    d.ad.set(d.bob, "displayName", [Value::str("Bob R")])
        .unwrap();

    // An agent that does not notice sends a delta against the new database.
    let delta = ChangeBatch {
        header: BatchHeader {
            source: "corp".into(),
            since: Watermark::usn(highest_committed_usn, new, "dc1"),
            watermark: Watermark::usn(d.ad.highest_usn() as u64, new, "dc1"),
            kind: BatchKind::Delta,
        },
        records: Vec::new(),
    };
    let err = engine.ingest(&delta).unwrap_err();
    assert_eq!(
        err,
        IngestError::Resume(ResumeError::FullSyncRequired {
            reason: VoidReason::InvocationIdChanged { old, new }
        })
    );
    assert_eq!(engine.staged(), 0, "nothing staged");
    // The registry refuses it the same way; the schedule turns it into a
    // full sync.
    assert!(matches!(
        registry.check_batch(at(1, 0), &a, &delta.header),
        Err(AgentError::Watermark {
            error: ResumeError::FullSyncRequired { .. },
            ..
        })
    ));
    let mut schedule = Schedule::first_run(&Limits::default());
    schedule.heartbeat_sent(at(1, 0));
    schedule
        .started(at(1, 0), idsync::agent::CycleKind::Full)
        .unwrap();
    schedule
        .finished(at(1, 5), idsync::agent::CycleOutcome::Completed)
        .unwrap();
    schedule.request_full(FullReason::WatermarkVoid);
    assert_eq!(
        schedule.next_due(at(1, 10)).what,
        Work::Full {
            reason: FullReason::WatermarkVoid
        }
    );

    // run_cycle falls back to a full read by itself.
    let report = engine
        .run_cycle(
            &mut AdSource::new(&mut d.ad, "corp"),
            &mut target,
            at(2, 0),
            false,
        )
        .unwrap();
    assert!(report.full_read);
    let Watermark::Usn { invocation_id, .. } = &engine.committed().watermark else {
        panic!("usn watermark expected");
    };
    assert_eq!(*invocation_id, new);
    let bob_id = engine.exported(&d.bob).unwrap().target.clone();
    assert_eq!(
        target.attribute(&bob_id, "DisplayName"),
        [Value::str("Bob R")]
    );
    assert_eq!(picture(&target), fresh_sync(&mut d.ad, at(2, 0)));
}

fn user_record(n: u128) -> Change {
    Change::Add {
        guid: Guid::from_u128(n),
        dn: Dn::parse(&format!("CN=u{n},OU=Bulk,{NC}")).unwrap(),
        attributes: Attributes::new().with(
            "objectClass",
            [Value::str("top"), Value::str("person"), Value::str("user")],
        ),
        password_hash: None,
    }
}

#[test]
fn the_engine_refuses_the_batch_that_would_hold_150_001_objects() {
    let mut engine = Engine::new(&config()).unwrap();
    let inv = Guid::from_u128(0xdc);
    let first = ChangeBatch {
        header: BatchHeader {
            source: "corp".into(),
            since: Watermark::None,
            watermark: Watermark::usn(10, inv, "dc1"),
            kind: BatchKind::Full {
                page: 0,
                completeness: Completeness::Finished,
                objects: 2,
            },
        },
        records: vec![user_record(1), user_record(2)],
    };
    engine.ingest(&first).unwrap();
    assert_eq!(engine.mirror().len(), 2);

    // A delta adding 149,999 more (one of them twice, and one existing
    // object again: neither counts twice).
    let mut records: Vec<Change> = (3..=150_001u128).map(user_record).collect();
    records.push(user_record(3));
    records.push(user_record(1));
    let big = ChangeBatch {
        header: BatchHeader {
            source: "corp".into(),
            since: Watermark::usn(10, inv, "dc1"),
            watermark: Watermark::usn(20, inv, "dc1"),
            kind: BatchKind::Delta,
        },
        records,
    };
    let working = engine.working().clone();
    let err = engine.ingest(&big).unwrap_err();
    const MAX_OBJECTS: usize = 150_000;
    assert_eq!(
        Limits::default().max_objects_per_configuration,
        MAX_OBJECTS as u64
    );
    assert_eq!(
        err,
        IngestError::ObjectLimit {
            would_hold: MAX_OBJECTS + 1,
            limit: MAX_OBJECTS
        }
    );
    assert_eq!(
        err.to_string(),
        "applying the batch would hold 150001 objects; the limit is 150000"
    );
    // Nothing truncated: not one record of the batch was applied, and the
    // watermark did not move.
    assert_eq!(engine.mirror().len(), 2);
    assert!(engine.mirror().get(&Guid::from_u128(3)).is_none());
    assert_eq!(engine.working(), &working);
    assert_eq!(engine.staged(), 1);
    // The limits module says the same about the count.
    assert!(Limits::default().check_object_count(2, 149_999).is_err());
    assert!(Limits::default().check_object_count(2, 149_998).is_ok());

    // A smaller batch from the same watermark still applies.
    let small = ChangeBatch {
        header: big.header.clone(),
        records: vec![user_record(3)],
    };
    engine.ingest(&small).unwrap();
    assert_eq!(engine.mirror().len(), 3);
}

#[test]
fn a_duplicate_anchor_across_two_forests_is_a_conflict_for_both() {
    // One agent per forest, one configuration per forest, one target.
    let mut registry = Registry::new(Limits::default());
    let (a, f) = (AgentId::new("agent-corp"), AgentId::new("agent-fab"));
    registry.register(t0(), a.clone()).unwrap();
    registry.register(t0(), f.clone()).unwrap();
    registry.assign(a.clone(), FQDN).unwrap();
    registry.assign(f.clone(), "fabrikam.com").unwrap();
    registry.add_configuration("corp".into(), FQDN).unwrap();
    registry
        .add_configuration("fabrikam".into(), "fabrikam.com")
        .unwrap();
    let mut fab_config = SyncConfig::new("fabrikam");
    fab_config.domain.fqdn = "fabrikam.com".into();
    let mut tenant = Tenant::new(vec![config(), fab_config]).unwrap();

    let mut d = directory();
    let mut fab = InMemoryAd::new("DC=fabrikam,DC=com").unwrap().with_seed(9);
    let root = fab.domain().clone();
    let ou = fab.add_ou(&root, "People").unwrap();
    let ou = fab.dn_of(ou).unwrap();
    let twin = fab.add_user(&ou, "Ann Twin").unwrap();
    fab.set_consistency_guid(twin, &d.ann.to_ad_bytes())
        .unwrap();

    let mut target = cloud();
    target.add_verified_domain("fabrikam.com");
    let corp_pages = AdSource::new(&mut d.ad, "corp").full_read().unwrap();
    let fab_pages = AdSource::new(&mut fab, "fabrikam").full_read().unwrap();
    for (agent, pages) in [(&a, &corp_pages), (&f, &fab_pages)] {
        for p in pages.iter() {
            assert_eq!(
                registry.check_batch(t0(), agent, &p.header).unwrap(),
                Resume::Apply
            );
            tenant.ingest(p).unwrap();
        }
    }
    let plan = tenant.plan(t0(), &target);
    for (agent, pages) in [(&a, &corp_pages), (&f, &fab_pages)] {
        for p in pages.iter() {
            registry.commit(t0(), agent, &p.header).unwrap();
        }
    }
    let results = plan.apply(&mut target);
    let report = tenant.commit(&plan, &results, t0()).unwrap();
    assert!(report.failed() >= 2);

    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.conflicts[0].code, ConflictCode::DuplicateSourceAnchor);
    for (config, object) in [("corp", d.ann), ("fabrikam", twin)] {
        let logged = plan.part(config).unwrap().plan.log.iter().any(|e| {
            e.object == object
                && matches!(&e.outcome, idsync::log::Outcome::Error { code: Some(c), .. } if c == "DuplicateSourceAnchor")
        });
        assert!(logged, "{config} logs the conflict for {object}");
        assert!(tenant.engine(config).unwrap().exported(&object).is_none());
    }
    let anchor = d.ann.immutable_id();
    assert_eq!(
        target
            .iter()
            .filter(|o| o.immutable_id == Some(anchor))
            .count(),
        0,
        "never a double export, never an overwrite"
    );
    // The rest of corp flowed.
    assert!(tenant.engine("corp").unwrap().exported(&d.bob).is_some());
}
