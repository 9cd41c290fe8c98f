//! Pilot coexistence: several configurations sharing one tenant.
//!
//! Two branch offices move to the cloud separately, each with its own
//! configuration (and its own engine): `oslo` scopes `OU=Oslo`, `lyon`
//! scopes `OU=Lyon`. Their scopes are disjoint, so `check_overlaps` accepts
//! them and both engines write to the same target without touching each
//! other's objects. Then someone proposes a third configuration,
//! `all-branches`, scoping `OU=Branches`: it would claim the objects of both
//! pilots, and `check_overlaps` refuses it, naming the configurations and the
//! subtree they would share.
//!
//! Run with `cargo run --example pilot_coexistence`. The example checks its
//! own outcome and exits non-zero if the engine does not do what the story
//! says.

use std::error::Error;

use idsync::config::SyncConfig;
use idsync::dn::Dn;
use idsync::engine::Engine;
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::{ObjectKind, Value};
use idsync::scope::{OuScope, OverlapScope, check_overlaps};
use idsync::time::Timestamp;

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        println!("  ok: {what}");
        Ok(())
    } else {
        Err(format!("the story did not hold: {what}").into())
    }
}

fn add_ou(ad: &mut InMemoryAd, parent: &Dn, name: &str) -> Result<Dn, Box<dyn Error>> {
    let g = ad.add_ou(parent, name)?;
    Ok(ad.dn_of(g)?)
}

fn config(name: &str, ou: &Dn) -> SyncConfig {
    let mut c = SyncConfig::new(name);
    c.domain.fqdn = "corp.example.com".into();
    c.scope.ous = vec![OuScope::dn(ou.as_str())];
    c
}

fn cloud_users(cloud: &InMemoryTarget) -> Vec<String> {
    let mut v: Vec<String> = cloud
        .live()
        .filter(|o| o.kind == ObjectKind::User)
        .filter_map(|o| o.user_principal_name().map(str::to_owned))
        .collect();
    v.sort();
    v
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
    let root = ad.domain().clone();
    let branches = add_ou(&mut ad, &root, "Branches")?;
    let oslo_ou = add_ou(&mut ad, &branches, "Oslo")?;
    let lyon_ou = add_ou(&mut ad, &branches, "Lyon")?;
    let mut oslo_people = Vec::new();
    for name in ["Ola Nord", "Kari Vik", "Per Dahl"] {
        oslo_people.push(ad.add_user(&oslo_ou, name)?);
    }
    let mut lyon_people = Vec::new();
    for name in ["Lea Roux", "Marc Petit"] {
        lyon_people.push(ad.add_user(&lyon_ou, name)?);
    }
    let oslo_team = ad.add_group(&oslo_ou, "Oslo Team")?;
    for p in &oslo_people {
        ad.add_member(oslo_team, *p)?;
    }

    let oslo = config("oslo", &oslo_ou);
    let lyon = config("lyon", &lyon_ou);

    println!("1. the two pilot configurations are checked for overlaps");
    let pilots = [("oslo", &oslo.scope), ("lyon", &lyon.scope)];
    match check_overlaps(&pilots) {
        Ok(()) => println!("  oslo ({}) and lyon ({}) do not overlap", oslo_ou, lyon_ou),
        Err(errors) => {
            for e in &errors {
                println!("  {e}");
            }
            return Err("the disjoint pilots were refused".into());
        }
    }

    println!("\n2. each pilot runs its own engine against the same tenant");
    let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
    cloud.add_verified_domain("corp.example.com");
    let mut oslo_engine = Engine::new(&oslo)?;
    let mut lyon_engine = Engine::new(&lyon)?;
    let t0 = Timestamp::parse_rfc3339("2026-06-01T07:00:00Z")?;
    let r = oslo_engine.run_cycle(&mut AdSource::new(&mut ad, "oslo"), &mut cloud, t0, false)?;
    println!("  oslo: {} ops applied", r.commit.succeeded);
    let r = lyon_engine.run_cycle(&mut AdSource::new(&mut ad, "lyon"), &mut cloud, t0, false)?;
    println!("  lyon: {} ops applied", r.commit.succeeded);
    println!("  cloud users: {}", cloud_users(&cloud).join(", "));
    check(
        cloud_users(&cloud).len() == 5,
        "both pilots' users are in the tenant",
    )?;
    check(
        oslo_people
            .iter()
            .all(|p| oslo_engine.exported(p).is_some())
            && lyon_people
                .iter()
                .all(|p| lyon_engine.exported(p).is_some()),
        "each engine exported its own office",
    )?;
    check(
        oslo_people
            .iter()
            .all(|p| lyon_engine.exported(p).is_none())
            && lyon_people
                .iter()
                .all(|p| oslo_engine.exported(p).is_none()),
        "neither engine claims the other's users",
    )?;

    println!("\n3. a change in Oslo: only the oslo engine acts on it");
    ad.set(oslo_people[0], "title", [Value::str("Office Manager")])?;
    let t1 = Timestamp::parse_rfc3339("2026-06-01T07:05:00Z")?;
    let lyon_run =
        lyon_engine.run_cycle(&mut AdSource::new(&mut ad, "lyon"), &mut cloud, t1, false)?;
    let oslo_run =
        oslo_engine.run_cycle(&mut AdSource::new(&mut ad, "oslo"), &mut cloud, t1, false)?;
    println!(
        "  lyon planned {} op(s), oslo planned {} op(s)",
        lyon_run.plan.ops.len(),
        oslo_run.plan.ops.len()
    );
    check(
        lyon_run.plan.ops.is_empty(),
        "the lyon engine has nothing to do",
    )?;
    let ola = oslo_engine.exported(&oslo_people[0]).ok_or("Ola")?;
    check(
        cloud.attribute(&ola.target, "Title") == [Value::str("Office Manager")],
        "the oslo engine updated Ola's title",
    )?;

    println!("\n4. a third configuration, all-branches (OU=Branches), is proposed");
    let all = config("all-branches", &branches);
    let everyone = [
        ("oslo", &oslo.scope),
        ("lyon", &lyon.scope),
        ("all-branches", &all.scope),
    ];
    let errors = match check_overlaps(&everyone) {
        Ok(()) => return Err("the overlapping configuration was accepted".into()),
        Err(errors) => errors,
    };
    for e in &errors {
        println!("  refused: {e}");
    }
    let names = |first: &str, second: &str| {
        errors.iter().any(|e| {
            let pair = [e.first.as_str(), e.second.as_str()];
            pair.contains(&first) && pair.contains(&second)
        })
    };
    check(
        names("all-branches", "oslo") && names("all-branches", "lyon"),
        "the overlap names all-branches against each pilot",
    )?;
    check(
        !names("oslo", "lyon"),
        "the two pilots still do not overlap each other",
    )?;
    let subtrees: Vec<&Dn> = errors
        .iter()
        .filter_map(|e| match &e.scope {
            OverlapScope::Subtree { dn } => Some(dn),
            _ => None,
        })
        .collect();
    check(
        subtrees.contains(&&oslo_ou) && subtrees.contains(&&lyon_ou),
        "the shared subtrees are OU=Oslo and OU=Lyon",
    )?;
    println!("\npilot_coexistence: every step did what the story says");
    Ok(())
}
