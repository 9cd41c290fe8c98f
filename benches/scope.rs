//! `scope/evaluate`: deciding the scope of 150,000 generated objects (one
//! configuration's maximum) with OU includes and excludes, the built-in
//! exclusions and a two-group attribute filter; `scope/evaluate_group` adds a
//! scoping group. The floor, `scope/floor_read_slots`, reads the same slots
//! of every object and does nothing else.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idsync::anchor::Guid;
use idsync::dn::Dn;
use idsync::object::{AttrLookup, AttrTable, Attributes, ObjectKind, Row, Slot, Value};
use idsync::scope::{CompiledScope, MemoryEnv, ScopeConfig, ScopedObject, compile};

const OBJECTS: usize = 150_000;

/// A small deterministic generator (xorshift64*), so every run scopes the
/// same directory.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Object {
    guid: Guid,
    dn: Dn,
    kind: ObjectKind,
    row: Row,
}

const CONFIG: &str = r#"{
    "kinds": ["user", "group", "contact"],
    "ous": [{"dn": "OU=Staff,DC=corp,DC=example,DC=com",
             "exclude": [{"dn": "OU=Disabled,OU=Staff,DC=corp,DC=example,DC=com"}]},
            {"dn": "OU=Partners,DC=corp,DC=example,DC=com"}],
    "filters": {"user": {"groups": [
        [{"attribute": "department", "operator": "NOT EQUALS", "values": ["Test"]},
         {"attribute": "title", "operator": "NOT REGEX MATCH", "values": ["^(Intern|Temp)"]},
         {"attribute": "employeeNumber", "operator": "Greater_Than", "values": ["0"]}],
        [{"attribute": "extensionAttribute1", "operator": "EQUALS", "values": ["cloud"]}]
    ]}}
}"#;

fn directory(table: &AttrTable, seed: u64) -> Vec<Object> {
    let mut rng = Rng(seed);
    let regions = ["Europe", "Americas", "Asia", "Oceania"];
    let depts = ["Sales", "Engineering", "Finance", "HR", "Support", "Test"];
    let titles = [
        "Engineer",
        "Manager",
        "Intern",
        "Director",
        "Analyst",
        "Temp Worker",
    ];
    (0..OBJECTS)
        .map(|i| {
            let region = regions[rng.below(4) as usize];
            let dept = depts[rng.below(6) as usize];
            let ou = match rng.below(20) {
                0 => "OU=Disabled,OU=Staff".to_owned(),
                1 => "OU=Computers".to_owned(),
                2 | 3 => format!("OU={region},OU=Partners"),
                _ => format!("OU={dept},OU={region},OU=Staff"),
            };
            let dn = Dn::parse(&format!("CN=Person {i},{ou},DC=corp,DC=example,DC=com")).unwrap();
            let kind = match rng.below(20) {
                0 => ObjectKind::Group,
                1 => ObjectKind::Contact,
                _ => ObjectKind::User,
            };
            let mut a = Attributes::new()
                .with("department", [Value::str(dept)])
                .with("title", [Value::str(titles[rng.below(6) as usize])])
                .with(
                    "employeeNumber",
                    [Value::from(rng.below(100_000).to_string())],
                )
                .with("sAMAccountName", [Value::from(format!("person{i}"))])
                .with("mail", [Value::from(format!("person{i}@example.com"))])
                .with(
                    "proxyAddresses",
                    [Value::from(format!("SMTP:person{i}@example.com"))],
                );
            if rng.below(10) == 0 {
                a.set("msExchRecipientTypeDetails", [Value::Int(1)]);
            }
            if rng.below(50) == 0 {
                a.set("extensionAttribute1", [Value::str("cloud")]);
            }
            Object {
                guid: Guid::from_u128(i as u128 + 1),
                dn,
                kind,
                row: table.project(&a),
            }
        })
        .collect()
}

fn count_in(scope: &CompiledScope, objects: &[Object], env: &MemoryEnv) -> usize {
    objects
        .iter()
        .filter(|o| {
            let obj = ScopedObject::new(o.guid, &o.dn, o.kind, &o.row);
            scope.evaluate(black_box(&obj), env).is_in()
        })
        .count()
}

fn bench(c: &mut Criterion) {
    let mut table = AttrTable::new();
    let config: ScopeConfig = serde_json::from_str(CONFIG).unwrap();
    let scope = compile(&config, &mut table).unwrap();
    let mut grouped_config = config.clone();
    grouped_config.groups = vec![idsync::scope::ContainerRef {
        dn: "CN=Cloud Users,OU=Groups,DC=corp,DC=example,DC=com".to_owned(),
        guid: Some(Guid::from_u128(u128::MAX).to_string()),
    }];
    let grouped = compile(&grouped_config, &mut table).unwrap();
    let objects = directory(&table, 0x1d5e_c0de);
    let mut env = MemoryEnv::new();
    for o in objects.iter().step_by(2) {
        env.add_member(Guid::from_u128(u128::MAX), o.guid);
    }
    let in_scope = count_in(&scope, &objects, &env);
    let in_group = count_in(&grouped, &objects, &env);
    assert!(
        in_scope > OBJECTS / 2 && in_scope < OBJECTS,
        "in scope: {in_scope}"
    );
    assert!(
        in_group < in_scope && in_group > in_scope / 3,
        "in scope by group: {in_group}"
    );
    let slots: Vec<Slot> = table
        .names()
        .iter()
        .filter_map(|n| table.get(n.as_str()))
        .collect();

    let mut g = c.benchmark_group("scope");
    g.throughput(Throughput::Elements(OBJECTS as u64));
    g.sample_size(20);
    g.bench_function("evaluate", |b| {
        b.iter(|| assert_eq!(count_in(&scope, black_box(&objects), &env), in_scope))
    });
    g.bench_function("evaluate_group", |b| {
        b.iter(|| assert_eq!(count_in(&grouped, black_box(&objects), &env), in_group))
    });
    g.bench_function("floor_read_slots", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for o in black_box(&objects) {
                for s in &slots {
                    n += o.row.values(*s).len();
                }
                n += usize::from(o.dn.len() > 3);
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
