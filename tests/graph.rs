//! Every Graph rendering, through the public API only.

use idsync::anchor::Guid;
use idsync::graph::{
    GraphBatch, GraphError, GraphRequest, MAX_BATCH_REQUESTS, Method, batch, render, render_plan,
};
use idsync::object::{AttrName, ObjectKind, Secret, Value, Values};
use idsync::target::{Action, AttrChange, OpId, Reason, TargetId, TargetOp, TargetRef};
use serde_json::json;

fn vals(xs: &[&str]) -> Values {
    xs.iter().map(|x| Value::str(x)).collect()
}

fn op(id: u64, kind: ObjectKind, action: Action) -> TargetOp {
    TargetOp {
        id: OpId(id),
        object: Guid::from_u128(u128::from(id)),
        kind,
        action,
        reason: Reason::NewObject,
    }
}

fn create(id: u64, kind: ObjectKind, attrs: Vec<(&str, Values)>) -> TargetOp {
    op(
        id,
        kind,
        Action::Create {
            anchor: Guid::from_u128(u128::from(id)).immutable_id(),
            attributes: attrs
                .into_iter()
                .map(|(k, v)| (AttrName::new(k), v))
                .collect(),
        },
    )
}

fn change(name: &str, to: Values) -> AttrChange {
    AttrChange {
        name: AttrName::new(name),
        from: Values::new(),
        to,
    }
}

fn id(s: &str) -> TargetRef {
    TargetRef::Id(TargetId::new(s))
}

#[test]
fn create_user_maps_the_provisioning_schema() {
    let guid = Guid::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap();
    let op = TargetOp {
        id: OpId(7),
        object: guid,
        kind: ObjectKind::User,
        action: Action::Create {
            anchor: guid.immutable_id(),
            attributes: vec![
                (
                    AttrName::new("UserPrincipalName"),
                    vals(&["ann@contoso.com"]),
                ),
                (
                    AttrName::new("accountenabled"),
                    Values::from_iter([Value::Bool(false)]),
                ),
                (AttrName::new("DisplayName"), vals(&["Ann Lee"])),
                (AttrName::new("Alias"), vals(&["ann"])),
                (AttrName::new("TelephoneNumber"), vals(&["+1 555 0100"])),
                (
                    AttrName::new("ProxyAddresses"),
                    vals(&["SMTP:ann@contoso.com", "smtp:a@contoso.com"]),
                ),
                (AttrName::new("ExtensionAttribute3"), vals(&["cost-42"])),
                (AttrName::new("Title"), vals(&["Engineer"])),
                (AttrName::new("SourceAnchor"), vals(&["ignored"])),
                (AttrName::new("MSExchMailboxGuid"), vals(&["x"])),
                (AttrName::new("Manager"), vals(&["CN=Boss,DC=x"])),
            ],
        },
        reason: Reason::NewObject,
    };
    let r = render(&op).unwrap();
    let req = &r.request;
    assert_eq!(req.id, "7");
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "/users");
    assert_eq!(
        req.headers.get("Content-Type").map(String::as_str),
        Some("application/json")
    );
    assert!(req.depends_on.is_empty());
    assert_eq!(
        req.body.as_ref().unwrap(),
        &json!({
            "onPremisesImmutableId": "/xmWb4aLEdC0LQDAT8lk/w==",
            "userPrincipalName": "ann@contoso.com",
            "accountEnabled": false,
            "displayName": "Ann Lee",
            "mailNickname": "ann",
            "businessPhones": ["+1 555 0100"],
            "proxyAddresses": ["SMTP:ann@contoso.com", "smtp:a@contoso.com"],
            "onPremisesExtensionAttributes": {"extensionAttribute3": "cost-42"},
            "jobTitle": "Engineer"
        })
    );
    let skipped: Vec<&str> = r
        .not_rendered
        .iter()
        .map(|n| n.attribute.as_str())
        .collect();
    assert_eq!(skipped, vec!["MSExchMailboxGuid", "Manager"]);
    assert!(
        r.not_rendered
            .iter()
            .all(|n| n.op == OpId(7) && !n.reason.is_empty())
    );
}

#[test]
fn create_group_and_contact_carry_odata_type() {
    let g = render(&create(
        1,
        ObjectKind::Group,
        vec![("DisplayName", vals(&["Sales"]))],
    ))
    .unwrap();
    assert_eq!(g.request.url, "/groups");
    assert_eq!(
        g.request.body.unwrap(),
        json!({
            "@odata.type": "#microsoft.graph.group",
            "displayName": "Sales",
            "mailEnabled": false,
            "securityEnabled": true
        })
    );
    assert_eq!(g.not_rendered.len(), 1);
    assert_eq!(g.not_rendered[0].attribute.as_str(), "SourceAnchor");
    let g = render(&create(
        2,
        ObjectKind::Group,
        vec![
            ("MailEnabled", vals(&["True"])),
            ("SecurityEnabled", vals(&["False"])),
            ("MailNickname", vals(&["sales"])),
        ],
    ))
    .unwrap();
    let body = g.request.body.unwrap();
    assert_eq!(body["mailEnabled"], true);
    assert_eq!(body["securityEnabled"], false);
    assert_eq!(body["mailNickname"], "sales");
    let c = render(&create(
        3,
        ObjectKind::Contact,
        vec![
            ("Mail", vals(&["v@fabrikam.com"])),
            ("City", vals(&["Oslo"])),
        ],
    ))
    .unwrap();
    assert_eq!(c.request.url, "/contacts");
    assert_eq!(
        c.request.body.unwrap(),
        json!({"@odata.type": "#microsoft.graph.orgContact", "mail": "v@fabrikam.com"})
    );
    // City has no orgContact property; the anchor neither.
    let skipped: Vec<&str> = c
        .not_rendered
        .iter()
        .map(|n| n.attribute.as_str())
        .collect();
    assert_eq!(skipped, vec!["SourceAnchor", "City"]);
}

#[test]
fn update_sends_only_the_changed_properties() {
    let r = render(&op(
        4,
        ObjectKind::User,
        Action::Update {
            target: id("0a1b-2c"),
            changes: vec![
                change("Surname", vals(&["Lee"])),
                change("Department", Values::new()),
                change("ProxyAddresses", Values::new()),
                change("extensionattribute15", vals(&["x"])),
            ],
        },
    ))
    .unwrap();
    assert_eq!(r.request.method, Method::Patch);
    assert_eq!(r.request.url, "/users/0a1b-2c");
    assert_eq!(
        r.request.body.unwrap(),
        json!({
            "surname": "Lee",
            "department": null,
            "proxyAddresses": [],
            "onPremisesExtensionAttributes": {"extensionAttribute15": "x"}
        })
    );
    let g = render(&op(
        5,
        ObjectKind::Group,
        Action::Update {
            target: TargetRef::CreatedBy(OpId(3)),
            changes: vec![change("Description", vals(&["d"]))],
        },
    ))
    .unwrap();
    assert_eq!(g.request.url, "/groups/$3");
    assert_eq!(g.request.depends_on, vec!["3".to_owned()]);
    let c = render(&op(
        6,
        ObjectKind::Contact,
        Action::Update {
            target: id("c1"),
            changes: vec![change("DisplayName", vals(&["V"]))],
        },
    ))
    .unwrap();
    assert_eq!(c.request.url, "/contacts/c1");
}

#[test]
fn stamp_anchor_patches_the_immutable_id() {
    let anchor = Guid::from_u128(9).immutable_id();
    let r = render(&op(
        8,
        ObjectKind::User,
        Action::StampAnchor {
            target: TargetId::new("u1"),
            anchor,
            changes: vec![change("DisplayName", vals(&["Ann"]))],
        },
    ))
    .unwrap();
    assert_eq!(
        (r.request.method, r.request.url.as_str()),
        (Method::Patch, "/users/u1")
    );
    assert_eq!(
        r.request.body.unwrap(),
        json!({"onPremisesImmutableId": anchor.to_string(), "displayName": "Ann"})
    );
}

#[test]
fn delete_and_restore() {
    let d = render(&op(
        1,
        ObjectKind::Group,
        Action::Delete {
            target: TargetId::new("g1"),
        },
    ))
    .unwrap();
    assert_eq!(
        (d.request.method, d.request.url.as_str()),
        (Method::Delete, "/groups/g1")
    );
    assert!(d.request.body.is_none());
    assert!(d.request.headers.is_empty());
    let r = render(&op(
        2,
        ObjectKind::User,
        Action::Restore {
            target: TargetId::new("u1"),
        },
    ))
    .unwrap();
    assert_eq!(
        (r.request.method, r.request.url.as_str()),
        (Method::Post, "/directory/deletedItems/u1/restore")
    );
    assert!(r.request.body.is_none());
}

#[test]
fn member_refs() {
    let add = render(&op(
        3,
        ObjectKind::Group,
        Action::AddMember {
            group: id("g1"),
            member: id("u1"),
        },
    ))
    .unwrap();
    assert_eq!(
        (add.request.method, add.request.url.as_str()),
        (Method::Post, "/groups/g1/members/$ref")
    );
    assert_eq!(
        add.request.body.unwrap(),
        json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/u1"})
    );
    let add = render(&op(
        4,
        ObjectKind::Group,
        Action::AddMember {
            group: TargetRef::CreatedBy(OpId(1)),
            member: TargetRef::CreatedBy(OpId(2)),
        },
    ))
    .unwrap();
    assert_eq!(add.request.url, "/groups/$1/members/$ref");
    assert_eq!(add.request.depends_on, vec!["1".to_owned(), "2".to_owned()]);
    assert_eq!(add.request.unresolved_refs(), vec![OpId(1), OpId(2)]);
    let mut resolved = add.request.clone();
    resolved.resolve_created(OpId(1), &TargetId::new("g-9"));
    resolved.resolve_created(OpId(2), &TargetId::new("u-9"));
    assert_eq!(resolved.url, "/groups/g-9/members/$ref");
    assert_eq!(
        resolved.body.as_ref().unwrap()["@odata.id"],
        "https://graph.microsoft.com/v1.0/directoryObjects/u-9"
    );
    assert!(resolved.depends_on.is_empty());
    assert!(resolved.unresolved_refs().is_empty());
    let rm = render(&op(
        5,
        ObjectKind::Group,
        Action::RemoveMember {
            group: id("g1"),
            member: id("u 1"),
        },
    ))
    .unwrap();
    assert_eq!(
        (rm.request.method, rm.request.url.as_str()),
        (Method::Delete, "/groups/g1/members/u%201/$ref")
    );
    assert!(rm.request.body.is_none());
}

#[test]
fn password_hash_appears_only_in_its_own_body() {
    let canary = "CANARY-pw-hash-3f9a";
    let ops = vec![
        create(
            1,
            ObjectKind::User,
            vec![("UserPrincipalName", vals(&["a@contoso.com"]))],
        ),
        op(
            2,
            ObjectKind::User,
            Action::SetPasswordHash {
                target: TargetRef::CreatedBy(OpId(1)),
                hash: Secret::new(canary.as_bytes().to_vec()),
            },
        ),
        op(
            3,
            ObjectKind::User,
            Action::Delete {
                target: TargetId::new("u2"),
            },
        ),
    ];
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(canary)
    };
    let plan = render_plan(&ops);
    assert!(plan.errors.is_empty());
    assert_eq!(plan.batches.len(), 1);
    let b = &plan.batches[0];
    let req = &b.requests[1];
    assert_eq!(req.url, "/users/$1/idsync.setPasswordHash");
    assert_eq!(req.depends_on, vec!["1".to_owned()]);
    assert!(req.carries_secret());
    assert_eq!(req.body.as_ref().unwrap()["passwordHash"], encoded.as_str());
    // The wire form carries it exactly once, in that body.
    let wire = serde_json::to_string(b).unwrap();
    assert_eq!(wire.matches(&encoded).count(), 1);
    for (i, r) in b.requests.iter().enumerate() {
        let body = serde_json::to_string(&r.body).unwrap();
        assert_eq!(body.contains(&encoded), i == 1);
    }
    // Every log form redacts it.
    let logs = [
        format!("{b:?}"),
        format!("{req:?}"),
        format!("{req}"),
        b.log_form().to_string(),
        req.log_form().to_string(),
        format!("{plan:?}"),
        format!("{:?}", ops[1]),
    ];
    for text in &logs {
        assert!(!text.contains(&encoded) && !text.contains(canary), "{text}");
    }
    assert!(format!("{req}").contains("<redacted>"));
    // A secret in an ordinary attribute is refused, without echoing it.
    let e = render(&create(
        4,
        ObjectKind::User,
        vec![(
            "DisplayName",
            Values::from_iter([Value::Secret(Secret::new(canary.as_bytes().to_vec()))]),
        )],
    ))
    .unwrap_err();
    assert!(matches!(
        e,
        GraphError::ValueType {
            found: "secret",
            ..
        }
    ));
    assert!(!e.to_string().contains(canary));
}

#[test]
fn bad_values_are_typed_errors() {
    let e = render(&create(
        1,
        ObjectKind::User,
        vec![("DisplayName", vals(&["a", "b"]))],
    ))
    .unwrap_err();
    assert_eq!(
        e,
        GraphError::MultiValued {
            op: OpId(1),
            attribute: "DisplayName".to_owned(),
            property: "displayName",
            count: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "op#1: attribute DisplayName: graph property displayName takes one value, found 2"
    );
    let e = render(&create(
        2,
        ObjectKind::User,
        vec![("AccountEnabled", vals(&["yes"]))],
    ))
    .unwrap_err();
    assert!(matches!(
        e,
        GraphError::ValueType {
            property: "accountEnabled",
            expected: "a boolean",
            found: "string",
            ..
        }
    ));
    let e = render(&create(3, ObjectKind::Unsupported, vec![])).unwrap_err();
    assert!(matches!(e, GraphError::UnsupportedKind { .. }));
    // Non-string scalars render as text for text properties.
    let r = render(&create(
        4,
        ObjectKind::User,
        vec![("EmployeeId", Values::from_iter([Value::Int(42)]))],
    ))
    .unwrap();
    assert_eq!(r.request.body.unwrap()["employeeId"], "42");
}

#[test]
fn batches_hold_at_most_twenty_and_keep_dependencies_together() {
    // 19 deletes, then a create and two updates depending on it.
    let mut ops: Vec<TargetOp> = (1..=19)
        .map(|i| {
            op(
                i,
                ObjectKind::User,
                Action::Delete {
                    target: TargetId::new(&format!("u{i}")),
                },
            )
        })
        .collect();
    ops.push(create(
        20,
        ObjectKind::Group,
        vec![("DisplayName", vals(&["G"]))],
    ));
    for i in 21..=22 {
        ops.push(op(
            i,
            ObjectKind::Group,
            Action::AddMember {
                group: TargetRef::CreatedBy(OpId(20)),
                member: id(&format!("u{i}")),
            },
        ));
    }
    let plan = render_plan(&ops);
    let sizes: Vec<usize> = plan.batches.iter().map(|b| b.requests.len()).collect();
    assert_eq!(sizes, vec![19, 3]);
    assert!(plan.batches.iter().all(|b| b.external_refs().is_empty()));
    let ids: Vec<String> = plan
        .batches
        .iter()
        .flat_map(|b| b.requests.iter().map(|r| r.id.clone()))
        .collect();
    assert_eq!(ids, (1..=22).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(
        plan.batches
            .iter()
            .all(|b| b.requests.len() <= MAX_BATCH_REQUESTS)
    );
}

#[test]
fn an_overlong_chain_is_split_with_external_refs() {
    let mut ops = vec![create(
        1,
        ObjectKind::Group,
        vec![("DisplayName", vals(&["G"]))],
    )];
    for i in 2..=25 {
        ops.push(op(
            i,
            ObjectKind::Group,
            Action::AddMember {
                group: TargetRef::CreatedBy(OpId(1)),
                member: id(&format!("u{i}")),
            },
        ));
    }
    let plan = render_plan(&ops);
    assert_eq!(plan.batches.len(), 2);
    assert_eq!(plan.batches[0].requests.len(), 20);
    assert!(plan.batches[0].external_refs().is_empty());
    let second = &plan.batches[1];
    assert_eq!(second.external_refs(), vec![OpId(1)]);
    assert!(second.requests.iter().all(|r| r.depends_on.is_empty()));
    let mut fixed = second.clone();
    for r in &mut fixed.requests {
        r.resolve_created(OpId(1), &TargetId::new("g-1"));
    }
    assert!(fixed.external_refs().is_empty());
    assert!(fixed.requests[0].url.starts_with("/groups/g-1/"));
}

#[test]
fn a_bad_op_fails_alone() {
    let ops = vec![
        create(
            1,
            ObjectKind::User,
            vec![("DisplayName", vals(&["a", "b"]))],
        ),
        op(
            2,
            ObjectKind::User,
            Action::Update {
                target: TargetRef::CreatedBy(OpId(1)),
                changes: vec![change("Title", vals(&["t"]))],
            },
        ),
        op(
            3,
            ObjectKind::User,
            Action::Delete {
                target: TargetId::new("u3"),
            },
        ),
    ];
    let plan = render_plan(&ops);
    assert_eq!(plan.errors.len(), 1);
    assert_eq!(plan.batches.len(), 1);
    assert_eq!(plan.batches[0].requests.len(), 2);
    assert_eq!(plan.batches[0].external_refs(), vec![OpId(1)]);
}

#[test]
fn batch_wire_form_round_trips() {
    let ops = vec![
        create(
            1,
            ObjectKind::User,
            vec![("UserPrincipalName", vals(&["a@contoso.com"]))],
        ),
        op(
            2,
            ObjectKind::User,
            Action::Update {
                target: TargetRef::CreatedBy(OpId(1)),
                changes: vec![change("Title", vals(&["t"]))],
            },
        ),
    ];
    let plan = render_plan(&ops);
    let wire = serde_json::to_value(&plan.batches[0]).unwrap();
    assert_eq!(wire["requests"][0]["method"], "POST");
    assert_eq!(wire["requests"][0]["url"], "/users");
    assert_eq!(wire["requests"][1]["dependsOn"], json!(["1"]));
    assert_eq!(wire["requests"][1]["url"], "/users/$1");
    assert!(wire["requests"][0].get("dependsOn").is_none());
    let back: GraphBatch = serde_json::from_value(wire).unwrap();
    assert_eq!(back, plan.batches[0]);
}

#[test]
fn batch_clamps_its_size() {
    let reqs: Vec<GraphRequest> = (1..=5)
        .map(|i| GraphRequest {
            id: i.to_string(),
            method: Method::Get,
            url: format!("/users/u{i}"),
            headers: Default::default(),
            body: None,
            depends_on: vec![],
        })
        .collect();
    assert_eq!(batch(reqs.clone(), 0).len(), 5);
    assert_eq!(batch(reqs.clone(), 2).len(), 3);
    assert_eq!(batch(reqs, 1000).len(), 1);
    assert!(batch(Vec::new(), 20).is_empty());
}

#[test]
fn ready_requests_have_no_placeholders() {
    let ops = vec![
        create(1, ObjectKind::Group, vec![("DisplayName", vals(&["G"]))]),
        op(
            2,
            ObjectKind::Group,
            Action::AddMember {
                group: TargetRef::CreatedBy(OpId(1)),
                member: id("u1"),
            },
        ),
        op(
            3,
            ObjectKind::User,
            Action::Delete {
                target: TargetId::new("u2"),
            },
        ),
    ];
    let plan = render_plan(&ops);
    let ready: Vec<&str> = plan.batches[0]
        .ready()
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ready, vec!["1", "3"]);
}
