//! The printer: for any text that parses, `print(parse(s))` parses to an
//! equal tree and printing that tree again gives the same text.
#![no_main]

use idsync::expr::{ExprLimits, parse_ast};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = ExprLimits::default();
    let Ok(ast) = parse_ast(text, &limits) else {
        return;
    };
    let printed = ast.to_string();
    let again = match parse_ast(&printed, &limits) {
        Ok(a) => a,
        Err(e) => panic!("printed form of {text:?} does not parse:\n{}", e.render(&printed)),
    };
    assert_eq!(again, ast, "printed {printed:?} of {text:?} parses to another tree");
    assert_eq!(again.to_string(), printed);
});
