//! `Expression::parse` (parse + check + compile) on any text, then
//! evaluation on a fixed object: never panics; every error points inside
//! the input and renders; whatever compiles evaluates to a value or an
//! `EvalError`, deterministically for a given seed.
#![no_main]

use idsync::expr::{EvalContext, Expression};
use idsync::object::{Attributes, Value};
use idsync::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Expression::parse(text) {
        Err(e) => {
            assert!(e.span.start <= text.len() && e.span.end <= text.len(), "{e} for {text:?}");
            assert!(e.line >= 1 && e.column >= 1);
            let _ = e.render(text);
        }
        Ok(expr) => {
            let attrs = Attributes::new()
                .with("a", [Value::str("  Zoë Ærø-Łódź  ")])
                .with("b", [Value::str("x,y"), Value::str(""), Value::str("12")])
                .with("n", [Value::str("514")])
                .with("d", [Value::str("2021-08-24T10:00:00Z")])
                .with("bin", [Value::bytes(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0])]);
            let run = || {
                let mut ctx = EvalContext::new(Timestamp::from_secs(1_700_000_000))
                    .with_seed(9)
                    .with_default_domain("contoso.com");
                expr.evaluate_attributes(&attrs, &mut ctx)
            };
            let first = run();
            assert_eq!(first, run(), "not deterministic: {text:?}");
        }
    }
});
