//! The delta hot path's first step: decoding an agent's change batch.
//!
//! `change/decode_10k` decodes a batch of 10,000 realistic records (70%
//! modifications, 10% adds, 10% moves/renames, 5% membership changes, 5%
//! deletions; seeded, so every run decodes the same bytes) into
//! `ChangeBatch`. Its floor, `change/decode_10k_ignored_any`, parses the same
//! bytes with `serde_json` into `IgnoredAny` and keeps nothing: the cost of
//! reading the JSON at all. The ratio of the two is the decoder's overhead.
//!
//! Before timing, the bench counts the heap allocations of one decode (a
//! counting global allocator, switched on only for that one untimed decode)
//! and prints them per record.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idsync::anchor::Guid;
use idsync::change::{
    AttrChange, AttrOp, BatchHeader, BatchKind, Change, ChangeBatch, ConfigId, Tombstone, Watermark,
};
use idsync::dn::Dn;
use idsync::object::{AttrName, Attributes, Value, Values};

/// The system allocator, counting allocations while `COUNTING` is on. Off,
/// it costs one relaxed load per allocation.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter has no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations (reallocations included) made by `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    (out, ALLOCATIONS.load(Ordering::Relaxed))
}

/// xorshift64*: a small seeded generator, so the input is the same on
/// every run without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const GIVEN: &[&str] = &[
    "Ann", "Bo", "Chen", "Dana", "Emil", "Fatima", "Gus", "Hana", "Ivo", "José",
];
const SUR: &[&str] = &[
    "Lee", "Smith", "Okafor", "Müller", "Nguyen", "Garcia", "Kowalski", "Tanaka",
];
const OUS: &[&str] = &[
    "Staff",
    "Sales",
    "Engineering",
    "Finance",
    "Support",
    "Contractors",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Manager",
    "Analyst",
    "Director",
    "Sales Representative",
];
const SUFFIX: &str = "DC=corp,DC=example,DC=com";

fn vals(v: impl IntoIterator<Item = Value>) -> Values {
    v.into_iter().collect()
}

fn person_dn(rng: &mut Rng, n: u64) -> Dn {
    let ou = rng.pick(OUS);
    Dn::parse(&format!(
        "CN={} {} {n},OU={ou},OU=Users,{SUFFIX}",
        rng.pick(GIVEN),
        rng.pick(SUR)
    ))
    .expect("generated dn")
}

fn replace(name: &str, v: Values) -> AttrChange {
    AttrChange {
        name: AttrName::new(name),
        op: AttrOp::Replace(v),
    }
}

fn modification(rng: &mut Rng) -> Vec<AttrChange> {
    let n = 1 + rng.below(3);
    let mut out = Vec::new();
    let mut used = Vec::new();
    for _ in 0..n {
        let which = rng.below(7);
        if used.contains(&which) {
            continue;
        }
        used.push(which);
        out.push(match which {
            0 => replace(
                "telephoneNumber",
                vals([Value::str(&format!("+1 425 555 {:04}", rng.below(10_000)))]),
            ),
            1 => replace("title", vals([Value::str(rng.pick(TITLES))])),
            2 => replace("department", vals([Value::str(rng.pick(OUS))])),
            3 => replace(
                "userAccountControl",
                vals([Value::Int(if rng.below(2) == 0 { 512 } else { 514 })]),
            ),
            4 => replace(
                "description",
                vals([Value::str(&format!(
                    "updated by ticket {}",
                    rng.below(1_000_000)
                ))]),
            ),
            5 => replace("mobile", Values::new()),
            _ => replace(
                "proxyAddresses",
                vals([
                    Value::str(&format!("SMTP:user{}@example.com", rng.below(100_000))),
                    Value::str(&format!("smtp:alias{}@example.net", rng.below(100_000))),
                ]),
            ),
        });
    }
    out
}

fn add(rng: &mut Rng, n: u64) -> Change {
    let guid = Guid::from_u128(u128::from(rng.next()) << 64 | u128::from(n));
    let given = rng.pick(GIVEN);
    let sur = rng.pick(SUR);
    let sam = format!("{}{}{n}", &given[..1], sur).to_lowercase();
    let sid: Vec<u8> = (0..28).map(|_| rng.below(256) as u8).collect();
    let attributes = Attributes::new()
        .with(
            "objectClass",
            ["top", "person", "organizationalPerson", "user"].map(Value::str),
        )
        .with("objectGUID", [Value::bytes(&guid.to_ad_bytes())])
        .with("objectSid", [Value::bytes(&sid)])
        .with("ms-DS-ConsistencyGuid", [Value::bytes(&guid.to_ad_bytes())])
        .with("cn", [Value::str(&format!("{given} {sur} {n}"))])
        .with("givenName", [Value::str(given)])
        .with("sn", [Value::str(sur)])
        .with("displayName", [Value::str(&format!("{given} {sur}"))])
        .with("sAMAccountName", [Value::str(&sam)])
        .with(
            "userPrincipalName",
            [Value::str(&format!("{sam}@example.com"))],
        )
        .with("mail", [Value::str(&format!("{sam}@example.com"))])
        .with(
            "proxyAddresses",
            [
                Value::str(&format!("SMTP:{sam}@example.com")),
                Value::str(&format!("smtp:{sam}@example.mail.onmicrosoft.com")),
            ],
        )
        .with("department", [Value::str(rng.pick(OUS))])
        .with("title", [Value::str(rng.pick(TITLES))])
        .with("userAccountControl", [Value::Int(512)])
        .with("manager", [Value::Dn(person_dn(rng, n / 2))]);
    Change::Add {
        guid,
        dn: person_dn(rng, n),
        attributes,
        password_hash: None,
    }
}

fn generate(seed: u64, count: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut records = Vec::with_capacity(count as usize);
    for n in 0..count {
        let guid = Guid::from_u128(u128::from(rng.next()));
        let roll = rng.below(100);
        records.push(match roll {
            0..70 => Change::Modify {
                guid,
                changes: modification(&mut rng),
                password_hash: None,
            },
            70..80 => add(&mut rng, n),
            80..90 => Change::Move {
                guid,
                dn: person_dn(&mut rng, n),
                changes: if rng.below(2) == 0 {
                    vec![replace("department", vals([Value::str(rng.pick(OUS))]))]
                } else {
                    Vec::new()
                },
                password_hash: None,
            },
            90..95 => {
                let add: Values = (0..1 + rng.below(3))
                    .map(|i| Value::Dn(person_dn(&mut rng, n + i)))
                    .collect();
                let remove: Values = (0..rng.below(3))
                    .map(|i| Value::Dn(person_dn(&mut rng, n + 7 + i)))
                    .collect();
                Change::Modify {
                    guid,
                    changes: vec![AttrChange {
                        name: AttrName::new("member"),
                        op: AttrOp::Incremental { add, remove },
                    }],
                    password_hash: None,
                }
            }
            _ => {
                let parent = person_dn(&mut rng, n).parent().expect("a parent");
                Change::Delete(
                    Tombstone::new(
                        guid,
                        &format!("{} {}", rng.pick(GIVEN), rng.pick(SUR)),
                        &Dn::parse(SUFFIX).expect("suffix"),
                        Some(parent),
                    )
                    .expect("tombstone"),
                )
            }
        });
    }
    let dc = "dc1.corp.example.com";
    let inv = Guid::from_u128(0x5eed);
    ChangeBatch {
        header: BatchHeader {
            source: ConfigId::new("corp.example.com"),
            since: Watermark::usn(1_000_000, inv, dc),
            watermark: Watermark::usn(1_000_000 + count, inv, dc),
            kind: BatchKind::Delta,
        },
        records,
    }
    .to_json()
    .expect("encodable")
}

fn decode(c: &mut Criterion) {
    let json = generate(0x1d5_c0de, 10_000);
    let (batch, allocs) =
        allocations(|| ChangeBatch::from_json(&json).expect("the generated batch decodes"));
    assert_eq!(batch.records.len(), 10_000);
    println!(
        "change/decode_10k input: {} records, {} bytes of JSON; one decode allocates {allocs} times ({:.2} per record)",
        batch.records.len(),
        json.len(),
        allocs as f64 / batch.records.len() as f64
    );
    let mut group = c.benchmark_group("change");
    group.throughput(Throughput::Elements(10_000));
    // Dropping 10,000 decoded records is the engine's cost once it has
    // ingested them, not the decoder's: it stays out of the timed part.
    group.bench_function("decode_10k", |b| {
        b.iter_with_large_drop(|| {
            let batch = ChangeBatch::from_json(black_box(&json)).expect("decodes");
            black_box(batch)
        })
    });
    group.bench_function("decode_10k_ignored_any", |b| {
        b.iter(|| {
            let v: serde::de::IgnoredAny =
                serde_json::from_slice(black_box(&json)).expect("parses");
            black_box(v)
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
