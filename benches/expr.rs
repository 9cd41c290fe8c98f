//! Expressions: parse+check (compile) and evaluation measured separately,
//! and the Common Expression Language as a peer in the same group.
//!
//! - `expr/compile_*` and `expr/eval_*` for `Join(" ", [givenName], [sn])`,
//!   a `Switch` over 10 cases, `Replace` with a regex, `NormalizeDiacritics`;
//! - `expr/eval_default_user_mappings`: the default user mapping set (136
//!   mappings) evaluated for one realistic user row (throughput: objects);
//! - `expr/cel_compile_join` and `expr/cel_eval_join`: the equivalent CEL
//!   expression `givenName + " " + sn` with the same two variables, by the
//!   `cel-interpreter` crate (a dev-dependency used by this bench only).
//!
//! The target: compiled `Join` evaluation >= 10,000,000 per second and at
//! least 3x faster than CEL's evaluation on the same machine in the same run.
//! Each timed `Join` evaluation builds its result as a mapping gets it (a
//! new `Value::Str` holding "José Müller") and drops it, as CEL's does.
//! The mapping set reads a `Row`, which lists its present slots
//! (`AttrLookup::for_each_present`); a lookup that cannot list them pays
//! one search per attribute the set reads.

use std::hint::black_box;

use cel_interpreter::{Context, Program};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idsync::expr::{CompileOptions, EvalContext, Expression, Output};
use idsync::object::{AttrTable, Attributes, ObjectKind, Value};
use idsync::time::Timestamp;

mod support;

const JOIN: &str = r#"Join(" ", [givenName], [sn])"#;
const SWITCH: &str = r#"Switch([c], "Unknown", "US", "United States", "DE", "Germany", "PT", "Portugal", "JP", "Japan", "FR", "France", "GB", "United Kingdom", "IT", "Italy", "ES", "Spain", "NL", "Netherlands", "SE", "Sweden")"#;
const REPLACE: &str = r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{3} \\d{3} \\d{4})", , "${phoneNumber}", , )"#;
const DIACRITICS: &str = r#"NormalizeDiacritics([displayName])"#;

fn user() -> Attributes {
    Attributes::new()
        .with("givenName", [Value::str("José")])
        .with("sn", [Value::str("Müller")])
        .with("displayName", [Value::str("José Müller-Łukasiewicz")])
        .with("c", [Value::str("SE")])
        .with("telephoneNumber", [Value::str("+1 425 555 0100")])
}

fn expressions(c: &mut Criterion) {
    let now = Timestamp::EPOCH;
    let attrs = user();
    let mut group = c.benchmark_group("expr");
    group.throughput(Throughput::Elements(1));
    for (name, src) in [
        ("join", JOIN),
        ("switch10", SWITCH),
        ("replace_regex", REPLACE),
        ("normalize_diacritics", DIACRITICS),
    ] {
        let opts = CompileOptions::default();
        group.bench_function(format!("compile_{name}"), |b| {
            b.iter(|| {
                let mut table = AttrTable::new();
                Expression::compile(black_box(src), &opts, &mut table).expect("compiles")
            })
        });
        let mut table = AttrTable::new();
        let e = Expression::compile(src, &opts, &mut table).expect("compiles");
        let row = table.project(&attrs);
        let mut ctx = EvalContext::new(now);
        let out = e.evaluate(&row, &mut ctx).expect("evaluates");
        assert!(matches!(out, Output::One(_)), "{name}: {out:?}");
        println!("expr/{name}: {out:?}");
        group.bench_function(format!("eval_{name}"), |b| {
            b.iter(|| e.evaluate(black_box(&row), &mut ctx).expect("evaluates"))
        });
    }

    // The CEL peer: the same join with the same two variables.
    let cel_src = r#"givenName + " " + sn"#;
    group.bench_function("cel_compile_join", |b| {
        b.iter(|| Program::compile(black_box(cel_src)).expect("compiles"))
    });
    let program = Program::compile(cel_src).expect("compiles");
    let mut cel_ctx = Context::default();
    cel_ctx.add_variable_from_value("givenName", "José");
    cel_ctx.add_variable_from_value("sn", "Müller");
    let out = program.execute(&cel_ctx).expect("executes");
    println!("expr/cel_join: {out:?}");
    group.bench_function("cel_eval_join", |b| {
        b.iter(|| program.execute(black_box(&cel_ctx)).expect("executes"))
    });

    // The default user mapping set, as the engine evaluates it per object.
    let engine = idsync::engine::Engine::new(&support::config()).expect("compiles");
    let cfg = engine.config();
    let mappings = cfg.mappings(ObjectKind::User).expect("user mappings");
    let (batch, _) = support::full_read_with(0xe4, 1, 0, 0, false);
    let row = batch
        .records
        .iter()
        .find_map(|r| match r {
            idsync::change::Change::Add { attributes, dn, .. }
                if dn.rdn().is_some_and(|r| r.starts_with("CN=")) =>
            {
                Some(cfg.table().project(attributes))
            }
            _ => None,
        })
        .expect("a user");
    let mut ctx = EvalContext::new(now).with_default_domain("corp.example.com");
    let mut out = Vec::new();
    mappings
        .evaluate(&row, &mut ctx, true, &mut out)
        .expect("the default mappings evaluate");
    println!("expr/default_user_mappings: {} mappings", out.len());
    group.bench_function("eval_default_user_mappings", |b| {
        b.iter(|| {
            mappings
                .evaluate(black_box(&row), &mut ctx, true, &mut out)
                .expect("evaluates");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, expressions);
criterion_main!(benches);
