//! A deterministic simulator: the in-memory AD, two agents (a [`Registry`]
//! with failover, each agent with its [`Schedule`]) on a simulated clock,
//! the engine and the in-memory target, with seeded faults (target op
//! failures, batches delivered twice, lost heartbeats that fail the
//! configuration over to the other agent). The model-test invariants are
//! checked after every settled cycle (see `tests/model/harness.rs`), and
//! the registry's committed watermark must follow the engine's.
//!
//! ```text
//! cargo run --example simulate                       # seeds 1..=20, 200 steps each
//! cargo run --example simulate -- --seed 7 --steps 5000
//! cargo run --example simulate -- --seeds 1000 --steps 300
//! cargo run --example simulate -- --first 101 --seeds 50 --crash
//! ```
//!
//! `--crash` adds crashes between apply and commit and before the snapshot
//! is persisted. `--seeds N` runs N seeds from `--first` (default 1). The
//! checks are exact (`--strict` is accepted for old command lines: the
//! tolerance it switched off is gone with the bug it covered). The summary
//! line counts the generated steps and the settles checked against the
//! model. On a failure the seed and step are printed and the exit status
//! is 1.

#[path = "../tests/model/harness.rs"]
mod harness;

use std::process::ExitCode;

use harness::{Mode, Op, Sim};
use idsync::agent::AgentId;
use idsync::agent::{CycleKind, CycleOutcome, FullReason, Registry, RegistryEvent, Schedule, Work};
use idsync::change::ConfigId;
use idsync::limits::Limits;
use idsync::time::Timestamp;

/// SplitMix64: small, seeded, good enough to pick steps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn byte(&mut self) -> u8 {
        (self.next() & 0xff) as u8
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Options {
    seeds: Vec<u64>,
    steps: u64,
    crash: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        seeds: Vec::new(),
        steps: 200,
        crash: false,
    };
    let (mut first, mut count) = (1u64, 20u64);
    let mut one = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            args.next()
                .ok_or(format!("{name} needs a number"))?
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        match a.as_str() {
            "--seed" => one = Some(num("--seed")?),
            "--seeds" => count = num("--seeds")?,
            "--first" => first = num("--first")?,
            "--steps" => o.steps = num("--steps")?,
            "--crash" => o.crash = true,
            "--strict" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    o.seeds = match one {
        Some(seed) => vec![seed],
        None => (first..first.saturating_add(count)).collect(),
    };
    Ok(o)
}

fn ad_op(rng: &mut Rng) -> Op {
    let (a, b) = (rng.byte(), rng.byte());
    match rng.below(13) {
        0 | 1 => Op::AddUser {
            in_scope: rng.chance(70),
        },
        2 => Op::AddGroup {
            in_scope: rng.chance(70),
        },
        3 => Op::SetDisplayName { obj: a, v: b % 4 },
        4 => Op::SetUpn { user: a, v: b % 4 },
        5 => Op::ToggleEnabled { user: a },
        6 => Op::Rename { obj: a, v: b % 4 },
        7 => Op::Move {
            obj: a,
            to_in: rng.chance(50),
        },
        8 => Op::Delete { obj: a },
        9 => Op::Restore { obj: a },
        10 => {
            if rng.chance(60) {
                Op::AddMember {
                    group: a,
                    member: b,
                }
            } else {
                Op::RemoveMember {
                    group: a,
                    member: b,
                }
            }
        }
        11 => Op::SetConsistencyGuid { obj: a },
        _ => Op::SetLeaver {
            user: a,
            on: rng.chance(50),
        },
    }
}

#[derive(Default)]
struct Totals {
    steps: u64,
    cycles: u64,
    settles: u64,
    ops: u64,
    failed_ops: u64,
    failovers: u64,
    crashes: u64,
    deletes: u64,
}

/// One seeded run; `Err` names the step that broke an invariant.
fn run(seed: u64, steps: u64, opts: &Options, totals: &mut Totals) -> Result<(), String> {
    let mut rng = Rng(seed);
    let hold = rng.chance(20);
    let mut sim = Sim::new(hold)?;
    // Deltas of changed attributes (DirSync) by default; whole objects
    // (a uSNChanged read) for a third of the seeds.
    if rng.chance(33) {
        sim.step(&Op::DeltaStyle { changed: false })
            .map_err(|e| format!("seed {seed}: {e}"))?;
    }
    let limits = Limits::default();
    let config = ConfigId::new("corp");
    let agents = [AgentId::new("agent-a"), AgentId::new("agent-b")];
    let mut now = Timestamp::from_secs(1_767_225_600);
    let mut registry = Registry::new(limits.clone());
    for a in &agents {
        registry
            .register(now, a.clone())
            .map_err(|e| e.to_string())?;
        registry
            .assign(a.clone(), "corp.example.com")
            .map_err(|e| e.to_string())?;
    }
    registry
        .add_configuration(config.clone(), "corp.example.com")
        .map_err(|e| e.to_string())?;
    let mut schedules = [Schedule::first_run(&limits), Schedule::first_run(&limits)];
    // Agents whose heartbeats are lost until this time.
    let mut silent_until = [now, now];
    let mut pending_full = true;
    let mut last_beat = [now.add_secs(-3600), now.add_secs(-3600)];

    for step in 0..steps {
        let at = |what: &str| format!("seed {seed} step {step}: {what}");
        // Source changes between cycles.
        for _ in 0..rng.below(3) {
            sim.step(&ad_op(&mut rng)).map_err(|e| at(&e))?;
        }
        if rng.chance(8) {
            sim.step(&Op::FailNext { n: rng.byte() })
                .map_err(|e| at(&e))?;
        }
        if rng.chance(2) {
            // A network partition: this agent's heartbeats are lost for a
            // while; the registry fails the configuration over.
            let i = rng.below(2) as usize;
            silent_until[i] = now.add_secs(1200 + rng.below(2400) as i64);
        }
        // Heartbeats every interval; a partitioned agent sends them but the
        // registry never hears them.
        let beat = |now: Timestamp,
                    schedules: &mut [Schedule; 2],
                    last: &mut [Timestamp; 2],
                    registry: &mut Registry|
         -> Result<(), String> {
            for (i, a) in agents.iter().enumerate() {
                if now.since(last[i]) >= limits.heartbeat_interval {
                    last[i] = now;
                    schedules[i].heartbeat_sent(now);
                    if now >= silent_until[i] {
                        registry.heartbeat(now, a).map_err(|e| e.to_string())?;
                    }
                }
            }
            Ok(())
        };
        // Advance the clock to the active agent's next cycle (or by a
        // delta interval while no agent is active).
        let next = registry
            .active_agent(&config)
            .and_then(|a| agents.iter().position(|x| x == a))
            .map(|ai| {
                let mut due = schedules[ai].next_due(now);
                if due.what == Work::Heartbeat {
                    due.at = due.at.max(now);
                }
                due.at
            })
            .unwrap_or(now.add_secs(30));
        now = next.max(now);
        beat(now, &mut schedules, &mut last_beat, &mut registry).map_err(|e| at(&e))?;
        for event in registry.tick(now) {
            if let RegistryEvent::Failover { to, .. } | RegistryEvent::Activated { agent: to, .. } =
                &event
            {
                totals.failovers += 1;
                // The new agent resumes from the committed watermark with a
                // full sync of its own (its in-memory view is empty).
                if let Some(i) = agents.iter().position(|a| a == to) {
                    schedules[i] = Schedule::restarted(&limits);
                    schedules[i].heartbeat_sent(now);
                }
                pending_full = true;
            }
        }
        let Some(active) = registry.active_agent(&config).cloned() else {
            now = now.add_secs(30);
            continue;
        };
        let ai = agents.iter().position(|a| *a == active).unwrap_or(0);
        let due = schedules[ai].next_due(now);
        let kind = match due.what {
            Work::Heartbeat => {
                now = now.add_secs(1);
                continue;
            }
            Work::Full { .. } => CycleKind::Full,
            Work::Delta => CycleKind::Delta,
        };
        if due.at > now {
            now = due.at;
        }
        schedules[ai]
            .started(now, kind)
            .map_err(|e| at(&e.to_string()))?;
        let mode = match rng.below(100) {
            0..=5 => Mode::DeliverTwice,
            6..=8 if opts.crash => Mode::CrashBeforeCommit,
            9..=10 if opts.crash => Mode::CrashBeforePersist,
            _ => Mode::Normal,
        };
        let full = kind == CycleKind::Full || pending_full;
        sim.now = now;
        let (ops, failed) = sim.cycle_with(mode, full).map_err(|e| at(&e))?;
        pending_full = false;
        totals.ops += ops as u64;
        totals.failed_ops += failed as u64;
        let crashed = matches!(mode, Mode::CrashBeforeCommit | Mode::CrashBeforePersist);
        if crashed {
            totals.crashes += 1;
            schedules[ai] = Schedule::restarted(&limits);
            schedules[ai].heartbeat_sent(now);
            schedules[ai].request_full(FullReason::AgentRestart);
        } else {
            schedules[ai]
                .finished(now.add_secs(5), CycleOutcome::Completed)
                .map_err(|e| at(&e.to_string()))?;
            for h in &sim.last_headers {
                registry
                    .commit(now, &active, h)
                    .map_err(|e| at(&format!("registry refused a committed batch: {e}")))?;
            }
            let reg = registry
                .committed(&config)
                .ok_or_else(|| at("registry lost the configuration"))?;
            if !reg
                .watermark
                .same_position(&sim.engine.committed().watermark)
            {
                return Err(at(&format!(
                    "registry watermark {:?} is not the engine's {:?}",
                    reg.watermark,
                    sim.engine.committed().watermark
                )));
            }
        }
        now = now.add_secs(5);
        // Settle and check the invariants every few cycles.
        if step % 10 == 9 || step + 1 == steps {
            sim.now = now;
            sim.settle().map_err(|e| at(&e))?;
        }
        totals.steps += 1;
    }
    sim.settle()
        .map_err(|e| format!("seed {seed} final settle: {e}"))?;
    totals.cycles += sim.stats.cycles;
    totals.settles += sim.stats.settles;
    totals.deletes += sim.stats.deletes;
    Ok(())
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("simulate: {e}");
            eprintln!("usage: simulate [--seed N | [--first N] --seeds N] [--steps M] [--crash]");
            return ExitCode::from(2);
        }
    };
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for &seed in &opts.seeds {
        if let Err(e) = run(seed, opts.steps, &opts, &mut totals) {
            eprintln!("FAILED: {e}");
            eprintln!(
                "reproduce: cargo run --release --example simulate -- --seed {seed} --steps {}{}",
                opts.steps,
                if opts.crash { " --crash" } else { "" },
            );
            failures.push(seed);
        }
    }
    println!(
        "simulate: {} seed(s) {}..={}{} x {} steps: {} steps, {} cycles, {} settles checked, {} ops ({} failed by injected faults), {} deletions, {} failovers, {} crashes; {} failing seed(s){}",
        opts.seeds.len(),
        opts.seeds.first().copied().unwrap_or(0),
        opts.seeds.last().copied().unwrap_or(0),
        if opts.crash { " with crashes" } else { "" },
        opts.steps,
        totals.steps,
        totals.cycles,
        totals.settles,
        totals.ops,
        totals.failed_ops,
        totals.deletes,
        totals.failovers,
        totals.crashes,
        failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(": {failures:?}")
        }
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
