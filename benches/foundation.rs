//! The identity primitives on the hot path: parsing DNs, subtree tests (every
//! scoping decision does one per OU filter) and ImmutableId encoding (every
//! hard match does one). Each group has a floor: the unavoidable part (copying
//! the text; a suffix test on the raw text; the GUID's byte shuffle).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idsync::anchor::Guid;
use idsync::dn::Dn;

const N: usize = 1000;

/// Realistic AD names: a few OU levels, some escapes, a multi-valued RDN now
/// and then.
fn dn_texts() -> Vec<String> {
    (0..N)
        .map(|i| match i % 4 {
            0 => format!(
                "CN=User {i},OU=Sales,OU=Branch {},DC=corp,DC=example,DC=com",
                i % 7
            ),
            1 => format!("CN=Smith\\, Ann {i},OU=Users,OU=Europe,DC=corp,DC=example,DC=com"),
            2 => format!("CN=Lu\\C4\\8Di\\C4\\87 {i}+UID={i},OU=Staff,DC=corp,DC=example,DC=com"),
            _ => format!("cn=group-{i},ou=Groups,dc=corp,dc=example,dc=com"),
        })
        .collect()
}

fn dn(c: &mut Criterion) {
    let texts = dn_texts();
    let mut g = c.benchmark_group("dn");

    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            for t in &texts {
                let d = Dn::parse(black_box(t));
                black_box(&d);
            }
        })
    });
    g.bench_function("parse_floor_copy_text", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(black_box(t.as_str()).to_owned());
            }
        })
    });

    let dns: Vec<Dn> = texts.iter().filter_map(|t| Dn::parse(t).ok()).collect();
    assert_eq!(dns.len(), N);
    let sales = Dn::parse("OU=Sales,OU=Branch 3,DC=corp,DC=example,DC=com").ok();
    let Some(sales) = sales else {
        return;
    };
    let inside = dns.iter().filter(|d| d.is_under(&sales)).count();
    assert!(inside > 0 && inside < N, "the ancestor must split the set");
    g.bench_function("is_under", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for d in &dns {
                n += usize::from(black_box(d).is_under(black_box(&sales)));
            }
            black_box(n)
        })
    });
    let suffix = sales.normalized().to_owned();
    g.bench_function("is_under_floor_suffix", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for d in &dns {
                n += usize::from(
                    black_box(d)
                        .normalized()
                        .ends_with(black_box(suffix.as_str())),
                );
            }
            black_box(n)
        })
    });
    g.finish();
}

fn anchor(c: &mut Criterion) {
    let guids: Vec<Guid> = (0..N as u128)
        .map(|i| Guid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
        .collect();
    let mut g = c.benchmark_group("anchor");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("immutable_id", |b| {
        b.iter(|| {
            for guid in &guids {
                black_box(black_box(guid).immutable_id().to_string());
            }
        })
    });
    g.bench_function("immutable_id_floor_ad_bytes", |b| {
        b.iter(|| {
            for guid in &guids {
                black_box(black_box(guid).to_ad_bytes());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, dn, anchor);
criterion_main!(benches);
