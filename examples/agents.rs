//! Two agents for one domain on a simulated clock: the active one is killed,
//! the other takes over from the last committed watermark.
//!
//! - `agent-a` and `agent-b` register for `corp.example.com`; `agent-a`
//!   serves the configuration `corp`.
//! - The clock is a loop over `now` values, 30 seconds apart (no sleeping).
//!   Each agent's [`Schedule`] says when it owes a heartbeat; the
//!   configuration's cycle [`Schedule`] says when a full sync or a delta is
//!   due, and the configuration's active agent runs it. The cycle schedule
//!   belongs to the configuration, not to an agent, so it survives a
//!   failover: the new agent continues with deltas from the committed
//!   watermark instead of starting over with a full sync.
//! - Each cycle: the agent reads the in-memory AD, the [`Registry`] checks
//!   the batch, the engine ingests and plans, the registry commits the
//!   batch (the fence against a stale agent), the plan is applied to the
//!   in-memory target and the engine commits.
//! - At minute 12 `agent-a` is killed: no more heartbeats, no more cycles.
//!   The directory keeps changing. At minute 40 (30 minutes after its last
//!   heartbeat) the registry fails the configuration over to `agent-b`,
//!   which resumes from the committed watermark: its first delta carries
//!   every change made during the outage. A batch `agent-a` had read before
//!   it died arrives late and is refused.
//!
//! Run with `cargo run --example agents`. The example checks its outcome
//! (no gap, no double apply, the target equals a fresh full sync) and exits
//! non-zero if it does not hold.

use std::collections::BTreeMap;
use std::error::Error;

use idsync::agent::{
    AgentError, AgentId, CycleKind, CycleOutcome, Registry, RegistryEvent, Schedule, Work,
};
use idsync::anchor::Guid;
use idsync::change::{ChangeBatch, ConfigId, Watermark};
use idsync::config::SyncConfig;
use idsync::deletion::DeletionConfig;
use idsync::engine::Engine;
use idsync::limits::Limits;
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::Value;
use idsync::source::DirectorySource;
use idsync::target::apply_plan;
use idsync::time::Timestamp;

const FQDN: &str = "corp.example.com";

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        println!("  ok: {what}");
        Ok(())
    } else {
        Err(format!("the story did not hold: {what}").into())
    }
}

fn config() -> SyncConfig {
    let mut c = SyncConfig::new("corp");
    c.domain.fqdn = FQDN.into();
    c.domain.netbios = "CORP".into();
    c.deletion = DeletionConfig::automatic(500);
    c
}

fn cloud() -> InMemoryTarget {
    let mut t = InMemoryTarget::new("contoso.onmicrosoft.com");
    t.add_verified_domain(FQDN);
    t
}

fn clock(t0: Timestamp, now: Timestamp) -> String {
    let s = now.since(t0).as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn watermark_text(w: &Watermark) -> String {
    match w {
        Watermark::Usn {
            highest_committed_usn,
            ..
        } => format!("usn {highest_committed_usn}"),
        Watermark::None => "none".into(),
        other => format!("{other:?}"),
    }
}

/// The live target by anchor: kind, attributes and members (as anchors).
fn picture(t: &InMemoryTarget) -> BTreeMap<String, String> {
    let anchor = |id: &idsync::target::TargetId| {
        t.get(id)
            .and_then(|o| o.immutable_id)
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    t.live()
        .map(|o| {
            let mut attrs: Vec<String> = o
                .attributes
                .iter()
                .map(|(n, v)| {
                    let vals: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                    format!("{}={}", n.as_str().to_lowercase(), vals.join("|"))
                })
                .collect();
            attrs.sort();
            let mut members: Vec<String> = t.members(&o.id).iter().map(anchor).collect();
            members.sort();
            (
                anchor(&o.id),
                format!(
                    "{} {} members[{}]",
                    o.kind,
                    attrs.join(","),
                    members.join(",")
                ),
            )
        })
        .collect()
}

/// The printed timeline: quiet delta cycles are counted, not printed.
struct Timeline {
    t0: Timestamp,
    quiet: usize,
}

impl Timeline {
    fn line(&mut self, now: Timestamp, text: &str) {
        self.flush();
        println!("{}  {text}", clock(self.t0, now));
    }

    fn flush(&mut self) {
        if self.quiet > 0 {
            println!("       ({} quiet delta cycle(s))", self.quiet);
            self.quiet = 0;
        }
    }
}

/// One agent process: its heartbeat schedule and whether it is alive.
struct Agent {
    id: AgentId,
    schedule: Schedule,
    alive: bool,
}

/// What one cycle did.
struct Cycle {
    since: Watermark,
    watermark: Watermark,
    records: usize,
    ops: usize,
    failed: usize,
}

/// The host side: the engine, the registry fence and the target.
struct Host {
    engine: Engine,
    snapshot: idsync::engine::State,
    config: SyncConfig,
}

impl Host {
    /// Check, ingest, plan, fence, apply, commit. The inner error is the
    /// registry refusing the agent's batch (nothing was applied); the outer
    /// one is anything else, which ends the example.
    fn deliver(
        &mut self,
        registry: &mut Registry,
        agent: &AgentId,
        batches: &[ChangeBatch],
        now: Timestamp,
        target: &mut InMemoryTarget,
    ) -> Result<Result<Cycle, AgentError>, Box<dyn Error>> {
        let mut records = 0;
        for b in batches {
            if let Err(e) = registry.check_batch(now, agent, &b.header) {
                self.discard()?;
                return Ok(Err(e));
            }
            records += b.records.len();
            self.engine.ingest(b)?;
        }
        let plan = self.engine.plan(now, &*target);
        for b in batches {
            if let Err(e) = registry.commit(now, agent, &b.header) {
                self.discard()?;
                return Ok(Err(e));
            }
        }
        let results = apply_plan(target, &plan.ops);
        let report = self.engine.commit(&plan, &results, now)?;
        self.snapshot = self.engine.snapshot();
        Ok(Ok(Cycle {
            since: batches
                .first()
                .map(|b| b.header.since.clone())
                .unwrap_or_default(),
            watermark: self.engine.committed().watermark.clone(),
            records,
            ops: plan.ops.len(),
            failed: report.failed,
        }))
    }

    /// Drops whatever was staged since the last commit.
    fn discard(&mut self) -> Result<(), Box<dyn Error>> {
        self.engine = Engine::restore(&self.config, self.snapshot.clone())?;
        Ok(())
    }
}

/// Directory changes at given minutes.
fn change_directory(
    ad: &mut InMemoryAd,
    minute: i64,
    people: &mut Vec<(String, Guid)>,
    team: Guid,
) -> Result<Option<String>, Box<dyn Error>> {
    let staff = ad
        .get_by_dn(&ad.domain().child("OU=Staff")?)
        .map(|o| o.dn.clone());
    let staff = staff.ok_or("no Staff OU")?;
    let what = match minute {
        3 => {
            let g = ad.add_user(&staff, "Dee Kim")?;
            ad.add_member(team, g)?;
            people.push(("Dee Kim".into(), g));
            "Dee Kim joins and is added to Team"
        }
        8 => {
            let ann = people[0].1;
            ad.set(ann, "displayName", [Value::str("Ann Lee-Smith")])?;
            "Ann Lee marries: displayName Ann Lee-Smith"
        }
        12 => {
            let g = ad.add_user(&staff, "Eve Moss")?;
            people.push(("Eve Moss".into(), g));
            "Eve Moss joins"
        }
        22 => {
            let bob = people[1].1;
            ad.set(bob, "title", [Value::str("Team lead")])?;
            "Bob Ray becomes Team lead (agent-a is dead)"
        }
        31 => {
            let cy = people[2].1;
            ad.delete(cy)?;
            "Cy Doe leaves: deleted (agent-a is dead)"
        }
        44 => {
            let eve = people.iter().find(|(n, _)| n == "Eve Moss").map(|p| p.1);
            ad.add_member(team, eve.ok_or("Eve")?)?;
            "Eve Moss is added to Team"
        }
        _ => return Ok(None),
    };
    Ok(Some(what.to_owned()))
}

fn main() -> Result<(), Box<dyn Error>> {
    let t0 = Timestamp::parse_rfc3339("2026-03-02T08:00:00Z")?;
    let limits = Limits::default();

    // --- the directory -------------------------------------------------------
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com")?;
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff")?;
    let staff = ad.dn_of(staff)?;
    let mut people = Vec::new();
    for name in ["Ann Lee", "Bob Ray", "Cy Doe"] {
        people.push((name.to_owned(), ad.add_user(&staff, name)?));
    }
    let team = ad.add_group(&staff, "Team")?;
    for (_, g) in &people {
        ad.add_member(team, *g)?;
    }

    // --- the service: registry, engine, target ---------------------------------
    let corp = ConfigId::new("corp");
    let mut registry = Registry::new(limits.clone());
    let mut agents = Vec::new();
    for id in ["agent-a", "agent-b"] {
        let id = AgentId::new(id);
        registry.register(t0, id.clone())?;
        registry.assign(id.clone(), FQDN)?;
        let mut schedule = Schedule::first_run(&limits);
        schedule.heartbeat_sent(t0);
        agents.push(Agent {
            id,
            schedule,
            alive: true,
        });
    }
    registry.add_configuration(corp.clone(), FQDN)?;
    let mut cycles = Schedule::first_run(&limits);
    let engine = Engine::new(&config())?;
    let mut host = Host {
        snapshot: engine.snapshot(),
        engine,
        config: config(),
    };
    let mut target = cloud();

    println!("time   event");
    let mut tl = Timeline { t0, quiet: 0 };
    let active = registry.active_agent(&corp).ok_or("no active agent")?;
    tl.line(
        t0,
        &format!("agent-a and agent-b register for {FQDN}; {active} serves corp"),
    );

    let mut failover: Option<(Timestamp, AgentId, Watermark)> = None;
    let mut first_after_failover: Option<Cycle> = None;
    let mut in_flight: Option<ChangeBatch> = None;
    let mut zombie_refused = false;
    let mut cycles_run = 0usize;

    for step in 0..=100i64 {
        let now = t0.add_secs(step * 30);
        let minute = step / 2;
        if step % 2 == 0 {
            if let Some(what) = change_directory(&mut ad, minute, &mut people, team)? {
                tl.line(now, &format!("AD: {what}"));
            }
        }
        if step == 24 {
            // agent-a had read a delta just before it died; its host is gone.
            let since = host.engine.committed().watermark.clone();
            let batch = AdSource::new(&mut ad, "corp").changes_since(&since)?;
            tl.line(
                now,
                &format!(
                    "agent-a reads a delta ({} record(s)) and is killed before sending it: no more heartbeats or cycles",
                    batch.records.len()
                ),
            );
            in_flight = Some(batch);
            agents[0].alive = false;
        }

        // Heartbeats.
        for a in agents.iter_mut().filter(|a| a.alive) {
            if a.schedule.next_due(now).what == Work::Heartbeat {
                for e in registry.heartbeat(now, &a.id)? {
                    tl.line(now, &format!("registry: {e:?}"));
                }
                a.schedule.heartbeat_sent(now);
            }
        }

        // Health.
        for e in registry.tick(now) {
            match &e {
                RegistryEvent::AgentUnhealthy {
                    agent,
                    last_heartbeat,
                } => tl.line(
                    now,
                    &format!(
                        "registry: {agent} is unhealthy (last heartbeat {}, {} minutes ago)",
                        clock(t0, *last_heartbeat),
                        now.since(*last_heartbeat).as_secs() / 60
                    ),
                ),
                RegistryEvent::Failover {
                    from,
                    to,
                    resume_from,
                    ..
                } => {
                    tl.line(
                        now,
                        &format!(
                            "FAILOVER: corp moves from {from} to {to}, resuming from {}",
                            watermark_text(resume_from)
                        ),
                    );
                    failover = Some((now, to.clone(), resume_from.clone()));
                }
                other => tl.line(now, &format!("registry: {other:?}")),
            }
        }

        // The stale batch of the dead agent arrives late.
        if failover.is_some() && !zombie_refused {
            if let Some(batch) = in_flight.take() {
                match host.deliver(&mut registry, &agents[0].id, &[batch], now, &mut target)? {
                    Err(e) => {
                        tl.line(
                            now,
                            &format!("agent-a's late batch arrives and is refused: {e}"),
                        );
                        zombie_refused = matches!(e, AgentError::NotActive { .. });
                    }
                    Ok(_) => return Err("the stale agent's batch was applied".into()),
                }
            }
        }

        // The configuration's cycle, run by its active agent.
        // Heartbeats are the agents' business, not the configuration's.
        cycles.heartbeat_sent(now);
        let due = cycles.next_due(now);
        let kind = match due.what {
            Work::Full { .. } => CycleKind::Full,
            Work::Delta => CycleKind::Delta,
            Work::Heartbeat => continue,
        };
        if due.at > now {
            continue;
        }
        let Some(active) = registry.active_agent(&corp).cloned() else {
            continue;
        };
        let Some(agent) = agents.iter().find(|a| a.id == active) else {
            continue;
        };
        if !agent.alive {
            // The registry does not know yet: nobody runs the cycle.
            continue;
        }
        cycles.started(now, kind)?;
        let mut source = AdSource::new(&mut ad, "corp");
        let batches = match kind {
            CycleKind::Full => source.full_read()?,
            CycleKind::Delta => {
                vec![source.changes_since(&host.engine.committed().watermark.clone())?]
            }
        };
        let cycle = host.deliver(&mut registry, &active, &batches, now, &mut target)??;
        cycles.finished(now, CycleOutcome::Completed)?;
        cycles_run += 1;
        if cycle.records > 0 || cycle.ops > 0 || kind == CycleKind::Full {
            tl.line(
                now,
                &format!(
                    "{active}: {kind:?} cycle, {} -> {}, {} record(s), {} op(s), {} failed",
                    watermark_text(&cycle.since),
                    watermark_text(&cycle.watermark),
                    cycle.records,
                    cycle.ops,
                    cycle.failed
                ),
            );
        } else {
            tl.quiet += 1;
        }
        if failover.is_some() && first_after_failover.is_none() {
            first_after_failover = Some(cycle);
        }
    }
    tl.flush();

    println!("\noutcome");
    let (failed_at, to, resume_from) = failover.ok_or("no failover happened")?;
    check(
        to.as_str() == "agent-b" && failed_at == t0.add_secs(40 * 60),
        "agent-b took over at 40:00, 30 minutes after agent-a's last heartbeat",
    )?;
    check(zombie_refused, "the dead agent's late batch was refused")?;
    let first = first_after_failover.ok_or("no cycle after the failover")?;
    check(
        first.since == resume_from,
        "agent-b's first delta starts at the committed watermark",
    )?;
    check(
        first.records >= 3,
        "it carries the changes made during the outage",
    )?;
    // 00:00-11:30 and 40:00-50:00, every 30 seconds; none while nobody served.
    check(
        cycles_run == 24 + 21,
        "cycles ran every 30 seconds while an agent served corp",
    )?;
    let mut creates: BTreeMap<Guid, usize> = BTreeMap::new();
    for l in target.log() {
        if l.action == "create" && l.outcome.is_ok() {
            *creates.entry(l.object).or_default() += 1;
        }
    }
    check(
        creates.values().all(|n| *n == 1),
        "no object was created twice",
    )?;
    let mut fresh_engine = Engine::new(&config())?;
    let mut fresh = cloud();
    let end = t0.add_secs(100 * 30);
    fresh_engine.run_cycle(&mut AdSource::new(&mut ad, "corp"), &mut fresh, end, true)?;
    check(
        picture(&target) == picture(&fresh),
        "the target equals a fresh full sync of the directory",
    )?;
    check(
        registry.committed(&corp).map(|c| &c.watermark) == Some(&host.engine.committed().watermark),
        "registry and engine agree on the committed watermark",
    )?;
    println!("\nagents: the failover story holds");
    Ok(())
}
