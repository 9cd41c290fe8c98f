//! dn/*.json: RFC 4514 parsing, equality after normalization, is_under.

use std::path::Path;

use idsync::dn::Dn;
use serde_json::Value as Json;

use crate::support::{Report, array_field};

pub fn run(file: &Path, json: &Json, report: &mut Report) {
    for ok in array_field(json, "parse_ok") {
        let text = ok.as_str().unwrap_or_default();
        let outcome = Dn::parse(text)
            .map_err(|e| format!("rejected: {e}"))
            .and_then(|dn| {
                // canonical text re-parses to the same DN
                match Dn::parse(dn.as_str()) {
                    Ok(again) if again == dn => Ok(()),
                    Ok(again) => Err(format!("canonical form {again} is not equal")),
                    Err(e) => Err(format!("canonical form {dn} does not re-parse: {e}")),
                }
            });
        report.check(file, &format!("parse_ok {text:?}"), outcome);
    }
    for bad in array_field(json, "parse_err") {
        let text = bad.as_str().unwrap_or_default();
        let outcome = match Dn::parse(text) {
            Ok(dn) => Err(format!("parsed as {dn}, expected an error")),
            Err(_) => Ok(()),
        };
        report.check(file, &format!("parse_err {text:?}"), outcome);
    }
    for (key, relation) in [("equal", "equal"), ("is_under", "is_under")] {
        for case in array_field(json, key) {
            let (a, b, want) = match (case.get(0), case.get(1), case.get(2)) {
                (Some(a), Some(b), Some(w)) => (
                    a.as_str().unwrap_or_default(),
                    b.as_str().unwrap_or_default(),
                    w.as_bool().unwrap_or(false),
                ),
                _ => {
                    report.fail(file, key, format!("malformed case {case}"));
                    continue;
                }
            };
            let outcome = match (Dn::parse(a), Dn::parse(b)) {
                (Ok(x), Ok(y)) => {
                    let got = if relation == "equal" {
                        x == y
                    } else {
                        x.is_under(&y)
                    };
                    if got == want {
                        Ok(())
                    } else {
                        Err(format!("{relation}({a}, {b}) = {got}, expected {want}"))
                    }
                }
                (Err(e), _) | (_, Err(e)) => Err(format!("parse failed: {e}")),
            };
            report.check(file, &format!("{key} {a:?} {b:?}"), outcome);
        }
    }
}
