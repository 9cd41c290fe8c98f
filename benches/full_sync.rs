//! The initial full sync's plan: 150,000 users and 5,000 groups of about 30
//! direct members (three OUs scoped in, one out), read into the mirror
//! untimed, then `Engine::plan` into an empty target (`TargetView::default()`,
//! so every in-scope object is a create and every membership an add).
//!
//! `full_sync/plan_155k` is the figure the target (<= 1 s) is stated for;
//! `full_sync/ingest_155k` is the ingest of the full read (decoded records
//! -> mirror) for scale, and `full_sync/ignored_any_155k` the JSON floor of
//! that read.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use idsync::engine::Engine;
use idsync::target::TargetView;

mod support;

const USERS: u64 = 150_000;
const GROUPS: u64 = 5_000;

fn full_sync(c: &mut Criterion) {
    let (batch, _dir) = support::full_read(0xf011, USERS, GROUPS, 30);
    let config = support::config();
    let limit = (USERS + GROUPS) as usize + 100;
    let mut engine = Engine::new(&config)
        .expect("compiles")
        .with_object_limit(limit);
    engine.ingest(&batch).expect("ingests");
    let target = TargetView::default();
    let plan = engine.plan(support::now(), &target);
    println!(
        "full_sync input: {} records; plan: {} ops",
        batch.records.len(),
        plan.ops.len()
    );
    drop(plan);
    let objects = batch.records.len() as u64;
    let mut group = c.benchmark_group("full_sync");
    group.throughput(Throughput::Elements(objects));
    group.bench_function("plan_155k", |b| {
        b.iter_with_large_drop(|| engine.plan(support::now(), black_box(&target)))
    });
    group.bench_function("ingest_155k", |b| {
        b.iter_batched(
            || {
                Engine::new(&config)
                    .expect("compiles")
                    .with_object_limit(limit)
            },
            |mut e| {
                e.ingest(black_box(&batch)).expect("ingests");
                e
            },
            BatchSize::PerIteration,
        )
    });
    let json = batch.to_json().expect("encodable");
    group.bench_function("ignored_any_155k", |b| {
        b.iter(|| {
            let v: serde::de::IgnoredAny =
                serde_json::from_slice(black_box(&json)).expect("parses");
            black_box(v)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = full_sync
}
criterion_main!(benches);
