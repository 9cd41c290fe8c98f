//! The expression language: parse + check + compile (once per
//! configuration) apart from evaluation (once per object and mapping).
//! Evaluation reads a `Row` by slot, as the engine does. Each evaluation
//! group has a floor beside it: the unavoidable work of producing the same
//! output value by hand.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use idsync::expr::{CompileOptions, EvalContext, Expression, Output};
use idsync::object::{AttrTable, Row, Value};
use idsync::time::Timestamp;

const ACCOUNT_ENABLED: &str = "IIF(IsPresent([userAccountControl]), IIF(BitAnd([userAccountControl], 2)=\"0\", \"True\", \"False\"), Not([accountDisabled]))";
const UPN: &str = "IIF(IsPresent([userPrincipalName]), [userPrincipalName], IIF(IsPresent([sAMAccountName]), Join(\"@\", [sAMAccountName], %DomainFQDN%), Error(\"AccountName is not present\")))";
const JOIN: &str = "Join(\" \", [givenName], [sn])";
const REPLACE: &str = "Replace([telephoneNumber], , \"\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})\", , \"${phoneNumber}\", , )";
const DIACRITICS: &str = "NormalizeDiacritics([displayName])";

fn switch10() -> String {
    let mut s = String::from("Switch([c], \"OU=Other\"");
    for i in 0..10 {
        s.push_str(&format!(", \"C{i}\", \"OU=Country{i}\""));
    }
    s.push(')');
    s
}

fn options() -> CompileOptions {
    CompileOptions::new()
        .with_macro("DomainFQDN", "contoso.com")
        .with_macro("DomainNetBios", "CONTOSO")
}

fn parse_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("expr/parse_check");
    let sw = switch10();
    for (name, src) in [
        ("join", JOIN),
        ("account_enabled", ACCOUNT_ENABLED),
        ("upn", UPN),
        ("switch10", sw.as_str()),
        ("replace_regex", REPLACE),
    ] {
        g.throughput(Throughput::Bytes(src.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), src, |b, src| {
            let opts = options();
            b.iter(|| {
                let mut table = AttrTable::new();
                let e = Expression::compile(black_box(src), &opts, &mut table);
                assert!(e.is_ok());
                black_box(e)
            })
        });
    }
    g.finish();
}

/// Compiles `src`, fills a row, checks the result once, then times
/// evaluation against a floor that builds the same output by hand.
fn eval_group(
    c: &mut Criterion,
    group: &str,
    src: &str,
    values: &[(&str, &str)],
    expected: &str,
    floor: impl Fn(&Row, &[idsync::object::Slot]) -> Output,
) {
    let mut table = AttrTable::new();
    let e = Expression::compile(src, &options(), &mut table).expect("compiles");
    let mut row = Row::default();
    let mut slots = Vec::new();
    for (name, v) in values {
        let slot = table.intern(name).expect("slot");
        slots.push(slot);
        row.set(slot, [Value::str(v)].into_iter().collect());
    }
    let mut ctx = EvalContext::new(Timestamp::EPOCH);
    let out = e.evaluate(&row, &mut ctx).expect("evaluates");
    assert_eq!(out.first_text().as_deref(), Some(expected), "{group}");
    assert_eq!(floor(&row, &slots), out, "{group} floor");
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    g.bench_function("eval", |b| {
        b.iter(|| {
            let out = e.evaluate(black_box(&row), &mut ctx);
            black_box(out)
        })
    });
    g.bench_function("floor", |b| {
        b.iter(|| black_box(floor(black_box(&row), &slots)))
    });
    g.finish();
}

fn text(row: &Row, slot: idsync::object::Slot) -> &str {
    use idsync::object::AttrLookup;
    row.values(slot)
        .first()
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn eval(c: &mut Criterion) {
    eval_group(
        c,
        "expr/eval_join",
        JOIN,
        &[("givenName", "Ada"), ("sn", "Lovelace")],
        "Ada Lovelace",
        |row, s| {
            let (a, b) = (text(row, s[0]), text(row, s[1]));
            let mut o = String::with_capacity(a.len() + 1 + b.len());
            o.push_str(a);
            o.push(' ');
            o.push_str(b);
            Output::One(Value::Str(Arc::from(o)))
        },
    );
    let sw = switch10();
    eval_group(
        c,
        "expr/eval_switch10",
        &sw,
        &[("c", "C7")],
        "OU=Country7",
        |row, s| {
            let c = text(row, s[0]);
            let hit = (0..10)
                .find(|i| c.len() == 2 && c.as_bytes()[1] == b'0' + *i as u8 && c.starts_with('C'));
            Output::One(Value::from(match hit {
                Some(i) => format!("OU=Country{i}"),
                None => "OU=Other".to_owned(),
            }))
        },
    );
    let re = regex::Regex::new(r"\+(?<isdCode>\d* )(?<phoneNumber>\d{10})").expect("regex");
    eval_group(
        c,
        "expr/eval_replace_regex",
        REPLACE,
        &[("telephoneNumber", "+91 9998887777")],
        "9998887777",
        move |row, s| {
            Output::One(Value::from(
                re.replace_all(text(row, s[0]), "${phoneNumber}")
                    .into_owned(),
            ))
        },
    );
    eval_group(
        c,
        "expr/eval_normalize_diacritics",
        DIACRITICS,
        &[("displayName", "Zoë Ærøskøbing-Łódź")],
        "Zoe AEroeskoebing-Lodz",
        |row, s| {
            // floor: one pass over the characters with a small match, no table
            let o: String = text(row, s[0])
                .chars()
                .flat_map(|c| {
                    let r: &str = match c {
                        'ë' => "e",
                        'Æ' => "AE",
                        'ø' => "oe",
                        'Ł' => "L",
                        'ó' => "o",
                        'ź' => "z",
                        _ => return vec![c],
                    };
                    r.chars().collect()
                })
                .collect();
            Output::One(Value::from(o))
        },
    );
}

criterion_group!(benches, parse_check, eval);
criterion_main!(benches);
