//! Seeded generator of realistic Active Directory data and change batches,
//! shared by the engine benches (`delta`, `full_sync`, `scale`, `memory`).
//!
//! Every input is generated from a seed, so every run reads the same bytes
//! and the same records. The directory is one domain with four OUs (three
//! scoped in, `OU=Contractors` out), users with the attribute set a
//! default-mapped user has in a real directory, and groups of about 30
//! direct members. Change batches follow the mix: 70% attribute
//! modifications, 10% adds, 10% moves or renames, 5% membership changes,
//! 5% (4.5%: under the default deletion threshold of 500) deletions.
#![allow(dead_code)]

use idsync::anchor::Guid;
use idsync::change::{
    AttrChange, AttrOp, BatchHeader, BatchKind, Change, ChangeBatch, Completeness, ConfigId,
    Tombstone, Watermark,
};
use idsync::config::SyncConfig;
use idsync::dn::Dn;
use idsync::engine::{Engine, Plan};
use idsync::object::{AttrName, Attributes, Value, Values};
use idsync::scope::OuScope;
use idsync::target::{Action, Applied, OpResult, TargetId};
use idsync::time::Timestamp;

/// The domain every generated object lives in.
pub const SUFFIX: &str = "DC=corp,DC=example,DC=com";
/// The configuration (and batch source) name.
pub const SOURCE: &str = "corp";
/// OUs under the domain: the first three are in scope, the last is not.
pub const OUS: [&str; 4] = ["Staff", "Sales", "Engineering", "Contractors"];

const GIVEN: &[&str] = &[
    "Ann", "Bo", "Chen", "Dana", "Emil", "Fatima", "Gus", "Hana", "Ivo", "José", "Kai", "Lena",
    "Mateo", "Nora", "Omar", "Priya",
];
const SUR: &[&str] = &[
    "Lee", "Smith", "Okafor", "Müller", "Nguyen", "Garcia", "Kowalski", "Tanaka", "Brown", "Rossi",
    "Novak", "Silva",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Manager",
    "Analyst",
    "Director",
    "Sales Representative",
    "Support Specialist",
];
const DEPARTMENTS: &[&str] = &["Sales", "Engineering", "Finance", "Support", "Legal", "HR"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Seattle", "US", "United States"),
    ("Berlin", "DE", "Germany"),
    ("Lisbon", "PT", "Portugal"),
    ("Osaka", "JP", "Japan"),
];

/// xorshift64*: a small seeded generator, so inputs are the same on every
/// run without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from any seed. The seed is mixed first (a splitmix64
    /// step): with `seed | 1` alone, seeds 2k and 2k+1 gave the same stream,
    /// and the scale bench, which seeds batch after batch with consecutive
    /// numbers, timed every other batch as a replay of the one before.
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The configuration the benches sync with: default mappings for users,
/// groups and contacts, three OUs in scope.
pub fn config() -> SyncConfig {
    let mut c = SyncConfig::new(SOURCE);
    c.domain.fqdn = "corp.example.com".into();
    c.domain.netbios = "CORP".into();
    c.scope.ous = OUS[..3]
        .iter()
        .map(|ou| OuScope::dn(&format!("OU={ou},{SUFFIX}")))
        .collect();
    c
}

/// The watermark of the generated batches at `usn`.
pub fn usn(n: u64) -> Watermark {
    Watermark::usn(n, Guid::from_u128(0x5eed_dc01), "dc1.corp.example.com")
}

/// A fixed "now" for planning.
pub fn now() -> Timestamp {
    Timestamp::from_secs(1_767_225_600)
}

fn ou_dn(ou: &str) -> Dn {
    Dn::parse(&format!("OU={ou},{SUFFIX}")).expect("generated ou dn")
}

fn user_guid(n: u64) -> Guid {
    Guid::from_u128(0x0001_0000_0000_0000_0000_0000_0000_0000 | u128::from(n))
}

fn group_guid(n: u64) -> Guid {
    Guid::from_u128(0x0002_0000_0000_0000_0000_0000_0000_0000 | u128::from(n))
}

/// One generated user as the generator tracks it.
#[derive(Debug, Clone)]
pub struct UserRec {
    /// objectGUID.
    pub guid: Guid,
    /// Current DN.
    pub dn: Dn,
    /// sAMAccountName.
    pub sam: String,
}

/// The generated directory: what the generator knows, so change batches
/// reference real objects.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Users by index.
    pub users: Vec<UserRec>,
    /// Groups: GUID, DN and member user indexes.
    pub groups: Vec<(Guid, Dn, Vec<u32>)>,
    /// The next user number for adds.
    pub next_user: u64,
    /// The next USN.
    pub usn: u64,
}

fn vals(v: impl IntoIterator<Item = Value>) -> Values {
    v.into_iter().collect()
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn user_record(rng: &mut Rng, n: u64, ou: &str) -> (UserRec, Attributes) {
    let given = rng.pick(GIVEN);
    let sur = rng.pick(SUR);
    let sam = format!("{}{}{n}", &given[..1], sur).to_lowercase();
    let cn = format!("{given} {sur} {n}");
    let dn = Dn::parse(&format!("CN={cn},OU={ou},{SUFFIX}")).expect("generated user dn");
    let guid = user_guid(n);
    let sid: Vec<u8> = (0..28).map(|_| rng.below(256) as u8).collect();
    let (city, c, co) = CITIES[rng.below(CITIES.len() as u64) as usize];
    let mut attrs = Attributes::new()
        .with(
            "objectClass",
            ["top", "person", "organizationalPerson", "user"].map(s),
        )
        .with("objectGUID", [Value::bytes(&guid.to_ad_bytes())])
        .with("objectSid", [Value::bytes(&sid)])
        .with("cn", [s(&cn)])
        .with("givenName", [s(given)])
        .with("sn", [s(sur)])
        .with("displayName", [s(&format!("{given} {sur}"))])
        .with("sAMAccountName", [s(&sam)])
        .with("userPrincipalName", [s(&format!("{sam}@corp.example.com"))])
        .with("mail", [s(&format!("{sam}@example.com"))])
        .with("mailNickname", [s(&sam)])
        .with(
            "proxyAddresses",
            [
                s(&format!("SMTP:{sam}@example.com")),
                s(&format!("smtp:{sam}@example.mail.onmicrosoft.com")),
            ],
        )
        .with("department", [s(rng.pick(DEPARTMENTS))])
        .with("title", [s(rng.pick(TITLES))])
        .with("company", [s("Example Corp")])
        .with(
            "telephoneNumber",
            [s(&format!("+1 425 555 {:04}", rng.below(10_000)))],
        )
        .with("l", [s(city)])
        .with("c", [s(c)])
        .with("co", [s(co)])
        .with("employeeID", [s(&format!("E{n:07}"))])
        .with("userAccountControl", [Value::Int(512)]);
    if n > 0 {
        // A manager a little earlier in the directory (same OU).
        let m = n - 1 - rng.below(n.min(50));
        attrs.set(
            "manager",
            [Value::Dn(
                Dn::parse(&format!("CN=Manager {m},OU={ou},{SUFFIX}")).expect("manager dn"),
            )],
        );
    }
    (UserRec { guid, dn, sam }, attrs)
}

/// OU placement: 30% in each scoped OU, 10% in the out-of-scope one.
fn pick_ou(rng: &mut Rng) -> &'static str {
    match rng.below(10) {
        0..3 => OUS[0],
        3..6 => OUS[1],
        6..9 => OUS[2],
        _ => OUS[3],
    }
}

/// A full read of `users` users and `groups` groups of about `members`
/// direct members each, plus the four OUs, as one finished page.
pub fn full_read(seed: u64, users: u64, groups: u64, members: u64) -> (ChangeBatch, Directory) {
    full_read_with(seed, users, groups, members, true)
}

/// [`full_read`], with `out_of_scope` false putting every user in a scoped OU.
pub fn full_read_with(
    seed: u64,
    users: u64,
    groups: u64,
    members: u64,
    out_of_scope: bool,
) -> (ChangeBatch, Directory) {
    let mut rng = Rng::new(seed);
    let mut records = Vec::with_capacity((users + groups + 4) as usize);
    for (i, ou) in OUS.iter().enumerate() {
        records.push(Change::Add {
            guid: Guid::from_u128(0x0003_0000 + i as u128),
            dn: ou_dn(ou),
            attributes: Attributes::new().with("objectClass", [s("top"), s("organizationalUnit")]),
            password_hash: None,
        });
    }
    let mut dir = Directory {
        users: Vec::with_capacity(users as usize),
        groups: Vec::with_capacity(groups as usize),
        next_user: users,
        usn: 1_000,
    };
    for n in 0..users {
        let ou = if out_of_scope {
            pick_ou(&mut rng)
        } else {
            OUS[(n % 3) as usize]
        };
        let (rec, attributes) = user_record(&mut rng, n, ou);
        records.push(Change::Add {
            guid: rec.guid,
            dn: rec.dn.clone(),
            attributes,
            password_hash: None,
        });
        dir.users.push(rec);
    }
    for g in 0..groups {
        let count = if users == 0 {
            0
        } else {
            members / 2 + rng.below(members + 1)
        };
        let idx: Vec<u32> = (0..count).map(|_| rng.below(users.max(1)) as u32).collect();
        let name = format!("Team {g}");
        let ou = OUS[(g % 3) as usize];
        let dn = Dn::parse(&format!("CN={name},OU={ou},{SUFFIX}")).expect("group dn");
        let guid = group_guid(g);
        let member: Values = idx
            .iter()
            .map(|&i| Value::Dn(dir.users[i as usize].dn.clone()))
            .collect();
        let sam = format!("team{g}");
        records.push(Change::Add {
            guid,
            dn: dn.clone(),
            attributes: Attributes::new()
                .with("objectClass", [s("top"), s("group")])
                .with("objectGUID", [Value::bytes(&guid.to_ad_bytes())])
                .with("cn", [s(&name)])
                .with("sAMAccountName", [s(&sam)])
                .with("groupType", [Value::Int(-2_147_483_646)])
                .with("mail", [s(&format!("{sam}@example.com"))])
                .with("description", [s(&format!("members of team {g}"))])
                .with("member", member),
            password_hash: None,
        });
        dir.groups.push((guid, dn, idx));
    }
    let n = records.len() as u64;
    let batch = ChangeBatch {
        header: BatchHeader {
            source: ConfigId::new(SOURCE),
            since: Watermark::None,
            watermark: usn(dir.usn),
            kind: BatchKind::Full {
                page: 0,
                completeness: Completeness::Finished,
                objects: n,
            },
        },
        records,
    };
    (batch, dir)
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
        let which = rng.below(6);
        if used.contains(&which) {
            continue;
        }
        used.push(which);
        out.push(match which {
            0 => replace(
                "telephoneNumber",
                vals([s(&format!("+1 425 555 {:04}", rng.below(10_000)))]),
            ),
            1 => replace("title", vals([s(rng.pick(TITLES))])),
            2 => replace("department", vals([s(rng.pick(DEPARTMENTS))])),
            // enabled either way: disables have their own threshold
            3 => replace(
                "userAccountControl",
                vals([Value::Int(if rng.below(2) == 0 { 512 } else { 66_048 })]),
            ),
            4 => replace(
                "description",
                vals([s(&format!("updated by ticket {}", rng.below(1_000_000)))]),
            ),
            _ => replace(
                "mobile",
                vals([s(&format!("+1 206 555 {:04}", rng.below(10_000)))]),
            ),
        });
    }
    out
}

/// What kinds of records a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// The mix: 70% modifications, 10% adds, 10% moves or renames,
    /// 5% membership changes, 4.5% deletions (0.5% more modifications).
    Delta,
    /// A mix that can be applied forever without the directory growing or
    /// shrinking: 80% modifications, 10% moves or renames, 10% membership
    /// changes (for the scale bench, which applies batch after batch).
    Steady,
}

/// A batch of `count` changes against `dir`, which is updated to the state
/// after it (so batches can be applied in sequence).
pub fn delta(dir: &mut Directory, seed: u64, count: u64, mix: Mix) -> ChangeBatch {
    let mut rng = Rng::new(seed);
    let since = dir.usn;
    let users = dir.users.len() as u64;
    // A stride walk picks distinct users (the stride is prime, no user count
    // here is a multiple of it), so no record touches a user another record
    // of the batch deleted.
    let mut walk = rng.below(users.max(1));
    let mut next_user = move || {
        walk = (walk + 1_000_003) % users.max(1);
        walk as usize
    };
    let mut records = Vec::with_capacity(count as usize);
    let mut deleted = Vec::new();
    for i in 0..count {
        let slot = i % 200;
        let kind = match mix {
            Mix::Delta => match slot {
                0..141 => 0,   // modify
                141..161 => 1, // add
                161..181 => 2, // move / rename
                181..191 => 3, // membership
                _ => 4,        // delete
            },
            Mix::Steady => match slot {
                0..160 => 0,
                160..180 => 2,
                _ => 3,
            },
        };
        match kind {
            0 => {
                let u = &dir.users[next_user()];
                records.push(Change::Modify {
                    guid: u.guid,
                    changes: modification(&mut rng),
                    password_hash: None,
                });
            }
            1 => {
                let n = dir.next_user;
                dir.next_user += 1;
                let ou = pick_ou(&mut rng);
                let (rec, attributes) = user_record(&mut rng, n, ou);
                records.push(Change::Add {
                    guid: rec.guid,
                    dn: rec.dn.clone(),
                    attributes,
                    password_hash: None,
                });
                dir.users.push(rec);
            }
            2 => {
                let ui = next_user();
                let u = &mut dir.users[ui];
                let rdn = u.dn.rdn().expect("a user has an rdn").to_owned();
                let (dn, changes) = if rng.below(2) == 0 {
                    // move to another scoped OU
                    let to = OUS[rng.below(3) as usize];
                    let dn = Dn::parse(&format!("{rdn},OU={to},{SUFFIX}")).expect("moved dn");
                    (dn, Vec::new())
                } else {
                    // rename in place (a name change)
                    let parent = u.dn.parent().expect("a user has a parent");
                    let cn = format!(
                        "{} {} r{}",
                        rng.pick(GIVEN),
                        rng.pick(SUR),
                        rng.below(1_000_000)
                    );
                    let dn = Dn::parse(&format!("CN={cn},{parent}")).expect("renamed dn");
                    (dn, vec![replace("cn", vals([s(&cn)]))])
                };
                u.dn = dn.clone();
                records.push(Change::Move {
                    guid: u.guid,
                    dn,
                    changes,
                    password_hash: None,
                });
            }
            3 => {
                let gi = rng.below(dir.groups.len().max(1) as u64) as usize;
                let Some((guid, _, members)) = dir.groups.get_mut(gi) else {
                    continue;
                };
                let mut add = Values::new();
                let mut remove = Values::new();
                for _ in 0..1 + rng.below(2) {
                    let ui = rng.below(users) as usize;
                    if !members.contains(&(ui as u32)) {
                        members.push(ui as u32);
                        add.push(Value::Dn(dir.users[ui].dn.clone()));
                    }
                }
                if members.len() > 2 && rng.below(2) == 0 {
                    let at = rng.below(members.len() as u64) as usize;
                    let ui = members.swap_remove(at);
                    remove.push(Value::Dn(dir.users[ui as usize].dn.clone()));
                }
                records.push(Change::Modify {
                    guid: *guid,
                    changes: vec![AttrChange {
                        name: AttrName::new("member"),
                        op: AttrOp::Incremental { add, remove },
                    }],
                    password_hash: None,
                });
            }
            _ => {
                let ui = next_user();
                let u = &dir.users[ui];
                let name =
                    u.dn.rdn_avas(0)
                        .map(|a| a[0].value.clone())
                        .unwrap_or_default();
                records.push(Change::Delete(
                    Tombstone::new(
                        u.guid,
                        &name,
                        &Dn::parse(SUFFIX).expect("suffix"),
                        u.dn.parent(),
                    )
                    .expect("tombstone"),
                ));
                deleted.push(ui);
            }
        }
    }
    dir.usn += count;
    ChangeBatch {
        header: BatchHeader {
            source: ConfigId::new(SOURCE),
            since: usn(since),
            watermark: usn(dir.usn),
            kind: BatchKind::Delta,
        },
        records,
    }
}

/// Results for every op of a plan as if the target applied them all (a
/// create gets a target id derived from the source GUID).
pub fn ack(plan: &Plan) -> Vec<OpResult> {
    plan.ops
        .iter()
        .map(|op| OpResult {
            op: op.id,
            outcome: Ok(Applied {
                target_id: match op.action {
                    Action::Create { .. } => Some(TargetId::new(&format!("t-{}", op.object))),
                    _ => None,
                },
                quarantined: Vec::new(),
            }),
        })
        .collect()
}

/// An engine that has read and exported a directory of `users` users and
/// `groups` groups (every op acknowledged), with an object limit that fits.
pub fn synced(seed: u64, users: u64, groups: u64, members: u64) -> (Engine, Directory) {
    let (batch, dir) = full_read(seed, users, groups, members);
    let limit = (users + groups) as usize * 2 + 1_000;
    let mut engine = Engine::new(&config())
        .expect("the bench configuration compiles")
        .with_object_limit(limit);
    engine.ingest(&batch).expect("the full read ingests");
    drop(batch);
    let target = idsync::target::TargetView::default();
    let plan = engine.plan(now(), &target);
    let results = ack(&plan);
    engine
        .commit(&plan, &results, now())
        .expect("the full sync commits");
    (engine, dir)
}
