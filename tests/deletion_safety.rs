//! Deletion safety in both directions (issue 11): the source-health gate,
//! deletions by absence versus by tombstone, grace-period deprovisioning,
//! percentage and per-kind / per-group limits, protected objects, specific
//! approvals, and the stories admins fear.

use idsync::anchor::Guid;
use idsync::config::SyncConfig;
use idsync::deletion::{Category, DeletionConfig, HoldWhy, Limit, PerKind, Protection};
use idsync::engine::{CycleReport, Engine, ExportStatus, IngestError, PlanStatus};
use idsync::log::{Outcome, SkipReason};
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::Value;
use idsync::scope::{Clause, OuScope};
use idsync::target::{Action, Reason};
use idsync::time::Timestamp;

const NC: &str = "DC=corp,DC=example,DC=com";

struct World {
    ad: InMemoryAd,
    target: InMemoryTarget,
    engine: Engine,
    staff: Guid,
    users: Vec<Guid>,
}

fn day(d: i64) -> Timestamp {
    Timestamp::from_secs(1_767_225_600 + d * 86_400)
}

fn world(n: usize, deletion: DeletionConfig) -> World {
    let mut ad = InMemoryAd::new(NC).unwrap();
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff").unwrap();
    let staff_dn = ad.dn_of(staff).unwrap();
    let users: Vec<Guid> = (0..n)
        .map(|i| ad.add_user(&staff_dn, &format!("User {i:03}")).unwrap())
        .collect();
    let mut target = InMemoryTarget::new("contoso.onmicrosoft.com");
    target.add_verified_domain("corp.example.com");
    let mut config = SyncConfig::new("corp");
    config.scope.ous = vec![OuScope::dn(staff_dn.as_str())];
    config.deletion = deletion;
    let mut engine = Engine::new(&config).unwrap();
    let r = engine
        .run_cycle(
            &mut AdSource::new(&mut ad, "corp"),
            &mut target,
            day(0),
            false,
        )
        .unwrap();
    assert_eq!(r.commit.failed, 0);
    assert_eq!(engine.exports().count(), n);
    World {
        ad,
        target,
        engine,
        staff,
        users,
    }
}

impl World {
    fn cycle(&mut self, at: Timestamp, full: bool) -> CycleReport {
        self.engine
            .run_cycle(
                &mut AdSource::new(&mut self.ad, "corp"),
                &mut self.target,
                at,
                full,
            )
            .unwrap()
    }

    fn live_users(&self) -> usize {
        self.target.live().count()
    }

    fn deletes(r: &CycleReport) -> usize {
        r.plan
            .ops
            .iter()
            .filter(|o| matches!(o.action, Action::Delete { .. }))
            .count()
    }
}

#[test]
fn a_read_cut_short_infers_no_deletion_but_applies_the_rest() {
    let mut w = world(30, DeletionConfig::automatic(100));
    w.ad.set(w.users[0], "title", [Value::str("Boss")]).unwrap();
    // the bind fails after 10 objects of a full read
    w.ad.fail_next_full_read_after(10);
    let r = w.cycle(day(1), true);
    assert!(r.ingested.iter().any(|i| i.cut_short));
    assert_eq!(World::deletes(&r), 0);
    assert!(r.plan.held.is_empty());
    assert_eq!(w.live_users(), 30);
    // the next full read is whole: still nothing to delete
    let r = w.cycle(day(2), true);
    assert_eq!(World::deletes(&r), 0);
    let boss = &w.engine.exported(&w.users[0]).unwrap().target;
    assert_eq!(w.target.attribute(boss, "Title"), &[Value::str("Boss")]);
}

#[test]
fn a_dc_returning_40_percent_holds_deletions_as_source_incomplete() {
    let mut w = world(200, DeletionConfig::automatic(500));
    let root = w.ad.domain().clone();
    let staff_dn = w.ad.dn_of(w.staff).unwrap();
    let newcomer = w.ad.add_user(&staff_dn, "New Comer").unwrap();
    let _ = root;
    w.ad.return_only_percent(40);
    let r = w.cycle(day(1), true);
    assert!(r.ingested.iter().any(|i| i.suspect));
    assert_eq!(World::deletes(&r), 0, "no deletion from a short read");
    assert_eq!(
        r.plan.status,
        PlanStatus::Paused {
            held: r.plan.held[0].items.len()
        }
    );
    assert!(matches!(
        r.plan.held[0].why,
        HoldWhy::SourceReadIncomplete { last: 201, .. }
    ));
    let held = r.plan.log.iter().find(|l| matches!(&l.outcome, Outcome::Skipped(SkipReason::HeldForApproval { why }) if why.contains("source read looks incomplete")));
    assert!(held.is_some());
    assert_eq!(w.live_users(), 200);
    // creates still apply when the newcomer was read
    let read_newcomer = w.engine.mirror().get(&newcomer).is_some();
    assert_eq!(w.engine.exported(&newcomer).is_some(), read_newcomer);
    // a healthy read brings the objects back and the held deletions do nothing
    let r = w.cycle(day(2), true);
    assert_eq!(World::deletes(&r), 0);
    assert!(w.engine.exported(&newcomer).is_some());
    assert_eq!(w.live_users(), 201);
}

#[test]
fn deletions_by_absence_and_by_tombstone_are_told_apart() {
    let mut w = world(20, DeletionConfig::automatic(100));
    w.ad.delete(w.users[0]).unwrap();
    let r = w.cycle(day(1), false);
    let del = r.plan.ops.iter().find(|o| o.object == w.users[0]).unwrap();
    assert_eq!(del.reason, Reason::DeletedInSource);
    // an object that a full read no longer returns (moved out of what the
    // agent reads) is a deletion by absence
    w.ad.delete(w.users[1]).unwrap();
    let r = w.cycle(day(2), true);
    let del = r.plan.ops.iter().find(|o| o.object == w.users[1]).unwrap();
    assert_eq!(del.reason, Reason::MissingFromFullRead);
}

#[test]
fn an_in_scope_ou_renamed_keeps_its_objects() {
    let mut w = world(30, DeletionConfig::automatic(10));
    w.ad.rename(w.staff, "Employees").unwrap();
    let r = w.cycle(day(1), false);
    assert_eq!(World::deletes(&r), 0);
    assert!(r.plan.held.is_empty(), "{:?}", r.plan.held);
    assert_eq!(w.live_users(), 30);
    let x = w.engine.explain(&w.users[0], day(1), &w.target).unwrap();
    assert!(x.in_scope, "{}", x.scope);
}

#[test]
fn a_group_emptied_by_mistake_is_held_per_group() {
    let mut w = world(
        40,
        DeletionConfig {
            per_group_removals: Some(Limit {
                count: None,
                percent: Some(50.0),
            }),
            ..DeletionConfig::automatic(100)
        },
    );
    let staff_dn = w.ad.dn_of(w.staff).unwrap();
    let all = w.ad.add_group(&staff_dn, "All Staff").unwrap();
    for u in &w.users {
        w.ad.add_member(all, *u).unwrap();
    }
    w.cycle(day(1), false);
    let gid = w.engine.exported(&all).unwrap().target.clone();
    assert_eq!(w.target.members(&gid).len(), 40);
    for u in &w.users {
        w.ad.remove_member(all, *u).unwrap();
    }
    let r = w.cycle(day(2), false);
    assert_eq!(r.plan.held.len(), 1);
    assert_eq!(r.plan.held[0].category, Category::MembershipRemovals);
    assert_eq!(r.plan.held[0].items.len(), 40);
    assert!(matches!(
        r.plan.held[0].why,
        HoldWhy::OverPercent {
            count: 40,
            of: 40,
            ..
        }
    ));
    assert_eq!(w.target.members(&gid).len(), 40);
    // removing a few is fine
    let mut w2 = w;
    let set = r.plan.held[0].id;
    w2.engine.reject(set, "admin", day(3)).unwrap();
    for u in &w2.users[..5] {
        w2.ad.add_member(all, *u).unwrap();
    }
    let _ = w2.cycle(day(4), false);
}

#[test]
fn a_leaver_deleted_with_a_30_day_grace_period_and_restored_on_day_10() {
    let mut w = world(
        5,
        DeletionConfig {
            grace_period_secs: Some(30 * 86_400),
            ..DeletionConfig::automatic(100)
        },
    );
    let leaver = w.users[0];
    let other = w.users[1];
    w.ad.delete(leaver).unwrap();
    w.ad.delete(other).unwrap();
    let r = w.cycle(day(0), false);
    assert_eq!(World::deletes(&r), 0);
    let op = r.plan.ops.iter().find(|o| o.object == leaver).unwrap();
    assert!(
        matches!(&op.reason, Reason::GraceDisable { delete_after, .. } if *delete_after == day(30))
    );
    let id = w.engine.exported(&leaver).unwrap().target.clone();
    assert_eq!(
        w.target.attribute(&id, "AccountEnabled"),
        &[Value::Bool(false)]
    );
    assert!(!w.target.get(&id).unwrap().deleted);
    let explain = w.engine.explain(&leaver, day(1), &w.target).unwrap();
    let _ = explain;
    // day 5: nothing yet
    let r = w.cycle(day(5), false);
    assert_eq!(World::deletes(&r), 0);
    // day 10: restored in AD: enabled again, no deletion pending
    w.ad.restore(leaver, None).unwrap();
    let r = w.cycle(day(10), false);
    assert_eq!(World::deletes(&r), 0);
    assert_eq!(
        w.target.attribute(&id, "AccountEnabled"),
        &[Value::Bool(true)]
    );
    // day 31: the other leaver is deleted, the restored one is not
    let r = w.cycle(day(31), false);
    let dels: Vec<_> = r
        .plan
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::Delete { .. }))
        .collect();
    assert_eq!(dels.len(), 1);
    assert_eq!(dels[0].object, other);
    assert_eq!(dels[0].reason, Reason::GracePeriodEnded);
    assert!(!w.target.get(&id).unwrap().deleted);
    assert_eq!(
        w.engine.exported(&other).unwrap().status,
        ExportStatus::Deleted
    );
}

#[test]
fn percentage_and_per_kind_limits_apply_with_the_stricter_winning() {
    let mut w = world(
        100,
        DeletionConfig {
            threshold_percent: Some(5.0),
            ..DeletionConfig::automatic(500)
        },
    );
    for u in &w.users[..6] {
        w.ad.delete(*u).unwrap();
    }
    let r = w.cycle(day(1), false);
    assert_eq!(World::deletes(&r), 0);
    assert!(matches!(
        r.plan.held[0].why,
        HoldWhy::OverPercent {
            count: 6,
            of: 100,
            ..
        }
    ));
    let mut w = world(
        100,
        DeletionConfig {
            per_kind: PerKind {
                user: Some(Limit {
                    count: Some(3),
                    percent: None,
                }),
                ..PerKind::default()
            },
            ..DeletionConfig::automatic(500)
        },
    );
    for u in &w.users[..4] {
        w.ad.delete(*u).unwrap();
    }
    let r = w.cycle(day(1), false);
    assert_eq!(World::deletes(&r), 0);
    assert!(matches!(
        r.plan.held[0].why,
        HoldWhy::OverThreshold {
            count: 4,
            threshold: 3
        }
    ));
}

#[test]
fn protected_objects_are_never_deleted_or_disabled_automatically() {
    let mut w = world(10, DeletionConfig::automatic(100));
    let staff_dn = w.ad.dn_of(w.staff).unwrap();
    let admins_ou = w.ad.add_ou(&staff_dn, "Admins").unwrap();
    let admin =
        w.ad.add_user(&w.ad.dn_of(admins_ou).unwrap(), "Root Admin")
            .unwrap();
    w.ad.set(w.users[2], "adminCount", [Value::Int(1)]).unwrap();
    w.ad.set(w.users[3], "title", [Value::str("Domain Admin")])
        .unwrap();
    w.cycle(day(1), false);
    let mut config = w.engine.config().config().clone();
    config.deletion.protected = vec![
        Protection::Subtree {
            dn: w.ad.dn_of(admins_ou).unwrap(),
        },
        Protection::Anchor {
            anchor: w.users[1].immutable_id(),
        },
        Protection::Attribute {
            attribute: "adminCount".into(),
            values: vec!["1".into()],
        },
        Protection::Filter {
            filter: idsync::scope::AttributeFilter {
                groups: vec![vec![Clause::new("title", "ENDS_WITH", ["Admin"])]],
                multivalued: Default::default(),
            },
        },
    ];
    let state = w.engine.snapshot();
    w.engine = Engine::restore(&config, state).unwrap();
    // the new configuration reads attributes the mirror lacks: a full read
    assert!(w.engine.full_read_required());
    let r = w.cycle(day(2), false);
    assert!(r.full_read);
    assert!(!w.engine.full_read_required());
    for g in [admin, w.users[1], w.users[2], w.users[3], w.users[4]] {
        w.ad.delete(g).unwrap();
    }
    let r = w.cycle(day(3), false);
    let deleted: Vec<Guid> = r
        .plan
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::Delete { .. }))
        .map(|o| o.object)
        .collect();
    assert_eq!(deleted, vec![w.users[4]]);
    let protected: Vec<_> = r
        .plan
        .held
        .iter()
        .filter(|h| matches!(h.why, HoldWhy::Protected { .. }))
        .flat_map(|h| h.items.iter().map(|i| i.key.object))
        .collect();
    assert_eq!(protected.len(), 4, "{:?}", r.plan.held);
}

#[test]
fn an_approval_releases_exactly_its_set() {
    let mut w = world(30, DeletionConfig::automatic(10));
    for u in &w.users[..12] {
        w.ad.delete(*u).unwrap();
    }
    let r = w.cycle(day(1), false);
    let set = r.plan.held[0].id;
    assert_eq!(r.plan.held[0].items.len(), 12);
    w.engine.approve(set, "alice@contoso.com", day(1)).unwrap();
    match &w.engine.held_sets()[0].status {
        idsync::engine::HeldStatus::Approved { by, at } => {
            assert_eq!(by, "alice@contoso.com");
            assert_eq!(*at, day(1));
        }
        other => panic!("{other:?}"),
    }
    // 12 more go missing before the approved set is applied
    for u in &w.users[12..24] {
        w.ad.delete(*u).unwrap();
    }
    let r = w.cycle(day(2), false);
    let deleted: Vec<Guid> = r
        .plan
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::Delete { .. }))
        .map(|o| o.object)
        .collect();
    assert_eq!(deleted.len(), 12);
    assert!(deleted.iter().all(|g| w.users[..12].contains(g)));
    assert_eq!(
        r.plan.held.len(),
        1,
        "the new deletions need a new approval"
    );
    assert_eq!(r.plan.held[0].items.len(), 12);
}

#[test]
fn a_void_watermark_forces_a_full_read_never_deletions_by_absence() {
    let mut w = world(20, DeletionConfig::automatic(100));
    w.ad.restore_from_backup();
    let batch = AdSource::new(&mut w.ad, "corp");
    let _ = batch;
    // the engine refuses a delta across an invocationId change
    let committed = w.engine.committed().watermark.clone();
    let mut source = AdSource::new(&mut w.ad, "corp");
    let delta = idsync::source::DirectorySource::changes_since(&mut source, &committed);
    assert!(delta.is_err());
    // run_cycle falls back to a full read, which deletes nothing here
    let r = w.cycle(day(1), false);
    assert!(r.full_read);
    assert_eq!(World::deletes(&r), 0);
    let stale = idsync::change::ChangeBatch {
        header: idsync::change::BatchHeader {
            source: "corp".into(),
            since: committed.clone(),
            watermark: idsync::change::Watermark::usn(1, Guid::from_u128(12345), "dc1"),
            kind: idsync::change::BatchKind::Delta,
        },
        records: vec![],
    };
    assert!(matches!(
        w.engine.ingest(&stale),
        Err(IngestError::Resume(_))
    ));
}
