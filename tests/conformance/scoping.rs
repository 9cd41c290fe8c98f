//! scoping/*.json: user-defined attribute filters (built-in exclusions off),
//! checked through the public configuration path: the case's filter becomes
//! the user filter of a configuration, which is compiled and evaluated.

use std::path::Path;

use idsync::anchor::Guid;
use idsync::dn::Dn;
use idsync::object::{AttrTable, Attributes, ObjectKind, Value};
use idsync::scope::{AttributeFilter, KindFilters, MemoryEnv, ScopeConfig, ScopedObject, compile};
use serde_json::Value as Json;

use crate::support::{Report, array_field, str_field};

pub fn run(file: &Path, json: &Json, report: &mut Report) {
    for case in array_field(json, "cases") {
        let id = str_field(case, "id").unwrap_or("?").to_owned();
        report.check(file, &id, run_case(case));
    }
}

fn attributes(json: Option<&Json>) -> Result<Attributes, String> {
    let mut attrs = Attributes::new();
    let Some(map) = json.and_then(Json::as_object) else {
        return Ok(attrs);
    };
    for (name, v) in map {
        let values: Vec<Value> = match v {
            Json::String(s) => vec![Value::str(s)],
            Json::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(Value::str)
                        .ok_or_else(|| format!("{name}: not a string: {i}"))
                })
                .collect::<Result<_, _>>()?,
            other => return Err(format!("{name}: unexpected attribute value {other}")),
        };
        attrs.set(name.as_str(), values);
    }
    Ok(attrs)
}

fn run_case(case: &Json) -> Result<(), String> {
    let expect = case.get("expect").ok_or("case has no expect")?;
    let want_error = expect.get("error").and_then(Json::as_str) == Some("config");
    let want_in = expect.as_bool();
    if !want_error && want_in.is_none() {
        return Err(format!("unknown expect {expect}"));
    }
    let filter = case.get("filter").cloned().unwrap_or(Json::Null);
    let compiled = serde_json::from_value::<AttributeFilter>(filter)
        .map_err(|e| format!("filter does not deserialize: {e}"))
        .and_then(|filter| {
            let config = ScopeConfig {
                kinds: vec![ObjectKind::User],
                filters: KindFilters {
                    user: Some(filter),
                    ..KindFilters::default()
                },
                builtin_exclusions: false,
                ..ScopeConfig::default()
            };
            let mut table = AttrTable::new();
            compile(&config, &mut table)
                .map(|scope| (scope, table))
                .map_err(|e| e.to_string())
        });
    let (scope, table) = match (compiled, want_error) {
        (Err(_), true) => return Ok(()),
        (Ok(_), true) => return Err("configuration accepted, expected a config error".to_owned()),
        (Err(e), false) => return Err(format!("configuration rejected: {e}")),
        (Ok(x), false) => x,
    };
    let row = table.project(&attributes(case.get("attributes"))?);
    let dn = Dn::parse("CN=Case,OU=Vectors,DC=example,DC=com").map_err(|e| e.to_string())?;
    let obj = ScopedObject::new(Guid::from_u128(1), &dn, ObjectKind::User, &row);
    let env = MemoryEnv::new();
    let decision = scope.evaluate(&obj, &env);
    let explanation = scope.explain(&obj, &env);
    if explanation.decision != decision {
        return Err(format!(
            "explain says {:?}, evaluate {decision:?}",
            explanation.decision
        ));
    }
    match want_in {
        Some(want) if want == decision.is_in() => Ok(()),
        _ => Err(format!(
            "got {decision:?} ({}), expected {expect}",
            explanation.summary
        )),
    }
}
