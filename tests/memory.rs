//! The in-memory directories against the product's rules, through the
//! public API only.

use idsync::anchor::{Guid, ImmutableId};
use idsync::dn::Dn;
use idsync::memory::{AdError, DeltaStyle, InMemoryAd, InMemoryTarget};
use idsync::object::{AttrName, Attributes, ObjectKind, Secret, Value, Values};
use idsync::target::{
    Action, Applied, AttrChange, DirectoryTarget, OpId, Reason, TargetError, TargetErrorKind,
    TargetId, TargetLookup, TargetOp, TargetRef, apply_plan,
};
use idsync::time::Timestamp;

// ----- helpers ---------------------------------------------------------------

fn vals(xs: &[&str]) -> Values {
    xs.iter().map(|x| Value::str(x)).collect()
}

fn op(id: u64, object: u128, kind: ObjectKind, action: Action) -> TargetOp {
    TargetOp {
        id: OpId(id),
        object: Guid::from_u128(object),
        kind,
        action,
        reason: Reason::NewObject,
    }
}

fn create_op(n: u128, kind: ObjectKind, attrs: &[(&str, &[&str])]) -> TargetOp {
    op(
        n as u64,
        n,
        kind,
        Action::Create {
            anchor: Guid::from_u128(n).immutable_id(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (AttrName::new(k), vals(v)))
                .collect(),
        },
    )
}

fn create(
    t: &mut InMemoryTarget,
    n: u128,
    kind: ObjectKind,
    attrs: &[(&str, &[&str])],
) -> Result<Applied, TargetError> {
    t.apply(&create_op(n, kind, attrs))
}

fn created_id(a: Applied) -> TargetId {
    a.target_id.expect("create returns an id")
}

fn update_op(id: u64, target: &TargetId, name: &str, to: &[&str]) -> TargetOp {
    op(
        id,
        id as u128,
        ObjectKind::User,
        Action::Update {
            target: TargetRef::Id(target.clone()),
            changes: vec![AttrChange {
                name: AttrName::new(name),
                from: Values::new(),
                to: vals(to),
            }],
        },
    )
}

fn tenant() -> InMemoryTarget {
    let mut t = InMemoryTarget::new("contoso.onmicrosoft.com").with_seed(42);
    t.add_verified_domain("contoso.com");
    t
}

fn is_placeholder(upn: &str, prefix: &str) -> bool {
    let Some(rest) = upn.strip_prefix(prefix) else {
        return false;
    };
    let Some(digits) = rest.strip_suffix("@contoso.onmicrosoft.com") else {
        return false;
    };
    digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())
}

// ----- the target: creation, lookups -----------------------------------------------

#[test]
fn create_stores_anchor_and_attributes_and_lookups_find_it() {
    let mut t = tenant();
    let a = create(
        &mut t,
        1,
        ObjectKind::User,
        &[
            ("UserPrincipalName", &["Ann@Contoso.com"]),
            (
                "ProxyAddresses",
                &["SMTP:ann@contoso.com", "smtp:a@contoso.com"],
            ),
            ("DisplayName", &["Ann"]),
        ],
    )
    .unwrap();
    assert!(a.quarantined.is_empty());
    let id = created_id(a);
    assert_eq!(id.as_str(), "u-000001");
    let anchor = Guid::from_u128(1).immutable_id();
    assert_eq!(t.find_by_immutable_id(&anchor).unwrap().id, id);
    let by_upn = t.find_by_upn("ann@CONTOSO.com").unwrap();
    assert_eq!(by_upn.id, id);
    assert_eq!(
        by_upn.user_principal_name.as_deref(),
        Some("Ann@Contoso.com")
    );
    assert_eq!(by_upn.primary_smtp(), Some("ann@contoso.com"));
    assert_eq!(t.find_by_proxy_address("A@contoso.COM").unwrap().id, id);
    assert_eq!(
        t.find_by_proxy_address("smtp:ann@contoso.com").unwrap().id,
        id
    );
    assert!(t.find_by_proxy_address("nobody@contoso.com").is_none());
    assert_eq!(t.attribute(&id, "displayname"), &[Value::str("Ann")]);
    assert!(
        t.attribute(&TargetId::new("u-999999"), "displayName")
            .is_empty()
    );
}

#[test]
fn duplicate_immutable_id_is_a_duplicate_value_error() {
    let mut t = tenant();
    create(
        &mut t,
        1,
        ObjectKind::User,
        &[("UserPrincipalName", &["a@contoso.com"])],
    )
    .unwrap();
    let e = create(
        &mut t,
        1,
        ObjectKind::User,
        &[("UserPrincipalName", &["b@contoso.com"])],
    )
    .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::DuplicateValue);
    assert!(e.message.contains("onPremisesImmutableId"), "{e}");
    assert!(t.find_by_upn("b@contoso.com").is_none());
}

#[test]
fn ids_count_per_kind() {
    let mut t = tenant();
    let g = created_id(create(&mut t, 1, ObjectKind::Group, &[("DisplayName", &["G"])]).unwrap());
    let c = created_id(create(&mut t, 2, ObjectKind::Contact, &[("DisplayName", &["C"])]).unwrap());
    let u = created_id(
        create(
            &mut t,
            3,
            ObjectKind::User,
            &[("UserPrincipalName", &["u@contoso.com"])],
        )
        .unwrap(),
    );
    assert_eq!(
        [g.as_str(), c.as_str(), u.as_str()],
        ["g-000001", "c-000001", "u-000001"]
    );
    let e = create(&mut t, 4, ObjectKind::Unsupported, &[]).unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::AttributeFormat);
}

// ----- duplicate attribute resiliency ----------------------------------------------------

#[test]
fn duplicate_upn_gets_a_placeholder_and_is_recorded() {
    let mut t = tenant();
    let cloud = t.seed_user("ann@contoso.com").unwrap();
    let a = create(
        &mut t,
        1,
        ObjectKind::User,
        &[("UserPrincipalName", &["Ann@contoso.com"])],
    )
    .unwrap();
    assert_eq!(a.quarantined.len(), 1);
    let q = &a.quarantined[0];
    assert_eq!(q.category, "PropertyConflict");
    assert_eq!(q.property_causing_error, "UserPrincipalName");
    assert_eq!(q.value, "Ann@contoso.com");
    let id = created_id(a.clone());
    let obj = t.get(&id).unwrap();
    assert!(
        is_placeholder(obj.user_principal_name().unwrap(), "Ann"),
        "{:?}",
        obj.user_principal_name()
    );
    assert_eq!(obj.provisioning_errors, a.quarantined);
    assert_eq!(obj.requested_upn.as_deref(), Some("Ann@contoso.com"));
    // The original holder keeps the UPN.
    assert_eq!(t.find_by_upn("ann@contoso.com").unwrap().id, cloud);
}

#[test]
fn duplicate_proxy_address_is_dropped_and_recorded() {
    let mut t = tenant();
    t.seed(
        ObjectKind::Contact,
        Attributes::new().with("ProxyAddresses", [Value::str("SMTP:sales@contoso.com")]),
    )
    .unwrap();
    let a = create(
        &mut t,
        1,
        ObjectKind::User,
        &[
            ("UserPrincipalName", &["bob@contoso.com"]),
            (
                "ProxyAddresses",
                &["SMTP:bob@contoso.com", "smtp:sales@contoso.com"],
            ),
        ],
    )
    .unwrap();
    assert_eq!(a.quarantined.len(), 1);
    assert_eq!(a.quarantined[0].property_causing_error, "ProxyAddress");
    assert_eq!(a.quarantined[0].value, "smtp:sales@contoso.com");
    let id = created_id(a);
    assert_eq!(
        t.get(&id).unwrap().proxy_addresses(),
        vec!["SMTP:bob@contoso.com".to_owned()]
    );
}

#[test]
fn quarantined_values_come_back_once_the_conflict_is_gone() {
    let mut t = tenant();
    let cloud = t.seed_user("ann@contoso.com").unwrap();
    t.apply(&update_op(
        90,
        &cloud,
        "ProxyAddresses",
        &["SMTP:ann@contoso.com"],
    ))
    .unwrap();
    let id = created_id(
        create(
            &mut t,
            1,
            ObjectKind::User,
            &[
                ("UserPrincipalName", &["ann@contoso.com"]),
                ("ProxyAddresses", &["SMTP:ann@contoso.com"]),
            ],
        )
        .unwrap(),
    );
    assert_eq!(t.get(&id).unwrap().provisioning_errors.len(), 2);
    let placeholder = t
        .get(&id)
        .unwrap()
        .user_principal_name()
        .unwrap()
        .to_owned();
    // An unrelated update while the conflict lasts keeps the same placeholder.
    let a = t
        .apply(&update_op(2, &id, "DisplayName", &["Ann"]))
        .unwrap();
    assert_eq!(a.quarantined.len(), 2);
    assert_eq!(
        t.get(&id).unwrap().user_principal_name(),
        Some(placeholder.as_str())
    );
    // The cloud user gives the values up.
    t.apply(&update_op(
        91,
        &cloud,
        "UserPrincipalName",
        &["ann.old@contoso.com"],
    ))
    .unwrap();
    t.apply(&update_op(92, &cloud, "ProxyAddresses", &[]))
        .unwrap();
    // Entra's background pass restores them.
    assert_eq!(t.resolve_conflicts(), vec![id.clone()]);
    let obj = t.get(&id).unwrap();
    assert_eq!(obj.user_principal_name(), Some("ann@contoso.com"));
    assert_eq!(
        obj.proxy_addresses(),
        vec!["SMTP:ann@contoso.com".to_owned()]
    );
    assert!(obj.provisioning_errors.is_empty());
    assert_eq!(t.find_by_upn("ann@contoso.com").unwrap().id, id);
    assert!(t.find_by_upn(&placeholder).is_none());
}

#[test]
fn next_update_restores_after_hard_delete_of_the_holder() {
    let mut t = tenant();
    let cloud = t.seed_user("ann@contoso.com").unwrap();
    let id = created_id(
        create(
            &mut t,
            1,
            ObjectKind::User,
            &[("UserPrincipalName", &["ann@contoso.com"])],
        )
        .unwrap(),
    );
    // Soft-deleted objects keep their values, as in Entra.
    t.apply(&op(
        2,
        2,
        ObjectKind::User,
        Action::Delete {
            target: cloud.clone(),
        },
    ))
    .unwrap();
    let a = t.apply(&update_op(3, &id, "DisplayName", &["x"])).unwrap();
    assert_eq!(a.quarantined.len(), 1);
    assert!(t.hard_delete(&cloud));
    let a = t.apply(&update_op(4, &id, "DisplayName", &["y"])).unwrap();
    assert!(a.quarantined.is_empty());
    assert_eq!(
        t.get(&id).unwrap().user_principal_name(),
        Some("ann@contoso.com")
    );
}

#[test]
fn secondary_smtp_against_a_group_primary_is_a_plain_error() {
    let mut t = tenant();
    t.seed(
        ObjectKind::Group,
        Attributes::new()
            .with("DisplayName", [Value::str("Sales")])
            .with("ProxyAddresses", [Value::str("SMTP:sales@contoso.com")]),
    )
    .unwrap();
    let before = t.len();
    let e = create(
        &mut t,
        1,
        ObjectKind::User,
        &[
            ("UserPrincipalName", &["bob@contoso.com"]),
            (
                "ProxyAddresses",
                &["SMTP:bob@contoso.com", "smtp:sales@contoso.com"],
            ),
        ],
    )
    .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::DuplicateValue);
    assert_eq!(t.len(), before);
    assert!(t.find_by_upn("bob@contoso.com").is_none());
    // The same secondary against a user's address is quarantined instead.
    let mut t = tenant();
    t.seed(
        ObjectKind::User,
        Attributes::new()
            .with("UserPrincipalName", [Value::str("s@contoso.com")])
            .with("ProxyAddresses", [Value::str("SMTP:sales@contoso.com")]),
    )
    .unwrap();
    let a = create(
        &mut t,
        1,
        ObjectKind::User,
        &[
            ("UserPrincipalName", &["bob@contoso.com"]),
            ("ProxyAddresses", &["smtp:sales@contoso.com"]),
        ],
    )
    .unwrap();
    assert_eq!(a.quarantined.len(), 1);
}

#[test]
fn resiliency_off_fails_duplicates() {
    let mut t = tenant();
    t.set_duplicate_attribute_resiliency(false);
    t.seed_user("ann@contoso.com").unwrap();
    let e = create(
        &mut t,
        1,
        ObjectKind::User,
        &[("UserPrincipalName", &["ANN@contoso.com"])],
    )
    .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::DuplicateValue);
}

#[test]
fn seeding_a_duplicate_is_an_error() {
    let mut t = tenant();
    t.seed_user("ann@contoso.com").unwrap();
    assert_eq!(
        t.seed_user("ann@contoso.com").unwrap_err().kind,
        TargetErrorKind::DuplicateValue
    );
}

#[test]
fn placeholders_are_deterministic_and_unique() {
    let run = || {
        let mut t = tenant();
        t.seed_user("ann@contoso.com").unwrap();
        (1..=5)
            .map(|n| {
                let id = created_id(
                    create(
                        &mut t,
                        n,
                        ObjectKind::User,
                        &[("UserPrincipalName", &["ann@contoso.com"])],
                    )
                    .unwrap(),
                );
                t.get(&id)
                    .unwrap()
                    .user_principal_name()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run());
    let mut sorted = a.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
    assert!(a.iter().all(|u| is_placeholder(u, "ann")));
}

// ----- UPN rules ------------------------------------------------------------------------

#[test]
fn unverified_suffix_becomes_alias_at_initial_domain() {
    let mut t = tenant();
    let id = created_id(
        create(
            &mut t,
            1,
            ObjectKind::User,
            &[
                ("UserPrincipalName", &["ann@corp.local"]),
                ("MailNickname", &["annl"]),
            ],
        )
        .unwrap(),
    );
    assert_eq!(
        t.get(&id).unwrap().user_principal_name(),
        Some("annl@contoso.onmicrosoft.com")
    );
    let id = created_id(
        create(
            &mut t,
            2,
            ObjectKind::User,
            &[
                ("UserPrincipalName", &["bob@corp.local"]),
                ("Alias", &["bobby"]),
            ],
        )
        .unwrap(),
    );
    assert_eq!(
        t.get(&id).unwrap().user_principal_name(),
        Some("bobby@contoso.onmicrosoft.com")
    );
    // No alias: the UPN's own prefix.
    let id = created_id(
        create(
            &mut t,
            3,
            ObjectKind::User,
            &[("UserPrincipalName", &["cy@corp.local"])],
        )
        .unwrap(),
    );
    assert_eq!(
        t.get(&id).unwrap().user_principal_name(),
        Some("cy@contoso.onmicrosoft.com")
    );
    // Verifying the domain later: the next update takes the real UPN.
    t.add_verified_domain("CORP.local");
    t.apply(&update_op(4, &id, "DisplayName", &["Cy"])).unwrap();
    assert_eq!(
        t.get(&id).unwrap().user_principal_name(),
        Some("cy@corp.local")
    );
}

#[test]
fn rewritten_upn_that_collides_gets_a_placeholder() {
    let mut t = tenant();
    t.seed_user("annl@contoso.onmicrosoft.com").unwrap();
    let a = create(
        &mut t,
        1,
        ObjectKind::User,
        &[
            ("UserPrincipalName", &["ann@corp.local"]),
            ("MailNickname", &["annl"]),
        ],
    )
    .unwrap();
    assert_eq!(a.quarantined[0].value, "annl@contoso.onmicrosoft.com");
    let id = created_id(a);
    assert!(is_placeholder(
        t.get(&id).unwrap().user_principal_name().unwrap(),
        "annl"
    ));
}

#[test]
fn malformed_upn_and_proxy_are_attribute_format_errors() {
    let mut t = tenant();
    for bad in ["no-at-sign", "@contoso.com", "ann@"] {
        let e = create(
            &mut t,
            1,
            ObjectKind::User,
            &[("UserPrincipalName", &[bad])],
        )
        .unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::AttributeFormat, "{bad}");
    }
    let e = create(
        &mut t,
        1,
        ObjectKind::User,
        &[
            ("UserPrincipalName", &["a@contoso.com"]),
            ("ProxyAddresses", &["nocolon"]),
        ],
    )
    .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::AttributeFormat);
}

// ----- soft delete, restore, purge ----------------------------------------------------

#[test]
fn soft_delete_restore_and_purge() {
    let mut t = tenant();
    t.set_time(Timestamp::from_secs(1_000));
    let id = created_id(
        create(
            &mut t,
            1,
            ObjectKind::User,
            &[("UserPrincipalName", &["ann@contoso.com"])],
        )
        .unwrap(),
    );
    let del = op(
        2,
        1,
        ObjectKind::User,
        Action::Delete { target: id.clone() },
    );
    t.apply(&del).unwrap();
    let obj = t.get(&id).unwrap();
    assert!(obj.deleted);
    assert_eq!(obj.deleted_at, Some(Timestamp::from_secs(1_000)));
    assert_eq!(t.live().count(), 0);
    // Lookups still find it, flagged deleted (the engine restores it).
    let found = t
        .find_by_immutable_id(&Guid::from_u128(1).immutable_id())
        .unwrap();
    assert!(found.deleted);
    assert!(t.find_by_upn("ann@contoso.com").unwrap().deleted);
    // A deleted object cannot be updated; deleting again is harmless.
    assert_eq!(
        t.apply(&update_op(3, &id, "DisplayName", &["x"]))
            .unwrap_err()
            .kind,
        TargetErrorKind::NotFound
    );
    t.apply(&del).unwrap();
    t.apply(&op(
        4,
        1,
        ObjectKind::User,
        Action::Restore { target: id.clone() },
    ))
    .unwrap();
    assert!(!t.get(&id).unwrap().deleted);
    assert!(t.get(&id).unwrap().deleted_at.is_none());
    // Restoring a live object is idempotent.
    t.apply(&op(
        5,
        1,
        ObjectKind::User,
        Action::Restore { target: id.clone() },
    ))
    .unwrap();
    // Purge: only after 30 days.
    t.set_time(Timestamp::from_secs(2_000));
    t.apply(&del).unwrap();
    let day = 24 * 3600;
    assert!(
        t.purge_deleted(Timestamp::from_secs(2_000 + 30 * day - 1))
            .is_empty()
    );
    assert_eq!(
        t.purge_deleted(Timestamp::from_secs(2_000 + 30 * day)),
        vec![id.clone()]
    );
    assert!(t.get(&id).is_none());
    assert!(t.find_by_upn("ann@contoso.com").is_none());
    assert_eq!(
        t.apply(&op(
            6,
            1,
            ObjectKind::User,
            Action::Restore { target: id.clone() }
        ))
        .unwrap_err()
        .kind,
        TargetErrorKind::NotFound
    );
    // The anchor and UPN are free again.
    let a = create(
        &mut t,
        1,
        ObjectKind::User,
        &[("UserPrincipalName", &["ann@contoso.com"])],
    )
    .unwrap();
    assert!(a.quarantined.is_empty());
}

// ----- memberships -------------------------------------------------------------------

#[test]
fn memberships_are_idempotent_and_checked() {
    let mut t = tenant();
    let plan = vec![
        create_op(1, ObjectKind::Group, &[("DisplayName", &["Sales"])]),
        create_op(
            2,
            ObjectKind::User,
            &[("UserPrincipalName", &["a@contoso.com"])],
        ),
        op(
            3,
            1,
            ObjectKind::Group,
            Action::AddMember {
                group: TargetRef::CreatedBy(OpId(1)),
                member: TargetRef::CreatedBy(OpId(2)),
            },
        ),
    ];
    let results = apply_plan(&mut t, &plan);
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{results:?}");
    let g = TargetId::new("g-000001");
    let u = TargetId::new("u-000001");
    assert_eq!(t.members(&g), vec![u.clone()]);
    let add = op(
        4,
        1,
        ObjectKind::Group,
        Action::AddMember {
            group: TargetRef::Id(g.clone()),
            member: TargetRef::Id(u.clone()),
        },
    );
    t.apply(&add).unwrap();
    assert_eq!(t.members(&g).len(), 1);
    let remove = op(
        5,
        1,
        ObjectKind::Group,
        Action::RemoveMember {
            group: TargetRef::Id(g.clone()),
            member: TargetRef::Id(u.clone()),
        },
    );
    t.apply(&remove).unwrap();
    assert!(t.members(&g).is_empty());
    t.apply(&remove).unwrap();
    // Unknown member, unknown group, a user as group.
    let bad = |group: &str, member: &str| {
        op(
            6,
            1,
            ObjectKind::Group,
            Action::AddMember {
                group: TargetRef::Id(TargetId::new(group)),
                member: TargetRef::Id(TargetId::new(member)),
            },
        )
    };
    assert_eq!(
        t.apply(&bad("g-000001", "u-000404")).unwrap_err().kind,
        TargetErrorKind::NotFound
    );
    assert_eq!(
        t.apply(&bad("g-000404", "u-000001")).unwrap_err().kind,
        TargetErrorKind::NotFound
    );
    assert_eq!(
        t.apply(&bad("u-000001", "g-000001")).unwrap_err().kind,
        TargetErrorKind::AttributeFormat
    );
    // A soft-deleted member is kept but not listed.
    t.apply(&add).unwrap();
    t.apply(&op(
        7,
        2,
        ObjectKind::User,
        Action::Delete { target: u.clone() },
    ))
    .unwrap();
    assert!(t.members(&g).is_empty());
    t.apply(&op(
        8,
        2,
        ObjectKind::User,
        Action::Restore { target: u.clone() },
    ))
    .unwrap();
    assert_eq!(t.members(&g), vec![u]);
}

#[test]
fn dependency_failures_propagate_through_apply_plan() {
    let mut t = tenant();
    t.fail_next(1, TargetErrorKind::Transient);
    let plan = vec![
        create_op(1, ObjectKind::Group, &[("DisplayName", &["Sales"])]),
        op(
            2,
            1,
            ObjectKind::Group,
            Action::Update {
                target: TargetRef::CreatedBy(OpId(1)),
                changes: vec![],
            },
        ),
    ];
    let results = apply_plan(&mut t, &plan);
    assert_eq!(
        results[0].outcome.as_ref().unwrap_err().kind,
        TargetErrorKind::Transient
    );
    assert_eq!(
        results[1].outcome.as_ref().unwrap_err().kind,
        TargetErrorKind::DependencyFailed
    );
    assert!(t.is_empty());
}

// ----- stamping, admin role, password hash ------------------------------------------------

#[test]
fn stamp_anchor_on_a_cloud_object() {
    let mut t = tenant();
    let cloud = t.seed_user("ann@contoso.com").unwrap();
    t.set_admin_role(&cloud, true).unwrap();
    assert!(t.view(&cloud).unwrap().admin_role);
    assert!(t.view(&cloud).unwrap().immutable_id.is_none());
    let anchor = Guid::from_u128(1).immutable_id();
    let stamp = |id: u64, target: &TargetId, anchor: ImmutableId| {
        op(
            id,
            1,
            ObjectKind::User,
            Action::StampAnchor {
                target: target.clone(),
                anchor,
                changes: vec![AttrChange {
                    name: AttrName::new("DisplayName"),
                    from: Values::new(),
                    to: vals(&["Ann Lee"]),
                }],
            },
        )
    };
    t.apply(&stamp(1, &cloud, anchor)).unwrap();
    assert_eq!(t.find_by_immutable_id(&anchor).unwrap().id, cloud);
    assert_eq!(t.attribute(&cloud, "DisplayName"), &[Value::str("Ann Lee")]);
    // Same anchor again: fine. Another anchor: InvalidSoftMatch conflict.
    t.apply(&stamp(2, &cloud, anchor)).unwrap();
    let other = Guid::from_u128(2).immutable_id();
    let e = t.apply(&stamp(3, &cloud, other)).unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Conflict);
    assert!(e.message.contains("InvalidSoftMatch"));
    // An anchor another object holds.
    let bob = t.seed_user("bob@contoso.com").unwrap();
    assert_eq!(
        t.apply(&stamp(4, &bob, anchor)).unwrap_err().kind,
        TargetErrorKind::DuplicateValue
    );
    assert_eq!(
        t.apply(&stamp(5, &TargetId::new("u-000404"), other))
            .unwrap_err()
            .kind,
        TargetErrorKind::NotFound
    );
}

#[test]
fn password_hash_is_counted_never_kept() {
    let mut t = tenant();
    let id = created_id(
        create(
            &mut t,
            1,
            ObjectKind::User,
            &[("UserPrincipalName", &["a@contoso.com"])],
        )
        .unwrap(),
    );
    let set = |n: u64, hash: &[u8]| {
        op(
            n,
            1,
            ObjectKind::User,
            Action::SetPasswordHash {
                target: TargetRef::Id(id.clone()),
                hash: Secret::new(hash.to_vec()),
            },
        )
    };
    assert!(!t.get(&id).unwrap().password.has_hash());
    t.apply(&set(2, b"canary-hash-1")).unwrap();
    let first = t.get(&id).unwrap().password.fingerprint();
    t.apply(&set(3, b"canary-hash-2")).unwrap();
    let p = t.get(&id).unwrap().password;
    assert!(p.has_hash());
    assert_eq!(p.times_set, 2);
    assert_ne!(p.fingerprint(), first);
    let text = format!("{t:?}");
    assert!(!text.contains("canary-hash"));
    // Groups have no password.
    let g = created_id(create(&mut t, 9, ObjectKind::Group, &[("DisplayName", &["G"])]).unwrap());
    let e = t
        .apply(&op(
            4,
            9,
            ObjectKind::Group,
            Action::SetPasswordHash {
                target: TargetRef::Id(g),
                hash: Secret::new(b"x".to_vec()),
            },
        ))
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::AttributeFormat);
}

#[test]
fn group_view_is_mail_enabled_by_flag_or_primary_smtp() {
    let mut t = tenant();
    let plain = t
        .seed(
            ObjectKind::Group,
            Attributes::new().with("DisplayName", [Value::str("A")]),
        )
        .unwrap();
    let mail = t
        .seed(
            ObjectKind::Group,
            Attributes::new().with("ProxyAddresses", [Value::str("SMTP:b@contoso.com")]),
        )
        .unwrap();
    let flagged = t
        .seed(
            ObjectKind::Group,
            Attributes::new()
                .with("MailEnabled", [Value::str("True")])
                .with("Mail", [Value::str("c@contoso.com")]),
        )
        .unwrap();
    assert!(!t.view(&plain).unwrap().mail_enabled);
    assert!(t.view(&mail).unwrap().mail_enabled);
    assert!(t.view(&flagged).unwrap().mail_enabled);
}

// ----- faults, unknown ids, the log ---------------------------------------------------

#[test]
fn fault_injection_and_log() {
    let mut t = tenant();
    t.fail_next(2, TargetErrorKind::Transient);
    for n in 1..=3 {
        let r = create(
            &mut t,
            n,
            ObjectKind::User,
            &[("UserPrincipalName", &[&format!("u{n}@contoso.com")])],
        );
        assert_eq!(r.is_ok(), n == 3, "op {n}");
    }
    let log = t.log();
    assert_eq!(log.len(), 3);
    assert!(log[0].injected && log[1].injected && !log[2].injected);
    assert_eq!(
        log[0].outcome.as_ref().unwrap_err().kind,
        TargetErrorKind::Transient
    );
    assert_eq!(log[2].action, "create");
    let u3 = TargetId::new("u-000001");
    t.fail_on_target(u3.clone(), TargetErrorKind::Permission);
    let e = t
        .apply(&update_op(10, &u3, "DisplayName", &["x"]))
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Permission);
    assert_eq!(t.log().last().unwrap().targets, vec![u3.clone()]);
    t.fail_on_object(Guid::from_u128(7), TargetErrorKind::AttributeFormat);
    let e = create(
        &mut t,
        7,
        ObjectKind::User,
        &[("UserPrincipalName", &["s@contoso.com"])],
    )
    .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::AttributeFormat);
    create(
        &mut t,
        8,
        ObjectKind::User,
        &[("UserPrincipalName", &["e@contoso.com"])],
    )
    .unwrap();
    t.clear_faults();
    assert!(t.faults().is_empty());
    t.apply(&update_op(11, &u3, "DisplayName", &["x"])).unwrap();
    create(
        &mut t,
        7,
        ObjectKind::User,
        &[("UserPrincipalName", &["s@contoso.com"])],
    )
    .unwrap();
    t.clear_log();
    assert!(t.log().is_empty());
}

#[test]
fn every_action_on_an_unknown_id_is_not_found() {
    let mut t = tenant();
    let ghost = TargetId::new("u-404");
    let actions = vec![
        Action::Update {
            target: TargetRef::Id(ghost.clone()),
            changes: vec![],
        },
        Action::StampAnchor {
            target: ghost.clone(),
            anchor: Guid::from_u128(1).immutable_id(),
            changes: vec![],
        },
        Action::Delete {
            target: ghost.clone(),
        },
        Action::Restore {
            target: ghost.clone(),
        },
        Action::AddMember {
            group: TargetRef::Id(ghost.clone()),
            member: TargetRef::Id(ghost.clone()),
        },
        Action::RemoveMember {
            group: TargetRef::Id(ghost.clone()),
            member: TargetRef::Id(ghost.clone()),
        },
        Action::SetPasswordHash {
            target: TargetRef::Id(ghost.clone()),
            hash: Secret::new(b"h".to_vec()),
        },
    ];
    for (i, a) in actions.into_iter().enumerate() {
        let name = a.name();
        let e = t.apply(&op(i as u64, 1, ObjectKind::User, a)).unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::NotFound, "{name}");
    }
    // An unresolved reference handed straight to apply.
    let e = t
        .apply(&op(
            99,
            1,
            ObjectKind::User,
            Action::Update {
                target: TargetRef::CreatedBy(OpId(1)),
                changes: vec![],
            },
        ))
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::DependencyFailed);
}

#[test]
fn same_ops_same_directory() {
    let run = || {
        let mut t = tenant();
        t.seed_user("a@contoso.com").unwrap();
        for n in 1..=4 {
            let _ = create(
                &mut t,
                n,
                ObjectKind::User,
                &[
                    ("UserPrincipalName", &["a@contoso.com"]),
                    ("ProxyAddresses", &["SMTP:a@contoso.com"]),
                ],
            );
        }
        t.iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

// ----- the AD simulator ------------------------------------------------------------------

const NC: &str = "DC=corp,DC=example,DC=com";

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

fn ad() -> (InMemoryAd, Guid, Dn) {
    let mut ad = InMemoryAd::new(NC).unwrap();
    let root = ad.domain().clone();
    let sales = ad.add_ou(&root, "Sales").unwrap();
    let sales_dn = ad.dn_of(sales).unwrap();
    (ad, sales, sales_dn)
}

#[test]
fn builders_are_deterministic_and_typed() {
    let (mut a, _, sales) = ad();
    let (mut b, _, _) = ad();
    let ann = a.add_user(&sales, "Ann Lee").unwrap();
    assert_eq!(ann, b.add_user(&sales, "Ann Lee").unwrap());
    let other = InMemoryAd::new(NC).unwrap().with_seed(9);
    assert_ne!(other.invocation_id(), a.invocation_id());
    let o = a.get(ann).unwrap();
    assert_eq!(o.kind, ObjectKind::User);
    assert_eq!(o.dn, dn("CN=Ann Lee,OU=Sales,DC=corp,DC=example,DC=com"));
    assert_eq!(
        o.attributes.first("userPrincipalName"),
        Some(&Value::str("ann.lee@corp.example.com"))
    );
    assert_eq!(
        o.attributes.first("sAMAccountName"),
        Some(&Value::str("ann.lee"))
    );
    assert_eq!(o.attributes.first("givenName"), Some(&Value::str("Ann")));
    assert_eq!(o.attributes.first("sn"), Some(&Value::str("Lee")));
    assert_eq!(
        o.attributes.first("objectGUID"),
        Some(&Value::bytes(&ann.to_ad_bytes()))
    );
    let g = a.add_group(&sales, "Sales Team").unwrap();
    assert_eq!(a.get(g).unwrap().kind, ObjectKind::Group);
    let c = a.add_contact(&sales, "Vendor").unwrap();
    assert_eq!(a.get(c).unwrap().kind, ObjectKind::Contact);
    let escaped = a.add_user(&sales, "Smith, Bob").unwrap();
    assert_eq!(
        a.dn_of(escaped).unwrap().as_str(),
        "CN=Smith\\, Bob,OU=Sales,DC=corp,DC=example,DC=com"
    );
}

#[test]
fn every_write_bumps_only_the_written_object() {
    let (mut a, _, sales) = ad();
    let ann = a.add_user(&sales, "Ann").unwrap();
    let bob = a.add_user(&sales, "Bob").unwrap();
    let before = a.highest_usn();
    let bob_usn = a.usn_changed(bob).unwrap();
    a.set(ann, "title", [Value::str("Engineer")]).unwrap();
    assert_eq!(a.highest_usn(), before + 1);
    assert_eq!(a.usn_changed(ann), Some(before + 1));
    assert_eq!(
        a.get(ann).unwrap().attributes.first("uSNChanged"),
        Some(&Value::Int(before + 1))
    );
    assert_eq!(a.usn_changed(bob), Some(bob_usn));
    a.set_many(ann, [("givenName", vals(&["A"])), ("sn", vals(&["L"]))])
        .unwrap();
    assert_eq!(a.highest_usn(), before + 2);
    assert_eq!(
        a.set(ann, "objectGUID", [Value::bytes(&[0; 16])])
            .unwrap_err(),
        AdError::ReadOnlyAttribute {
            name: "objectGUID".to_owned()
        }
    );
    assert!(matches!(
        a.set(Guid::from_u128(999_999), "x", []).unwrap_err(),
        AdError::NoSuchObject { .. }
    ));
}

#[test]
fn moves_keep_the_guid_and_rebase_children_without_usn() {
    let (mut a, sales, sales_dn) = ad();
    let ann = a.add_user(&sales_dn, "Ann").unwrap();
    let mgr = a.add_user(&sales_dn, "Boss").unwrap();
    let ann_usn = a.usn_changed(ann).unwrap();
    let root = a.domain().clone();
    let emea = a.add_ou(&root, "EMEA").unwrap();
    let emea_dn = a.dn_of(emea).unwrap();
    let other = a.add_user(&emea_dn, "Other").unwrap();
    a.set(other, "manager", [Value::Dn(a.dn_of(ann).unwrap())])
        .unwrap();
    let other_usn = a.usn_changed(other).unwrap();
    let wm = a.highest_usn();
    a.move_to(sales, &emea_dn).unwrap();
    let new_ann = dn("CN=Ann,OU=Sales,OU=EMEA,DC=corp,DC=example,DC=com");
    assert_eq!(a.dn_of(ann).unwrap(), new_ann);
    assert_eq!(a.get_by_dn(&new_ann).unwrap().guid, ann);
    assert!(
        a.get_by_dn(&dn("CN=Ann,OU=Sales,DC=corp,DC=example,DC=com"))
            .is_none()
    );
    assert_eq!(a.usn_changed(ann), Some(ann_usn));
    assert!(a.usn_changed(sales).unwrap() > wm);
    // A DN-valued attribute pointing into the moved subtree follows it.
    assert_eq!(
        a.get(other).unwrap().attributes.first("manager"),
        Some(&Value::Dn(new_ann.clone()))
    );
    assert_eq!(a.usn_changed(other), Some(other_usn));
    let delta = a.changed_since(wm);
    assert_eq!(
        delta.objects.iter().map(|o| o.guid).collect::<Vec<_>>(),
        vec![sales]
    );
    let _ = mgr;
    // Errors.
    let sales_now = a.dn_of(sales).unwrap();
    assert!(matches!(
        a.move_to(emea, &sales_now).unwrap_err(),
        AdError::MoveUnderItself { .. }
    ));
    assert!(matches!(
        a.move_to(ann, &dn("OU=Nowhere,DC=corp,DC=example,DC=com"))
            .unwrap_err(),
        AdError::NoParent { .. }
    ));
    assert!(matches!(
        a.move_to(ann, &dn("DC=other,DC=com")).unwrap_err(),
        AdError::OutsideNamingContext { .. }
    ));
}

#[test]
fn rename_updates_name_and_member_dns_without_bumping_groups() {
    let (mut a, _, sales) = ad();
    let ann = a.add_user(&sales, "Ann").unwrap();
    let g = a.add_group(&sales, "Team").unwrap();
    assert!(a.add_member(g, ann).unwrap());
    let g_usn = a.usn_changed(g).unwrap();
    a.rename(ann, "Ann Lee").unwrap();
    let new_dn = dn("CN=Ann Lee,OU=Sales,DC=corp,DC=example,DC=com");
    assert_eq!(a.dn_of(ann).unwrap(), new_dn);
    let o = a.get(ann).unwrap();
    assert_eq!(o.guid, ann);
    assert_eq!(o.attributes.first("cn"), Some(&Value::str("Ann Lee")));
    assert_eq!(o.attributes.first("name"), Some(&Value::str("Ann Lee")));
    assert_eq!(
        a.get(g).unwrap().attributes.get("member"),
        &[Value::Dn(new_dn)]
    );
    assert_eq!(a.usn_changed(g), Some(g_usn));
    assert_eq!(a.members(g), vec![ann]);
    let bob = a.add_user(&sales, "Bob").unwrap();
    assert!(matches!(
        a.rename(bob, "Ann Lee").unwrap_err(),
        AdError::AlreadyExists { .. }
    ));
    // Renaming an OU keeps the OU= type.
    let root = a.domain().clone();
    let ou = a.add_ou(&root, "Old").unwrap();
    a.rename(ou, "New").unwrap();
    assert_eq!(a.dn_of(ou).unwrap(), dn("OU=New,DC=corp,DC=example,DC=com"));
    assert_eq!(
        a.get(ou).unwrap().attributes.first("ou"),
        Some(&Value::str("New"))
    );
}

#[test]
fn membership_changes_bump_the_group_not_the_member() {
    let (mut a, _, sales) = ad();
    let ann = a.add_user(&sales, "Ann").unwrap();
    let g = a.add_group(&sales, "Team").unwrap();
    let ann_usn = a.usn_changed(ann).unwrap();
    let wm = a.highest_usn();
    assert!(a.add_member(g, ann).unwrap());
    assert!(!a.add_member(g, ann).unwrap());
    assert_eq!(a.highest_usn(), wm + 1);
    assert_eq!(a.usn_changed(g), Some(wm + 1));
    assert_eq!(a.usn_changed(ann), Some(ann_usn));
    assert_eq!(
        a.get(g).unwrap().attributes.get("member"),
        &[Value::Dn(a.dn_of(ann).unwrap())]
    );
    assert!(a.remove_member(g, ann).unwrap());
    assert!(!a.remove_member(g, ann).unwrap());
    assert!(a.get(g).unwrap().attributes.get("member").is_empty());
    assert!(matches!(
        a.add_member(ann, g).unwrap_err(),
        AdError::NotAGroup { .. }
    ));
    assert_eq!(
        a.set(g, "member", []).unwrap_err(),
        AdError::ReadOnlyAttribute {
            name: "member".to_owned()
        }
    );
}

#[test]
fn delete_makes_a_tombstone_and_restore_reanimates() {
    let (mut a, sales, sales_dn) = ad();
    let ann = a.add_user(&sales_dn, "Ann").unwrap();
    let g = a.add_group(&sales_dn, "Team").unwrap();
    a.add_member(g, ann).unwrap();
    a.set(ann, "title", [Value::str("Boss")]).unwrap();
    a.set_consistency_guid(ann, &Guid::from_u128(77).to_ad_bytes())
        .unwrap();
    let wm = a.highest_usn();
    assert!(matches!(
        a.delete(sales).unwrap_err(),
        AdError::HasChildren { .. }
    ));
    a.delete(ann).unwrap();
    assert!(a.is_deleted(ann));
    let tomb = a.get(ann).unwrap();
    assert_eq!(
        tomb.dn.as_str(),
        format!("CN=Ann\\0ADEL:{ann},CN=Deleted Objects,{NC}")
    );
    assert_eq!(tomb.attributes.first("isDeleted"), Some(&Value::Bool(true)));
    assert_eq!(
        tomb.attributes.first("lastKnownParent"),
        Some(&Value::Dn(sales_dn.clone()))
    );
    assert!(tomb.attributes.contains("sAMAccountName"));
    assert!(tomb.attributes.contains("objectGUID"));
    assert!(!tomb.attributes.contains("userPrincipalName"));
    assert!(!tomb.attributes.contains("title"));
    assert!(!tomb.attributes.contains("mS-DS-ConsistencyGuid"));
    // The group lost the member, with a new USN.
    assert!(a.get(g).unwrap().attributes.get("member").is_empty());
    assert!(a.usn_changed(g).unwrap() > wm);
    assert!(a.live_objects().all(|o| o.guid != ann));
    let delta = a.changed_since(wm);
    assert_eq!(delta.tombstones.len(), 1);
    let t = &delta.tombstones[0];
    assert_eq!((t.guid, t.kind), (ann, ObjectKind::User));
    assert_eq!(t.last_known_parent.as_ref(), Some(&sales_dn));
    assert_eq!(
        delta.objects.iter().map(|o| o.guid).collect::<Vec<_>>(),
        vec![g]
    );
    // Writes to a tombstone are refused.
    assert_eq!(
        a.set(ann, "title", []).unwrap_err(),
        AdError::Deleted { guid: ann }
    );
    // Reanimation: same GUID, original DN, attributes back.
    let wm = a.highest_usn();
    let back = a.restore(ann, None).unwrap();
    assert_eq!(back, dn("CN=Ann,OU=Sales,DC=corp,DC=example,DC=com"));
    let o = a.get(ann).unwrap();
    assert_eq!(o.guid, ann);
    assert!(!o.attributes.contains("isDeleted"));
    assert_eq!(o.attributes.first("title"), Some(&Value::str("Boss")));
    assert_eq!(o.attributes.first("name"), Some(&Value::str("Ann")));
    assert!(o.attributes.contains("mS-DS-ConsistencyGuid"));
    let delta = a.changed_since(wm);
    assert_eq!(delta.objects.len(), 1);
    assert!(delta.tombstones.is_empty());
    assert_eq!(
        a.restore(ann, None).unwrap_err(),
        AdError::NotDeleted { guid: ann }
    );
}

#[test]
fn delete_subtree_deletes_leaves_first() {
    let (mut a, sales, sales_dn) = ad();
    let sub = a.add_ou(&sales_dn, "Sub").unwrap();
    let sub_dn = a.dn_of(sub).unwrap();
    let u1 = a.add_user(&sub_dn, "U1").unwrap();
    let u2 = a.add_user(&sales_dn, "U2").unwrap();
    let wm = a.highest_usn();
    let order = a.delete_subtree(sales).unwrap();
    assert_eq!(order.len(), 4);
    assert_eq!(order.last(), Some(&sales));
    let pos = |g| order.iter().position(|x| *x == g).unwrap();
    assert!(pos(u1) < pos(sub));
    assert!(pos(u2) < pos(sales));
    assert_eq!(a.live_objects().count(), 0);
    assert_eq!(a.changed_since(wm).tombstones.len(), 4);
    // Restoring a child before its parent fails: no parent.
    assert!(matches!(
        a.restore(u1, None).unwrap_err(),
        AdError::NoParent { .. }
    ));
    a.restore(sales, None).unwrap();
    a.restore(sub, None).unwrap();
    a.restore(u1, None).unwrap();
    assert_eq!(
        a.dn_of(u1).unwrap(),
        dn("CN=U1,OU=Sub,OU=Sales,DC=corp,DC=example,DC=com")
    );
}

#[test]
fn consistency_guid_set_and_clear() {
    let (mut a, _, sales) = ad();
    let ann = a.add_user(&sales, "Ann").unwrap();
    let wm = a.highest_usn();
    a.set_consistency_guid(ann, &[1; 15]).unwrap();
    assert_eq!(
        a.get(ann)
            .unwrap()
            .attributes
            .first("ms-ds-consistencyguid"),
        Some(&Value::bytes(&[1; 15]))
    );
    assert!(a.usn_changed(ann).unwrap() > wm);
    a.clear_consistency_guid(ann).unwrap();
    assert!(
        !a.get(ann)
            .unwrap()
            .attributes
            .contains("mS-DS-ConsistencyGuid")
    );
}

#[test]
fn changed_since_reports_final_state_only() {
    let (mut a, _, sales) = ad();
    let wm = a.highest_usn();
    let ann = a.add_user(&sales, "Ann").unwrap();
    a.set(ann, "title", [Value::str("A")]).unwrap();
    a.set(ann, "title", [Value::str("B")]).unwrap();
    let ghost = a.add_user(&sales, "Ghost").unwrap();
    a.delete(ghost).unwrap();
    let delta = a.changed_since(wm);
    assert_eq!(delta.objects.len(), 1);
    assert_eq!(delta.objects[0].guid, ann);
    assert_eq!(
        delta.objects[0].attributes.first("title"),
        Some(&Value::str("B"))
    );
    assert_eq!(
        delta.tombstones.iter().map(|t| t.guid).collect::<Vec<_>>(),
        vec![ghost]
    );
    assert_eq!(delta.highest_usn, a.highest_usn());
    assert!(a.changed_since(a.highest_usn()).objects.is_empty());
}

#[test]
fn restore_from_backup_changes_invocation_id() {
    let (mut a, _, _) = ad();
    let before = a.invocation_id();
    assert_eq!(a.changed_since(0).invocation_id, before);
    a.restore_from_backup();
    assert_ne!(a.invocation_id(), before);
    assert_eq!(a.changed_since(0).invocation_id, a.invocation_id());
}

#[test]
fn full_read_faults() {
    let (mut a, _, sales) = ad();
    for i in 0..9 {
        a.add_user(&sales, &format!("U{i}")).unwrap();
    }
    // 10 live objects: the OU and 9 users, OU first.
    let all: Vec<Guid> = a.read_objects().map(|r| r.unwrap().guid).collect();
    assert_eq!(all.len(), 10);
    assert_eq!(a.get(all[0]).unwrap().kind, ObjectKind::Unsupported);
    a.fail_next_full_read_after(4);
    let read: Vec<_> = a.read_objects().collect();
    assert_eq!(read.len(), 5);
    assert!(read[..4].iter().all(Result::is_ok));
    assert_eq!(
        read[4].as_ref().unwrap_err(),
        &AdError::ReadInterrupted { after: 4 }
    );
    assert_eq!(a.read_objects().count(), 10);
    a.return_only_percent(50);
    let half: Vec<_> = a.read_objects().collect();
    assert_eq!(half.len(), 5);
    assert!(half.iter().all(Result::is_ok));
    a.return_only_percent(0);
    a.clear_faults();
    assert_eq!(a.read_objects().count(), 10);
}

#[test]
fn add_errors() {
    let (mut a, _, sales) = ad();
    a.add_user(&sales, "Ann").unwrap();
    assert!(matches!(
        a.add_user(&sales, "ann").unwrap_err(),
        AdError::AlreadyExists { .. }
    ));
    assert!(matches!(
        a.add_user(&dn("OU=Missing,DC=corp,DC=example,DC=com"), "X")
            .unwrap_err(),
        AdError::NoParent { .. }
    ));
    assert!(matches!(
        a.add_user(&dn("DC=elsewhere"), "X").unwrap_err(),
        AdError::OutsideNamingContext { .. }
    ));
    assert!(InMemoryAd::new("not a dn").is_err());
}

// ----- the AD simulator as a DirectorySource ------------------------------------------

mod as_source {
    use super::*;
    use idsync::change::{
        AttrOp, BatchKind, Change, ChangeBatch, Committed, Completeness, Resume, VoidReason,
        Watermark,
    };
    use idsync::source::{DirectorySource, SourceError};

    fn kinds(pages: &[ChangeBatch]) -> Vec<(usize, Completeness, u64)> {
        pages
            .iter()
            .map(|p| match p.header.kind {
                BatchKind::Full {
                    completeness,
                    objects,
                    ..
                } => (p.records.len(), completeness, objects),
                BatchKind::Delta => panic!("a full read page is not a delta"),
            })
            .collect()
    }

    #[test]
    fn full_read_pages_continue_each_other() {
        let (mut a, _, sales) = ad();
        for i in 0..4 {
            a.add_user(&sales, &format!("U{i}")).unwrap();
        }
        a.set_page_size(2);
        let pages = DirectorySource::full_read(&mut a).unwrap();
        assert_eq!(
            kinds(&pages),
            vec![
                (2, Completeness::InProgress, 2),
                (2, Completeness::InProgress, 4),
                (1, Completeness::Finished, 5)
            ]
        );
        assert_eq!(pages[0].header.since, Watermark::None);
        assert_eq!(pages[0].header.source.as_str(), "corp.example.com");
        let mut committed = Committed::default();
        for p in &pages {
            assert_eq!(committed.check(&p.header), Ok(Resume::Apply));
            committed.advance(&p.header);
        }
        assert_eq!(committed.watermark, a.watermark());
        // Ancestors first: the OU is the first record.
        assert!(matches!(&pages[0].records[0], Change::Add { dn, .. } if *dn == sales));
        // The wire form round-trips.
        for p in &pages {
            assert_eq!(&ChangeBatch::from_json(&p.to_json().unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn faulty_full_reads() {
        let (mut a, _, sales) = ad();
        for i in 0..4 {
            a.add_user(&sales, &format!("U{i}")).unwrap();
        }
        a.set_page_size(2);
        a.fail_next_full_read_after(3);
        let pages = DirectorySource::full_read(&mut a).unwrap();
        assert_eq!(
            kinds(&pages),
            vec![
                (2, Completeness::InProgress, 2),
                (1, Completeness::CutShort, 3)
            ]
        );
        a.return_only_percent(40);
        let pages = DirectorySource::full_read(&mut a).unwrap();
        assert_eq!(kinds(&pages), vec![(2, Completeness::Finished, 2)]);
        let mut empty = InMemoryAd::new(NC).unwrap();
        let pages = DirectorySource::full_read(&mut empty).unwrap();
        assert_eq!(kinds(&pages), vec![(0, Completeness::Finished, 0)]);
    }

    #[test]
    fn deltas_carry_final_state_in_usn_order() {
        let (mut a, _, sales) = ad();
        let ann = a.add_user(&sales, "Ann").unwrap();
        let bob = a.add_user(&sales, "Bob").unwrap();
        let g = a.add_group(&sales, "Team").unwrap();
        let pages = DirectorySource::full_read(&mut a).unwrap();
        let mut committed = Committed::default();
        for p in &pages {
            committed.advance(&p.header);
        }
        let since = committed.watermark.clone();
        let root = a.domain().clone();
        let other = a.add_ou(&root, "Other").unwrap();
        a.move_to(ann, &a.dn_of(other).unwrap()).unwrap();
        a.add_member(g, ann).unwrap();
        a.delete(bob).unwrap();
        let delta = a.changes_since(&since).unwrap();
        assert_eq!(delta.header.kind, BatchKind::Delta);
        assert_eq!(delta.header.since, since);
        assert_eq!(delta.header.watermark, a.watermark());
        assert_eq!(committed.check(&delta.header), Ok(Resume::Apply));
        let summary: Vec<(&str, Guid)> = delta.records.iter().map(|r| (r.op(), r.guid())).collect();
        assert_eq!(
            summary,
            vec![("add", other), ("add", ann), ("add", g), ("delete", bob)]
        );
        let Change::Add { dn, .. } = &delta.records[1] else {
            panic!("expected an add")
        };
        assert_eq!(*dn, dn_("CN=Ann,OU=Other,DC=corp,DC=example,DC=com"));
        let Change::Add { attributes, .. } = &delta.records[2] else {
            panic!("expected an add")
        };
        assert_eq!(attributes.get("member"), &[Value::Dn(dn.clone())]);
        let Change::Delete(t) = &delta.records[3] else {
            panic!("expected a delete")
        };
        assert_eq!(t.deleted_name(), Some("Bob"));
        assert_eq!(t.last_known_parent.as_ref(), Some(&sales));
        assert_eq!(
            ChangeBatch::from_json(&delta.to_json().unwrap()).unwrap(),
            delta
        );
        // Nothing new: an empty delta from the new watermark.
        let empty = a.changes_since(&delta.header.watermark).unwrap();
        assert!(empty.records.is_empty());
    }

    #[test]
    fn deltas_of_changed_attributes_are_modify_records() {
        let (mut a, _, sales) = ad();
        a.set_delta_style(DeltaStyle::ChangedAttributes);
        let ann = a.add_user(&sales, "Ann").unwrap();
        let bob = a.add_user(&sales, "Bob").unwrap();
        let cy = a.add_user(&sales, "Cy").unwrap();
        let g = a.add_group(&sales, "Team").unwrap();
        a.set(ann, "department", [Value::str("Sales")]).unwrap();
        a.set(ann, "title", [Value::str("Rep")]).unwrap();
        let pages = DirectorySource::full_read(&mut a).unwrap();
        let mut committed = Committed::default();
        for p in &pages {
            committed.advance(&p.header);
        }
        let since = committed.watermark.clone();
        a.set(ann, "title", [Value::str("Lead")]).unwrap();
        a.set(ann, "department", []).unwrap();
        a.set(ann, "title", [Value::str("Head")]).unwrap();
        a.add_member(g, bob).unwrap();
        a.rename(cy, "Cyrus").unwrap();
        let dave = a.add_user(&sales, "Dave").unwrap();
        let delta = a.changes_since(&since).unwrap();
        let summary: Vec<(&str, Guid)> = delta.records.iter().map(|r| (r.op(), r.guid())).collect();
        assert_eq!(
            summary,
            vec![("modify", ann), ("modify", g), ("add", cy), ("add", dave)]
        );
        // Ann: the attributes written since, each once with its last value
        // (a cleared one as an empty replace), and uSNChanged.
        let Change::Modify { changes, .. } = &delta.records[0] else {
            panic!("expected a modify")
        };
        let got: Vec<(String, Vec<String>)> = changes
            .iter()
            .map(|c| {
                let AttrOp::Replace(v) = &c.op else {
                    panic!("expected a replace")
                };
                (c.name.to_string(), v.iter().map(Value::to_string).collect())
            })
            .collect();
        let usn = a.usn_changed(ann).unwrap().to_string();
        assert_eq!(
            got,
            vec![
                ("department".to_owned(), vec![]),
                ("title".to_owned(), vec!["Head".to_owned()]),
                ("uSNChanged".to_owned(), vec![usn]),
            ]
        );
        let Change::Modify { changes, .. } = &delta.records[1] else {
            panic!("expected a modify")
        };
        assert!(changes.iter().any(|c| c.name.is("member")
            && c.op == AttrOp::Replace([Value::Dn(a.dn_of(bob).unwrap())].into_iter().collect())));
        // From a watermark after the first writes, only the later ones.
        let later = a.changes_since(&delta.header.watermark).unwrap();
        assert!(later.records.is_empty());
        let mid = a.watermark();
        a.set(ann, "title", [Value::str("Boss")]).unwrap();
        let last = a.changes_since(&mid).unwrap();
        let Change::Modify { changes, .. } = &last.records[0] else {
            panic!("expected a modify")
        };
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["title", "uSNChanged"]);
        // Whole objects when asked.
        a.set_delta_style(DeltaStyle::WholeObjects);
        assert_eq!(a.changes_since(&mid).unwrap().records[0].op(), "add");
    }

    fn dn_(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    #[test]
    fn void_watermarks_need_a_full_sync() {
        let (mut a, _, _) = ad();
        let w = a.watermark();
        let void = |r: Result<ChangeBatch, SourceError>| match r {
            Err(SourceError::WatermarkVoid(reason)) => reason,
            other => panic!("expected a void watermark, got {other:?}"),
        };
        assert!(matches!(
            void(a.changes_since(&Watermark::None)),
            VoidReason::NoBaseline
        ));
        assert!(matches!(
            void(a.changes_since(&Watermark::dirsync(b"cookie", "dc1.corp.example.com"))),
            VoidReason::MethodChanged
        ));
        let Watermark::Usn { invocation_id, .. } = w.clone() else {
            panic!("usn watermark expected")
        };
        assert!(matches!(
            void(a.changes_since(&Watermark::usn(10, invocation_id, "dc2.corp.example.com"))),
            VoidReason::DcChanged { .. }
        ));
        assert!(matches!(
            void(a.changes_since(&Watermark::usn(
                u64::MAX,
                invocation_id,
                "dc1.corp.example.com"
            ))),
            VoidReason::UsnWentBack { .. }
        ));
        a.restore_from_backup();
        assert!(matches!(
            void(a.changes_since(&w)),
            VoidReason::InvocationIdChanged { .. }
        ));
        let named = InMemoryAd::new(NC)
            .unwrap()
            .with_dc_name("dc9.corp.example.com")
            .with_source("forest-a".into());
        let Watermark::Usn { dc, .. } = named.watermark() else {
            panic!("usn watermark expected")
        };
        assert_eq!(dc, "dc9.corp.example.com");
    }

    #[test]
    fn password_hashes_travel_only_when_changed() {
        let (mut a, _, sales) = ad();
        let ann = a.add_user(&sales, "Ann").unwrap();
        a.set_password_hash(ann, Secret::new(b"CANARY-ad-hash".to_vec()))
            .unwrap();
        let pages = DirectorySource::full_read(&mut a).unwrap();
        let hashes = pages[0]
            .records
            .iter()
            .filter(|r| r.password_hash().is_some())
            .count();
        assert_eq!(hashes, 1);
        assert!(!format!("{pages:?}{a:?}").contains("CANARY"));
        let since = pages[0].header.watermark.clone();
        a.set(ann, "title", [Value::str("t")]).unwrap();
        let delta = a.changes_since(&since).unwrap();
        assert!(delta.records[0].password_hash().is_none());
        a.set_password_hash(ann, Secret::new(b"CANARY-2".to_vec()))
            .unwrap();
        let delta = a.changes_since(&since).unwrap();
        assert_eq!(
            delta.records[0].password_hash().map(Secret::expose),
            Some(&b"CANARY-2"[..])
        );
    }
}

// ----- the two directories around the engine ----------------------------------------------

#[test]
fn engine_cycles_between_the_in_memory_directories() {
    use idsync::config::SyncConfig;
    use idsync::engine::Engine;
    use idsync::graph::render_plan;

    let mut ad = InMemoryAd::new(NC).unwrap().with_source("corp".into());
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff").unwrap();
    let staff_dn = ad.dn_of(staff).unwrap();
    let ann = ad.add_user(&staff_dn, "Ann Lee").unwrap();
    let bob = ad.add_user(&staff_dn, "Bob Ray").unwrap();
    ad.set(
        bob,
        "proxyAddresses",
        [Value::str("SMTP:bob@corp.example.com")],
    )
    .unwrap();
    let team = ad.add_group(&staff_dn, "Team").unwrap();
    ad.add_member(team, ann).unwrap();
    ad.add_member(team, bob).unwrap();
    let mut entra = InMemoryTarget::new("contoso.onmicrosoft.com");
    entra.add_verified_domain("corp.example.com");
    // A cloud-only user with Ann's UPN: the engine soft-matches it.
    let cloud_ann = entra.seed_user("ann.lee@corp.example.com").unwrap();
    let cfg: SyncConfig = serde_json::from_str(
        r#"{"name":"corp","domain":{"fqdn":"corp.example.com","netbios":"CORP"}}"#,
    )
    .unwrap();
    let mut engine = Engine::new(&cfg).unwrap();

    let first = engine
        .run_cycle(&mut ad, &mut entra, Timestamp::from_secs(1_000), false)
        .unwrap();
    assert!(first.full_read);
    assert!(
        first.results.iter().all(|r| r.outcome.is_ok()),
        "{:?}",
        first.results
    );
    let ann_anchor = ann.immutable_id();
    assert_eq!(
        entra.find_by_immutable_id(&ann_anchor).unwrap().id,
        cloud_ann
    );
    let bob_id = entra.find_by_immutable_id(&bob.immutable_id()).unwrap().id;
    let team_id = entra.find_by_immutable_id(&team.immutable_id()).unwrap().id;
    assert_eq!(
        entra.members(&team_id),
        vec![cloud_ann.clone(), bob_id.clone()]
    );
    assert_eq!(
        entra
            .find_by_proxy_address("bob@corp.example.com")
            .unwrap()
            .id,
        bob_id
    );
    // Every op the engine planned renders as Graph requests.
    let rendered = render_plan(&first.plan.ops);
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(
        rendered
            .batches
            .iter()
            .map(|b| b.requests.len())
            .sum::<usize>(),
        first.plan.ops.len()
    );

    // A rename flows as an update; a deletion is held for approval (the
    // default policy), so Bob stays in the target.
    ad.rename(ann, "Ann Smith").unwrap();
    ad.delete(bob).unwrap();
    let second = engine
        .run_cycle(&mut ad, &mut entra, Timestamp::from_secs(2_000), false)
        .unwrap();
    assert!(!second.full_read);
    assert!(second.results.iter().all(|r| r.outcome.is_ok()));
    assert!(second.plan.ops.iter().any(|o| o.action.name() == "update"));
    assert!(second.plan.ops.iter().all(|o| o.action.name() != "delete"));
    assert!(!entra.get(&bob_id).unwrap().deleted);
    assert!(!second.plan.held.is_empty());
}

// ----- invariants under random operation sequences ------------------------------------------

mod invariants {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    const UPNS: [&str; 4] = [
        "ann@contoso.com",
        "ANN@contoso.com",
        "bob@corp.local",
        "bob@contoso.onmicrosoft.com",
    ];
    const PROXIES: [&str; 4] = [
        "SMTP:ann@contoso.com",
        "smtp:shared@contoso.com",
        "SMTP:Shared@contoso.com",
        "smtp:bob@contoso.com",
    ];

    #[derive(Debug, Clone)]
    enum Step {
        Create {
            kind: u8,
            upn: usize,
            proxies: Vec<usize>,
        },
        SetUpn {
            obj: usize,
            upn: usize,
        },
        SetProxies {
            obj: usize,
            proxies: Vec<usize>,
        },
        Delete {
            obj: usize,
        },
        Restore {
            obj: usize,
        },
        HardDelete {
            obj: usize,
        },
        Resolve,
    }

    fn step() -> impl Strategy<Value = Step> {
        let proxies = proptest::collection::vec(0..PROXIES.len(), 0..3);
        prop_oneof![
            3 => (0u8..3, 0..UPNS.len(), proxies.clone())
                .prop_map(|(kind, upn, proxies)| Step::Create { kind, upn, proxies }),
            2 => (0usize..8, 0..UPNS.len()).prop_map(|(obj, upn)| Step::SetUpn { obj, upn }),
            2 => (0usize..8, proxies).prop_map(|(obj, proxies)| Step::SetProxies { obj, proxies }),
            1 => (0usize..8).prop_map(|obj| Step::Delete { obj }),
            1 => (0usize..8).prop_map(|obj| Step::Restore { obj }),
            1 => (0usize..8).prop_map(|obj| Step::HardDelete { obj }),
            1 => Just(Step::Resolve),
        ]
    }

    fn pick(t: &InMemoryTarget, i: usize) -> Option<TargetId> {
        let ids: Vec<TargetId> = t.iter().map(|o| o.id.clone()).collect();
        if ids.is_empty() {
            None
        } else {
            ids.get(i % ids.len()).cloned()
        }
    }

    fn check(t: &InMemoryTarget, resolved: bool) {
        let mut upns: HashMap<String, TargetId> = HashMap::new();
        let mut proxies: HashMap<String, TargetId> = HashMap::new();
        for o in t.iter() {
            if o.kind == ObjectKind::User {
                if let Some(u) = o.user_principal_name() {
                    let prev = upns.insert(u.to_lowercase(), o.id.clone());
                    assert!(prev.is_none(), "upn {u} held twice");
                    assert_eq!(t.find_by_upn(u).unwrap().id, o.id);
                }
            }
            for p in o.proxy_addresses() {
                let prev = proxies.insert(p.to_lowercase(), o.id.clone());
                assert!(prev.is_none(), "proxy {p} held twice");
                if let Some(addr) = p.strip_prefix("smtp:").or_else(|| p.strip_prefix("SMTP:")) {
                    assert_eq!(t.find_by_proxy_address(addr).unwrap().id, o.id);
                }
            }
            for e in &o.provisioning_errors {
                assert_eq!(e.category, "PropertyConflict");
                if e.property_causing_error == "UserPrincipalName" {
                    let upn = o.user_principal_name().unwrap().to_lowercase();
                    let value = e.value.to_lowercase();
                    let (prefix, _) = value.rsplit_once('@').unwrap();
                    let rest = upn.strip_prefix(prefix).unwrap();
                    assert_eq!(rest.len(), 4 + "@contoso.onmicrosoft.com".len(), "{upn}");
                }
            }
            // Every requested proxy address is held or quarantined.
            for p in &o.requested_proxy_addresses {
                let held = o
                    .proxy_addresses()
                    .iter()
                    .any(|q| q.eq_ignore_ascii_case(p));
                let quarantined = o.provisioning_errors.iter().any(|e| e.value == *p);
                assert!(held || quarantined, "{p} lost");
            }
        }
        if resolved {
            // After the background pass, a value stays quarantined on a
            // live object only while another object holds it (a deleted
            // object is re-evaluated when restored).
            for o in t.live() {
                for e in &o.provisioning_errors {
                    let key = e.value.to_lowercase();
                    let holder = if e.property_causing_error == "UserPrincipalName" {
                        upns.get(&key)
                    } else {
                        proxies.get(&key)
                    };
                    assert!(
                        holder.is_some_and(|h| *h != o.id),
                        "{} quarantined on {} without a conflict",
                        e.value,
                        o.id
                    );
                }
            }
        }
    }

    /// Applies `steps` to a fresh tenant, checking the invariants after each.
    fn run(steps: Vec<Step>) {
        let mut t = tenant();
        let mut n: u64 = 0;
        for s in steps {
            n += 1;
            let resolved = matches!(s, Step::Resolve);
            match s {
                Step::Create { kind, upn, proxies } => {
                    let kind =
                        [ObjectKind::User, ObjectKind::Group, ObjectKind::Contact][kind as usize];
                    let ps: Vec<&str> = proxies.iter().map(|i| PROXIES[*i]).collect();
                    let _ = create(
                        &mut t,
                        u128::from(n),
                        kind,
                        &[("UserPrincipalName", &[UPNS[upn]]), ("ProxyAddresses", &ps)],
                    );
                }
                Step::SetUpn { obj, upn } => {
                    if let Some(id) = pick(&t, obj) {
                        let _ = t.apply(&update_op(n, &id, "UserPrincipalName", &[UPNS[upn]]));
                    }
                }
                Step::SetProxies { obj, proxies } => {
                    if let Some(id) = pick(&t, obj) {
                        let ps: Vec<&str> = proxies.iter().map(|i| PROXIES[*i]).collect();
                        let _ = t.apply(&update_op(n, &id, "ProxyAddresses", &ps));
                    }
                }
                Step::Delete { obj } => {
                    if let Some(id) = pick(&t, obj) {
                        let _ = t.apply(&op(n, 1, ObjectKind::User, Action::Delete { target: id }));
                    }
                }
                Step::Restore { obj } => {
                    if let Some(id) = pick(&t, obj) {
                        let _ =
                            t.apply(&op(n, 1, ObjectKind::User, Action::Restore { target: id }));
                    }
                }
                Step::HardDelete { obj } => {
                    if let Some(id) = pick(&t, obj) {
                        t.hard_delete(&id);
                    }
                }
                Step::Resolve => {
                    t.resolve_conflicts();
                }
            }
            check(&t, resolved);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn uniqueness_holds_after_every_step(steps in proptest::collection::vec(step(), 1..40)) {
            run(steps);
        }

        #[test]
        fn ad_indexes_and_links_stay_consistent(
            steps in proptest::collection::vec((0u8..6, 0usize..16, 0usize..16), 1..40)
        ) {
            let (mut a, _, sales) = ad();
            let root = a.domain().clone();
            let mut guids = vec![a.add_ou(&root, "Other").unwrap()];
            guids.push(a.add_group(&sales, "G").unwrap());
            let mut names = 0;
            for (kind, x, y) in steps {
                let gx = guids[x % guids.len()];
                let gy = guids[y % guids.len()];
                names += 1;
                let _ = match kind {
                    0 => a.add_user(&a.dn_of(gx).unwrap(), &format!("U{names}")).map(|g| guids.push(g)),
                    1 => a.add_ou(&a.dn_of(gx).unwrap(), &format!("O{names}")).map(|g| guids.push(g)),
                    2 => a.move_to(gx, &a.dn_of(gy).unwrap()),
                    3 => a.rename(gx, &format!("R{names}")),
                    4 => a.add_member(gx, gy).map(|_| ()),
                    _ => a.delete_subtree(gx).map(|_| ()),
                };
                let before = a.highest_usn();
                for o in a.live_objects() {
                    prop_assert_eq!(a.get_by_dn(&o.dn).map(|x| x.guid), Some(o.guid));
                    if o.dn != *a.domain() {
                        let parent = o.dn.parent().unwrap();
                        prop_assert!(parent == *a.domain() || a.get_by_dn(&parent).is_some());
                    }
                    for v in o.attributes.get("member") {
                        let Value::Dn(d) = v else { panic!("member holds a dn") };
                        prop_assert!(a.get_by_dn(d).is_some(), "dangling member {}", d);
                    }
                }
                prop_assert_eq!(a.highest_usn(), before);
                let all = a.changed_since(0);
                prop_assert_eq!(all.objects.len(), a.live_objects().count());
            }
        }
    }

    /// Minimal sequence found by `uniqueness_holds_after_every_step`: after
    /// the holders of `smtp:shared@contoso.com` and of
    /// `bob@contoso.onmicrosoft.com` are hard-deleted, the background pass
    /// must hand every freed value to an object that asked for it.
    #[test]
    fn hard_deleted_holders_release_quarantined_values() {
        use Step::*;
        run(vec![
            Create {
                kind: 2,
                upn: 0,
                proxies: vec![],
            },
            Create {
                kind: 1,
                upn: 0,
                proxies: vec![],
            },
            SetProxies {
                obj: 2,
                proxies: vec![1],
            },
            Create {
                kind: 1,
                upn: 0,
                proxies: vec![2],
            },
            Create {
                kind: 0,
                upn: 2,
                proxies: vec![],
            },
            Create {
                kind: 0,
                upn: 0,
                proxies: vec![],
            },
            Create {
                kind: 0,
                upn: 0,
                proxies: vec![],
            },
            Create {
                kind: 1,
                upn: 0,
                proxies: vec![],
            },
            Create {
                kind: 0,
                upn: 2,
                proxies: vec![1],
            },
            Create {
                kind: 1,
                upn: 0,
                proxies: vec![],
            },
            HardDelete { obj: 0 },
            HardDelete { obj: 4 },
            SetUpn { obj: 0, upn: 0 },
            Resolve,
        ]);
    }
}

/// Found by `uniqueness_holds_after_every_step`: an update that sends the
/// conflicting UPN again must keep the placeholder, not take the value.
#[test]
fn resending_a_conflicting_upn_keeps_the_placeholder() {
    let mut t = tenant();
    let first = created_id(
        create(
            &mut t,
            1,
            ObjectKind::User,
            &[("UserPrincipalName", &["ann@contoso.com"])],
        )
        .unwrap(),
    );
    let second = created_id(
        create(
            &mut t,
            2,
            ObjectKind::User,
            &[("UserPrincipalName", &["ann@contoso.com"])],
        )
        .unwrap(),
    );
    let placeholder = t
        .get(&second)
        .unwrap()
        .user_principal_name()
        .unwrap()
        .to_owned();
    let a = t
        .apply(&update_op(
            3,
            &second,
            "UserPrincipalName",
            &["ann@contoso.com"],
        ))
        .unwrap();
    assert_eq!(a.quarantined.len(), 1);
    assert_eq!(
        t.get(&second).unwrap().user_principal_name(),
        Some(placeholder.as_str())
    );
    assert_eq!(t.find_by_upn("ann@contoso.com").unwrap().id, first);
}

#[test]
fn naming_attributes_change_only_by_rename() {
    let (mut a, _, sales) = ad();
    let ann = a.add_user(&sales, "Ann").unwrap();
    for name in ["cn", "Name", "ou", "distinguishedName", "isDeleted"] {
        assert_eq!(
            a.set(ann, name, [Value::str("x")]).unwrap_err(),
            AdError::ReadOnlyAttribute {
                name: name.to_owned()
            }
        );
    }
}
