//! What cross-configuration conflict detection costs on top of planning.
//!
//! Two forests of 2,000 users each, 20 of the second forest's users carrying
//! an anchor of the first (copied ms-DS-ConsistencyGuid), before their first
//! export: every user is a claim. `tenant/plan_2x2000` plans the tenant
//! (both engines plus detection); `tenant/engines_only_2x2000` plans the two
//! engines alone against the same target. The difference is the detector.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idsync::config::SyncConfig;
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::source::DirectorySource;
use idsync::tenant::Tenant;
use idsync::time::Timestamp;

const USERS: usize = 2_000;

fn forest(nc: &str, seed: u64) -> (InMemoryAd, Vec<idsync::anchor::Guid>) {
    let mut ad = InMemoryAd::new(nc).unwrap().with_seed(seed);
    let root = ad.domain().clone();
    let ou = ad.add_ou(&root, "Staff").unwrap();
    let ou = ad.dn_of(ou).unwrap();
    let users = (0..USERS)
        .map(|i| ad.add_user(&ou, &format!("User {i}")).unwrap())
        .collect();
    (ad, users)
}

fn tenant() -> Tenant {
    let mut corp = SyncConfig::new("corp");
    corp.domain.fqdn = "corp.example.com".into();
    let mut fab = SyncConfig::new("fabrikam");
    fab.domain.fqdn = "fabrikam.com".into();
    let mut tenant = Tenant::new(vec![corp, fab]).unwrap();
    let (mut a, a_users) = forest("DC=corp,DC=example,DC=com", 1);
    let (mut b, b_users) = forest("DC=fabrikam,DC=com", 2);
    for i in 0..20 {
        b.set_consistency_guid(b_users[i * 100], &a_users[i * 100].to_ad_bytes())
            .unwrap();
    }
    for batch in AdSource::new(&mut a, "corp").full_read().unwrap() {
        tenant.ingest(&batch).unwrap();
    }
    for batch in AdSource::new(&mut b, "fabrikam").full_read().unwrap() {
        tenant.ingest(&batch).unwrap();
    }
    tenant
}

fn bench(c: &mut Criterion) {
    let tenant = tenant();
    let target = InMemoryTarget::new("contoso.onmicrosoft.com");
    let now = Timestamp::from_secs(1_767_225_600);
    assert_eq!(tenant.plan(now, &target).conflicts.len(), 20);
    let mut g = c.benchmark_group("tenant");
    g.throughput(Throughput::Elements((2 * USERS) as u64));
    g.sample_size(10);
    g.bench_function("plan_2x2000", |bch| {
        bch.iter(|| black_box(tenant.plan(black_box(now), &target)))
    });
    g.bench_function("engines_only_2x2000", |bch| {
        bch.iter(|| {
            for (_, e) in tenant.engines() {
                black_box(e.plan(black_box(now), &target));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
