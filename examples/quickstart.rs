//! Quickstart: a small company synced from an in-memory Active Directory to an
//! in-memory Entra-like directory.
//!
//! 1. Two OUs in scope (Staff, Sales), one outside (Alumni); a dozen users, two
//!    groups, and one user whose UPN already exists in the cloud (soft match).
//! 2. The initial full sync: the plan and the log, then the target.
//! 3. Changes: a rename, a move out of scope, a new group member, a deletion.
//! 4. A delta cycle: the deletions are held for approval (the default policy).
//! 5. The admin approves; the next cycle deletes; the final target.
//!
//! Run with `cargo run --example quickstart`. The example checks its own
//! outcome and exits non-zero if the engine does not do what the story says.

use std::error::Error;

use idsync::config::SyncConfig;
use idsync::engine::{Engine, Plan, PlanStatus};
use idsync::log::Outcome;
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::ObjectKind;
use idsync::scope::OuScope;
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

fn show_plan(plan: &Plan) {
    println!(
        "  plan for cycle {}: {} operation(s), status {:?}",
        plan.cycle,
        plan.ops.len(),
        plan.status
    );
    for op in &plan.ops {
        println!(
            "    {:>4}  {:<14} {} ({})",
            op.id.0,
            op.action.name(),
            op.object,
            op.reason
        );
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

fn show_log(plan: &Plan) {
    for entry in &plan.log {
        if !matches!(entry.outcome, Outcome::Planned { .. }) {
            println!("    log: {entry}");
        }
    }
}

fn show_target(target: &InMemoryTarget) {
    let mut users: Vec<String> = target
        .live()
        .filter(|o| o.kind == ObjectKind::User)
        .map(|o| {
            format!(
                "{} ({})",
                o.user_principal_name().unwrap_or("?"),
                if o.immutable_id.is_some() {
                    "synced"
                } else {
                    "cloud-only"
                }
            )
        })
        .collect();
    users.sort();
    println!("  target users: {}", users.join(", "));
    for g in target.live().filter(|o| o.kind == ObjectKind::Group) {
        let mut names: Vec<String> = target
            .members(&g.id)
            .iter()
            .filter_map(|m| target.get(m))
            .map(|m| m.user_principal_name().unwrap_or("?").to_owned())
            .collect();
        names.sort();
        let name = g
            .attributes
            .first("DisplayName")
            .map(|v| v.to_string())
            .unwrap_or_default();
        println!("  group {name}: {}", names.join(", "));
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // --- the on-premises directory ---------------------------------------
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff")?;
    let sales = ad.add_ou(&root, "Sales")?;
    let alumni = ad.add_ou(&root, "Alumni")?;
    let staff_dn = ad.dn_of(staff)?;
    let sales_dn = ad.dn_of(sales)?;
    let mut people = Vec::new();
    for name in [
        "Ann Lee", "Bob Ray", "Cy Doe", "Dee Kim", "Eve Moss", "Fay Wu",
    ] {
        people.push(ad.add_user(&staff_dn, name)?);
    }
    for name in [
        "Gus Hale", "Hal Ives", "Ida Jung", "Jo King", "Kai Lund", "Lea Marr",
    ] {
        people.push(ad.add_user(&sales_dn, name)?);
    }
    let everyone = ad.add_group(&staff_dn, "Everyone")?;
    let sellers = ad.add_group(&sales_dn, "Sellers")?;
    for p in &people[..6] {
        ad.add_member(everyone, *p)?;
    }
    for p in &people[6..9] {
        ad.add_member(sellers, *p)?;
    }

    // --- the cloud directory, with one user that already exists -----------
    let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
    cloud.add_verified_domain("corp.example.com");
    let existing = cloud.seed_user("bob.ray@corp.example.com")?;

    // --- the configuration -------------------------------------------------
    let mut config = SyncConfig::new("corp");
    config.domain.fqdn = "corp.example.com".into();
    config.domain.netbios = "CORP".into();
    config.scope.ous = vec![
        OuScope::dn(staff_dn.as_str()),
        OuScope::dn(sales_dn.as_str()),
    ];
    let mut engine = Engine::new(&config)?;

    // --- 1. the initial full sync ------------------------------------------
    println!("1. initial full sync");
    let t0 = Timestamp::parse_rfc3339("2026-01-05T09:00:00Z")?;
    let report = engine.run_cycle(&mut AdSource::new(&mut ad, "corp"), &mut cloud, t0, false)?;
    show_plan(&report.plan);
    show_log(&report.plan);
    show_target(&cloud);
    check(report.full_read, "the first cycle is a full read")?;
    check(report.commit.failed == 0, "every operation succeeded")?;
    check(
        engine.exports().count() == 14,
        "12 users and 2 groups are exported",
    )?;
    let bob = engine.exported(&people[1]).ok_or("Bob not exported")?;
    check(
        bob.target == existing,
        "Bob soft-matched the existing cloud user",
    )?;
    check(
        report
            .plan
            .ops
            .iter()
            .any(|o| matches!(o.action, Action::StampAnchor { .. })),
        "the anchor is stamped on the soft-matched user",
    )?;
    check(
        cloud
            .members(&engine.exported(&everyone).ok_or("group")?.target)
            .len()
            == 6,
        "Everyone has its six direct members",
    )?;

    // --- 2. changes on premises --------------------------------------------
    println!("\n2. changes: Cy renamed, Dee moved to Alumni, Lea joins Sellers, Eve deleted");
    ad.rename(people[2], "Cy Dixon")?;
    ad.set(
        people[2],
        "displayName",
        [idsync::object::Value::str("Cy Dixon")],
    )?;
    ad.move_to(people[3], &ad.dn_of(alumni)?)?;
    ad.add_member(sellers, people[11])?;
    ad.delete(people[4])?;

    let t1 = Timestamp::parse_rfc3339("2026-01-05T09:00:30Z")?;
    let report = engine.run_cycle(&mut AdSource::new(&mut ad, "corp"), &mut cloud, t1, false)?;
    show_plan(&report.plan);
    show_log(&report.plan);
    check(!report.full_read, "the second cycle is a delta")?;
    check(
        matches!(report.plan.status, PlanStatus::Paused { held: 2 }),
        "the two deletions (Dee left scope, Eve was deleted) are held for approval",
    )?;
    let cy = engine.exported(&people[2]).ok_or("Cy")?;
    check(
        cloud.attribute(&cy.target, "DisplayName") == [idsync::object::Value::str("Cy Dixon")],
        "the rename reached the cloud",
    )?;
    check(
        cloud
            .members(&engine.exported(&sellers).ok_or("group")?.target)
            .len()
            == 4,
        "Lea is a member of Sellers in the cloud",
    )?;
    let dee = engine.exported(&people[3]).ok_or("Dee")?.target.clone();
    check(
        cloud.get(&dee).is_some_and(|o| !o.deleted),
        "nothing was deleted before approval",
    )?;

    // --- 3. approval ---------------------------------------------------------
    let held = report.plan.held.first().ok_or("no held set")?.id;
    println!("\n3. the admin reviews held set {held} and approves it");
    engine.approve(held, "admin@contoso.com", t1)?;
    let t2 = Timestamp::parse_rfc3339("2026-01-05T09:01:00Z")?;
    let report = engine.run_cycle(&mut AdSource::new(&mut ad, "corp"), &mut cloud, t2, false)?;
    show_plan(&report.plan);
    check(
        report
            .plan
            .ops
            .iter()
            .filter(|o| matches!(o.action, Action::Delete { .. }))
            .count()
            == 2,
        "exactly the two approved deletions are applied",
    )?;
    check(
        cloud.get(&dee).is_some_and(|o| o.deleted),
        "Dee is soft-deleted in the cloud",
    )?;

    println!("\n4. the final target");
    show_target(&cloud);
    println!("\nquickstart: every step did what the story says");
    Ok(())
}
