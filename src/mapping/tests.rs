use super::*;
use crate::expr::EvalContext;
use crate::object::{Attributes, Row};
use crate::time::Timestamp;

fn macros() -> Macros {
    let mut m = Macros::default();
    m.0.insert("DomainFQDN".into(), "corp.example.com".into());
    m.0.insert("DomainNetBios".into(), "CORP".into());
    m
}

fn compile(kind: ObjectKind, cfg: &MappingConfig) -> (CompiledMappings, AttrTable) {
    let mut table = AttrTable::new();
    let m = CompiledMappings::compile(kind, cfg, &macros(), &mut table, "m").unwrap();
    (m, table)
}

fn eval(
    m: &CompiledMappings,
    table: &AttrTable,
    attrs: &Attributes,
    creating: bool,
) -> Result<Vec<Flow>, MappingFailure> {
    let row: Row = table.project(attrs);
    let mut ctx = EvalContext::new(Timestamp::from_secs(1_700_000_000));
    let mut out = Vec::new();
    m.evaluate(&row, &mut ctx, creating, &mut out)?;
    Ok(out)
}

fn flow_of<'a>(m: &CompiledMappings, flows: &'a [Flow], target: &str) -> &'a Flow {
    &flows[m.index_of(target).unwrap()]
}

fn s(v: &str) -> Value {
    Value::str(v)
}

#[test]
fn every_default_set_compiles() {
    for kind in [ObjectKind::User, ObjectKind::Group, ObjectKind::Contact] {
        let (m, _) = compile(kind, &MappingConfig::default());
        assert_eq!(m.len(), default_mappings(kind).len(), "{kind}");
    }
}

#[test]
fn default_user_mappings_evaluate() {
    let (m, table) = compile(ObjectKind::User, &MappingConfig::default());
    let attrs = Attributes::new()
        .with("userPrincipalName", [s("ann@contoso.com")])
        .with("givenName", [s("  Ann ")])
        .with("sn", [s("Lee")])
        .with("displayName", [s("Ann Lee")])
        .with("userAccountControl", [Value::Int(514)])
        .with(
            "proxyAddresses",
            [
                s("SMTP:ann@contoso.com"),
                s(" smtp:a@contoso.com"),
                s("SMTP:ann@contoso.com"),
            ],
        )
        .with("sAMAccountName", [s("ann")]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(
        flow_of(&m, &flows, "GivenName"),
        &Flow::Set([s("Ann")].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "AccountEnabled"),
        &Flow::Set([Value::Bool(false)].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "dnsDomainName"),
        &Flow::Set([s("corp.example.com")].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "netBiosName"),
        &Flow::Set([s("CORP")].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "ProxyAddresses"),
        &Flow::Set(
            [s("SMTP:ann@contoso.com"), s("smtp:a@contoso.com")]
                .into_iter()
                .collect()
        )
    );
    assert_eq!(flow_of(&m, &flows, "Mail"), &Flow::Unset);
    // no UPN: sAMAccountName@<domain> (the stored schema's hidden macro)
    let attrs = Attributes::new().with("sAMAccountName", [s("bob")]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(
        flow_of(&m, &flows, "UserPrincipalName"),
        &Flow::Set([s("bob@corp.example.com")].into_iter().collect())
    );
    // neither: the mapping's Error() fails the object alone
    let err = eval(&m, &table, &Attributes::new(), true).unwrap_err();
    assert!(err.message.contains("AccountName is not present"), "{err}");
    assert!(!err.format);
}

#[test]
fn enabled_account_maps_to_true() {
    let (m, table) = compile(ObjectKind::User, &MappingConfig::default());
    let attrs = Attributes::new()
        .with("userPrincipalName", [s("a@b.c")])
        .with("userAccountControl", [Value::Int(512)]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(
        flow_of(&m, &flows, "AccountEnabled"),
        &Flow::Set([Value::Bool(true)].into_iter().collect())
    );
}

#[test]
fn custom_mappings_override_and_add() {
    let cfg = MappingConfig {
        custom: vec![
            AttributeMapping::expression("DisplayName", r#"Join(" ", [givenName], [sn])"#),
            AttributeMapping::direct(
                "extension_0123456789abcdef0123456789abcdef_costCenter",
                "costCenter",
            ),
            AttributeMapping {
                apply: ApplyWhen::OnCreate,
                ..AttributeMapping::constant("UsageLocation", "US")
            },
            AttributeMapping {
                default_value: Some("Unknown".into()),
                ..AttributeMapping::direct("Department", "department")
            },
        ],
        ..MappingConfig::default()
    };
    let (m, table) = compile(ObjectKind::User, &cfg);
    assert_eq!(m.len(), 137);
    let attrs = Attributes::new()
        .with("userPrincipalName", [s("a@b.c")])
        .with("givenName", [s("Ann")])
        .with("sn", [s("Lee")])
        .with("costCenter", [s("42")]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(
        flow_of(&m, &flows, "DisplayName"),
        &Flow::Set([s("Ann Lee")].into_iter().collect())
    );
    assert_eq!(
        flow_of(
            &m,
            &flows,
            "extension_0123456789abcdef0123456789abcdef_costCenter"
        ),
        &Flow::Set([s("42")].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "UsageLocation"),
        &Flow::Set([s("US")].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "Department"),
        &Flow::Set([s("Unknown")].into_iter().collect())
    );
    // on update the apply-on-create mapping does not flow
    let flows = eval(&m, &table, &attrs, false).unwrap();
    assert_eq!(flow_of(&m, &flows, "UsageLocation"), &Flow::Ignore);
}

#[test]
fn values_that_do_not_fit_fail_the_object() {
    let cfg = MappingConfig {
        use_defaults: false,
        custom: vec![
            AttributeMapping::direct("GivenName", "givenName"),
            AttributeMapping::direct("AccountEnabled", "flag"),
        ],
        remove: vec![],
    };
    let (m, table) = compile(ObjectKind::User, &cfg);
    let long = "x".repeat(65);
    let err = eval(
        &m,
        &table,
        &Attributes::new().with("givenName", [s(&long)]),
        true,
    )
    .unwrap_err();
    assert_eq!(err.target, "GivenName");
    assert!(
        err.format && err.message.contains("longer than 64"),
        "{err}"
    );
    let err = eval(
        &m,
        &table,
        &Attributes::new().with("flag", [s("maybe")]),
        true,
    )
    .unwrap_err();
    assert_eq!(err.target, "AccountEnabled");
    assert!(err.format);
    let ok = eval(
        &m,
        &table,
        &Attributes::new().with("flag", [s("TRUE")]),
        true,
    )
    .unwrap();
    assert_eq!(
        flow_of(&m, &ok, "AccountEnabled"),
        &Flow::Set([Value::Bool(true)].into_iter().collect())
    );
}

#[test]
fn configuration_errors_name_the_mapping() {
    let mut table = AttrTable::new();
    let bad = |custom: Vec<AttributeMapping>| {
        CompiledMappings::compile(
            ObjectKind::User,
            &MappingConfig {
                use_defaults: true,
                custom,
                remove: vec![],
            },
            &macros(),
            &mut AttrTable::new(),
            "configurations[0].mappings.user",
        )
        .unwrap_err()
    };
    let e = bad(vec![
        AttributeMapping::direct("Title", "title"),
        AttributeMapping::direct("title", "description"),
    ]);
    assert!(matches!(e, MappingError::Duplicate { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "configurations[0].mappings.user.custom[1]: target attribute title is already mapped by configurations[0].mappings.user.custom[0]"
    );
    let e = bad(vec![AttributeMapping::direct("Nonsense", "title")]);
    assert!(matches!(e, MappingError::UnknownTarget { .. }), "{e}");
    let e = bad(vec![AttributeMapping::direct("ObjectId", "title")]);
    assert!(matches!(e, MappingError::ReadOnly { .. }), "{e}");
    let e = bad(vec![AttributeMapping::expression(
        "Title",
        "Jion([a], [b])",
    )]);
    assert!(
        e.to_string()
            .starts_with("configurations[0].mappings.user.custom[0]: expression"),
        "{e}"
    );
    let e = bad(vec![AttributeMapping::constant("Title", "%NoSuchMacro%")]);
    assert!(
        e.to_string()
            .contains("unknown configuration macro %NoSuchMacro%"),
        "{e}"
    );
    let e = bad(vec![AttributeMapping::constant(
        "AccountEnabled",
        "perhaps",
    )]);
    assert!(matches!(e, MappingError::Value { .. }), "{e}");
    // removing a default frees its target for nothing else; the set shrinks
    let m = CompiledMappings::compile(
        ObjectKind::User,
        &MappingConfig {
            use_defaults: true,
            custom: vec![],
            remove: vec!["Info".into()],
        },
        &macros(),
        &mut table,
        "m",
    )
    .unwrap();
    assert_eq!(m.len(), 135);
    assert!(m.index_of("Info").is_none());
}

#[test]
fn extension_names() {
    assert!(is_extension_name(
        "extension_0123456789abcdef0123456789abcdef_costCenter"
    ));
    assert!(!is_extension_name("extension_0123_costCenter"));
    assert!(!is_extension_name(
        "extension_0123456789abcdef0123456789abcdef_"
    ));
    assert!(!is_extension_name("costCenter"));
}

#[test]
fn group_defaults_compute_security_and_mail_flags() {
    let (m, table) = compile(ObjectKind::Group, &MappingConfig::default());
    let attrs = Attributes::new()
        .with("cn", [s("Sales")])
        .with("groupType", [Value::Int(-2147483646)])
        .with("proxyAddresses", [s("SMTP:sales@contoso.com")]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(
        flow_of(&m, &flows, "DisplayName"),
        &Flow::Set([s("Sales")].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "SecurityEnabled"),
        &Flow::Set([Value::Bool(true)].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "MailEnabled"),
        &Flow::Set([Value::Bool(true)].into_iter().collect())
    );
    let attrs = Attributes::new()
        .with("cn", [s("Dist")])
        .with("groupType", [Value::Int(2)]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(
        flow_of(&m, &flows, "SecurityEnabled"),
        &Flow::Set([Value::Bool(false)].into_iter().collect())
    );
    assert_eq!(
        flow_of(&m, &flows, "MailEnabled"),
        &Flow::Set([Value::Bool(false)].into_iter().collect())
    );
}

mod shortcuts {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn text_values_are_the_display_form(
            b in prop::collection::vec(any::<u8>(), 0..80),
            i in any::<i64>(),
        ) {
            for v in [Value::bytes(&b), Value::Int(i), Value::Int(i64::MIN), Value::Bool(i > 0)] {
                prop_assert_eq!(text_value(&v), Value::from(v.to_string()));
            }
        }
    }

    /// A lookup that cannot list its slots.
    struct Unlisted<'a>(&'a Row);

    impl AttrLookup for Unlisted<'_> {
        fn values(&self, slot: crate::object::Slot) -> &[Value] {
            self.0.values(slot)
        }
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec![
                "",
                " ",
                "ann",
                " ann ",
                "True",
                "false",
                "5",
                " 7 ",
                "CN=x,DC=y",
                "a b",
            ])
            .prop_map(Value::str),
            (-3i64..600).prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            prop::collection::vec(any::<u8>(), 0..17).prop_map(|b| Value::bytes(&b)),
        ]
    }

    fn config() -> MappingConfig {
        MappingConfig {
            custom: vec![
                AttributeMapping::expression("DisplayName", r#"Join(" ", [givenName], [sn])"#),
                AttributeMapping {
                    default_value: Some("Unknown".into()),
                    ..AttributeMapping::direct("Department", "department")
                },
                AttributeMapping {
                    default_value: Some("Nowhere".into()),
                    ..AttributeMapping::expression("City", "Trim([l])")
                },
                AttributeMapping {
                    apply: ApplyWhen::OnCreate,
                    ..AttributeMapping::constant("UsageLocation", "US")
                },
                AttributeMapping::expression(
                    "ExtensionAttribute1",
                    r#"Join("@", [sAMAccountName], DefaultDomain())"#,
                ),
                AttributeMapping::expression(
                    "ExtensionAttribute2",
                    r#"IIF(IsPresent([sn]), "x", Guid())"#,
                ),
            ],
            ..MappingConfig::default()
        }
    }

    proptest! {
        /// Shortcuts (the all-absent flow computed at compile time, direct
        /// values shared, already-trimmed values passed on) never change a
        /// mapping's flow or failure.
        #[test]
        fn shortcuts_give_the_full_evaluation(
            present in prop::collection::vec((0usize..200, prop::collection::vec(value(), 1..3)), 0..30),
            creating in any::<bool>(),
            domain in any::<bool>(),
        ) {
            for (kind, cfg) in [
                (ObjectKind::User, config()),
                (ObjectKind::User, MappingConfig::default()),
                (ObjectKind::Group, MappingConfig::default()),
                (ObjectKind::Contact, MappingConfig::default()),
            ] {
                let (m, table) = compile(kind, &cfg);
                let mut row = Row::default();
                for (i, vals) in &present {
                    let slot = crate::object::Slot((i % table.len()) as u16);
                    row.set(slot, vals.iter().cloned().collect());
                }
                let new_ctx = || {
                    let c = EvalContext::new(Timestamp::from_secs(1_700_000_000)).with_seed(9);
                    if domain { c.with_default_domain("contoso.com") } else { c }
                };
                for c in &m.mappings {
                    let full = if c.apply == ApplyWhen::OnCreate && !creating {
                        Ok(Flow::Ignore)
                    } else {
                        c.flow(&row, &mut new_ctx())
                    };
                    prop_assert_eq!(&c.quick_flow(&row, &mut new_ctx(), creating), &full, "{}", c.path);
                    prop_assert_eq!(&c.quick_flow(&Unlisted(&row), &mut new_ctx(), creating), &full, "{}", c.path);
                }
            }
        }
    }
}

#[test]
fn attributes_past_the_presence_bitmap_are_searched() {
    let mut table = AttrTable::new();
    for i in 0..300 {
        table.intern(&format!("filler{i}")).unwrap();
    }
    let cfg = MappingConfig {
        use_defaults: false,
        custom: vec![
            AttributeMapping::direct("Department", "department"),
            AttributeMapping::expression("City", "Trim([l])"),
            AttributeMapping::expression("Title", r#"Join(" ", [title], [filler3])"#),
        ],
        ..MappingConfig::default()
    };
    let m = CompiledMappings::compile(ObjectKind::User, &cfg, &macros(), &mut table, "m").unwrap();
    assert!(table.get("department").unwrap().0 >= 300);
    let attrs = Attributes::new()
        .with("department", [s("Sales")])
        .with("l", [s(" Oslo ")])
        .with("title", [s("Boss")]);
    let flows = eval(&m, &table, &attrs, true).unwrap();
    assert_eq!(flows[0], Flow::Set([s("Sales")].into_iter().collect()));
    assert_eq!(flows[1], Flow::Set([s("Oslo")].into_iter().collect()));
    assert_eq!(flows[2], Flow::Set([s("Boss")].into_iter().collect()));
    let flows = eval(&m, &table, &Attributes::new(), true).unwrap();
    // a join of nothing is "", and an empty string flows as no value
    assert_eq!(flows, vec![Flow::Unset, Flow::Unset, Flow::Unset]);
}

#[test]
fn evaluate_changed_skips_the_mappings_that_read_no_changed_attribute() {
    let cfg = MappingConfig {
        custom: vec![
            AttributeMapping::expression("DisplayName", r#"Join(" ", [givenName], [sn])"#),
            AttributeMapping::expression("Title", "Now()"),
        ],
        ..MappingConfig::default()
    };
    let (m, mut table) = compile(ObjectKind::User, &cfg);
    let attrs = Attributes::new()
        .with("userPrincipalName", [s("ann@contoso.com")])
        .with("sAMAccountName", [s("ann")])
        .with("givenName", [s("Ann")])
        .with("sn", [s("Lee")])
        .with("department", [s("Sales")])
        .with(
            "manager",
            [Value::Dn(crate::dn::Dn::parse("CN=Boss,DC=corp").unwrap())],
        );
    let row: Row = table.project(&attrs);
    let mut ctx = EvalContext::new(Timestamp::from_secs(1_700_000_000));
    let mut all = Vec::new();
    m.evaluate(&row, &mut ctx, false, &mut all).unwrap();
    let mut changed = SlotSet::new();
    changed.insert(table.intern("sn").unwrap());
    let mut some = Vec::new();
    m.evaluate_changed(&row, &mut ctx, &changed, &mut some)
        .unwrap();
    assert_eq!(some.len(), all.len());
    for (i, (a, b)) in all.iter().zip(&some).enumerate() {
        let t = m.target(i).unwrap();
        let reads_sn = t.name.is("DisplayName") || t.name.is("Surname");
        // The clock and references to other objects are always evaluated.
        let always = t.name.is("Title") || t.ty == TargetType::Reference;
        if reads_sn || always {
            assert_eq!(a, b, "{} is evaluated", t.name);
        } else {
            assert_eq!(*b, Flow::Ignore, "{} reads no changed attribute", t.name);
        }
    }
    assert!(matches!(flow_of(&m, &some, "DisplayName"), Flow::Set(v) if v[0] == s("Ann Lee")));
    assert!(matches!(flow_of(&m, &some, "Department"), Flow::Ignore));
    assert!(matches!(flow_of(&m, &some, "Manager"), Flow::Set(_)));
    assert!(matches!(flow_of(&m, &some, "Title"), Flow::Set(_)));
    // Every slot changed: the same flows as a full evaluation, constants
    // aside.
    let mut every = SlotSet::new();
    for i in 0..=u16::MAX {
        if table.names().len() <= usize::from(i) {
            break;
        }
        every.insert(crate::object::Slot(i));
    }
    m.evaluate_changed(&row, &mut ctx, &every, &mut some)
        .unwrap();
    for (i, (a, b)) in all.iter().zip(&some).enumerate() {
        // A constant reads nothing: it never changes.
        if m.mappings[i].slots.is_empty() && !matches!(m.mappings[i].quick, Quick::Eval) {
            assert_eq!(*b, Flow::Ignore);
        } else {
            assert_eq!(a, b, "{}", m.mappings[i].target.name);
        }
    }
}

#[test]
fn slot_sets_hold_what_was_inserted_and_everything_past_the_bitmap() {
    use crate::object::Slot;
    let mut a = SlotSet::new();
    assert!(!a.contains(Slot(0)));
    a.insert(Slot(3));
    a.insert(Slot(200));
    assert!(a.contains(Slot(3)) && a.contains(Slot(200)));
    assert!(!a.contains(Slot(4)) && !a.contains(Slot(64 + 3)));
    assert!(a.contains_any(&[Slot(9), Slot(200)]));
    assert!(!a.contains_any(&[Slot(9), Slot(10)]));
    let mut b = SlotSet::new();
    b.insert(Slot(9));
    a.extend(&b);
    assert!(a.contains(Slot(9)));
    // A slot past the bitmap: never a missed change.
    let mut c = SlotSet::new();
    c.insert(Slot(300));
    assert!(c.contains(Slot(0)) && c.contains(Slot(300)));
    b.extend(&c);
    assert!(b.contains(Slot(12)));
}
