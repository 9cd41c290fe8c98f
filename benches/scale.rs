//! The per-change cost of the delta path as the mirror grows: 10,000,
//! 100,000 and 1,000,000 objects (users plus one group per 30 users, about
//! 30 members each; the 1,000,000 point is past the product's 150,000
//! objects per configuration, so the engine is built with
//! `Engine::with_object_limit`).
//!
//! Each iteration takes the next batch of 1,000 records in the steady mix
//! (80% modifications, 10% moves or renames, 10% membership changes, so the
//! directory neither grows nor shrinks however long criterion runs) from
//! bytes through decode -> ingest -> plan; the batch's generation and the
//! commit of its plan (every op acknowledged) are outside the timing, so the
//! next iteration starts from a synced state again.
//!
//! The target: the cost per change at 1,000,000 objects at most 1.3x the
//! cost at 10,000.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use idsync::change::ChangeBatch;
use idsync::target::TargetView;

mod support;

const BATCH: u64 = 1_000;

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.throughput(Throughput::Elements(BATCH));
    let sizes: &[(u64, &str)] = &[(10_000, "10k"), (100_000, "100k"), (1_000_000, "1m")];
    // Building a synced engine of 1,000,000 objects takes minutes: a size
    // the command line's filter leaves out is not built.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    for &(objects, label) in sizes {
        let id = format!("scale/per_change_1k/{label}");
        if !filters.is_empty() && !filters.iter().any(|f| id.contains(f.as_str())) {
            continue;
        }
        let groups = objects / 31;
        let users = objects - groups;
        let (mut engine, mut dir) = support::synced(0x5ca1e ^ objects, users, groups, 30);
        let target = TargetView::default();
        let mut seed = 1u64;
        // Three untimed batches with their phases timed apart, printed:
        // which phase grows with the mirror (the first after the build
        // also pays for first touches of memory).
        for _ in 0..3 {
            seed += 1;
            let json = support::delta(&mut dir, seed, BATCH, support::Mix::Steady)
                .to_json()
                .expect("encodable");
            let t0 = Instant::now();
            let batch = ChangeBatch::from_json(&json).expect("decodes");
            let t1 = Instant::now();
            engine.ingest(&batch).expect("ingests");
            let t2 = Instant::now();
            let plan = engine.plan(support::now(), &target);
            let t3 = Instant::now();
            let results = support::ack(&plan);
            engine
                .commit(&plan, &results, support::now())
                .expect("commits");
            let t4 = Instant::now();
            println!(
                "scale {label}: {} objects; one batch of {BATCH}: decode {:?}, ingest {:?}, plan {:?} ({} ops), commit (untimed) {:?}",
                engine.mirror().len(),
                t1 - t0,
                t2 - t1,
                t3 - t2,
                plan.ops.len(),
                t4 - t3
            );
        }
        group.bench_function(BenchmarkId::new("per_change_1k", label), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    seed += 1;
                    let json = support::delta(&mut dir, seed, BATCH, support::Mix::Steady)
                        .to_json()
                        .expect("encodable");
                    let start = Instant::now();
                    let batch = ChangeBatch::from_json(black_box(&json)).expect("decodes");
                    engine.ingest(&batch).expect("ingests");
                    let plan = engine.plan(support::now(), &target);
                    timed += start.elapsed();
                    let results = support::ack(&plan);
                    engine
                        .commit(&plan, &results, support::now())
                        .expect("commits");
                }
                timed
            })
        });
        drop(engine);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = scale
}
criterion_main!(benches);
