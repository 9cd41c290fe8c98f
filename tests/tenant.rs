//! Several configurations sharing one target, through the public API:
//! overlaps refused at load, the same source anchor or object arriving from
//! two forests held as a conflict for both objects, never a double export.

use idsync::anchor::{Guid, ImmutableId};
use idsync::config::SyncConfig;
use idsync::engine::CommitError;
use idsync::log::{ErrorCategory, Outcome};
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::{ObjectKind, Value};
use idsync::scope::{OuScope, OverlapScope};
use idsync::source::{DirectorySource, SourceError};
use idsync::target::{Applied, OpResult, TargetErrorKind};
use idsync::tenant::{ConflictCode, Tenant, TenantCommitError, TenantError, TenantPlan};
use idsync::time::Timestamp;

fn now(minutes: i64) -> Timestamp {
    Timestamp::from_secs(1_767_225_600 + minutes * 60)
}

fn config(name: &str, fqdn: &str) -> SyncConfig {
    let mut c = SyncConfig::new(name);
    c.domain.fqdn = fqdn.into();
    c
}

fn target() -> InMemoryTarget {
    let mut t = InMemoryTarget::new("contoso.onmicrosoft.com");
    t.add_verified_domain("corp.example.com");
    t.add_verified_domain("fabrikam.com");
    t
}

/// A forest: its simulator and its configuration name.
struct Forest {
    ad: InMemoryAd,
    name: &'static str,
}

impl Forest {
    fn new(nc: &str, seed: u64, name: &'static str) -> Forest {
        Forest {
            ad: InMemoryAd::new(nc).unwrap().with_seed(seed),
            name,
        }
    }

    fn staff(&mut self) -> idsync::dn::Dn {
        let root = self.ad.domain().clone();
        let ou = match self.ad.get_by_dn(&root.child("OU=Staff").unwrap()) {
            Some(o) => o.guid,
            None => self.ad.add_ou(&root, "Staff").unwrap(),
        };
        self.ad.dn_of(ou).unwrap()
    }

    fn user(&mut self, name: &str) -> Guid {
        let ou = self.staff();
        self.ad.add_user(&ou, name).unwrap()
    }

    /// What an agent sends: a full read first, deltas after, a full read
    /// again when the watermark is void.
    fn read_into(&mut self, tenant: &mut Tenant) {
        let working = tenant
            .engine(self.name)
            .unwrap()
            .working()
            .watermark
            .clone();
        let mut source = AdSource::new(&mut self.ad, self.name);
        let batches = if working.is_none() {
            source.full_read().unwrap()
        } else {
            match source.changes_since(&working) {
                Ok(b) => vec![b],
                Err(SourceError::WatermarkVoid(_)) => source.full_read().unwrap(),
                Err(e) => panic!("{e}"),
            }
        };
        for b in &batches {
            tenant.ingest(b).unwrap();
        }
    }
}

fn cycle(tenant: &mut Tenant, cloud: &mut InMemoryTarget, at: Timestamp) -> TenantPlan {
    let plan = tenant.plan(at, &*cloud);
    let results = plan.apply(cloud);
    tenant.commit(&plan, &results, at).unwrap();
    plan
}

fn anchor_of(g: Guid) -> ImmutableId {
    g.immutable_id()
}

fn with_anchor(cloud: &InMemoryTarget, anchor: ImmutableId) -> usize {
    cloud
        .iter()
        .filter(|o| o.immutable_id == Some(anchor))
        .count()
}

/// The conflict entries a plan part logged, as (object, code).
fn conflict_log(plan: &TenantPlan, config: &str) -> Vec<(Guid, String)> {
    plan.part(config)
        .unwrap()
        .plan
        .log
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Error {
                category: ErrorCategory::Conflict,
                code: Some(code),
                ..
            } => Some((e.object, code.clone())),
            _ => None,
        })
        .collect()
}

fn two_forests() -> (Tenant, Forest, Forest) {
    let tenant = Tenant::new(vec![
        config("corp", "corp.example.com"),
        config("fabrikam", "fabrikam.com"),
    ])
    .unwrap();
    (
        tenant,
        Forest::new("DC=corp,DC=example,DC=com", 1, "corp"),
        Forest::new("DC=fabrikam,DC=com", 2, "fabrikam"),
    )
}

#[test]
fn overlapping_scopes_are_refused_naming_both_and_the_scope() {
    let corp = config("corp", "corp.example.com");
    let mut sales = config("sales", "CORP.example.com");
    sales.scope.ous = vec![OuScope::dn("OU=Sales,DC=corp,DC=example,DC=com")];
    let err = Tenant::new(vec![corp, sales]).unwrap_err();
    let TenantError::Overlap(overlaps) = &err else {
        panic!("{err}");
    };
    assert_eq!(overlaps.len(), 1);
    assert_eq!(
        (overlaps[0].first.as_str(), overlaps[0].second.as_str()),
        ("corp", "sales")
    );
    assert!(
        matches!(&overlaps[0].scope, OverlapScope::Subtree { dn } if dn.as_str() == "OU=Sales,DC=corp,DC=example,DC=com")
    );
    assert_eq!(
        err.to_string(),
        r#"configurations "corp" and "sales" overlap: both claim the objects in the subtree OU=Sales,DC=corp,DC=example,DC=com (users, groups, contacts)"#
    );
}

#[test]
fn every_overlapping_pair_is_reported() {
    let a = config("a", "corp.example.com");
    let b = config("b", "corp.example.com");
    let c = config("c", "corp.example.com");
    let d = config("d", "fabrikam.com");
    let TenantError::Overlap(overlaps) = Tenant::new(vec![a, b, c, d]).unwrap_err() else {
        panic!("not an overlap");
    };
    let pairs: Vec<(String, String)> = overlaps
        .iter()
        .map(|o| (o.first.clone(), o.second.clone()))
        .collect();
    let want = [("a", "b"), ("a", "c"), ("b", "c")].map(|(x, y)| (x.to_owned(), y.to_owned()));
    assert_eq!(pairs, want);
}

#[test]
fn duplicate_anchor_from_two_forests_in_one_cycle_is_held_for_both() {
    let (mut tenant, mut corp, mut fab) = two_forests();
    let ann = corp.user("Ann Lee");
    let bob = corp.user("Bob Ray");
    let ou = corp.staff();
    let team = corp.ad.add_group(&ou, "Team").unwrap();
    corp.ad.add_member(team, ann).unwrap();
    corp.ad.add_member(team, bob).unwrap();
    let cat = fab.user("Cat Fox");
    let dan = fab.user("Dan Orr");
    // Dan carries Ann's anchor (a migrated account whose
    // ms-DS-ConsistencyGuid was copied).
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);

    let mut cloud = target();
    let plan = cycle(&mut tenant, &mut cloud, now(0));
    assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
    let c = &plan.conflicts[0];
    assert_eq!(c.code, ConflictCode::DuplicateSourceAnchor);
    assert_eq!(c.on, anchor_of(ann).to_string());
    let who: Vec<(&str, Guid, bool)> = c
        .claimants
        .iter()
        .map(|c| (c.config.as_str(), c.object, c.exported))
        .collect();
    assert_eq!(who, [("corp", ann, false), ("fabrikam", dan, false)]);
    // Logged for both objects, each in its own configuration's log.
    assert_eq!(
        conflict_log(&plan, "corp"),
        [(ann, "DuplicateSourceAnchor".to_owned())]
    );
    assert_eq!(
        conflict_log(&plan, "fabrikam"),
        [(dan, "DuplicateSourceAnchor".to_owned())]
    );
    // Neither was exported; everything else was.
    assert_eq!(with_anchor(&cloud, anchor_of(ann)), 0);
    assert!(plan.ops().all(|o| o.object != ann && o.object != dan));
    let corp_engine = tenant.engine("corp").unwrap();
    let fab_engine = tenant.engine("fabrikam").unwrap();
    assert!(corp_engine.exported(&ann).is_none());
    assert!(fab_engine.exported(&dan).is_none());
    assert!(corp_engine.exported(&bob).is_some());
    assert!(fab_engine.exported(&cat).is_some());
    // The group was created with Bob only; Ann's membership waits.
    let team_id = corp_engine.exported(&team).unwrap().target.clone();
    let bob_id = corp_engine.exported(&bob).unwrap().target.clone();
    assert_eq!(cloud.members(&team_id), std::slice::from_ref(&bob_id));
    let withheld = &plan.part("corp").unwrap().withheld;
    assert!(
        withheld
            .iter()
            .any(|w| w.op.object == ann && w.error.kind == TargetErrorKind::Conflict)
    );
    assert!(
        withheld
            .iter()
            .any(|w| w.op.object == team && w.error.kind == TargetErrorKind::DependencyFailed)
    );
    // Both objects stay due, with the conflict as their last error.
    let f = corp_engine.failure(&ann).unwrap();
    assert_eq!(f.count, 1);
    assert!(f.last_error.contains("fabrikam"), "{}", f.last_error);
    assert!(
        fab_engine
            .failure(&dan)
            .unwrap()
            .last_error
            .contains("corp")
    );

    // The next cycle finds the same conflict again: still no export.
    let plan = cycle(&mut tenant, &mut cloud, now(1));
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(with_anchor(&cloud, anchor_of(ann)), 0);

    // The admin fixes Dan's anchor in the source: both flow, Ann joins Team.
    fab.ad.clear_consistency_guid(dan).unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let plan = cycle(&mut tenant, &mut cloud, now(2));
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert_eq!(with_anchor(&cloud, anchor_of(ann)), 1);
    assert_eq!(with_anchor(&cloud, anchor_of(dan)), 1);
    let corp_engine = tenant.engine("corp").unwrap();
    let ann_id = corp_engine.exported(&ann).unwrap().target.clone();
    let mut members = cloud.members(&team_id);
    members.sort();
    let mut want = vec![ann_id, bob_id];
    want.sort();
    assert_eq!(members, want);
}

#[test]
fn anchor_already_exported_by_another_forest_is_not_taken_over() {
    let (mut tenant, mut corp, mut fab) = two_forests();
    let ann = corp.user("Ann Lee");
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let mut cloud = target();
    cycle(&mut tenant, &mut cloud, now(0));
    let ann_id = tenant
        .engine("corp")
        .unwrap()
        .exported(&ann)
        .unwrap()
        .target
        .clone();
    let before = cloud.get(&ann_id).unwrap().clone();

    // Later, a fabrikam object arrives with Ann's anchor: the engine alone
    // would hard-match Ann's cloud object and overwrite it.
    let dan = fab.user("Dan Orr");
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    fab.read_into(&mut tenant);
    let alone = tenant.engine("fabrikam").unwrap().plan(now(1), &cloud);
    assert!(
        alone
            .ops
            .iter()
            .any(|o| o.object == dan && o.action.name() == "stampAnchor")
    );

    let plan = cycle(&mut tenant, &mut cloud, now(1));
    assert_eq!(plan.conflicts.len(), 1);
    let who: Vec<(&str, Guid, bool)> = plan.conflicts[0]
        .claimants
        .iter()
        .map(|c| (c.config.as_str(), c.object, c.exported))
        .collect();
    assert_eq!(who, [("corp", ann, true), ("fabrikam", dan, false)]);
    assert_eq!(
        conflict_log(&plan, "corp"),
        [(ann, "DuplicateSourceAnchor".to_owned())]
    );
    assert_eq!(
        conflict_log(&plan, "fabrikam"),
        [(dan, "DuplicateSourceAnchor".to_owned())]
    );
    let entry = plan
        .part("corp")
        .unwrap()
        .plan
        .log
        .iter()
        .find(|e| e.object == ann)
        .unwrap();
    assert!(
        entry.to_string().contains("keeps its target object"),
        "{entry}"
    );
    // Ann's cloud object is untouched, still corp's, and not fabrikam's.
    assert_eq!(cloud.get(&ann_id).unwrap(), &before);
    assert_eq!(with_anchor(&cloud, anchor_of(ann)), 1);
    assert!(tenant.engine("fabrikam").unwrap().exported(&dan).is_none());
    assert_eq!(
        tenant
            .engine("corp")
            .unwrap()
            .exported(&ann)
            .unwrap()
            .target,
        ann_id
    );
    // corp keeps syncing Ann's changes.
    corp.ad
        .set(ann, "displayName", [Value::str("Ann Lee-Smith")])
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    cycle(&mut tenant, &mut cloud, now(2));
    assert_eq!(
        cloud.attribute(&ann_id, "DisplayName"),
        [Value::str("Ann Lee-Smith")]
    );
}

#[test]
fn same_object_guid_in_two_mirrors_is_a_conflict() {
    let mut tenant = Tenant::new(vec![
        config("corp", "corp.example.com"),
        config("fabrikam", "fabrikam.com"),
    ])
    .unwrap();
    // Same seed: both simulators draw the same objectGUIDs.
    let mut corp = Forest::new("DC=corp,DC=example,DC=com", 7, "corp");
    let mut fab = Forest::new("DC=fabrikam,DC=com", 7, "fabrikam");
    let ann = corp.user("Ann Lee");
    let twin = fab.user("Ann Twin");
    assert_eq!(ann, twin);
    // Different anchors: only the objectGUID collides.
    fab.ad
        .set_consistency_guid(twin, &Guid::from_u128(0xfeed).to_ad_bytes())
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let mut cloud = target();
    let plan = cycle(&mut tenant, &mut cloud, now(0));
    assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
    assert_eq!(
        plan.conflicts[0].code,
        ConflictCode::ObjectInTwoConfigurations
    );
    assert_eq!(plan.conflicts[0].on, ann.to_string());
    assert_eq!(
        cloud.live().filter(|o| o.kind == ObjectKind::User).count(),
        0
    );
    assert_eq!(
        conflict_log(&plan, "corp"),
        [(ann, "ObjectInTwoConfigurations".to_owned())]
    );
    assert_eq!(
        conflict_log(&plan, "fabrikam"),
        [(twin, "ObjectInTwoConfigurations".to_owned())]
    );
}

#[test]
fn one_pair_colliding_on_anchor_and_guid_is_one_conflict() {
    let mut tenant = Tenant::new(vec![
        config("corp", "corp.example.com"),
        config("fabrikam", "fabrikam.com"),
    ])
    .unwrap();
    let mut corp = Forest::new("DC=corp,DC=example,DC=com", 7, "corp");
    let mut fab = Forest::new("DC=fabrikam,DC=com", 7, "fabrikam");
    corp.user("Ann Lee");
    fab.user("Ann Twin");
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let plan = tenant.plan(now(0), &target());
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.conflicts[0].code, ConflictCode::DuplicateSourceAnchor);
    assert_eq!(conflict_log(&plan, "corp").len(), 1);
}

#[test]
fn a_result_for_a_withheld_op_is_refused_and_nothing_commits() {
    let (mut tenant, mut corp, mut fab) = two_forests();
    let ann = corp.user("Ann Lee");
    corp.user("Bob Ray");
    let dan = fab.user("Dan Orr");
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let mut cloud = target();
    let plan = tenant.plan(now(0), &cloud);
    let mut results = plan.apply(&mut cloud);
    let withheld = plan.part("fabrikam").unwrap().withheld[0].op.id;
    results[1].push(OpResult {
        op: withheld,
        outcome: Ok(Applied {
            target_id: None,
            quarantined: Vec::new(),
        }),
    });
    let err = tenant.commit(&plan, &results, now(0)).unwrap_err();
    assert_eq!(
        err,
        TenantCommitError::WithheldApplied {
            config: "fabrikam".into(),
            op: withheld
        }
    );
    // Checked before any engine committed (corp's part was fine).
    assert_eq!(tenant.engine("corp").unwrap().cycle(), 0);
    results[1].pop();
    tenant.commit(&plan, &results, now(0)).unwrap();
    assert_eq!(tenant.engine("corp").unwrap().cycle(), 1);
    // The same plan again is stale, for the first engine, before the second.
    let err = tenant.commit(&plan, &results, now(0)).unwrap_err();
    assert!(matches!(
        err,
        TenantCommitError::Engine { ref config, source: CommitError::StalePlan { .. } } if config == "corp"
    ));
    let err = tenant.commit(&plan, &results[..1], now(0)).unwrap_err();
    assert!(matches!(
        err,
        TenantCommitError::ResultCount {
            expected: 2,
            got: 1
        }
    ));
}

#[test]
fn batches_route_by_source_name() {
    let (mut tenant, _, _) = two_forests();
    let mut other = Forest::new("DC=other,DC=com", 3, "other");
    other.user("Eve");
    let batches = AdSource::new(&mut other.ad, "other").full_read().unwrap();
    let err = tenant.ingest(&batches[0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"batch is for configuration "other", which this tenant does not have"#
    );
}

#[test]
fn tenant_plan_is_deterministic_and_serializes() {
    let (mut tenant, mut corp, mut fab) = two_forests();
    let ann = corp.user("Ann Lee");
    let dan = fab.user("Dan Orr");
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let cloud = target();
    let a = tenant.plan(now(0), &cloud);
    let b = tenant.plan(now(0), &cloud);
    assert_eq!(a, b);
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains("DuplicateSourceAnchor"));
    let back: TenantPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back.conflicts, a.conflicts);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever anchors the second forest copies from the first: no anchor
    /// is ever exported twice, colliding objects are exported by neither,
    /// and every other object is exported.
    #[test]
    fn no_anchor_is_ever_exported_twice(
        a_users in 1usize..5,
        copies in proptest::collection::vec(proptest::option::of(0usize..5), 1..5),
        cycles in 1usize..3,
    ) {
        let (mut tenant, mut corp, mut fab) = two_forests();
        let a: Vec<Guid> = (0..a_users).map(|i| corp.user(&format!("A{i}"))).collect();
        let mut collided = std::collections::HashSet::new();
        let mut b = Vec::new();
        for (i, copy) in copies.iter().enumerate() {
            let g = fab.user(&format!("B{i}"));
            if let Some(k) = copy.filter(|k| *k < a_users) {
                fab.ad.set_consistency_guid(g, &a[k].to_ad_bytes()).unwrap();
                collided.insert(a[k]);
                collided.insert(g);
            }
            b.push(g);
        }
        // Two B users copying the same A anchor collide with each other too.
        corp.read_into(&mut tenant);
        fab.read_into(&mut tenant);
        let mut cloud = target();
        for c in 0..cycles {
            cycle(&mut tenant, &mut cloud, now(c as i64));
        }
        let mut seen = std::collections::HashSet::new();
        for o in cloud.iter() {
            if let Some(id) = o.immutable_id {
                proptest::prop_assert!(seen.insert(id), "anchor {} exported twice", id);
            }
        }
        for (config, objects) in [("corp", &a), ("fabrikam", &b)] {
            let engine = tenant.engine(config).unwrap();
            for g in objects {
                proptest::prop_assert_eq!(
                    engine.exported(g).is_some(),
                    !collided.contains(g),
                    "{} {}", config, g
                );
            }
        }
    }
}

#[test]
fn a_quarantined_claim_lets_the_other_side_stand_alone_and_never_both() {
    let mut corp_cfg = config("corp", "corp.example.com");
    corp_cfg.quarantine_after = 2;
    let mut tenant = Tenant::new(vec![corp_cfg, config("fabrikam", "fabrikam.com")]).unwrap();
    let mut corp = Forest::new("DC=corp,DC=example,DC=com", 1, "corp");
    let mut fab = Forest::new("DC=fabrikam,DC=com", 2, "fabrikam");
    let ann = corp.user("Ann Lee");
    let dan = fab.user("Dan Orr");
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let mut cloud = target();
    for c in 0..2 {
        let plan = cycle(&mut tenant, &mut cloud, now(c));
        assert_eq!(plan.conflicts.len(), 1);
    }
    assert!(
        tenant
            .engine("corp")
            .unwrap()
            .failure(&ann)
            .unwrap()
            .quarantined
    );
    // Ann no longer claims: Dan's claim stands alone.
    let plan = cycle(&mut tenant, &mut cloud, now(2));
    assert!(plan.conflicts.is_empty());
    assert!(tenant.engine("fabrikam").unwrap().exported(&dan).is_some());
    assert_eq!(with_anchor(&cloud, anchor_of(ann)), 1);
    // Ann changes and claims again: Dan keeps the object.
    corp.ad
        .set(ann, "displayName", [Value::str("Ann L")])
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let plan = cycle(&mut tenant, &mut cloud, now(3));
    assert_eq!(plan.conflicts.len(), 1);
    let who: Vec<(&str, bool)> = plan.conflicts[0]
        .claimants
        .iter()
        .map(|c| (c.config.as_str(), c.exported))
        .collect();
    assert_eq!(who, [("corp", false), ("fabrikam", true)]);
    assert_eq!(with_anchor(&cloud, anchor_of(ann)), 1);
    assert!(tenant.engine("corp").unwrap().exported(&ann).is_none());
}

#[test]
fn a_restored_tenant_plans_the_same_next_cycle() {
    let (mut tenant, mut corp, mut fab) = two_forests();
    let ann = corp.user("Ann Lee");
    let dan = fab.user("Dan Orr");
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    corp.user("Bob Ray");
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let mut cloud = target();
    cycle(&mut tenant, &mut cloud, now(0));
    let configs = vec![
        config("corp", "corp.example.com"),
        config("fabrikam", "fabrikam.com"),
    ];
    let json = serde_json::to_string(&tenant.snapshot()).unwrap();
    let restored = Tenant::restore(configs.clone(), serde_json::from_str(&json).unwrap()).unwrap();
    let a = tenant.plan(now(1), &cloud);
    let b = restored.plan(now(1), &cloud);
    assert_eq!(a, b);
    assert_eq!(a.conflicts.len(), 1);
    let stray = vec![(
        "other".to_owned(),
        tenant.engine("corp").unwrap().snapshot(),
    )];
    let err = Tenant::restore(configs, stray).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"snapshot for configuration "other", which the tenant does not have"#
    );
}

#[test]
fn begin_records_applied_ops_in_flight_but_not_withheld_ones() {
    let (mut tenant, mut corp, mut fab) = two_forests();
    let ann = corp.user("Ann Lee");
    let bob = corp.user("Bob Ray");
    let dan = fab.user("Dan Orr");
    fab.ad
        .set_consistency_guid(dan, &ann.to_ad_bytes())
        .unwrap();
    corp.read_into(&mut tenant);
    fab.read_into(&mut tenant);
    let cloud = target();
    let plan = tenant.plan(now(0), &cloud);
    tenant.begin(&plan);
    let snap = tenant.snapshot();
    let corp_state = &snap.iter().find(|(n, _)| n == "corp").unwrap().1;
    let fab_state = &snap.iter().find(|(n, _)| n == "fabrikam").unwrap().1;
    assert!(corp_state.in_flight.contains_key(&bob));
    assert!(!corp_state.in_flight.contains_key(&ann));
    assert!(!fab_state.in_flight.contains_key(&dan));
}
