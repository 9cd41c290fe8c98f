//! expressions/*.json: parse + check, evaluate on the case's attributes at
//! the case's `now`, compare with `expect` (value, array, null, parse or
//! eval error, or the shape of a non-deterministic result).

use std::path::Path;

use idsync::expr::{EvalContext, Expression, Output};
use idsync::object::{Attributes, Value};
use idsync::time::Timestamp;
use serde_json::Value as Json;

use crate::support::{Report, array_field, str_field};

/// The default domain the runner's tenant has (for `DefaultDomain()`).
const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";

pub fn run(file: &Path, json: &Json, report: &mut Report) {
    for case in array_field(json, "cases") {
        let id = case
            .get("id")
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_owned();
        report.check(file, &id, run_case(case));
    }
}

fn attributes(case: &Json) -> Result<Attributes, String> {
    let mut attrs = Attributes::new();
    let Some(obj) = case.get("attributes").and_then(Json::as_object) else {
        return Ok(attrs);
    };
    for (name, v) in obj {
        let values: Vec<Value> = match v {
            Json::String(s) => vec![Value::str(s)],
            Json::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(Value::str)
                        .ok_or_else(|| format!("attribute {name}: non-string value"))
                })
                .collect::<Result<_, _>>()?,
            other => return Err(format!("attribute {name}: unsupported JSON {other}")),
        };
        // a present-but-empty multi-valued attribute is still present
        attrs.set(name.as_str(), values);
    }
    Ok(attrs)
}

fn run_case(case: &Json) -> Result<(), String> {
    let src = str_field(case, "expression")?;
    let expect = case.get("expect").ok_or("case has no expect")?;
    let now = match case.get("now").and_then(Json::as_str) {
        Some(t) => Timestamp::parse_rfc3339(t).map_err(|e| format!("bad now: {e}"))?,
        None => Timestamp::parse_rfc3339("2024-05-06T07:08:09Z").map_err(|e| e.to_string())?,
    };
    let wants_parse_error = expect.get("error").and_then(Json::as_str) == Some("parse");
    let expr = match Expression::parse(src) {
        Ok(e) if wants_parse_error => return Err(format!("parsed as {e}; expected a parse error")),
        Ok(e) => e,
        Err(e) if wants_parse_error => {
            return if e.line >= 1 && e.column >= 1 {
                Ok(())
            } else {
                Err(format!("parse error without a position: {e}"))
            };
        }
        Err(e) => return Err(format!("rejected:\n{}", e.render(src))),
    };
    // the printed form must mean the same
    let printed = expr.to_string();
    match Expression::parse(&printed) {
        Ok(again) if again.ast() == expr.ast() => {}
        Ok(_) => return Err(format!("printed form {printed:?} parses to another tree")),
        Err(e) => return Err(format!("printed form {printed:?} does not parse: {e}")),
    }
    let attrs = attributes(case)?;
    let mut ctx = EvalContext::new(now)
        .with_seed(42)
        .with_default_domain(TENANT_DOMAIN);
    let out = expr.evaluate_attributes(&attrs, &mut ctx);
    let texts = |o: &Output| o.values().iter().map(Value::to_string).collect::<Vec<_>>();
    match (expect, &out) {
        (Json::String(want), Ok(o @ Output::One(v))) => {
            if v.to_string() == *want {
                Ok(())
            } else {
                Err(format!("got {:?}, expected {want:?}", texts(o)))
            }
        }
        (Json::Object(m), _) if m.contains_key("array") => {
            let want: Vec<String> = m["array"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            match &out {
                Ok(o @ (Output::Many(_) | Output::One(_))) if texts(o) == want => Ok(()),
                other => Err(format!("got {other:?}, expected array {want:?}")),
            }
        }
        (Json::Object(m), _) if m.contains_key("null") => match &out {
            Ok(Output::Null | Output::IgnoreFlow) => Ok(()),
            other => Err(format!("got {other:?}, expected no value")),
        },
        (Json::Object(m), _) if m.get("error").and_then(Json::as_str) == Some("eval") => match &out
        {
            Err(_) => Ok(()),
            Ok(o) => Err(format!("got {o:?}, expected an evaluation error")),
        },
        (Json::Object(m), Ok(Output::One(v))) if m.contains_key("shape") => {
            let shape = m["shape"].as_str().unwrap_or("");
            let note = case.get("note").and_then(Json::as_str).unwrap_or("");
            check_shape(shape, &v.to_string(), src, note, now)
        }
        (_, other) => Err(format!("got {other:?}, expected {expect}")),
    }
}

fn check_shape(
    shape: &str,
    got: &str,
    src: &str,
    _note: &str,
    now: Timestamp,
) -> Result<(), String> {
    let ok = match shape {
        "guid" => {
            let parts: Vec<&str> = got.split('-').collect();
            parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
                && got
                    .chars()
                    .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        }
        "datetime-us" => {
            let c = now.to_civil();
            let (h12, ampm) = match c.hour {
                0 => (12, "AM"),
                1..=11 => (c.hour, "AM"),
                12 => (12, "PM"),
                h => (h - 12, "PM"),
            };
            got == format!(
                "{}/{}/{} {}:{:02}:{:02} {}",
                c.month, c.day, c.year, h12, c.minute, c.second, ampm
            )
        }
        "domain" => got == TENANT_DOMAIN,
        "random-string" => random_string_ok(src, got),
        other => return Err(format!("unknown shape {other:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{got:?} does not have the shape {shape}"))
    }
}

/// Checks a RandomString result against the call's own arguments:
/// length and per-class minimums, and no avoided character.
fn random_string_ok(src: &str, got: &str) -> bool {
    let Some(start) = src.find("RandomString(") else {
        return false;
    };
    let inner = &src[start + "RandomString(".len()..];
    let Some(end) = inner.find(')') else {
        return false;
    };
    let args: Vec<&str> = inner[..end].splitn(6, ',').map(str::trim).collect();
    let n = |i: usize| {
        args.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let avoid = args.get(5).map(|a| a.trim_matches('"')).unwrap_or("");
    let count = |f: fn(&char) -> bool| got.chars().filter(f).count();
    got.chars().count() == n(0)
        && count(char::is_ascii_digit) >= n(1)
        && count(|c| !c.is_ascii_alphanumeric()) >= n(2)
        && count(char::is_ascii_uppercase) >= n(3)
        && count(char::is_ascii_lowercase) >= n(4)
        && !got.chars().any(|c| avoid.contains(c))
}
