//! The change record format, watermarks and batch continuity, through the
//! public API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use idsync::anchor::Guid;
use idsync::change::*;
use idsync::dn::Dn;
use idsync::object::{AttrName, Attributes, Secret, Value, Values};
use proptest::prelude::*;

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

fn g64(n: u128) -> String {
    B64.encode(Guid::from_u128(n).to_ad_bytes())
}

fn vals(v: impl IntoIterator<Item = Value>) -> Values {
    v.into_iter().collect()
}

fn header(kind: BatchKind, since: Watermark, watermark: Watermark) -> BatchHeader {
    BatchHeader {
        source: ConfigId::new("corp"),
        since,
        watermark,
        kind,
    }
}

fn usn(n: u64) -> Watermark {
    Watermark::usn(n, Guid::from_u128(0xabc), "dc1.corp.example.com")
}

fn sample_batch() -> ChangeBatch {
    let ann = Guid::from_u128(0x1111);
    ChangeBatch {
        header: header(
            BatchKind::Full {
                page: 0,
                completeness: Completeness::Finished,
                objects: 4,
            },
            Watermark::None,
            Watermark::dirsync(&[0, 1, 2, 250, 255], "dc1.corp.example.com"),
        ),
        records: vec![
            Change::Add {
                guid: ann,
                dn: dn("CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com"),
                attributes: Attributes::new()
                    .with("objectClass", [Value::str("top"), Value::str("user")])
                    .with("objectGUID", [Value::bytes(&ann.to_ad_bytes())])
                    .with("ms-DS-ConsistencyGuid", [Value::bytes(&[9; 16])])
                    .with("userAccountControl", [Value::Int(512)])
                    .with("isCriticalSystemObject", [Value::Bool(false)])
                    .with("manager", [Value::Dn(dn("CN=Bo,OU=Staff,DC=corp"))])
                    .with("displayName", [Value::str("Ann \"Quote\" Lee \u{e9}\n")]),
                password_hash: Some(Secret::new(b"hash-bytes-\x00\xff".to_vec())),
            },
            Change::Modify {
                guid: ann,
                changes: vec![
                    AttrChange {
                        name: AttrName::new("sn"),
                        op: AttrOp::Replace(vals([Value::str("Lee-Smith")])),
                    },
                    AttrChange {
                        name: AttrName::new("telephoneNumber"),
                        op: AttrOp::Replace(Values::new()),
                    },
                ],
                password_hash: None,
            },
            Change::Modify {
                guid: Guid::from_u128(0x2222),
                changes: vec![AttrChange {
                    name: AttrName::new("member"),
                    op: AttrOp::Incremental {
                        add: vals([Value::Dn(dn("CN=Ann Lee,OU=Staff,DC=corp"))]),
                        remove: vals([Value::Dn(dn("CN=Old,OU=Staff,DC=corp"))]),
                    },
                }],
                password_hash: None,
            },
            Change::Move {
                guid: ann,
                dn: dn("CN=Ann Lee-Smith,OU=Sales,DC=corp,DC=example,DC=com"),
                changes: vec![AttrChange {
                    name: AttrName::new("department"),
                    op: AttrOp::Replace(vals([Value::str("Sales")])),
                }],
                password_hash: None,
            },
            Change::Delete(
                Tombstone::new(
                    Guid::from_u128(0x3333),
                    "Cy, Doe",
                    &dn("DC=corp,DC=example,DC=com"),
                    Some(dn("OU=Staff,DC=corp,DC=example,DC=com")),
                )
                .unwrap(),
            ),
        ],
    }
}

#[test]
fn a_batch_round_trips_through_json() {
    let batch = sample_batch();
    let json = batch.to_json().unwrap();
    let back = ChangeBatch::from_json(&json).unwrap();
    assert_eq!(back, batch);
    // and the bytes are stable
    assert_eq!(back.to_json().unwrap(), json);
    let text = String::from_utf8(json).unwrap();
    assert!(text.starts_with(r#"{"v":1,"source":"corp""#), "{text}");
    // binary values are base64
    assert!(text.contains(&format!(r#""objectGUID":"{}""#, g64(0x1111))));
    assert!(text.contains(r#""cookie":"AAEC+v8=""#));
}

#[test]
fn password_hash_is_carried_but_never_shown() {
    let batch = sample_batch();
    let secret_b64 = B64.encode(b"hash-bytes-\x00\xff");
    let json = String::from_utf8(batch.to_json().unwrap()).unwrap();
    assert!(json.contains(&format!(r#""passwordHash":"{secret_b64}""#)));
    let back = ChangeBatch::from_json(json.as_bytes()).unwrap();
    assert_eq!(
        back.records[0].password_hash().map(|s| s.expose().to_vec()),
        Some(b"hash-bytes-\x00\xff".to_vec())
    );
    let debug = format!("{back:?}");
    assert!(!debug.contains(&secret_b64) && !debug.contains("hash-bytes"));
    assert!(debug.contains("<redacted>"));
    // a malformed hash is an error that does not repeat the input
    let bad = json.replace(&secret_b64, "c2VjcmV0LWhhc2g-not-b64");
    let e = ChangeBatch::from_json(bad.as_bytes()).unwrap_err();
    assert!(
        e.to_string().starts_with("records[0].passwordHash: "),
        "{e}"
    );
    assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    // a secret cannot travel among the attributes
    let mut batch = sample_batch();
    if let Change::Add { attributes, .. } = &mut batch.records[0] {
        attributes.set("unicodePwd", [Value::Secret(Secret::new(b"x".to_vec()))]);
    }
    assert!(matches!(batch.to_json(), Err(ChangeError::Encode { .. })));
}

#[test]
fn tombstones_keep_guid_and_form() {
    let batch = sample_batch();
    let Change::Delete(t) = &batch.records[4] else {
        panic!("expected a tombstone")
    };
    assert_eq!(t.guid, Guid::from_u128(0x3333));
    assert_eq!(t.deleted_name(), Some("Cy\\, Doe"));
    assert!(
        t.dn.as_str()
            .contains("\\0ADEL:00000000-0000-0000-0000-000000003333")
    );
    assert!(t.dn.is_under(&dn("CN=Deleted Objects,DC=corp,DC=example,DC=com")));
    let json = String::from_utf8(batch.records[4].to_json().unwrap()).unwrap();
    assert!(json.contains(r#""isDeleted":true"#), "{json}");
    assert!(json.contains(r#""lastKnownParent":"OU=Staff,DC=corp,DC=example,DC=com""#));
    assert_eq!(
        Change::from_json(json.as_bytes()).unwrap(),
        batch.records[4]
    );
}

fn batch_json(records: &str) -> String {
    format!(
        r#"{{"v":1,"source":"corp","since":"none","watermark":"none","kind":{{"full":{{"page":0,"completeness":"in_progress","objects":0}}}},"records":[{records}]}}"#
    )
}

fn modify(n: u128) -> String {
    format!(
        r#"{{"op":"modify","objectGUID":"{}","changes":{{"sn":{{"replace":{{"str":["x"]}}}}}}}}"#,
        g64(n)
    )
}

fn err(json: &str) -> ChangeError {
    ChangeBatch::from_json(json.as_bytes()).unwrap_err()
}

#[test]
fn unknown_versions_are_typed_errors() {
    let json = batch_json("").replace(r#""v":1"#, r#""v":2"#);
    assert_eq!(err(&json), ChangeError::UnsupportedVersion { found: 2 });
    // even when the rest does not look like version 1 either
    let json = r#"{"records":{"new":"shape"},"v":7}"#;
    assert_eq!(err(json), ChangeError::UnsupportedVersion { found: 7 });
    let json = batch_json("").replace(r#""v":1,"#, "");
    assert_eq!(err(&json).to_string(), "v: missing");
    let json = batch_json("").replace(r#""v":1"#, r#""v":"1""#);
    assert!(err(&json).to_string().starts_with("v: invalid type"));
}

#[test]
fn unknown_record_kinds_are_typed_errors() {
    let recs = format!(
        r#"{},{},{{"op":"rename","objectGUID":"{}"}}"#,
        modify(1),
        modify(2),
        g64(3)
    );
    assert_eq!(
        err(&batch_json(&recs)),
        ChangeError::UnknownRecordKind {
            index: 2,
            kind: "rename".into()
        }
    );
    assert_eq!(
        err(&batch_json(&recs)).to_string(),
        r#"records[2].op: unknown record kind "rename"; expected add, modify, move or delete"#
    );
    // op after the other fields: still found
    let recs = format!(r#"{{"objectGUID":"{}","op":"upsert"}}"#, g64(3));
    assert_eq!(err(&batch_json(&recs)).record(), Some(0));
}

#[test]
fn decode_errors_name_record_and_field() {
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                r#"{},{{"op":"modify","objectGUID":"AAAA","changes":{{}}}}"#,
                modify(1)
            ),
            "records[1].objectGUID: expected 16 bytes of objectGUID, found 3",
        ),
        (
            r#"{"op":"modify","objectGUID":"Z0UjAauJ780BI0VniavN7w=","changes":{}}"#.into(),
            "records[0].objectGUID: invalid base64",
        ),
        (
            format!(r#"{{"op":"modify","objectGUID":"{}"}}"#, g64(1)),
            "records[0].changes: missing",
        ),
        (
            format!(
                r#"{{"op":"modify","objectGUID":"{}","changes":{{}},"dn":"CN=x"}}"#,
                g64(1)
            ),
            "records[0].dn: not allowed in a modify record",
        ),
        (
            format!(
                r#"{{"op":"add","objectGUID":"{}","dn":"CN=x,,","attributes":{{}}}}"#,
                g64(1)
            ),
            "records[0].dn: invalid dn: dn at byte 5: attribute type",
        ),
        (
            format!(
                r#"{{"op":"add","objectGUID":"{}","dn":"CN=x","attributes":{{"a":{{"str":["1"]}},"A":{{"str":["2"]}}}}}}"#,
                g64(1)
            ),
            "records[0].attributes.A: duplicate attribute",
        ),
        (
            format!(
                r#"{{"op":"add","objectGUID":"{}","dn":"CN=x","attributes":{{"objectGUID":{{"bytes":["{}"]}}}}}}"#,
                g64(1),
                g64(2)
            ),
            "records[0].attributes.objectGUID: does not match the record's objectGUID",
        ),
        (
            format!(
                r#"{{"op":"modify","objectGUID":"{}","changes":{{"member":{{"replace":{{"dn":[]}},"add":{{"dn":[]}}}}}}}}"#,
                g64(1)
            ),
            "records[0].changes.member: replace cannot come with add or remove",
        ),
        (
            format!(
                r#"{{"op":"modify","objectGUID":"{}","changes":{{"x":{{"replace":{{"float":[1.5]}}}}}}}}"#,
                g64(1)
            ),
            "records[0].changes.x.replace.float: expected exactly one of str, bytes, int, bool, dn",
        ),
        (
            format!(
                r#"{{"op":"delete","objectGUID":"{}","isDeleted":false,"dn":"CN=x"}}"#,
                g64(1)
            ),
            "records[0].isDeleted: must be true",
        ),
        (
            format!(r#"{{"op":"delete","objectGUID":"{}","dn":"CN=x"}}"#, g64(1)),
            "records[0].isDeleted: missing",
        ),
        (
            format!(
                r#"{{"op":"move","objectGUID":"{}","colour":"red","dn":"CN=x"}}"#,
                g64(1)
            ),
            "records[0].colour: unknown field",
        ),
    ];
    let mut failures = Vec::new();
    for (records, want) in &cases {
        let got = ChangeBatch::from_json(batch_json(records).as_bytes());
        match got {
            Err(e) if e.to_string() == *want => {}
            other => failures.push(format!("{records}\n  want {want}\n  got  {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn syntax_errors_and_wrong_shapes() {
    let json = batch_json(&modify(1));
    let truncated = &json[..json.len() - 10];
    match err(truncated) {
        ChangeError::Syntax { line, column, .. } => {
            assert_eq!((line, column), (1, truncated.len()))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(err(""), ChangeError::Syntax { .. }));
    assert!(matches!(err("[]"), ChangeError::Invalid { .. }));
    assert!(
        err("[]")
            .to_string()
            .starts_with("change batch: invalid type: sequence"),
        "{}",
        err("[]")
    );
    assert!(matches!(err("{\"v\":1}"), ChangeError::Invalid { .. }));
    let e = err(&json.replace(r#""kind":{"full""#, r#""kind":{"partial""#));
    assert!(
        e.to_string().starts_with("kind: unknown variant `partial`"),
        "{e}"
    );
    let e = err(&json.replace(r#""source":"corp""#, r#""source":"""#));
    assert_eq!(e.to_string(), "source: must not be empty");
}

#[test]
fn attribute_operations_apply() {
    let mut v = vals([Value::str("a")]);
    AttrOp::Replace(vals([Value::str("b"), Value::str("c")])).apply(&mut v);
    assert_eq!(v.as_slice(), &[Value::str("b"), Value::str("c")]);
    AttrOp::Replace(Values::new()).apply(&mut v);
    assert!(v.is_empty());
}

#[test]
fn void_watermarks() {
    let base = Watermark::usn(100, Guid::from_u128(1), "dc1");
    assert_eq!(
        Watermark::usn(100, Guid::from_u128(1), "DC1").void_reason(&base),
        None
    );
    assert_eq!(
        Watermark::usn(200, Guid::from_u128(2), "dc1").void_reason(&base),
        Some(VoidReason::InvocationIdChanged {
            old: Guid::from_u128(1),
            new: Guid::from_u128(2)
        })
    );
    assert!(matches!(
        Watermark::usn(200, Guid::from_u128(1), "dc2").void_reason(&base),
        Some(VoidReason::DcChanged { .. })
    ));
    assert!(matches!(
        Watermark::usn(99, Guid::from_u128(1), "dc1").void_reason(&base),
        Some(VoidReason::UsnWentBack { old: 100, new: 99 })
    ));
    assert_eq!(
        Watermark::dirsync(b"c", "dc1").void_reason(&base),
        Some(VoidReason::MethodChanged)
    );
    assert_eq!(Watermark::None.void_reason(&base), Some(VoidReason::Reset));
    assert_eq!(base.void_reason(&Watermark::None), None);
    // DirSync: another DC may resend, which is harmless
    assert_eq!(
        Watermark::dirsync(b"x", "dc2").void_reason(&Watermark::dirsync(b"y", "dc1")),
        None
    );
}

#[test]
fn replayed_and_gapped_deltas() {
    let mut c = Committed {
        watermark: usn(10),
        full_read: None,
    };
    let b1 = header(BatchKind::Delta, usn(10), usn(20));
    let b2 = header(BatchKind::Delta, usn(20), usn(30));
    assert_eq!(
        c.check(&b2),
        Err(ResumeError::Gap {
            since: usn(20),
            committed: usn(10)
        })
    );
    assert_eq!(c.check(&b1), Ok(Resume::Apply));
    // a crash before commit: the same batch again still applies
    assert_eq!(c.check(&b1), Ok(Resume::Apply));
    c.advance(&b1);
    // the same watermark twice: already applied, skip
    assert_eq!(c.check(&b1), Ok(Resume::AlreadyApplied));
    assert_eq!(c.check(&b2), Ok(Resume::Apply));
    c.advance(&b2);
    assert_eq!(c.watermark, usn(30));
    // an empty delta
    assert_eq!(
        c.check(&header(BatchKind::Delta, usn(30), usn(30))),
        Ok(Resume::Apply)
    );
}

#[test]
fn invocation_id_change_requires_full_sync() {
    let c = Committed {
        watermark: usn(10),
        full_read: None,
    };
    let restored = Watermark::usn(12, Guid::from_u128(0xdef), "dc1.corp.example.com");
    let h = header(BatchKind::Delta, usn(10), restored.clone());
    assert!(matches!(
        c.check(&h),
        Err(ResumeError::FullSyncRequired {
            reason: VoidReason::InvocationIdChanged { .. }
        })
    ));
    let h = header(BatchKind::Delta, restored.clone(), restored);
    assert!(matches!(
        c.check(&h),
        Err(ResumeError::FullSyncRequired { .. })
    ));
    // nothing committed: a delta cannot start
    let fresh = Committed::default();
    assert_eq!(
        fresh.check(&header(BatchKind::Delta, Watermark::None, usn(5))),
        Err(ResumeError::FullSyncRequired {
            reason: VoidReason::NoBaseline
        })
    );
}

fn full(page: u32, completeness: Completeness, objects: u64) -> BatchKind {
    BatchKind::Full {
        page,
        completeness,
        objects,
    }
}

#[test]
fn full_read_pages_commit_in_order() {
    let cookie = |n: u8| Watermark::dirsync(&[n], "dc1");
    let mut c = Committed::default();
    let p0 = header(
        full(0, Completeness::InProgress, 1000),
        Watermark::None,
        cookie(1),
    );
    let p1 = header(
        full(1, Completeness::InProgress, 2000),
        cookie(1),
        cookie(2),
    );
    let p2 = header(full(2, Completeness::Finished, 2500), cookie(2), cookie(3));
    assert_eq!(
        c.check(&p1),
        Err(ResumeError::PageOutOfOrder {
            page: 1,
            expected: 0
        })
    );
    assert_eq!(c.check(&p0), Ok(Resume::Apply));
    c.advance(&p0);
    assert!(
        c.watermark.is_none(),
        "a read in progress commits no watermark"
    );
    assert_eq!(
        c.check(&p2),
        Err(ResumeError::PageOutOfOrder {
            page: 2,
            expected: 1
        })
    );
    assert_eq!(c.check(&p1), Ok(Resume::Apply));
    c.advance(&p1);
    assert_eq!(c.check(&p1), Ok(Resume::AlreadyApplied));
    assert_eq!(c.check(&p2), Ok(Resume::Apply));
    c.advance(&p2);
    assert_eq!(c.watermark, cookie(3));
    assert_eq!(c.full_read, None);
    assert_eq!(c.check(&p2), Ok(Resume::AlreadyApplied));
    // a cut-short read leaves the watermark where it was
    let q0 = header(
        full(0, Completeness::CutShort, 10),
        Watermark::None,
        cookie(9),
    );
    c.advance(&q0);
    assert_eq!(c.watermark, cookie(3));
}

#[test]
fn header_and_encoded_records_make_a_batch() {
    let batch = sample_batch();
    let encoded: Vec<Vec<u8>> = batch.records.iter().map(|r| r.to_json().unwrap()).collect();
    let json = batch
        .header
        .to_json_with(encoded.iter().map(|r| r.as_slice()))
        .unwrap();
    assert_eq!(json, batch.to_json().unwrap());
}

fn arb_value(ty: u8) -> BoxedStrategy<Value> {
    match ty {
        0 => "[ -~\u{e9}\u{4e2d}\n\"\\\\]{0,12}"
            .prop_map(|s| Value::str(&s))
            .boxed(),
        1 => proptest::collection::vec(any::<u8>(), 0..20)
            .prop_map(|b| Value::bytes(&b))
            .boxed(),
        2 => any::<i64>().prop_map(Value::Int).boxed(),
        3 => any::<bool>().prop_map(Value::Bool).boxed(),
        _ => "[a-z]{1,6}"
            .prop_map(|s| Value::Dn(Dn::parse(&format!("CN={s},DC=corp")).unwrap()))
            .boxed(),
    }
}

fn arb_values() -> impl Strategy<Value = Values> {
    (0u8..5).prop_flat_map(|ty| proptest::collection::vec(arb_value(ty), 0..4).prop_map(vals))
}

fn arb_changes() -> impl Strategy<Value = Vec<AttrChange>> {
    proptest::collection::btree_map(
        "[a-z]{1,8}",
        prop_oneof![
            arb_values().prop_map(AttrOp::Replace),
            (arb_values(), arb_values())
                .prop_map(|(add, remove)| AttrOp::Incremental { add, remove }),
        ],
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(name, op)| AttrChange {
                name: AttrName::new(&name),
                op,
            })
            .collect()
    })
}

fn arb_change() -> impl Strategy<Value = Change> {
    let guid = any::<u128>().prop_map(Guid::from_u128);
    let name = "[A-Za-z ]{1,10}";
    let secret =
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8).prop_map(Secret::new));
    prop_oneof![
        (
            guid.clone(),
            name,
            proptest::collection::btree_map("[a-z]{1,8}", arb_values(), 0..5),
            secret.clone()
        )
            .prop_map(|(guid, n, attrs, password_hash)| {
                let mut attributes = Attributes::new();
                for (k, v) in attrs {
                    attributes.set(k.as_str(), v);
                }
                Change::Add {
                    guid,
                    dn: Dn::parse(&format!("CN={},DC=corp", n.trim()))
                        .unwrap_or_else(|_| Dn::parse("CN=x").unwrap()),
                    attributes,
                    password_hash,
                }
            }),
        (guid.clone(), arb_changes(), secret.clone()).prop_map(|(guid, changes, password_hash)| {
            Change::Modify {
                guid,
                changes,
                password_hash,
            }
        }),
        (guid.clone(), arb_changes(), secret).prop_map(|(guid, changes, password_hash)| {
            Change::Move {
                guid,
                dn: Dn::parse("CN=moved,OU=b,DC=corp").unwrap(),
                changes,
                password_hash,
            }
        }),
        (guid, name).prop_map(|(guid, n)| Change::Delete(
            Tombstone::new(guid, &n, &Dn::parse("DC=corp").unwrap(), None).unwrap()
        )),
    ]
}

proptest! {
    #[test]
    fn any_batch_round_trips(records in proptest::collection::vec(arb_change(), 0..8), page in 0u32..3) {
        let batch = ChangeBatch {
            header: header(full(page, Completeness::InProgress, 5), Watermark::None, usn(7)),
            records,
        };
        let json = batch.to_json().unwrap();
        let back = ChangeBatch::from_json(&json).unwrap();
        // an empty replace and an attribute with no values read back as absent
        prop_assert_eq!(back.to_json().unwrap(), json);
        prop_assert_eq!(back.records.len(), batch.records.len());
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ChangeBatch::from_json(&bytes);
        let _ = Change::from_json(&bytes);
    }

    #[test]
    fn mutated_batches_give_errors_not_panics(cut in 0usize..2000, flip in any::<u8>()) {
        let mut json = sample_batch().to_json().unwrap();
        let i = cut % json.len();
        json[i] = flip;
        let _ = ChangeBatch::from_json(&json);
        let _ = ChangeBatch::from_json(&json[..i]);
    }
}

#[test]
fn duplicate_keys_and_single_records() {
    let rec = format!(
        r#"{{"op":"move","objectGUID":"{}","dn":"CN=a","dn":"CN=b"}}"#,
        g64(1)
    );
    assert_eq!(
        err(&batch_json(&rec)).to_string(),
        "records[0].dn: duplicate field"
    );
    assert_eq!(
        Change::from_json(rec.as_bytes()).unwrap_err().to_string(),
        "dn: duplicate field"
    );
    let rec = format!(r#"{{"op":"undelete","objectGUID":"{}"}}"#, g64(1));
    assert_eq!(
        Change::from_json(rec.as_bytes()).unwrap_err(),
        ChangeError::UnknownRecordKind {
            index: 0,
            kind: "undelete".into()
        }
    );
    let batch = r#"{"v":1,"v":1,"source":"c","since":"none","watermark":"none","kind":"delta","records":[]}"#;
    assert_eq!(err(batch).to_string(), "v: duplicate field");
}

#[test]
fn dc_names_compare_without_case_in_continuity() {
    let upper = Watermark::usn(10, Guid::from_u128(0xabc), "DC1.CORP.EXAMPLE.COM");
    let mut c = Committed {
        watermark: usn(10),
        full_read: None,
    };
    let h = header(BatchKind::Delta, upper, usn(20));
    assert_eq!(c.check(&h), Ok(Resume::Apply));
    c.advance(&h);
    let replay = header(
        BatchKind::Delta,
        usn(10),
        Watermark::usn(20, Guid::from_u128(0xabc), "Dc1.Corp.Example.Com"),
    );
    assert_eq!(c.check(&replay), Ok(Resume::AlreadyApplied));
    // a DirSync cookie is its position, whichever DC gave it
    let c = Committed {
        watermark: Watermark::dirsync(b"k1", "dc1"),
        full_read: None,
    };
    let h = header(
        BatchKind::Delta,
        Watermark::dirsync(b"k1", "dc2"),
        Watermark::dirsync(b"k2", "dc2"),
    );
    assert_eq!(c.check(&h), Ok(Resume::Apply));
}
