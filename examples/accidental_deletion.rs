//! Accidental deletion: the gates that stand between a mistake on premises
//! and an empty tenant.
//!
//! Part 1, the deletion threshold. Automatic deletion is on with the default
//! threshold (500 per cycle). An admin deletes the Branch OU with its 600
//! users. The next cycle holds all 600 deletions (status Paused); the admin
//! looks at the held set, rejects it, and the 600 users are still in the
//! cloud.
//!
//! Part 2, the source-health gate. The domain controller answers a full read
//! with only 40% of the objects, without an error. The missing objects look
//! deleted, but the read is far shorter than the last one: the deletions are
//! held with "source read looks incomplete", while a new hire and an update
//! that arrived in the same read still apply. Then a read that fails part
//! way (a cut-short paged search) infers no deletion at all.
//!
//! Run with `cargo run --example accidental_deletion`. The example checks its
//! own outcome and exits non-zero if the engine does not do what the story
//! says.

use std::error::Error;

use idsync::config::SyncConfig;
use idsync::deletion::DeletionConfig;
use idsync::engine::{Engine, Plan, PlanStatus};
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::{ObjectKind, Value};
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

fn at(t: &str) -> Result<Timestamp, Box<dyn Error>> {
    Ok(Timestamp::parse_rfc3339(t)?)
}

fn count(plan: &Plan, f: impl Fn(&Action) -> bool) -> usize {
    plan.ops.iter().filter(|o| f(&o.action)).count()
}

fn is_delete(a: &Action) -> bool {
    matches!(a, Action::Delete { .. })
}

fn live_users(cloud: &InMemoryTarget) -> usize {
    cloud.live().filter(|o| o.kind == ObjectKind::User).count()
}

fn show_plan(plan: &Plan) {
    println!(
        "  plan for cycle {}: {} op(s) to apply ({} deletions), status {:?}",
        plan.cycle,
        plan.ops.len(),
        count(plan, is_delete),
        plan.status
    );
    for set in &plan.held {
        println!(
            "  held set {}: {} {} held: {}",
            set.id,
            set.items.len(),
            set.category,
            set.why
        );
        for item in set.items.iter().take(3) {
            println!(
                "    {} {} ({})",
                item.op.action.name(),
                item.dn.as_deref().unwrap_or("?"),
                item.op.reason
            );
        }
        if set.items.len() > 3 {
            println!("    ... and {} more", set.items.len() - 3);
        }
    }
}

fn threshold_story() -> Result<(), Box<dyn Error>> {
    println!("Part 1: an OU with 600 users is deleted by mistake");
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
    let root = ad.domain().clone();
    let hq = ad.add_ou(&root, "HQ")?;
    let branch = ad.add_ou(&root, "Branch")?;
    let hq_dn = ad.dn_of(hq)?;
    let branch_dn = ad.dn_of(branch)?;
    for i in 0..50 {
        ad.add_user(&hq_dn, &format!("HQ User {i:03}"))?;
    }
    for i in 0..600 {
        ad.add_user(&branch_dn, &format!("Branch User {i:03}"))?;
    }
    let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
    cloud.add_verified_domain("corp.example.com");
    let mut config = SyncConfig::new("corp");
    config.domain.fqdn = "corp.example.com".into();
    config.deletion = DeletionConfig::automatic(500);
    let mut engine = Engine::new(&config)?;

    println!("1. the initial full sync (automatic deletion, threshold 500)");
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-02T09:00:00Z")?,
        false,
    )?;
    println!(
        "  {} ops applied, {} users in the cloud",
        r.commit.succeeded,
        live_users(&cloud)
    );
    check(live_users(&cloud) == 650, "650 users are synced")?;

    println!("\n2. the admin deletes OU=Branch with everything under it");
    let gone = ad.delete_subtree(branch)?;
    println!("  {} objects deleted on premises", gone.len());
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-02T09:02:00Z")?,
        false,
    )?;
    show_plan(&r.plan);
    check(
        r.plan.status == PlanStatus::Paused { held: 600 },
        "the cycle is paused with 600 deletions held (over the threshold of 500)",
    )?;
    check(count(&r.plan, is_delete) == 0, "no deletion was applied")?;
    check(
        live_users(&cloud) == 650,
        "all 650 users are still in the cloud",
    )?;

    let held = r.plan.held.first().ok_or("no held set")?.id;
    println!("\n3. the admin reviews held set {held} and rejects it");
    engine.reject(held, "admin@contoso.com", at("2026-03-02T09:05:00Z")?)?;
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-02T09:06:00Z")?,
        false,
    )?;
    show_plan(&r.plan);
    check(
        count(&r.plan, is_delete) == 0,
        "the next cycle deletes nothing either",
    )?;
    let branch_users = cloud
        .live()
        .filter(|o| {
            o.kind == ObjectKind::User
                && o.user_principal_name()
                    .is_some_and(|u| u.starts_with("branch."))
        })
        .count();
    println!("  {branch_users} Branch users are still in the cloud");
    check(
        live_users(&cloud) == 650,
        "the 600 users are still in the target",
    )?;
    Ok(())
}

fn source_health_story() -> Result<(), Box<dyn Error>> {
    println!("\nPart 2: the domain controller answers with 40% of the objects");
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff")?;
    let staff_dn = ad.dn_of(staff)?;
    let mut people = Vec::new();
    for i in 0..200 {
        people.push(ad.add_user(&staff_dn, &format!("Staff User {i:03}"))?);
    }
    let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
    cloud.add_verified_domain("corp.example.com");
    let mut config = SyncConfig::new("corp");
    config.domain.fqdn = "corp.example.com".into();
    config.deletion = DeletionConfig::automatic(500);
    let mut engine = Engine::new(&config)?;
    engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-03T09:00:00Z")?,
        false,
    )?;
    check(live_users(&cloud) == 200, "200 users are synced")?;

    println!(
        "\n4. ten new hires and a title change for everyone, then a full read that comes back 40% short"
    );
    // Which objects the short read returns depends on its order; with ten
    // hires and every user changed, some of each are surely among them.
    let mut hires = Vec::new();
    for i in 0..10 {
        hires.push(ad.add_user(&staff_dn, &format!("New Hire {i}"))?);
    }
    for p in &people {
        ad.set(*p, "title", [Value::str("Analyst")])?;
    }
    ad.return_only_percent(40);
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-03T10:00:00Z")?,
        true,
    )?;
    show_plan(&r.plan);
    let held = r.plan.held.first().ok_or("nothing was held")?;
    check(
        held.why
            .to_string()
            .starts_with("source read looks incomplete"),
        "the deletions are held because the source read looks incomplete",
    )?;
    check(
        held.items.len() > 100 && count(&r.plan, is_delete) == 0,
        "no user missing from the short read is deleted",
    )?;
    let created = hires
        .iter()
        .filter(|h| engine.exported(h).is_some())
        .count();
    println!("  {created} of the 10 new hires were in the short read");
    check(
        created > 0 && count(&r.plan, |a| matches!(a, Action::Create { .. })) == created,
        "the new hires the read returned are created",
    )?;
    let updated = people
        .iter()
        .filter_map(|p| engine.exported(p))
        .filter(|e| cloud.attribute(&e.target, "Title") == [Value::str("Analyst")])
        .count();
    println!("  {updated} title updates applied from the objects the read returned");
    check(updated > 0, "updates in the same read still apply")?;
    check(
        live_users(&cloud) == 200 + created,
        "every user is still in the cloud",
    )?;

    println!("\n5. the admin rejects the held set; the next full read is healthy");
    engine.reject(held.id, "admin@contoso.com", at("2026-03-03T10:05:00Z")?)?;
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-03T11:00:00Z")?,
        true,
    )?;
    show_plan(&r.plan);
    check(
        r.plan.held.is_empty() && count(&r.plan, is_delete) == 0,
        "a complete read finds nothing to delete",
    )?;
    let updated = people
        .iter()
        .filter_map(|p| engine.exported(p))
        .filter(|e| cloud.attribute(&e.target, "Title") == [Value::str("Analyst")])
        .count();
    check(updated == 200, "every title change has arrived")?;
    check(
        hires.iter().all(|h| engine.exported(h).is_some()),
        "the rest of the new hires are created",
    )?;

    println!("\n6. a full read that fails after 30 objects (the paged search is cut short)");
    ad.fail_next_full_read_after(30);
    let r = engine.run_cycle(
        &mut AdSource::new(&mut ad, "corp"),
        &mut cloud,
        at("2026-03-03T12:00:00Z")?,
        true,
    )?;
    show_plan(&r.plan);
    check(
        r.plan.held.is_empty() && count(&r.plan, is_delete) == 0,
        "a read cut short infers no deletion (nothing even to hold)",
    )?;
    check(
        live_users(&cloud) == 210,
        "all 210 users are still in the cloud",
    )?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    threshold_story()?;
    source_health_story()?;
    println!("\naccidental_deletion: every step did what the story says");
    Ok(())
}
