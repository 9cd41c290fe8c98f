//! matching/*.json: hard and soft matching against a target snapshot.

use std::path::Path;

use base64::Engine as _;
use idsync::anchor::{Guid, MatchInput, MatchOutcome, MatchingSettings, SourceAnchor, find_match};
use idsync::object::ObjectKind;
use idsync::target::{TargetId, TargetObject, TargetView, primary_smtp};
use serde_json::Value as Json;

use crate::support::{Report, array_field, str_field};

pub fn run(file: &Path, json: &Json, report: &mut Report) {
    for (i, case) in array_field(json, "cases").iter().enumerate() {
        let id = case
            .get("id")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("case {i}"));
        report.check(file, &id, check(case));
    }
}

fn kind(v: &Json) -> Result<ObjectKind, String> {
    match v.get("kind").and_then(Json::as_str) {
        Some("user") => Ok(ObjectKind::User),
        Some("group") => Ok(ObjectKind::Group),
        Some("contact") => Ok(ObjectKind::Contact),
        other => Err(format!("unknown kind {other:?}")),
    }
}

fn strings(v: &Json, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn check(case: &Json) -> Result<(), String> {
    let object = case.get("object").ok_or("no object")?;
    let expect = case.get("expect").ok_or("no expect")?;
    let want = str_field(expect, "outcome")?;
    let targets: Vec<TargetObject> = array_field(case, "target")
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(TargetObject {
                id: TargetId::new(&i.to_string()),
                kind: kind(t)?,
                immutable_id: match t.get("immutableId").and_then(Json::as_str) {
                    Some(s) => Some(s.parse().map_err(|e| format!("target immutableId: {e}"))?),
                    None => None,
                },
                user_principal_name: t
                    .get("userPrincipalName")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                proxy_addresses: strings(t, "proxyAddresses"),
                mail_enabled: t.get("mailEnabled").and_then(Json::as_bool).unwrap_or(true),
                admin_role: t.get("adminRole").and_then(Json::as_bool).unwrap_or(false),
                deleted: false,
            })
        })
        .collect::<Result<_, String>>()?;
    let view = TargetView::new(targets);
    let settings_json = case.get("settings");
    let settings = MatchingSettings {
        soft_match_on_upn: settings_json
            .and_then(|s| s.get("soft_match_on_upn"))
            .and_then(Json::as_bool)
            .unwrap_or(true),
        block_soft_match: settings_json
            .and_then(|s| s.get("block_soft_match"))
            .and_then(Json::as_bool)
            .unwrap_or(false),
    };
    let source_kind = kind(object)?;
    let anchor = Guid::parse(str_field(object, "objectGUID")?)
        .map_err(|e| e.to_string())
        .and_then(|guid| {
            let cg = match object.get("ms-DS-ConsistencyGuid").and_then(Json::as_str) {
                Some(b) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|e| format!("consistency guid: {e}"))?,
                ),
                None => None,
            };
            SourceAnchor::resolve(guid, cg.as_deref()).map_err(|e| e.to_string())
        });
    let anchor = match (anchor, want) {
        (Err(_), "error") => return Ok(()),
        (Err(e), _) => return Err(format!("anchor: {e}")),
        (Ok(_), "error") => return Err("expected the object to be malformed".into()),
        (Ok(a), _) => a,
    };
    let upn = object.get("userPrincipalName").and_then(Json::as_str);
    let proxies = strings(object, "proxyAddresses");
    let smtp = primary_smtp(proxies.iter().map(String::as_str));
    let input = MatchInput {
        kind: source_kind,
        anchor: anchor.immutable_id,
        user_principal_name: upn,
        primary_smtp: smtp,
    };
    let got = find_match(&input, &view, &settings);
    let target_index = expect
        .get("target")
        .and_then(Json::as_u64)
        .map(|n| n.to_string());
    match (want, &got) {
        ("hard", MatchOutcome::Hard(t)) if Some(t.id.as_str().to_owned()) == target_index => Ok(()),
        ("soft", MatchOutcome::Soft { target, on })
            if Some(target.id.as_str().to_owned()) == target_index
                && expect
                    .get("on")
                    .and_then(Json::as_str)
                    .is_none_or(|w| w == *on) =>
        {
            Ok(())
        }
        ("create", MatchOutcome::Create) => Ok(()),
        ("conflict", MatchOutcome::Conflict { code, .. })
            if expect
                .get("error")
                .and_then(Json::as_str)
                .is_none_or(|w| w == *code) =>
        {
            Ok(())
        }
        _ => Err(format!("expected {expect}, got {got:?}")),
    }
}
