//! guid/*.json: GUID text forms, AD byte order, ImmutableId.

use std::path::Path;

use idsync::anchor::{Guid, ImmutableId};
use serde_json::Value as Json;

use crate::support::{Report, array_field, str_field};

pub fn run(file: &Path, json: &Json, report: &mut Report) {
    for (i, case) in array_field(json, "cases").iter().enumerate() {
        let id = case
            .get("guid")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("case {i}"));
        report.check(file, &id, check_case(case));
    }
    for bad in array_field(json, "invalid") {
        let text = bad.as_str().unwrap_or_default();
        let outcome = match Guid::parse(text) {
            Ok(g) => Err(format!("parsed as {g}, expected an error")),
            Err(_) => Ok(()),
        };
        report.check(file, &format!("invalid {text:?}"), outcome);
    }
}

fn check_case(case: &Json) -> Result<(), String> {
    let text = str_field(case, "guid")?;
    let g = Guid::parse(text).map_err(|e| format!("parse {text}: {e}"))?;
    let braced = str_field(case, "guid_upper_braced")?;
    let g2 = Guid::parse(braced).map_err(|e| format!("parse {braced}: {e}"))?;
    if g != g2 {
        return Err(format!("{braced} parsed to {g2}, expected {g}"));
    }
    if g.to_string() != text {
        return Err(format!("displayed as {g}, expected {text}"));
    }
    let hex = str_field(case, "ldap_bytes_hex")?;
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad hex in vector: {e}"))?;
    let from_bytes = Guid::from_ad_bytes(&bytes).map_err(|e| e.to_string())?;
    if from_bytes != g {
        return Err(format!("ldap bytes decode to {from_bytes}, expected {g}"));
    }
    if g.to_ad_bytes().as_slice() != bytes.as_slice() {
        return Err(format!(
            "encoded bytes {:02x?}, expected {hex}",
            g.to_ad_bytes()
        ));
    }
    let iid = str_field(case, "immutable_id")?;
    if g.immutable_id().to_string() != iid {
        return Err(format!("immutable id {}, expected {iid}", g.immutable_id()));
    }
    let parsed: ImmutableId = iid.parse().map_err(|e| format!("{e}"))?;
    if parsed.guid() != g {
        return Err(format!(
            "immutable id decodes to {}, expected {g}",
            parsed.guid()
        ));
    }
    Ok(())
}
