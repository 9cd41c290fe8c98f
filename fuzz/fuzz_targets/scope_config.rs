//! The scoping configuration decoder: arbitrary bytes as JSON into a
//! `ScopeConfig`, then `compile`, then evaluate and explain a few objects
//! and check overlaps. Nothing may panic; explain must agree with evaluate.
#![no_main]

use idsync::anchor::Guid;
use idsync::dn::Dn;
use idsync::object::{AttrTable, Attributes, ObjectKind, Value};
use idsync::scope::{MemoryEnv, ScopeConfig, ScopedObject, check_overlaps, compile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<ScopeConfig>(data) else {
        return;
    };
    let _ = check_overlaps(&[("a", &config), ("b", &config)]);
    let mut table = AttrTable::new();
    let Ok(mut scope) = compile(&config, &mut table) else {
        return;
    };
    let mut env = MemoryEnv::new();
    let Ok(ou) = Dn::parse("OU=Staff,DC=corp") else {
        return;
    };
    env.add_container(Guid::from_u128(1), ou);
    env.add_member(Guid::from_u128(2), Guid::from_u128(3));
    let _ = scope.pin_guids(&env);
    let attrs = Attributes::new()
        .with("department", [Value::str("Sales")])
        .with("employeeNumber", [Value::str("42")])
        .with("proxyAddresses", [Value::str("SMTP:a@b.c"), Value::str("")])
        .with("flags", [Value::Int(514)])
        .with("enabled", [Value::Bool(true)]);
    let row = table.project(&attrs);
    for (dn, kind) in [
        ("CN=Ann,OU=Staff,DC=corp", ObjectKind::User),
        ("CN=G,OU=Groups,DC=corp", ObjectKind::Group),
        ("CN=C\\0ACNF:x,DC=corp", ObjectKind::Contact),
        ("CN=PC,DC=corp", ObjectKind::Unsupported),
    ] {
        let Ok(dn) = Dn::parse(dn) else {
            continue;
        };
        let obj = ScopedObject::new(Guid::from_u128(3), &dn, kind, &row);
        let decision = scope.evaluate(&obj, &env);
        let why = scope.explain(&obj, &env);
        assert_eq!(why.decision, decision);
    }
});
