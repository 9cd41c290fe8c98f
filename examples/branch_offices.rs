//! Branch offices: OU scoping, an excluded sub-OU, and a pilot group.
//!
//! The company has two branch offices, Oslo and Lyon, each an OU under
//! `OU=Branches`, and a head office (`OU=HQ`) that is not moving to the cloud
//! yet. Lyon's `OU=Contractors` stays on premises. Only members of the
//! "Cloud Pilot" group take part for now: OU scope and group scope combine
//! with AND.
//!
//! 1. The initial sync: exactly the pilot members in Oslo and Lyon (outside
//!    Contractors) are created; `explain` says why each of the others is out.
//! 2. A pilot user moves from Lyon to HQ: out of scope, so her cloud account
//!    is deleted (automatic deletion is on; the target keeps it soft-deleted).
//! 3. She moves back to Lyon: in scope again, and the same cloud account is
//!    restored, not a new one created.
//!
//! Run with `cargo run --example branch_offices`. The example checks its own
//! outcome and exits non-zero if the engine does not do what the story says.

use std::error::Error;

use idsync::anchor::Guid;
use idsync::config::SyncConfig;
use idsync::deletion::DeletionConfig;
use idsync::engine::{Engine, Plan};
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::ObjectKind;
use idsync::scope::{ContainerRef, OuScope};
use idsync::target::Action;
use idsync::time::Timestamp;

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        println!("  ok: {what}");
        Ok(())
    } else {
        Err(format!("the story did not hold: {what}").into())
    }
}

fn show_plan(plan: &Plan, ad: &InMemoryAd) {
    println!(
        "  plan for cycle {}: {} op(s), status {:?}",
        plan.cycle,
        plan.ops.len(),
        plan.status
    );
    for op in &plan.ops {
        let name = ad
            .get(op.object)
            .and_then(|o| o.attributes.first("cn"))
            .map(|v| v.to_string())
            .unwrap_or_else(|| op.object.to_string());
        println!("    {:<8} {name} ({})", op.action.name(), op.reason);
    }
    for set in &plan.held {
        println!(
            "    held set {}: {} {} held: {}",
            set.id,
            set.items.len(),
            set.category,
            set.why
        );
    }
}

fn explain(
    engine: &Engine,
    cloud: &InMemoryTarget,
    who: &str,
    g: Guid,
    now: Timestamp,
) -> Result<bool, Box<dyn Error>> {
    let ex = engine.explain(&g, now, cloud).ok_or("no explanation")?;
    println!("  {who:<16} {}", ex.scope);
    Ok(ex.in_scope)
}

fn synced_users(cloud: &InMemoryTarget) -> Vec<String> {
    let mut v: Vec<String> = cloud
        .live()
        .filter(|o| o.kind == ObjectKind::User)
        .filter_map(|o| o.user_principal_name().map(str::to_owned))
        .collect();
    v.sort();
    v
}

fn add_ou(
    ad: &mut InMemoryAd,
    parent: &idsync::dn::Dn,
    name: &str,
) -> Result<idsync::dn::Dn, Box<dyn Error>> {
    let g = ad.add_ou(parent, name)?;
    Ok(ad.dn_of(g)?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
    let root = ad.domain().clone();
    let branches = ad.add_ou(&root, "Branches")?;
    let branches_dn = ad.dn_of(branches)?;
    let oslo = add_ou(&mut ad, &branches_dn, "Oslo")?;
    let lyon = add_ou(&mut ad, &branches_dn, "Lyon")?;
    let contractors = add_ou(&mut ad, &lyon, "Contractors")?;
    let hq = add_ou(&mut ad, &root, "HQ")?;
    let groups = add_ou(&mut ad, &root, "Groups")?;

    let ola = ad.add_user(&oslo, "Ola Nord")?; // pilot, Oslo: in
    let kari = ad.add_user(&oslo, "Kari Vik")?; // not in the pilot: out
    let lea = ad.add_user(&lyon, "Lea Roux")?; // pilot, Lyon: in (and she moves)
    let marc = ad.add_user(&contractors, "Marc Petit")?; // pilot, but a contractor: out
    let hugo = ad.add_user(&hq, "Hugo Bell")?; // pilot, but HQ: out
    let pilot = ad.add_group(&groups, "Cloud Pilot")?;
    for u in [ola, lea, marc, hugo] {
        ad.add_member(pilot, u)?;
    }
    let pilot_dn = ad.dn_of(pilot)?;

    let mut config = SyncConfig::new("branches");
    config.domain.fqdn = "corp.example.com".into();
    config.scope.kinds = vec![ObjectKind::User];
    config.scope.ous = vec![
        OuScope::dn(oslo.as_str()),
        OuScope {
            exclude: vec![ContainerRef::dn(contractors.as_str())],
            ..OuScope::dn(lyon.as_str())
        },
    ];
    config.scope.groups = vec![ContainerRef::dn(pilot_dn.as_str())];
    config.deletion = DeletionConfig::automatic(500);
    println!("scope: {}", serde_json::to_string(&config.scope)?);

    let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
    cloud.add_verified_domain("corp.example.com");
    let mut engine = Engine::new(&config)?;

    println!("\n1. the initial sync");
    let t0 = Timestamp::parse_rfc3339("2026-05-04T08:00:00Z")?;
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "branches"),
        &mut cloud,
        t0,
        false,
    )?;
    show_plan(&r.plan, &ad);
    println!("  cloud users: {}", synced_users(&cloud).join(", "));
    let in_ola = explain(&engine, &cloud, "Ola (Oslo)", ola, t0)?;
    let in_kari = explain(&engine, &cloud, "Kari (Oslo)", kari, t0)?;
    let in_lea = explain(&engine, &cloud, "Lea (Lyon)", lea, t0)?;
    let in_marc = explain(&engine, &cloud, "Marc (Contract.)", marc, t0)?;
    let in_hugo = explain(&engine, &cloud, "Hugo (HQ)", hugo, t0)?;
    check(
        in_ola && in_lea,
        "the pilot members in Oslo and Lyon are in scope",
    )?;
    check(!in_kari, "Kari is in Oslo but not in the pilot group: out")?;
    check(
        !in_marc,
        "Marc is in the pilot but under the excluded Contractors OU: out",
    )?;
    check(
        !in_hugo,
        "Hugo is in the pilot but in HQ, outside the branch OUs: out",
    )?;
    check(
        engine.exports().count() == 2 && synced_users(&cloud).len() == 2,
        "exactly two users are in the cloud",
    )?;
    let lea_target = engine
        .exported(&lea)
        .ok_or("Lea not exported")?
        .target
        .clone();

    println!("\n2. Lea moves from Lyon to HQ");
    ad.move_to(lea, &hq)?;
    let t1 = Timestamp::parse_rfc3339("2026-05-04T08:05:00Z")?;
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "branches"),
        &mut cloud,
        t1,
        false,
    )?;
    show_plan(&r.plan, &ad);
    let in_lea = explain(&engine, &cloud, "Lea (HQ)", lea, t1)?;
    check(!in_lea, "Lea is out of scope in HQ")?;
    check(
        r.plan
            .ops
            .iter()
            .any(|o| o.object == lea && matches!(o.action, Action::Delete { .. })),
        "her cloud account is deleted",
    )?;
    check(
        cloud.get(&lea_target).is_some_and(|o| o.deleted),
        "the cloud keeps it soft-deleted",
    )?;

    println!("\n3. Lea moves back to Lyon");
    ad.move_to(lea, &lyon)?;
    let t2 = Timestamp::parse_rfc3339("2026-05-04T08:10:00Z")?;
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "branches"),
        &mut cloud,
        t2,
        false,
    )?;
    show_plan(&r.plan, &ad);
    let in_lea = explain(&engine, &cloud, "Lea (Lyon)", lea, t2)?;
    check(in_lea, "Lea is in scope again")?;
    check(
        r.plan
            .ops
            .iter()
            .any(|o| o.object == lea && matches!(o.action, Action::Restore { .. })),
        "her cloud account is restored",
    )?;
    check(
        engine
            .exported(&lea)
            .is_some_and(|e| e.target == lea_target)
            && cloud.get(&lea_target).is_some_and(|o| !o.deleted),
        "it is the same cloud account as before, live again",
    )?;
    println!("  cloud users: {}", synced_users(&cloud).join(", "));
    println!("\nbranch_offices: every step did what the story says");
    Ok(())
}
