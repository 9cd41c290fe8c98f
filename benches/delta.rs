//! The delta hot path end to end, and its floor, in one group.
//!
//! A mirror of 150,000 users and 5,000 groups (about 30 members each; three
//! OUs scoped in, one out) is read and exported once, outside the timing.
//! Each iteration then takes one batch of 10,000 change records as JSON (the
//! issue's mix: 70% modifications, 10% adds, 10% moves or renames, 5%
//! membership changes, 4.5% deletions, under the deletion threshold) through
//!
//! - `delta/ignored_any_10k`: `serde_json` over the bytes into `IgnoredAny`,
//!   keeping nothing (the floor: reading the JSON at all);
//! - `delta/decode_10k`: bytes -> `ChangeBatch` (records only);
//! - `delta/ingest_plan_10k`: decoded batch -> `Engine::ingest` -> `Engine::plan`;
//! - `delta/bytes_to_plan_10k`: bytes -> decode -> ingest -> scope -> match ->
//!   map -> plan (no apply), the figure the target is stated for.
//!
//! Ingest changes the engine, so every iteration of the last two starts from
//! a fresh restore of the synced state (built untimed by `iter_batched`).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use idsync::change::ChangeBatch;
use idsync::engine::Engine;
use idsync::target::TargetView;

mod support;

const USERS: u64 = 150_000;
const GROUPS: u64 = 5_000;
const RECORDS: u64 = 10_000;

fn delta(c: &mut Criterion) {
    let (engine, mut dir) = support::synced(0xde17a, USERS, GROUPS, 30);
    let state = engine.snapshot();
    let config = support::config();
    let limit = (USERS + GROUPS) as usize * 2;
    drop(engine);
    let batch = support::delta(&mut dir, 0xba7c4, RECORDS, support::Mix::Delta);
    let json = batch.to_json().expect("encodable");
    drop(dir);
    let target = TargetView::default();
    {
        // What one iteration does, once, to report its size.
        let mut e = Engine::restore(&config, state.clone())
            .expect("restores")
            .with_object_limit(limit);
        let t = std::time::Instant::now();
        let report = e.ingest(&batch).expect("ingests");
        let ingest = t.elapsed();
        let due = e.due_count();
        let t = std::time::Instant::now();
        let plan = e.plan(support::now(), &target);
        let planning = t.elapsed();
        println!(
            "delta input: {} records, {} bytes of JSON; {} applied, {due} objects due; \
             plan: {} ops, gate {:?}; one run: ingest {ingest:?}, plan {planning:?}",
            batch.records.len(),
            json.len(),
            report.applied,
            plan.ops.len(),
            plan.status,
        );
    }
    let fresh = || {
        Engine::restore(&config, state.clone())
            .expect("restores")
            .with_object_limit(limit)
    };
    let mut group = c.benchmark_group("delta");
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("ignored_any_10k", |b| {
        b.iter(|| {
            let v: serde::de::IgnoredAny =
                serde_json::from_slice(black_box(&json)).expect("parses");
            black_box(v)
        })
    });
    group.bench_function("decode_10k", |b| {
        b.iter_with_large_drop(|| ChangeBatch::from_json(black_box(&json)).expect("decodes"))
    });
    group.bench_function("ingest_plan_10k", |b| {
        b.iter_batched(
            fresh,
            |mut e| {
                e.ingest(black_box(&batch)).expect("ingests");
                let plan = e.plan(support::now(), &target);
                (e, plan)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("bytes_to_plan_10k", |b| {
        b.iter_batched(
            fresh,
            |mut e| {
                let batch = ChangeBatch::from_json(black_box(&json)).expect("decodes");
                e.ingest(&batch).expect("ingests");
                let plan = e.plan(support::now(), &target);
                (e, batch, plan)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = delta
}
criterion_main!(benches);
