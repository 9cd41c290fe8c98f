//! Helpers shared by the integration tests: change records, batches and a
//! host loop over the in-memory target.
#![allow(dead_code)]

use idsync::anchor::Guid;
use idsync::change::{BatchHeader, BatchKind, Change, ChangeBatch, Completeness, Watermark};
use idsync::dn::Dn;
use idsync::engine::{CommitReport, Engine, Plan};
use idsync::memory::InMemoryTarget;
use idsync::object::{Attributes, Value};
use idsync::target::{OpResult, apply_plan};
use idsync::time::Timestamp;

pub const DOMAIN: &str = "DC=corp,DC=example,DC=com";

pub fn guid(n: u128) -> Guid {
    Guid::from_u128(n)
}

pub fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

pub fn invocation() -> Guid {
    Guid::from_u128(0xdc)
}

pub fn usn(n: u64) -> Watermark {
    Watermark::usn(n, invocation(), "dc1")
}

pub fn s(v: &str) -> Value {
    Value::str(v)
}

/// A user record under `ou` (e.g. `OU=Staff`).
pub fn user(n: u128, name: &str, ou: &str) -> Change {
    let upn = format!("{}@contoso.com", name.to_lowercase().replace(' ', "."));
    Change::Add {
        guid: guid(n),
        dn: dn(&format!("CN={name},{ou},{DOMAIN}")),
        attributes: Attributes::new()
            .with("objectClass", [s("top"), s("person"), s("user")])
            .with("cn", [s(name)])
            .with("displayName", [s(name)])
            .with("sAMAccountName", [s(&name.to_lowercase().replace(' ', ""))])
            .with("userPrincipalName", [s(&upn)])
            .with("userAccountControl", [Value::Int(512)]),
        password_hash: None,
    }
}

/// A mail-enabled security group with members given by record.
pub fn group(n: u128, name: &str, ou: &str, members: &[&Change]) -> Change {
    let member_dns: Vec<Value> = members
        .iter()
        .filter_map(|c| match c {
            Change::Add { dn, .. } => Some(Value::Dn(dn.clone())),
            _ => None,
        })
        .collect();
    Change::Add {
        guid: guid(n),
        dn: dn(&format!("CN={name},{ou},{DOMAIN}")),
        attributes: Attributes::new()
            .with("objectClass", [s("top"), s("group")])
            .with("cn", [s(name)])
            .with("sAMAccountName", [s(name)])
            .with("groupType", [Value::Int(-2147483646)])
            .with("member", member_dns),
        password_hash: None,
    }
}

pub fn ou(n: u128, name: &str) -> Change {
    Change::Add {
        guid: guid(n),
        dn: dn(&format!("OU={name},{DOMAIN}")),
        attributes: Attributes::new().with("objectClass", [s("top"), s("organizationalUnit")]),
        password_hash: None,
    }
}

pub fn full(to: u64, records: Vec<Change>) -> ChangeBatch {
    let n = records.len() as u64;
    ChangeBatch {
        header: BatchHeader {
            source: "corp".into(),
            since: Watermark::None,
            watermark: usn(to),
            kind: BatchKind::Full {
                page: 0,
                completeness: Completeness::Finished,
                objects: n,
            },
        },
        records,
    }
}

pub fn delta(from: u64, to: u64, records: Vec<Change>) -> ChangeBatch {
    ChangeBatch {
        header: BatchHeader {
            source: "corp".into(),
            since: usn(from),
            watermark: usn(to),
            kind: BatchKind::Delta,
        },
        records,
    }
}

pub fn target() -> InMemoryTarget {
    let mut t = InMemoryTarget::new("contoso.onmicrosoft.com");
    t.add_verified_domain("contoso.com");
    t
}

pub fn now(minutes: i64) -> Timestamp {
    Timestamp::from_secs(1_767_225_600 + minutes * 60)
}

/// Plan, apply, commit.
pub fn cycle(
    engine: &mut Engine,
    target: &mut InMemoryTarget,
    at: Timestamp,
) -> (Plan, Vec<OpResult>, CommitReport) {
    let plan = engine.plan(at, &*target);
    let results = apply_plan(target, &plan.ops);
    let report = engine.commit(&plan, &results, at).unwrap();
    (plan, results, report)
}

/// The actions of a plan, as `name object` strings, sorted.
pub fn actions(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = plan
        .ops
        .iter()
        .map(|o| format!("{} {}", o.action.name(), o.object))
        .collect();
    v.sort();
    v
}

/// A tombstone for object `n` (deleted in the source).
pub fn tomb(n: u128, name: &str, parent: Option<&str>) -> idsync::change::Change {
    idsync::change::Change::Delete(
        idsync::change::Tombstone::new(
            guid(n),
            name,
            &dn(DOMAIN),
            parent.map(|p| dn(&format!("{p},{DOMAIN}"))),
        )
        .unwrap(),
    )
}

/// A modify record replacing one attribute of object `n`.
pub fn set_attr(
    n: u128,
    name: &str,
    values: impl IntoIterator<Item = Value>,
) -> idsync::change::Change {
    idsync::change::Change::Modify {
        guid: guid(n),
        changes: vec![idsync::change::AttrChange {
            name: name.into(),
            op: idsync::change::AttrOp::Replace(values.into_iter().collect()),
        }],
        password_hash: None,
    }
}
