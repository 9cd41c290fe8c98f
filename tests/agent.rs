//! Agents, the local queue, the schedule and the limits, through the public
//! API, on a simulated clock.

use idsync::agent::*;
use idsync::anchor::Guid;
use idsync::change::*;
use idsync::dn::Dn;
use idsync::limits::{LimitError, Limits};
use idsync::object::{AttrName, Value};
use idsync::time::Timestamp;
use proptest::prelude::*;

const MIB: usize = 1024 * 1024;

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-03-02T08:00:00Z").unwrap()
}

fn mins(m: i64) -> Timestamp {
    t0().add_secs(m * 60)
}

/// A modify record whose JSON form is exactly `len` bytes.
fn record_of_len(len: usize) -> Vec<u8> {
    let make = |pad: usize| Change::Modify {
        guid: Guid::from_u128(42),
        changes: vec![idsync::change::AttrChange {
            name: AttrName::new("description"),
            op: AttrOp::Replace([Value::str(&"x".repeat(pad))].into_iter().collect()),
        }],
        password_hash: None,
    };
    let base = make(0).to_json().unwrap().len();
    assert!(len >= base, "a record is at least {base} bytes");
    let json = make(len - base).to_json().unwrap();
    assert_eq!(json.len(), len);
    json
}

/// Pushes records summing to exactly `total` bytes; returns the last push.
fn fill(q: &mut ChangeQueue, total: usize) -> Pushed {
    let chunk = MIB;
    let mut left = total;
    let mut last = None;
    while left > 0 {
        let n = if left >= chunk + 1000 { chunk } else { left };
        last = Some(q.push_encoded(record_of_len(n)));
        left -= n;
    }
    last.unwrap()
}

#[test]
fn exactly_ten_mib_fits() {
    let limits = Limits::default();
    let mut q = ChangeQueue::with_limits(&limits);
    assert!(matches!(fill(&mut q, 10 * MIB), Pushed::Queued { .. }));
    assert_eq!(q.bytes(), 10 * MIB);
    assert_eq!(q.len(), 10);
    assert_eq!(q.full_sync_required(), None);
}

#[test]
fn ten_mib_plus_one_byte_overflows_and_reports_every_record() {
    let mut q = ChangeQueue::with_limits(&Limits::default());
    let last = fill(&mut q, 10 * MIB + 1);
    let expected = QueueOverflow {
        records_dropped: 10,
        bytes_dropped: (10 * MIB + 1) as u64,
        limit: 10 * MIB,
    };
    assert_eq!(last, Pushed::Overflowed(expected));
    assert!(q.is_empty());
    assert_eq!(q.bytes(), 0);
    // the agent learns on reconnect that it must full-sync
    let mut s = Schedule::first_run(&Limits::default());
    s.started(t0(), CycleKind::Full).unwrap();
    s.finished(t0(), CycleOutcome::Completed).unwrap();
    assert_eq!(s.full_due(), None);
    if let Some(o) = q.take_full_sync_required() {
        assert_eq!(o, expected);
        s.request_full(FullReason::QueueOverflow);
    }
    assert_eq!(q.take_full_sync_required(), None);
    assert_eq!(
        s.next_due(t0().add_secs(1)),
        Due {
            what: Work::Heartbeat,
            at: t0().add_secs(1)
        }
    );
    s.heartbeat_sent(t0().add_secs(1));
    assert_eq!(
        s.next_due(t0().add_secs(1)).what,
        Work::Full {
            reason: FullReason::QueueOverflow
        }
    );
}

#[test]
fn queue_batches_and_acknowledgements() {
    let mut q = ChangeQueue::new(10_000);
    let change = Change::Move {
        guid: Guid::from_u128(1),
        dn: Dn::parse("CN=a,OU=b,DC=c").unwrap(),
        changes: vec![],
        password_hash: None,
    };
    for _ in 0..5 {
        assert!(matches!(q.push(&change).unwrap(), Pushed::Queued { .. }));
    }
    let one = change.to_json().unwrap().len();
    let header = BatchHeader {
        source: "corp".into(),
        since: Watermark::usn(1, Guid::from_u128(5), "dc1"),
        watermark: Watermark::usn(2, Guid::from_u128(5), "dc1"),
        kind: BatchKind::Delta,
    };
    let (json, n) = q.batch_json(&header, one * 3).unwrap();
    assert_eq!(n, 3);
    let batch = ChangeBatch::from_json(&json).unwrap();
    assert_eq!(batch.records, vec![change.clone(); 3]);
    assert_eq!(batch.header, header);
    // not acknowledged: sent again
    assert_eq!(q.batch_json(&header, one * 3).unwrap().1, 3);
    q.acknowledge(n);
    assert_eq!((q.len(), q.bytes()), (2, 2 * one));
    // a record bigger than the batch size still goes, alone
    assert_eq!(q.front(1).count(), 1);
    q.acknowledge(99);
    assert!(q.is_empty());
}

proptest! {
    /// Model test: the queue against a plain list of sizes.
    #[test]
    fn queue_matches_model(limit in 1usize..500, sizes in proptest::collection::vec(1usize..200, 0..60), acks in proptest::collection::vec(0usize..4, 0..60)) {
        let mut q = ChangeQueue::new(limit);
        let mut model: Vec<usize> = Vec::new();
        let (mut dropped_records, mut dropped_bytes) = (0u64, 0u64);
        for (i, &size) in sizes.iter().enumerate() {
            let pushed = q.push_encoded(vec![b'x'; size]);
            if model.iter().sum::<usize>() + size <= limit {
                model.push(size);
                prop_assert_eq!(pushed, Pushed::Queued { bytes: size });
            } else {
                let r = model.len() as u64 + 1;
                let b = (model.iter().sum::<usize>() + size) as u64;
                dropped_records += r;
                dropped_bytes += b;
                model.clear();
                prop_assert_eq!(pushed, Pushed::Overflowed(QueueOverflow { records_dropped: r, bytes_dropped: b, limit }));
            }
            if let Some(&a) = acks.get(i) {
                q.acknowledge(a);
                model.drain(..a.min(model.len()));
            }
            prop_assert_eq!(q.len(), model.len());
            prop_assert_eq!(q.bytes(), model.iter().sum::<usize>());
            prop_assert!(q.bytes() <= limit);
        }
        match q.full_sync_required() {
            Some(o) => prop_assert_eq!((o.records_dropped, o.bytes_dropped), (dropped_records, dropped_bytes)),
            None => prop_assert_eq!(dropped_records, 0),
        }
    }
}

#[test]
fn schedule_runs_deltas_every_thirty_seconds() {
    let limits = Limits::default();
    let mut s = Schedule::first_run(&limits);
    s.heartbeat_sent(t0());
    assert_eq!(
        s.next_due(t0()),
        Due {
            what: Work::Full {
                reason: FullReason::FirstRun
            },
            at: t0()
        }
    );
    assert_eq!(
        s.started(t0(), CycleKind::Delta),
        Err(ScheduleError::FullSyncDue {
            reason: FullReason::FirstRun
        })
    );
    s.started(t0(), CycleKind::Full).unwrap();
    // while a cycle runs only the heartbeat is due
    assert_eq!(s.next_due(t0().add_secs(40)).what, Work::Heartbeat);
    assert!(matches!(
        s.started(t0(), CycleKind::Full),
        Err(ScheduleError::AlreadyRunning { .. })
    ));
    s.finished(t0().add_secs(50), CycleOutcome::Completed)
        .unwrap();
    // the cycle ran long: the next delta is due at once
    assert_eq!(
        s.next_due(t0().add_secs(50)),
        Due {
            what: Work::Delta,
            at: t0().add_secs(50)
        }
    );
    let mut at = t0().add_secs(50);
    let mut starts = Vec::new();
    for _ in 0..4 {
        let due = s.next_due(at);
        assert_eq!(due.what, Work::Delta);
        s.started(due.at, CycleKind::Delta).unwrap();
        starts.push(due.at);
        s.finished(due.at.add_secs(3), CycleOutcome::Completed)
            .unwrap();
        at = due.at.add_secs(3);
    }
    let gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| w[1].as_secs() - w[0].as_secs())
        .collect();
    assert_eq!(gaps, vec![30, 30, 30]);
    assert_eq!(
        s.finished(at, CycleOutcome::Completed),
        Err(ScheduleError::NotRunning)
    );
}

#[test]
fn schedule_full_sync_reasons() {
    let limits = Limits::default();
    let mut s = Schedule::restarted(&limits);
    s.heartbeat_sent(t0());
    assert_eq!(
        s.next_due(t0()).what,
        Work::Full {
            reason: FullReason::AgentRestart
        }
    );
    s.started(t0(), CycleKind::Full).unwrap();
    // a request during a full sync makes another one due after it
    s.request_full(FullReason::ConfigurationChanged);
    s.finished(t0().add_secs(5), CycleOutcome::Completed)
        .unwrap();
    let due = s.next_due(t0().add_secs(5));
    assert_eq!(
        due,
        Due {
            what: Work::Full {
                reason: FullReason::ConfigurationChanged
            },
            at: t0().add_secs(30)
        }
    );
    s.started(due.at, CycleKind::Full).unwrap();
    s.finished(due.at.add_secs(5), CycleOutcome::CutShort)
        .unwrap();
    assert_eq!(s.full_due(), Some(FullReason::Retry));
    s.started(due.at.add_secs(30), CycleKind::Full).unwrap();
    s.finished(due.at.add_secs(31), CycleOutcome::Failed)
        .unwrap();
    assert_eq!(s.full_due(), Some(FullReason::Retry));
    s.started(due.at.add_secs(60), CycleKind::Full).unwrap();
    s.finished(due.at.add_secs(61), CycleOutcome::Completed)
        .unwrap();
    assert_eq!(s.full_due(), None);
    // the first reason stays when several come in
    s.request_full(FullReason::WatermarkVoid);
    s.request_full(FullReason::Requested);
    assert_eq!(s.full_due(), Some(FullReason::WatermarkVoid));
    // a failed delta does not make a full sync due
    let mut d = Schedule::first_run(&limits);
    d.started(t0(), CycleKind::Full).unwrap();
    d.finished(t0(), CycleOutcome::Completed).unwrap();
    d.started(t0().add_secs(30), CycleKind::Delta).unwrap();
    d.finished(t0().add_secs(31), CycleOutcome::Failed).unwrap();
    assert_eq!(d.full_due(), None);
}

#[test]
fn schedule_heartbeats_every_five_minutes() {
    let mut s = Schedule::first_run(&Limits::default());
    s.started(t0(), CycleKind::Full).unwrap();
    s.finished(t0(), CycleOutcome::Completed).unwrap();
    assert_eq!(
        s.next_due(t0()).what,
        Work::Heartbeat,
        "no heartbeat yet: due now"
    );
    s.heartbeat_sent(t0());
    let mut heartbeats = Vec::new();
    let mut now = t0();
    while now < mins(16) {
        let due = s.next_due(now);
        now = due.at;
        match due.what {
            Work::Heartbeat => {
                s.heartbeat_sent(now);
                heartbeats.push(now);
            }
            Work::Delta => {
                s.started(now, CycleKind::Delta).unwrap();
                s.finished(now, CycleOutcome::Completed).unwrap();
            }
            Work::Full { .. } => panic!("no full sync is due"),
        }
    }
    assert_eq!(heartbeats, vec![mins(5), mins(10), mins(15)]);
}

fn registry_with(agents: &[&str], domain: &str) -> Registry {
    let mut r = Registry::new(Limits::default());
    for a in agents {
        r.register(t0(), AgentId::new(a)).unwrap();
        r.assign(AgentId::new(a), domain).unwrap();
    }
    r
}

#[test]
fn the_twenty_first_agent_is_refused() {
    let mut r = Registry::new(Limits::default());
    for i in 0..20 {
        r.register(t0(), AgentId::new(&format!("agent-{i}")))
            .unwrap();
    }
    assert_eq!(
        r.register(t0(), "agent-20".into()),
        Err(AgentError::TooManyAgents {
            agent: "agent-20".into(),
            max: 20
        })
    );
    assert_eq!(r.agents().len(), 20);
    assert_eq!(
        r.register(t0(), "agent-3".into()),
        Err(AgentError::AlreadyRegistered {
            agent: "agent-3".into()
        })
    );
    // after one leaves, another may register
    r.unregister(&"agent-0".into()).unwrap();
    r.register(t0(), "agent-20".into()).unwrap();
}

#[test]
fn health_follows_heartbeats() {
    let mut r = registry_with(&["a"], "corp.example.com");
    r.add_configuration("corp".into(), "corp.example.com")
        .unwrap();
    assert_eq!(r.next_deadline(), Some(mins(30)));
    r.heartbeat(mins(5), &"a".into()).unwrap();
    assert_eq!(r.next_deadline(), Some(mins(35)));
    assert!(r.tick(mins(34)).is_empty());
    let events = r.tick(mins(35));
    assert_eq!(
        events,
        vec![
            RegistryEvent::AgentUnhealthy {
                agent: "a".into(),
                last_heartbeat: mins(5)
            },
            RegistryEvent::NoHealthyAgent {
                config: "corp".into(),
                last_active: "a".into()
            }
        ]
    );
    assert!(!r.agent(&"a".into()).unwrap().healthy);
    assert_eq!(r.active_agent(&"corp".into()), None);
    assert!(r.tick(mins(40)).is_empty(), "reported once");
    let events = r.heartbeat(mins(41), &"a".into()).unwrap();
    assert_eq!(
        events,
        vec![
            RegistryEvent::AgentRecovered { agent: "a".into() },
            RegistryEvent::Activated {
                config: "corp".into(),
                agent: "a".into(),
                resume_from: Watermark::None
            }
        ]
    );
    assert!(matches!(
        r.heartbeat(mins(41), &"ghost".into()),
        Err(AgentError::UnknownAgent { .. })
    ));
}

fn usn(n: u64) -> Watermark {
    Watermark::usn(n, Guid::from_u128(0x1d), "dc1.corp.example.com")
}

fn delta(since: u64, to: u64) -> BatchHeader {
    BatchHeader {
        source: "corp".into(),
        since: usn(since),
        watermark: usn(to),
        kind: BatchKind::Delta,
    }
}

fn full_read(to: u64) -> BatchHeader {
    BatchHeader {
        source: "corp".into(),
        since: Watermark::None,
        watermark: usn(to),
        kind: BatchKind::Full {
            page: 0,
            completeness: Completeness::Finished,
            objects: 3,
        },
    }
}

#[test]
fn failover_mid_batch_after_a_31_minute_heartbeat_gap() {
    let (a, b, c) = (AgentId::new("a"), AgentId::new("b"), AgentId::new("c"));
    let corp = ConfigId::new("corp");
    let mut r = registry_with(&["a", "b"], "corp.example.com");
    r.register(t0(), c.clone()).unwrap();
    r.assign(c.clone(), "other.example.com").unwrap();
    r.add_configuration(corp.clone(), "corp.example.com")
        .unwrap();
    assert_eq!(r.active_agent(&corp), Some(&a));

    // a: full read, then one delta, both committed
    assert_eq!(r.check_batch(t0(), &a, &full_read(100)), Ok(Resume::Apply));
    assert_eq!(r.commit(t0(), &a, &full_read(100)), Ok(Resume::Apply));
    assert_eq!(r.commit(mins(1), &a, &delta(100, 120)), Ok(Resume::Apply));
    // b is a standby and may not send
    assert!(matches!(
        r.check_batch(mins(1), &b, &delta(120, 130)),
        Err(AgentError::NotActive { .. })
    ));

    // a reads the next batch (checked, staged, not yet committed) and goes silent
    assert_eq!(
        r.check_batch(mins(2), &a, &delta(120, 150)),
        Ok(Resume::Apply)
    );
    for m in (5..=30).step_by(5) {
        r.heartbeat(mins(m), &b).unwrap();
        r.heartbeat(mins(m), &c).unwrap();
    }
    // even before a tick notices, an agent 31 minutes silent is refused
    assert!(matches!(
        r.commit(mins(31), &a, &delta(120, 150)),
        Err(AgentError::Unhealthy { .. })
    ));
    let events = r.tick(mins(31));
    assert_eq!(
        events,
        vec![
            RegistryEvent::AgentUnhealthy {
                agent: a.clone(),
                last_heartbeat: t0()
            },
            RegistryEvent::Failover {
                config: corp.clone(),
                from: a.clone(),
                to: b.clone(),
                resume_from: usn(120)
            }
        ]
    );
    // the stale agent's batch is refused: nothing applied twice
    assert_eq!(
        r.commit(mins(32), &a, &delta(120, 150)),
        Err(AgentError::NotActive {
            config: corp.clone(),
            agent: a.clone(),
            active: Some(b.clone())
        })
    );
    // a comes back: it stays a standby
    r.heartbeat(mins(33), &a).unwrap();
    assert_eq!(r.active_agent(&corp), Some(&b));
    assert!(matches!(
        r.check_batch(mins(33), &a, &delta(120, 150)),
        Err(AgentError::NotActive { .. })
    ));
    // b resumes from the committed watermark: no gap
    let resume = r.committed(&corp).unwrap().watermark.clone();
    assert_eq!(resume, usn(120));
    assert!(matches!(
        r.check_batch(mins(33), &b, &delta(150, 160)),
        Err(AgentError::Watermark {
            error: ResumeError::Gap { .. },
            ..
        })
    ));
    assert_eq!(r.commit(mins(33), &b, &delta(120, 155)), Ok(Resume::Apply));
    assert_eq!(r.committed(&corp).unwrap().watermark, usn(155));
    // the replayed batch (same watermark twice) is skipped
    assert_eq!(
        r.commit(mins(34), &b, &delta(120, 155)),
        Ok(Resume::AlreadyApplied)
    );
    assert_eq!(r.committed(&corp).unwrap().watermark, usn(155));
}

#[test]
fn invocation_id_change_through_the_registry() {
    let a = AgentId::new("a");
    let mut r = registry_with(&["a"], "corp.example.com");
    r.add_configuration("corp".into(), "corp.example.com")
        .unwrap();
    assert!(matches!(
        r.check_batch(t0(), &a, &delta(0, 10)),
        Err(AgentError::Watermark {
            error: ResumeError::FullSyncRequired {
                reason: VoidReason::NoBaseline
            },
            ..
        })
    ));
    r.commit(t0(), &a, &full_read(100)).unwrap();
    let restored = BatchHeader {
        watermark: Watermark::usn(90, Guid::from_u128(0x2e), "dc1.corp.example.com"),
        ..delta(100, 0)
    };
    let e = r.commit(mins(1), &a, &restored).unwrap_err();
    assert!(matches!(
        e,
        AgentError::Watermark {
            error: ResumeError::FullSyncRequired {
                reason: VoidReason::InvocationIdChanged { .. }
            },
            ..
        }
    ));
    assert!(
        e.to_string()
            .contains("full sync required: invocationId changed"),
        "{e}"
    );
    // the agent schedules a full sync; its read commits a new baseline
    let mut s = Schedule::first_run(&Limits::default());
    s.started(t0(), CycleKind::Full).unwrap();
    s.finished(t0(), CycleOutcome::Completed).unwrap();
    s.request_full(FullReason::WatermarkVoid);
    assert_eq!(s.full_due(), Some(FullReason::WatermarkVoid));
    let new_base = BatchHeader {
        watermark: Watermark::usn(95, Guid::from_u128(0x2e), "dc1.corp.example.com"),
        ..full_read(0)
    };
    assert_eq!(r.commit(mins(2), &a, &new_base), Ok(Resume::Apply));
    assert_eq!(
        r.committed(&"corp".into()).unwrap().watermark,
        new_base.watermark
    );
}

#[test]
fn failover_picks_the_next_agent_of_the_same_domain() {
    let mut r = registry_with(&["a", "b", "c"], "corp.example.com");
    r.register(t0(), "x".into()).unwrap();
    r.assign("x".into(), "other.example.com").unwrap();
    r.add_configuration("corp".into(), "CORP.example.com")
        .unwrap();
    r.add_configuration("other".into(), "other.example.com")
        .unwrap();
    assert_eq!(
        r.active_agent(&"other".into()).map(AgentId::as_str),
        Some("x")
    );
    // b goes first, then a: the active moves a -> c (b is unhealthy)
    for m in [10, 20] {
        r.heartbeat(mins(m), &"a".into()).unwrap();
        r.heartbeat(mins(m), &"c".into()).unwrap();
        r.heartbeat(mins(m), &"x".into()).unwrap();
    }
    r.tick(mins(31));
    assert!(!r.agent(&"b".into()).unwrap().healthy);
    assert_eq!(
        r.active_agent(&"corp".into()).map(AgentId::as_str),
        Some("a")
    );
    r.heartbeat(mins(45), &"c".into()).unwrap();
    r.heartbeat(mins(45), &"x".into()).unwrap();
    let events = r.tick(mins(50));
    assert!(events.contains(&RegistryEvent::Failover {
        config: "corp".into(),
        from: "a".into(),
        to: "c".into(),
        resume_from: Watermark::None
    }));
    assert_eq!(
        r.active_agent(&"other".into()).map(AgentId::as_str),
        Some("x")
    );
    // unregistering the active agent fails over at once
    r.heartbeat(mins(51), &"a".into()).unwrap();
    let events = r.unregister(&"c".into()).unwrap();
    assert_eq!(
        events,
        vec![RegistryEvent::Failover {
            config: "corp".into(),
            from: "c".into(),
            to: "a".into(),
            resume_from: Watermark::None
        }]
    );
    assert!(matches!(
        r.add_configuration("corp".into(), "x"),
        Err(AgentError::DuplicateConfiguration { .. })
    ));
}

#[test]
fn registry_snapshot_round_trips() {
    let mut r = registry_with(&["a", "b"], "corp.example.com");
    r.add_configuration("corp".into(), "corp.example.com")
        .unwrap();
    r.commit(t0(), &"a".into(), &full_read(7)).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    let back: Registry = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn object_limit_refuses_the_150001st_object() {
    let limits = Limits::default();
    assert_eq!(limits.check_object_count(0, 150_000), Ok(()));
    assert_eq!(
        limits.check_object_count(150_000, 1),
        Err(LimitError::TooManyObjects {
            current: 150_000,
            adding: 1,
            max: 150_000
        })
    );
    assert_eq!(
        limits
            .check_object_count(0, 150_001)
            .unwrap_err()
            .to_string(),
        "object limit: the configuration holds 0 objects and 150001 more would exceed the limit of 150000; split the scope across more agents"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Heartbeat(usize),
    Tick,
    Advance(u16),
    Unregister(usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..5).prop_map(Op::Heartbeat),
        2 => Just(Op::Tick),
        3 => (1u16..20).prop_map(Op::Advance),
        1 => (0usize..5).prop_map(Op::Unregister),
    ]
}

proptest! {
    /// Random heartbeats, ticks and departures against the invariants:
    /// after every tick an active agent is registered, healthy and assigned
    /// to its configuration's domain; a configuration has none only when no
    /// such agent exists; health is exactly "heartbeat within 30 minutes".
    #[test]
    fn registry_invariants(ops in proptest::collection::vec(arb_op(), 1..80)) {
        let names = ["a", "b", "c", "d", "e"];
        let domains = ["corp", "corp", "corp", "lab", "lab"];
        let mut r = Registry::new(Limits::default());
        for (n, d) in names.iter().zip(domains) {
            r.register(t0(), (*n).into()).unwrap();
            r.assign((*n).into(), d).unwrap();
        }
        r.add_configuration("corp".into(), "corp").unwrap();
        r.add_configuration("lab".into(), "lab").unwrap();
        let mut now = t0();
        let mut last: std::collections::HashMap<&str, Timestamp> = names.iter().map(|n| (*n, t0())).collect();
        for op in ops {
            match op {
                Op::Heartbeat(i) => {
                    if r.heartbeat(now, &names[i].into()).is_ok() {
                        last.insert(names[i], now);
                    }
                }
                Op::Advance(m) => now = now.add_secs(i64::from(m) * 60),
                Op::Unregister(i) => {
                    if r.unregister(&names[i].into()).is_ok() {
                        last.remove(names[i]);
                    }
                }
                Op::Tick => {}
            }
            r.tick(now);
            for a in r.agents() {
                let fresh = now.since(last[a.id.as_str()]) < Limits::default().unhealthy_after;
                prop_assert_eq!(a.healthy, fresh, "{} at {}", a.id, now);
            }
            for (config, domain) in [("corp", "corp"), ("lab", "lab")] {
                let healthy_here: Vec<&AgentStatus> = r
                    .agents()
                    .iter()
                    .filter(|a| a.healthy && a.domains.iter().any(|d| d == domain))
                    .collect();
                match r.active_agent(&config.into()) {
                    Some(active) => {
                        let a = r.agent(active).expect("the active agent is registered");
                        prop_assert!(a.healthy);
                        prop_assert!(a.domains.iter().any(|d| d == domain));
                    }
                    None => prop_assert!(healthy_here.is_empty()),
                }
            }
        }
    }

    /// The schedule never asks for work in the past, only the heartbeat
    /// while a cycle runs, and deltas start at least 30 s apart.
    #[test]
    fn schedule_invariants(steps in proptest::collection::vec((0u8..4, 0u16..400), 1..100)) {
        let mut s = Schedule::first_run(&Limits::default());
        let mut now = t0();
        let mut last_start: Option<Timestamp> = None;
        for (action, wait) in steps {
            now = now.add_secs(i64::from(wait) / 10);
            let due = s.next_due(now);
            prop_assert!(due.at >= now);
            if s.running().is_some() {
                prop_assert_eq!(due.what, Work::Heartbeat);
            }
            match action {
                0 => s.heartbeat_sent(now),
                1 => {
                    let _ = s.finished(now, CycleOutcome::Completed);
                }
                2 => {
                    let _ = s.finished(now, CycleOutcome::Failed);
                }
                _ => {
                    if due.at == now {
                        let kind = match due.what {
                            Work::Full { .. } => Some(CycleKind::Full),
                            Work::Delta => Some(CycleKind::Delta),
                            Work::Heartbeat => None,
                        };
                        if let Some(kind) = kind {
                            s.started(now, kind).unwrap();
                            if let Some(prev) = last_start {
                                if kind == CycleKind::Delta {
                                    prop_assert!(now.since(prev) >= std::time::Duration::from_secs(30));
                                }
                            }
                            last_start = Some(now);
                        }
                    }
                }
            }
        }
    }
}
