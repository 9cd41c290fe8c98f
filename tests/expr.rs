//! The expression language through its public API: every function with
//! absent, empty and multi-valued inputs, errors with positions, limits,
//! purity, the cloud sync default user mappings, and printer round trips.

use idsync::expr::{
    CompileOptions, EvalContext, EvalError, ExprErrorKind, ExprLimits, Expression, NoConflicts,
    Output, parse_ast,
};
use idsync::object::{AttrTable, Attributes, Row, Value};
use idsync::time::Timestamp;
use proptest::prelude::*;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2021-07-02T15:33:38Z").unwrap()
}

fn attrs(list: &[(&str, &[&str])]) -> Attributes {
    let mut a = Attributes::new();
    for (n, vs) in list {
        a.set(*n, vs.iter().map(|v| Value::str(v)));
    }
    a
}

fn ev(src: &str, list: &[(&str, &[&str])]) -> Result<Output, EvalError> {
    let e = Expression::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src)));
    e.evaluate_attributes(
        &attrs(list),
        &mut EvalContext::new(now()).with_default_domain("contoso.com"),
    )
}

/// The single value as text; panics on anything else.
fn s(src: &str, list: &[(&str, &[&str])]) -> String {
    match ev(src, list) {
        Ok(Output::One(v)) => v.to_string(),
        other => panic!("{src}: expected one value, got {other:?}"),
    }
}

fn many(src: &str, list: &[(&str, &[&str])]) -> Vec<String> {
    match ev(src, list) {
        Ok(Output::Many(v)) => v.iter().map(Value::to_string).collect(),
        other => panic!("{src}: expected several values, got {other:?}"),
    }
}

fn null(src: &str, list: &[(&str, &[&str])]) {
    match ev(src, list) {
        Ok(Output::Null) => {}
        other => panic!("{src}: expected no value, got {other:?}"),
    }
}

fn eval_err(src: &str, list: &[(&str, &[&str])]) -> EvalError {
    match ev(src, list) {
        Err(e) => e,
        Ok(o) => panic!("{src}: expected an evaluation error, got {o:?}"),
    }
}

fn parse_err(src: &str) -> ExprErrorKind {
    match Expression::parse(src) {
        Err(e) => e.kind,
        Ok(e) => panic!("{src}: expected a parse error, got {e}"),
    }
}

const PROXIES: &[&str] = &[
    "SMTP:a@x.com",
    " smtp:b@x.com ",
    "smtp:a@x.com",
    "SMTP:a@x.com",
];

#[test]
fn append() {
    assert_eq!(
        s("Append([upn], \".test\")", &[("upn", &["a@b"])]),
        "a@b.test"
    );
    null("Append([upn], \".test\")", &[]);
    assert_eq!(s("Append([upn], \"\")", &[("upn", &[""])]), "");
    assert_eq!(
        many("Append([p], \"!\")", &[("p", &["a", "b"])]),
        ["a!", "b!"]
    );
    null("Append(\"x\", [missing])", &[]);
}

#[test]
fn bitand_and_numbers() {
    assert_eq!(s("BitAnd(&HF, &HF7)", &[]), "7");
    assert_eq!(s("BitAnd([uac], 2)", &[("uac", &["514"])]), "2");
    assert_eq!(s("BitAnd([uac], 2)", &[("uac", &["512"])]), "0");
    null("BitAnd([uac], 2)", &[]);
    assert!(matches!(
        eval_err("BitAnd([uac], 2)", &[("uac", &["abc"])]),
        EvalError::BadArgument { argument: 1, .. }
    ));
    eval_err("BitAnd([uac], 2)", &[("uac", &["1", "2"])]);
    // Value::Int attributes work too
    let e = Expression::parse("BitAnd([uac], 2)=\"0\"").unwrap();
    let a = Attributes::new().with("uac", [Value::Int(512)]);
    let out = e
        .evaluate_attributes(&a, &mut EvalContext::new(now()))
        .unwrap();
    assert_eq!(out, Output::One(Value::Bool(true)));
}

#[test]
fn cbool_not_and_booleans() {
    assert_eq!(
        s("CBool([a] = [b])", &[("a", &["x"]), ("b", &["x"])]),
        "True"
    );
    assert_eq!(
        s("CBool([a] = [b])", &[("a", &["x"]), ("b", &["X"])]),
        "False"
    );
    assert_eq!(s("CBool(\"0\")", &[]), "False");
    assert_eq!(s("CBool(-3)", &[]), "True");
    assert_eq!(s("CBool([missing])", &[]), "False");
    eval_err("CBool(\"maybe\")", &[]);
    assert_eq!(s("Not([d])", &[("d", &["True"])]), "False");
    assert_eq!(s("Not([d])", &[("d", &["true"])]), "False");
    assert_eq!(s("Not([d])", &[("d", &["False"])]), "True");
    assert_eq!(s("Not([d])", &[("d", &["anything"])]), "True");
    assert_eq!(s("Not([d])", &[]), "True");
    assert_eq!(s("Not(true)", &[]), "False");
    eval_err("Not([d])", &[("d", &["True", "False"])]);
}

#[test]
fn dates() {
    assert_eq!(
        s("CDate([d])", &[("d", &["2020-03-16-07:00"])]),
        "3/16/2020 7:00:00 AM"
    );
    null("CDate([d])", &[]);
    eval_err("CDate([d])", &[("d", &["not a date"])]);
    assert_eq!(
        s("DateFromNum(129699324000000000)", &[]),
        "1/1/2012 11:00:00 PM"
    );
    assert_eq!(
        s("DateFromNum([pwdLastSet])", &[("pwdLastSet", &["0"])]),
        "1/1/1601 12:00:00 AM"
    );
    null("DateFromNum([pwdLastSet])", &[]);
    eval_err("DateFromNum([p])", &[("p", &["9223372036854775807"])]);
    assert_eq!(
        s("NumFromDate(\"2020-12-31 23:59:59-08:00\")", &[]),
        "132539615990000000"
    );
    null("NumFromDate([d])", &[]);
    assert_eq!(
        s("DateAdd(\"n\", 90, CDate(\"2021-01-01\"))", &[]),
        "1/1/2021 1:30:00 AM"
    );
    assert_eq!(
        s("DateAdd(\"m\", 1, CDate(\"2021-01-31\"))", &[]),
        "2/28/2021 12:00:00 AM"
    );
    assert_eq!(
        s("DateAdd(\"d\", \"10\", [d])", &[("d", &["2021-01-01"])]),
        "1/11/2021 12:00:00 AM"
    );
    null("DateAdd(\"d\", 1, [d])", &[]);
    assert!(matches!(
        parse_err("DateAdd(\"fortnight\", 1, Now())"),
        ExprErrorKind::BadArgument { position: 1, .. }
    ));
    assert_eq!(
        s(
            "DateDiff(\"d\", Now(), CDate(\"2021-07-12T15:33:38Z\"))",
            &[]
        ),
        "10"
    );
    assert_eq!(
        s(
            "IIF(DateDiff(\"d\", Now(), CDate([hire])) > 5, \"False\", \"True\")",
            &[("hire", &["2021-07-30"])]
        ),
        "False"
    );
    null("DateDiff(\"d\", Now(), CDate([hire]))", &[]);
    assert_eq!(s("Now()", &[]), "7/2/2021 3:33:38 PM");
    assert_eq!(
        s(
            "FormatDateTime([x], , \"yyyyMMddHHmmss.fZ\", \"yyyy-MM-dd\")",
            &[("x", &["20150123105347.1Z"])]
        ),
        "2015-01-23"
    );
    assert_eq!(
        s(
            "FormatDateTime([x], \"yyyyMMddHHmmss.fZ\", \"yyyy-MM-dd\")",
            &[("x", &["20150123105347.1Z"])]
        ),
        "2015-01-23"
    );
    assert_eq!(
        s(
            "FormatDateTime(DateFromNum([p]), , \"yyyyMMddHHmmss.0Z\")",
            &[("p", &["129699324000000000"])]
        ),
        "20120101230000.0Z"
    );
    assert_eq!(
        s(
            "FormatDateTime([d], , \"M/d/yyyy hh:mm:ss tt\", \"yyyy-MM-dd\")",
            &[("d", &["3/5/2021 11:00:00 PM"])]
        ),
        "2021-03-05"
    );
    null("FormatDateTime([x], , \"yyyy\", \"yyyy\")", &[]);
    eval_err(
        "FormatDateTime([x], , \"yyyyMMdd\", \"yyyy\")",
        &[("x", &["2015-01-23"])],
    );
    assert!(matches!(
        parse_err("FormatDateTime([x], \"yyyy\", \"Q\")"),
        ExprErrorKind::BadArgument { position: 3, .. }
    ));
}

#[test]
fn coalesce() {
    assert_eq!(s("Coalesce([mail], [upn])", &[("upn", &["u@x"])]), "u@x");
    assert_eq!(
        s(
            "Coalesce([mail], [upn])",
            &[("mail", &[""]), ("upn", &["u@x"])]
        ),
        ""
    );
    assert_eq!(s("Coalesce([mail], [upn], \"none\")", &[]), "none");
    null("Coalesce([mail], [upn])", &[]);
    assert_eq!(many("Coalesce([p])", &[("p", &["a", "b"])]), ["a", "b"]);
}

#[test]
fn base64_hex_and_sid() {
    assert_eq!(
        s("ConvertToBase64(\"Hello world!\")", &[]),
        "SABlAGwAbABvACAAdwBvAHIAbABkACEA"
    );
    assert_eq!(
        s(
            "ConvertFromBase64(\"SABlAGwAbABvACAAdwBvAHIAbABkACEA\")",
            &[]
        ),
        "Hello world!"
    );
    assert_eq!(
        s("ConvertFromBase64(\"SGVsbG8gd29ybGQh\", UTF8)", &[]),
        "Hello world!"
    );
    assert_eq!(
        s("ConvertFromBase64(\"SGVsbG8gd29ybGQh\", ascii)", &[]),
        "Hello world!"
    );
    assert!(matches!(
        parse_err("ConvertFromBase64(\"x\", UTF16)"),
        ExprErrorKind::BadArgument { position: 2, .. }
    ));
    eval_err("ConvertFromBase64([x])", &[("x", &["%%%"])]);
    null("ConvertToBase64([x])", &[]);
    assert_eq!(
        s("ConvertToUTF8Hex(\"Hello world!\")", &[]),
        "48656C6C6F20776F726C6421"
    );
    assert_eq!(s("ConvertToUTF8Hex(\"é\")", &[]), "C3A9");
    assert_eq!(
        many("ConvertToUTF8Hex([p])", &[("p", &["a", "b"])]),
        ["61", "62"]
    );
    let e = Expression::parse("StringFromSid([objectSid])").unwrap();
    let sid = [
        1u8, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xe9, 3, 0, 0,
    ];
    let a = Attributes::new().with("objectSid", [Value::bytes(&sid)]);
    let out = e
        .evaluate_attributes(&a, &mut EvalContext::new(now()))
        .unwrap();
    assert_eq!(out.first_text().as_deref(), Some("S-1-5-21-1-2-3-1001"));
    null("StringFromSid([objectSid])", &[]);
    eval_err("StringFromSid([objectSid])", &[("objectSid", &["AQI="])]);
}

#[test]
fn count_item_remove_duplicates_split() {
    assert_eq!(s("Count([p])", &[("p", PROXIES)]), "4");
    assert_eq!(s("Count([p])", &[("p", &["one"])]), "1");
    assert_eq!(s("Count([p])", &[]), "0");
    assert_eq!(s("Item([p], 2)", &[("p", PROXIES)]), " smtp:b@x.com ");
    assert_eq!(s("Item([p], 1)", &[("p", &["only"])]), "only");
    null("Item([p], 1)", &[]);
    assert!(matches!(
        eval_err("Item([p], 5)", &[("p", PROXIES)]),
        EvalError::BadArgument { argument: 2, .. }
    ));
    eval_err("Item([p], 0)", &[("p", PROXIES)]);
    assert_eq!(
        many("RemoveDuplicates([p])", &[("p", PROXIES)]),
        ["SMTP:a@x.com", " smtp:b@x.com ", "smtp:a@x.com"]
    );
    assert_eq!(
        many("RemoveDuplicates(Trim([p]))", &[("p", PROXIES)]),
        ["SMTP:a@x.com", "smtp:b@x.com", "smtp:a@x.com"]
    );
    assert_eq!(s("RemoveDuplicates([p])", &[("p", &["x"])]), "x");
    null("RemoveDuplicates([p])", &[]);
    assert_eq!(
        many("Split([x], \",\")", &[("x", &["a, b,,c"])]),
        ["a", " b", "", "c"]
    );
    assert_eq!(many("Split([x], \"::\")", &[("x", &["a::b"])]), ["a", "b"]);
    assert_eq!(
        many("Split([x], \",\")", &[("x", &["a,b", "c"])]),
        ["a", "b", "c"]
    );
    null("Split([x], \",\")", &[]);
    assert_eq!(s("Item(Split(\"a,b,c\", \",\"), 3)", &[]), "c");
    assert_eq!(
        s(
            "Contains([p], \"SMTP:\")",
            &[("p", &["x", "smtp:y", "SMTP:z"])]
        ),
        "2"
    );
    assert_eq!(
        s(
            "Contains([p], \"SMTP:\", CaseSensitive)",
            &[("p", &["x", "smtp:y", "SMTP:z"])]
        ),
        "3"
    );
    assert_eq!(s("Contains([p], \"none\")", &[("p", &["x"])]), "0");
}

#[test]
fn cstr_cref_dncomponent() {
    assert_eq!(
        s("CStr([dn])", &[("dn", &["cn=Joe,dc=contoso,dc=com"])]),
        "cn=Joe,dc=contoso,dc=com"
    );
    assert_eq!(s("CStr(BitAnd(6, 3))", &[]), "2");
    null("CStr([dn])", &[]);
    assert_eq!(
        s(
            "DNComponent(CRef([dn]), 1)",
            &[("dn", &["cn=Joe,ou=Sales,dc=contoso,dc=com"])]
        ),
        "Joe"
    );
    assert_eq!(
        s(
            "DNComponent([dn], 2)",
            &[("dn", &["cn=Joe,ou=Sales,dc=contoso,dc=com"])]
        ),
        "Sales"
    );
    null("DNComponent([dn], 9)", &[("dn", &["cn=Joe,dc=com"])]);
    null("DNComponent([dn], 1)", &[]);
    eval_err("DNComponent([dn], 1)", &[("dn", &["not a dn"])]);
}

#[test]
fn context_functions_are_pure() {
    let e = Expression::parse("Join(\"|\", Guid(), RandomString(12, 2, 2, 2, 2))").unwrap();
    let run = |seed| {
        e.evaluate_attributes(
            &Attributes::new(),
            &mut EvalContext::new(now()).with_seed(seed),
        )
        .unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let g = s("Guid()", &[]);
    assert_eq!(g.len(), 36);
    assert_eq!(&g[14..15], "4");
    assert_eq!(s("DefaultDomain()", &[]), "contoso.com");
    let none = Expression::parse("DefaultDomain()").unwrap();
    assert!(
        none.evaluate_attributes(&Attributes::new(), &mut EvalContext::new(now()))
            .is_err()
    );
    for seed in 0..50 {
        let e = Expression::parse("RandomString(10,2,2,2,1,\"?,\")").unwrap();
        let out = e
            .evaluate_attributes(
                &Attributes::new(),
                &mut EvalContext::new(now()).with_seed(seed),
            )
            .unwrap();
        let r = out.first_text().unwrap();
        assert_eq!(r.chars().count(), 10);
        assert!(r.chars().filter(char::is_ascii_digit).count() >= 2);
        assert!(r.chars().filter(|c| !c.is_ascii_alphanumeric()).count() >= 2);
        assert!(r.chars().filter(char::is_ascii_uppercase).count() >= 2);
        assert!(r.chars().filter(char::is_ascii_lowercase).count() >= 1);
        assert!(!r.contains('?') && !r.contains(','));
    }
    eval_err("RandomString(2, 3, 0, 0, 0)", &[]);
    eval_err("RandomString(300, 0, 0, 0, 0)", &[]);
    eval_err(
        "RandomString(4, 0, 0, 0, 1, \"abcdefghijklmnopqrstuvwxyz\")",
        &[],
    );
    // Redact: the value flows, the context says so
    let e = Expression::parse("Redact([upn])").unwrap();
    let mut ctx = EvalContext::new(now());
    let out = e
        .evaluate_attributes(&attrs(&[("upn", &["a@b"])]), &mut ctx)
        .unwrap();
    assert_eq!(out.first_text().as_deref(), Some("a@b"));
    assert!(ctx.redacted());
    Expression::parse("Join(\"\", [upn])")
        .unwrap()
        .evaluate_attributes(&Attributes::new(), &mut ctx)
        .unwrap();
    assert!(!ctx.redacted());
}

#[test]
fn error_function() {
    let e = eval_err(
        "IIF(IsPresent([accountName]), [accountName], Error(\"AccountName is required\"))",
        &[],
    );
    assert_eq!(
        e,
        EvalError::Raised {
            message: "AccountName is required".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "expression raised an error: AccountName is required"
    );
    assert_eq!(
        s("IIF(IsPresent([a]), [a], Error(\"x\"))", &[("a", &["v"])]),
        "v"
    );
}

#[test]
fn ignore_flow() {
    assert_eq!(
        ev("IgnoreFlowIfNullOrEmpty([d])", &[]).unwrap(),
        Output::IgnoreFlow
    );
    assert_eq!(
        ev("IgnoreFlowIfNullOrEmpty([d])", &[("d", &[""])]).unwrap(),
        Output::IgnoreFlow
    );
    assert_eq!(
        s("IgnoreFlowIfNullOrEmpty([d])", &[("d", &["Sales"])]),
        "Sales"
    );
    assert_eq!(
        many("IgnoreFlowIfNullOrEmpty([d])", &[("d", &["", "x"])]),
        ["", "x"]
    );
    assert_eq!(
        ev(
            "IgnoreFlowIfNullOrEmpty(IIF([c]=\"USA\", [r], \"\"))",
            &[("c", &["FR"]), ("r", &["x"])]
        )
        .unwrap(),
        Output::IgnoreFlow
    );
}

#[test]
fn iif_and_comparisons() {
    let e = "IIF([country]=\"USA\", [country], [department])";
    assert_eq!(
        s(e, &[("country", &["USA"]), ("department", &["Sales"])]),
        "USA"
    );
    assert_eq!(
        s(e, &[("country", &["FR"]), ("department", &["Sales"])]),
        "Sales"
    );
    null(e, &[("country", &["FR"])]);
    assert_eq!(s(e, &[("department", &["Sales"])]), "Sales");
    assert_eq!(s("IIF([c]=\"\", \"Other\", [c])", &[]), "Other");
    assert_eq!(s("IIF(IsPresent([c]), [c], \"Other\")", &[]), "Other");
    assert_eq!(
        s(
            "IIF(InStr([upn], \"@partners\") > 0, \"Guest\", \"Member\")",
            &[("upn", &["a@partners.com"])]
        ),
        "Guest"
    );
    assert_eq!(
        s(
            "IIF(InStr([upn], \"@partners\") > 0, \"Guest\", \"Member\")",
            &[("upn", &["a@contoso.com"])]
        ),
        "Member"
    );
    assert_eq!(
        s("IIF([n] >= 10, \"big\", \"small\")", &[("n", &["9"])]),
        "small"
    );
    assert_eq!(s("IIF([n] <> \"x\", \"y\", \"n\")", &[("n", &["9"])]), "y");
    assert_eq!(s("IIF([n] < \"b\", \"y\", \"n\")", &[("n", &["a"])]), "y");
    assert_eq!(s("IIF([n] <= 2, \"y\", \"n\")", &[("n", &["2.0"])]), "y");
    assert_eq!(
        s(
            "IIF([t] = \"Intern\", \"t-\" & [alias], [alias])",
            &[("t", &["Intern"]), ("alias", &["bob"])]
        ),
        "t-bob"
    );
    assert_eq!(s("\"a\" & [missing] & 1 & true", &[]), "a1True");
    // lazy: the untaken branch is not evaluated
    assert_eq!(s("IIF(true, \"ok\", Error(\"no\"))", &[]), "ok");
    null("IIF(false, \"x\", )", &[]);
    eval_err("IIF([c], \"a\", \"b\")", &[("c", &["perhaps"])]);
    eval_err("IIF([p] = \"x\", \"a\", \"b\")", &[("p", &["x", "y"])]);
}

#[test]
fn instr() {
    assert_eq!(s("InStr(\"The quick brown fox\", \"quick\")", &[]), "5");
    assert_eq!(
        s("InStr(\"repEated\", \"e\", 3, vbBinaryCompare)", &[]),
        "7"
    );
    assert_eq!(s("InStr(\"repEated\", \"e\", 3, vbTextCompare)", &[]), "4");
    assert_eq!(s("InStr(\"abc\", \"z\")", &[]), "0");
    null("InStr([x], \"z\")", &[]);
    eval_err("InStr(\"abc\", \"a\", 0)", &[]);
    assert!(matches!(
        parse_err("InStr(\"a\", \"b\", 1, vbSomething)"),
        ExprErrorKind::BadArgument { position: 4, .. }
    ));
}

#[test]
fn null_tests() {
    assert_eq!(s("IsNull([x])", &[]), "True");
    assert_eq!(s("IsNull([x])", &[("x", &[""])]), "False");
    assert_eq!(s("IsNullOrEmpty([x])", &[("x", &[""])]), "True");
    assert_eq!(s("IsNullOrEmpty([x])", &[("x", &["a"])]), "False");
    assert_eq!(s("IsPresent([x])", &[("x", &["a"])]), "True");
    assert_eq!(s("IsPresent([x])", &[("x", &[""])]), "False");
    assert_eq!(s("IsPresent([x])", &[("x", &["", "a"])]), "True");
    assert_eq!(s("IsPresent([x])", &[]), "False");
    assert_eq!(s("IsString([x])", &[("x", &["a"])]), "True");
    assert_eq!(s("IsString([x])", &[]), "False");
    let e = Expression::parse("IsString([x])").unwrap();
    let a = Attributes::new().with("x", [Value::bytes(&[1, 2])]);
    assert_eq!(
        e.evaluate_attributes(&a, &mut EvalContext::new(now()))
            .unwrap(),
        Output::One(Value::Bool(false))
    );
}

#[test]
fn join() {
    assert_eq!(
        s(
            "Join(\", \", \"\", [surname], [givenName])",
            &[("givenName", &["John"]), ("surname", &["Doe"])]
        ),
        "Doe, John"
    );
    assert_eq!(s("Join(\".\", [a], [b])", &[("b", &["x"])]), "x");
    assert_eq!(s("Join(\".\", [a], [b])", &[]), "");
    assert_eq!(
        s("Join(\";\", [p], \"z\")", &[("p", &["x", "", "y"])]),
        "x;y;z"
    );
    assert_eq!(s("Join(\"\", 1000, [a])", &[("a", &["1"])]), "10001");
    assert_eq!(
        s(
            "Join(\"@\", [sAMAccountName], )",
            &[("sAMAccountName", &["bob"])]
        ),
        "bob"
    );
    assert_eq!(s("Join([sep], \"a\", \"b\")", &[]), "ab");
}

#[test]
fn left_mid_len_word() {
    assert_eq!(s("Left(\"John Doe\", 3)", &[]), "Joh");
    assert_eq!(s("Left(\"John Doe\", 0)", &[]), "");
    assert_eq!(s("Left(\"John Doe\", -1)", &[]), "John Doe");
    assert_eq!(s("Left([x], 3)", &[]), "");
    assert_eq!(s("Left(\"Jo\", 5)", &[]), "Jo");
    assert_eq!(s("Left(\"Zoë Ng\", 3)", &[]), "Zoë");
    assert_eq!(many("Left([p], 1)", &[("p", &["ab", "cd"])]), ["a", "c"]);
    assert_eq!(s("Mid(\"John\", 2, 2)", &[]), "oh");
    assert_eq!(s("Mid(\"John\", 2, 64)", &[]), "ohn");
    assert_eq!(s("Mid(\"John\", 9, 2)", &[]), "");
    assert_eq!(s("Mid(\"John\", 1, 0)", &[]), "");
    null("Mid([x], 1, 1)", &[]);
    eval_err("Mid(\"John\", 0, 1)", &[]);
    eval_err("Mid(\"John\", 1, -1)", &[]);
    eval_err("Mid(\"John\", [s], 1)", &[("s", &["one"])]);
    assert!(matches!(
        parse_err("Mid(\"John\", \"one\", 1)"),
        ExprErrorKind::BadArgument { position: 2, .. }
    ));
    assert_eq!(s("Len(\"John Doe\")", &[]), "8");
    assert_eq!(s("Len(42568.75)", &[]), "8");
    assert_eq!(s("Len([x])", &[]), "0");
    assert_eq!(s("Len([x])", &[("x", &[""])]), "0");
    eval_err("Len([p])", &[("p", &["a", "b"])]);
    assert_eq!(s("Word(\"The quick brown fox\", 3, \" \")", &[]), "brown");
    assert_eq!(
        s(
            "Word(\"This,string!has&many separators\", 3, \",!&#\")",
            &[]
        ),
        "has"
    );
    assert_eq!(s("Word(\"a,,b\", 2, \",\")", &[]), "b");
    assert_eq!(s("Word(\"a b\", 0, \" \")", &[]), "");
    assert_eq!(s("Word(\"a b\", 3, \" \")", &[]), "");
    assert_eq!(s("Word([x], 1, \" \")", &[]), "");
}

#[test]
fn case_diacritics_spaces_trim() {
    assert_eq!(s("ToLower(\"ÀB\")", &[]), "àb");
    assert_eq!(s("ToUpper(\"straße\")", &[]), "STRAßE");
    assert_eq!(s("ToUpper(\"istanbul\", \"tr-TR\")", &[]), "İSTANBUL");
    assert_eq!(s("ToUpper(\"istanbul\", \"en-US\")", &[]), "ISTANBUL");
    null("ToLower([x])", &[]);
    assert_eq!(many("ToLower([p])", &[("p", &["A", "B"])]), ["a", "b"]);
    assert_eq!(s("NormalizeDiacritics([g])", &[("g", &["Zoë"])]), "Zoe");
    assert_eq!(
        s("NormalizeDiacritics(\"Ærøskøbing Ğ ı ß\")", &[]),
        "AEroeskoebing G i ss"
    );
    null("NormalizeDiacritics([x])", &[]);
    assert_eq!(
        many("NormalizeDiacritics([p])", &[("p", &["é", "ü"])]),
        ["e", "u"]
    );
    assert_eq!(s("StripSpaces(\" a b\tc \")", &[]), "ab\tc");
    null("StripSpaces([x])", &[]);
    assert_eq!(s("Trim(\" Test \")", &[]), "Test");
    assert_eq!(s("Trim([x])", &[("x", &["\t x \n"])]), "x");
    null("Trim([x])", &[]);
    assert_eq!(many("Trim([p])", &[("p", &[" a", "b "])]), ["a", "b"]);
    assert_eq!(
        s("PCase([n])", &[("n", &["PABLO GONSALVES (SECOND)"])]),
        "Pablo Gonsalves (Second)"
    );
    assert_eq!(
        s("PCase([n], \" '-\")", &[("n", &["PINTO-DE'SILVA"])]),
        "Pinto-De'Silva"
    );
    null("PCase([n])", &[]);
}

#[test]
fn replace_modes() {
    assert_eq!(
        s(
            "Replace([t], \"Product Developer\", , , \"Software Engineer\", , )",
            &[("t", &["Product Developer"])]
        ),
        "Software Engineer"
    );
    assert_eq!(
        s("Replace([t], \"a\", , , \"b\", , )", &[("t", &["AaA"])]),
        "AbA"
    );
    assert_eq!(
        s(
            "Replace([u], \"<username>\", , , , , \"<username>@contoso.com\")",
            &[("u", &["jsmith"])]
        ),
        "jsmith@contoso.com"
    );
    assert_eq!(
        s(
            "Replace([p], , \"\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})\", , \"${phoneNumber}\", , )",
            &[("p", &["+91 9998887777"])]
        ),
        "9998887777"
    );
    assert_eq!(
        s(
            "Replace([a], , \"(?<streetNumber>^\\\\d*)\", \"streetNumber\", \"888\", , )",
            &[("a", &["545 Tremont Street"])]
        ),
        "888 Tremont Street"
    );
    assert_eq!(
        s(
            "Replace([t], , \"\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})\", \"phoneNumber\", , [mobile], )",
            &[("t", &[""]), ("mobile", &["+91 8887779999"])]
        ),
        "8887779999"
    );
    assert_eq!(
        s(
            "Replace([t], , \"(?<n>\\\\d+)\", \"n\", , [mobile], )",
            &[("t", &["keep"]), ("mobile", &["12"])]
        ),
        "keep"
    );
    null(
        "Replace([t], , \"(?<n>\\\\d+)\", \"n\", , [mobile], )",
        &[("mobile", &["none"])],
    );
    assert_eq!(
        s(
            "Replace([m], , \"[a-zA-Z_]*\", , \"\", , )",
            &[("m", &["john_doe72"])]
        ),
        "72"
    );
    assert_eq!(
        s(
            "Replace([m], , \"(\\\\w)(\\\\d)\", , \"$2$1\", , )",
            &[("m", &["a1"])]
        ),
        "1a"
    );
    null("Replace([m], \"a\", , , \"b\", , )", &[]);
    assert_eq!(
        many(
            "Replace([p], \"smtp:\", , , \"SMTP:\", , )",
            &[("p", &["smtp:a", "x"])]
        ),
        ["SMTP:a", "x"]
    );
    // attribute patterns compile at evaluation, still with the checks
    assert_eq!(
        s(
            "Replace(\"a.b\", , [pat], , \"-\", , )",
            &[("pat", &["\\."])]
        ),
        "a-b"
    );
    eval_err(
        "Replace(\"a.b\", , [pat], , \"-\", , )",
        &[("pat", &["(?=x)"])],
    );
    // check errors
    let k = parse_err("Replace([x], , \"a(?=b)\", , \"\", , )");
    assert!(
        matches!(&k, ExprErrorKind::BadArgument { position: 3, message, .. } if message.contains("lookaround")),
        "{k}"
    );
    assert!(matches!(
        parse_err("Replace([x], , \"(\", , \"\", , )"),
        ExprErrorKind::BadArgument { position: 3, .. }
    ));
    assert!(matches!(
        parse_err("Replace([x], , \"(?<a>x)\", \"b\", \"\", , )"),
        ExprErrorKind::BadArgument { position: 4, .. }
    ));
    assert!(matches!(
        parse_err("Replace([x], \"a\", , , , , )"),
        ExprErrorKind::BadArgument { .. }
    ));
    let mut limits = ExprLimits::default();
    limits.regex_size_limit = 1000;
    let opts = CompileOptions::new().with_limits(limits);
    let err = Expression::compile(
        "Replace([x], , \"\\\\w{1000}\", , \"\", , )",
        &opts,
        &mut AttrTable::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}

#[test]
fn select_unique_value() {
    let src = "SelectUniqueValue(Join(\"@\", Join(\".\", [g], [s]), \"contoso.com\"), Join(\"@\", Join(\".\", Mid([g], 1, 1), [s]), \"contoso.com\"))";
    let e = Expression::parse(src).unwrap();
    let a = attrs(&[("g", &["John"]), ("s", &["Smith"])]);
    let taken = |attr: &str, v: &str| attr == "userPrincipalName" && v == "John.Smith@contoso.com";
    let mut ctx = EvalContext::new(now())
        .with_target_attribute("userPrincipalName")
        .with_oracle(&taken);
    assert_eq!(
        e.evaluate_attributes(&a, &mut ctx)
            .unwrap()
            .first_text()
            .as_deref(),
        Some("J.Smith@contoso.com")
    );
    let mut ctx = EvalContext::new(now())
        .with_target_attribute("mail")
        .with_oracle(&taken);
    assert_eq!(
        e.evaluate_attributes(&a, &mut ctx)
            .unwrap()
            .first_text()
            .as_deref(),
        Some("John.Smith@contoso.com")
    );
    let all = |_: &str, _: &str| true;
    let mut ctx = EvalContext::new(now()).with_oracle(&all);
    assert!(matches!(
        e.evaluate_attributes(&a, &mut ctx),
        Err(EvalError::Failed {
            function: "SelectUniqueValue",
            ..
        })
    ));
    let mut ctx = EvalContext::new(now()).with_oracle(&NoConflicts);
    assert!(e.evaluate_attributes(&a, &mut ctx).is_ok());
    assert_eq!(
        parse_err("Join(\"\", SelectUniqueValue(\"a\", \"b\"))"),
        ExprErrorKind::NestedSelectUniqueValue
    );
    assert!(matches!(
        parse_err("SelectUniqueValue(\"a\")"),
        ExprErrorKind::Arity { .. }
    ));
}

#[test]
fn switch() {
    let e = "Switch([state], \"Australia/Sydney\", \"NSW\", \"Australia/Sydney\", \"QLD\", \"Australia/Brisbane\")";
    assert_eq!(s(e, &[("state", &["QLD"])]), "Australia/Brisbane");
    assert_eq!(s(e, &[("state", &["qld"])]), "Australia/Sydney");
    assert_eq!(s(e, &[]), "Australia/Sydney");
    assert_eq!(
        s(
            "Switch([f], \"Default Value\", \"true\", \"1\", \"\", \"0\")",
            &[]
        ),
        "0"
    );
    assert_eq!(
        s(
            "Switch([f], \"Default Value\", \"true\", \"1\", \"\", \"0\")",
            &[("f", &[""])]
        ),
        "0"
    );
    null("Switch([a], , \"1\", \"False\")", &[("a", &["2"])]);
    assert_eq!(
        s(
            "Switch(IsPresent([jobTitle]), \"DefaultValue\", \"True\", [jobTitle])",
            &[("jobTitle", &["CEO"])]
        ),
        "CEO"
    );
    assert_eq!(
        s(
            "Switch(IsPresent([jobTitle]), \"DefaultValue\", \"True\", [jobTitle])",
            &[]
        ),
        "DefaultValue"
    );
    // lazy: values of unmatched keys are not evaluated
    assert_eq!(
        s(
            "Switch(\"a\", Error(\"d\"), \"b\", Error(\"b\"), \"a\", \"ok\")",
            &[]
        ),
        "ok"
    );
    assert!(matches!(
        parse_err("Switch([a], \"d\", \"k\")"),
        ExprErrorKind::Arity { found: 3, .. }
    ));
    assert!(matches!(
        parse_err("Switch([a], \"d\")"),
        ExprErrorKind::Arity { .. }
    ));
    eval_err("Switch([p], \"d\", \"a\", \"b\")", &[("p", &["a", "b"])]);
}

#[test]
fn syntax_errors_name_the_place() {
    let src = "Join(\" \", [givenName], Jion([sn]))";
    let err = Expression::parse(src).unwrap_err();
    assert_eq!((err.line, err.column), (1, 24));
    assert_eq!(
        err.to_string(),
        "expression 1:24: unknown function \"Jion\"; did you mean \"Join\"?"
    );
    let rendered = err.render(src);
    assert!(
        rendered
            .ends_with("\n  Join(\" \", [givenName], Jion([sn]))\n                         ^^^^"),
        "{rendered}"
    );
    let err = Expression::parse("IIF(true,\n  Left([a]),\n  \"\")").unwrap_err();
    assert_eq!((err.line, err.column), (2, 3));
    assert_eq!(
        err.to_string(),
        "expression 2:3: Left takes 2 arguments, found 1"
    );
    assert!(matches!(
        parse_err("AppRoleAssignmentsComplex([appRoleAssignments])"),
        ExprErrorKind::Unsupported { .. }
    ));
    assert!(matches!(
        parse_err("SingleAppRoleAssignment([appRoleAssignments])"),
        ExprErrorKind::Unsupported { .. }
    ));
    assert!(matches!(
        parse_err("AssertiveAppRoleAssignmentsComplex([x])"),
        ExprErrorKind::Unsupported { .. }
    ));
    let k = parse_err("Frobnicate([x])");
    assert_eq!(
        k,
        ExprErrorKind::UnknownFunction {
            name: "Frobnicate".into(),
            suggestion: None
        }
    );
    assert!(matches!(
        parse_err("Join(\"\", IgnoreAttributeFlow)"),
        ExprErrorKind::BareWord { .. }
    ));
    assert!(matches!(
        parse_err("%DomainFQDN%"),
        ExprErrorKind::UnknownMacro { .. }
    ));
    assert!(matches!(
        parse_err("Join(\"a\", 'b')"),
        ExprErrorKind::SingleQuoted
    ));
    assert!(matches!(parse_err("Now(1)"), ExprErrorKind::Arity { .. }));
    // function names are case-insensitive
    assert_eq!(s("tolower(\"ABC\")", &[]), "abc");
    assert_eq!(s("switch([c], [c], \"\", \"Other\")", &[]), "Other");
}

#[test]
fn literals_bare_values_and_macros() {
    assert_eq!(
        s("\"Company name: \\\"Contoso\\\"\"", &[]),
        "Company name: \"Contoso\""
    );
    assert_eq!(
        s(
            "[mS-DS-ConsistencyGuid]",
            &[("ms-ds-consistencyguid", &["abc"])]
        ),
        "abc"
    );
    assert_eq!(s("-10", &[]), "-10");
    assert_eq!(s("true", &[]), "True");
    let opts = CompileOptions::new()
        .with_macro("DomainFQDN", "contoso.com")
        .with_macro("DomainNetBios", "CONTOSO");
    let mut table = AttrTable::new();
    let e = Expression::compile(
        "Join(\"@\", [sAMAccountName], %domainfqdn%)",
        &opts,
        &mut table,
    )
    .unwrap();
    let mut row = Row::default();
    row.set(
        table.get("sAMAccountName").unwrap(),
        [Value::str("bob")].into_iter().collect(),
    );
    assert_eq!(
        e.evaluate(&row, &mut EvalContext::new(now()))
            .unwrap()
            .first_text()
            .as_deref(),
        Some("bob@contoso.com")
    );
    let e = Expression::compile("%DomainNetBios%", &opts, &mut table).unwrap();
    assert!(e.is_constant());
    assert_eq!(
        e.evaluate(&row, &mut EvalContext::new(now()))
            .unwrap()
            .first_text()
            .as_deref(),
        Some("CONTOSO")
    );
}

#[test]
fn expressions_are_shareable() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Expression>();
    let e = Expression::parse("Replace([a], , \"b+\", , \"c\", , )").unwrap();
    let copy = e.clone();
    let a = attrs(&[("a", &["abbb"])]);
    let run = |x: &Expression| {
        x.evaluate_attributes(&a, &mut EvalContext::new(now()))
            .unwrap()
    };
    assert_eq!(run(&e), run(&copy));
    assert_eq!(run(&copy).first_text().as_deref(), Some("ac"));
}

#[test]
fn compiled_form_reads_slots() {
    let mut table = AttrTable::new();
    let pre = table.intern("other").unwrap();
    let e = Expression::compile(
        "Join(\" \", [givenName], [SN], [givenname])",
        &CompileOptions::new(),
        &mut table,
    )
    .unwrap();
    let read: Vec<String> = e.attributes().map(|(_, n)| n.to_string()).collect();
    assert_eq!(read, ["givenName", "SN"]);
    assert!(e.attributes().all(|(s, _)| s != pre));
    assert_eq!(table.len(), 3);
    assert_eq!(e.source(), "Join(\" \", [givenName], [SN], [givenname])");
    assert!(!e.is_constant());
    assert!(
        Expression::parse("Join(\"-\", ToUpper(\"a\"), Left(\"bcd\", 1))")
            .unwrap()
            .is_constant()
    );
    // a constant that fails stays a runtime error
    assert!(
        !Expression::parse("Item(Split(\"a\", \",\"), 3)")
            .unwrap()
            .is_constant()
    );
    // pass-through keeps the value's type
    let e = Expression::parse(
        "IIF(IsPresent([mS-DS-ConsistencyGuid]), [mS-DS-ConsistencyGuid], [objectGUID])",
    )
    .unwrap();
    let a = Attributes::new().with("objectGUID", [Value::bytes(&[1, 2, 3])]);
    assert_eq!(
        e.evaluate_attributes(&a, &mut EvalContext::new(now()))
            .unwrap(),
        Output::One(Value::bytes(&[1, 2, 3]))
    );
}

#[test]
fn limits_hold_at_the_hard_maximum() {
    let mut limits = ExprLimits::default();
    limits.max_depth = 100_000;
    limits.max_length = usize::MAX;
    let opts = CompileOptions::new().with_limits(limits);
    let depth = ExprLimits::HARD_MAX_DEPTH;
    // every kind of call on the path, so no function's frame is left out
    let wrappers = [
        ("IIF(true, ", ", \"\")"),
        ("Switch(\"a\", \"\", \"a\", ", ")"),
        ("Join(\",\", ", ")"),
        ("Replace(", ", \"q\", , , \"r\", , )"),
        ("Left(", " & \"\", 50)"),
        ("Coalesce([missing], ", ")"),
        ("Trim(", ")"),
        ("IgnoreFlowIfNullOrEmpty(", ")"),
    ];
    let mut ok = "[a]".to_owned();
    for i in 0..depth {
        let (pre, post) = wrappers[i % wrappers.len()];
        ok = format!("{pre}{ok}{post}");
    }
    let e = Expression::compile(&ok, &opts, &mut AttrTable::new()).unwrap();
    assert_eq!(
        e.evaluate_attributes(&attrs(&[("a", &[" x "])]), &mut EvalContext::new(now()))
            .unwrap()
            .first_text()
            .as_deref(),
        Some("x")
    );
    assert_eq!(e.to_string().matches('(').count(), depth);
    let too_deep = format!("{}[a]{}", "Trim(".repeat(depth + 1), ")".repeat(depth + 1));
    let err = Expression::compile(&too_deep, &opts, &mut AttrTable::new()).unwrap_err();
    assert!(matches!(err.kind, ExprErrorKind::TooDeep { .. }));
    let long = format!("\"{}\"", "x".repeat(10_000));
    assert!(matches!(
        parse_err(&long),
        ExprErrorKind::TooLong {
            length: 10_002,
            max: 10_000
        }
    ));
}

#[test]
fn values_cannot_grow_without_bound() {
    let mut src = "[a]".to_owned();
    for _ in 0..12 {
        src = format!("Replace({src}, \"a\", , , \"aaaaaaaa\", , )");
    }
    let err = ev(&src, &[("a", &["a"])]).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let mut src = "[a]".to_owned();
    for _ in 0..16 {
        src = format!("ConvertToBase64({src})");
    }
    assert!(ev(&src, &[("a", &["abc"])]).is_err());
    let mut src = "[a]".to_owned();
    for _ in 0..8 {
        src = format!("Join(\"\", {src}, {src}, {src}, {src}, {src}, {src})");
    }
    assert!(src.len() < 10_000 || parse_err(&src) != ExprErrorKind::NestedSelectUniqueValue);
    let many_x = "x".repeat(1100);
    assert!(
        ev(
            &format!("Replace(\"{many_x}\", , \"x\", , \"{many_x}\", , )"),
            &[]
        )
        .is_err()
    );
    assert!(
        ev(
            &format!("Replace(\"{many_x}\", \"x\", , , \"{many_x}\", , )"),
            &[]
        )
        .is_err()
    );
    assert!(
        ev(
            &format!("Replace(\"{many_x}\", \"x\", , , , , \"{many_x}\")"),
            &[]
        )
        .is_err()
    );
    // the limit is configurable
    let mut limits = ExprLimits::default();
    limits.max_value_length = 4;
    let opts = CompileOptions::new().with_limits(limits);
    let e = Expression::compile("Join(\"-\", [a], [a])", &opts, &mut AttrTable::new()).unwrap();
    assert!(
        e.evaluate_attributes(&attrs(&[("a", &["abc"])]), &mut EvalContext::new(now()))
            .is_err()
    );
    assert!(
        e.evaluate_attributes(&attrs(&[("a", &["a"])]), &mut EvalContext::new(now()))
            .is_ok()
    );
}

/// The default user mappings of cloud sync (reference/cloud-sync-defaults.md):
/// every source expression parses, checks and evaluates.
#[test]
fn cloud_sync_default_user_mappings() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/cloud-sync-defaults.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let users = text.split("## Users").nth(1).expect("users section");
    let opts = CompileOptions::new()
        .with_macro("DomainFQDN", "contoso.com")
        .with_macro("DomainNetBios", "CONTOSO");
    let mut table = AttrTable::new();
    let mut compiled = Vec::new();
    for line in users
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (target, source) = (cells[2], cells[3]);
        let Some(expr) = source.split('`').nth(1) else {
            panic!("row without an expression: {line}")
        };
        let e = Expression::compile(expr, &opts, &mut table)
            .unwrap_or_else(|e| panic!("{target}: {}", e.render(expr)));
        // the printed form compiles to the same tree
        let again = Expression::compile(&e.to_string(), &opts, &mut table).unwrap();
        assert_eq!(again.ast(), e.ast(), "{target}");
        compiled.push((target.to_owned(), e));
    }
    assert_eq!(compiled.len(), 136);
    let full = Attributes::new()
        .with("userAccountControl", [Value::str("514")])
        .with("displayName", [Value::str("Ada Lovelace")])
        .with("cn", [Value::str("Ada")])
        .with("givenName", [Value::str(" Ada ")])
        .with("sn", [Value::str("Lovelace")])
        .with("sAMAccountName", [Value::str("ada")])
        .with("pwdLastSet", [Value::str("129699324000000000")])
        .with("postOfficeBox", [Value::str(" PO 1 "), Value::str("PO 2")])
        .with(
            "proxyAddresses",
            [
                Value::str("SMTP:ada@contoso.com "),
                Value::str("SMTP:ada@contoso.com"),
            ],
        )
        .with("objectGUID", [Value::bytes(&[7; 16])])
        .with("description", [Value::str(&"d".repeat(500))]);
    let mut ctx = EvalContext::new(now());
    let mut results = std::collections::HashMap::new();
    for (target, e) in &compiled {
        let out = e
            .evaluate_attributes(&full, &mut ctx)
            .unwrap_or_else(|err| panic!("{target}: {err}"));
        results.insert(target.clone(), out);
    }
    let text = |t: &str| results[t].first_text().unwrap_or_default();
    assert_eq!(text("AccountEnabled"), "False");
    assert_eq!(text("DisplayName"), "Ada Lovelace");
    assert_eq!(text("GivenName"), "Ada");
    assert_eq!(text("UserPrincipalName"), "ada");
    assert_eq!(text("LastPasswordChangeTimestamp"), "20120101230000.0Z");
    assert_eq!(text("PostOfficeBox"), "PO 1");
    assert_eq!(text("Description").len(), 448);
    assert_eq!(text("dnsDomainName"), "contoso.com");
    assert_eq!(text("netBiosName"), "CONTOSO");
    assert_eq!(results["ProxyAddresses"].values().len(), 1);
    assert_eq!(results["SourceAnchor"], Output::One(Value::bytes(&[7; 16])));
    assert_eq!(results["City"], Output::Null);
    assert_eq!(text("Url"), "");
    // a user with nothing: every mapping still evaluates, except the UPN
    // ones, which raise their documented error
    let empty = Attributes::new();
    for (target, e) in &compiled {
        match e.evaluate_attributes(&empty, &mut ctx) {
            Ok(_) => {}
            Err(EvalError::Raised { message }) if target.contains("UserPrincipalName") => {
                assert_eq!(message, "AccountName is not present");
            }
            Err(err) => panic!("{target}: {err}"),
        }
    }
    let enabled = Attributes::new().with("userAccountControl", [Value::str("512")]);
    let acct = &compiled
        .iter()
        .find(|(t, _)| t == "AccountEnabled")
        .unwrap()
        .1;
    assert_eq!(
        acct.evaluate_attributes(&enabled, &mut ctx)
            .unwrap()
            .first_text()
            .as_deref(),
        Some("True")
    );
    let disabled = Attributes::new().with("accountDisabled", [Value::str("True")]);
    assert_eq!(
        acct.evaluate_attributes(&disabled, &mut ctx)
            .unwrap()
            .first_text()
            .as_deref(),
        Some("False")
    );
}

fn ast_strategy() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 .,@\\\\\"+()-]{0,8}".prop_map(|s| {
            let esc: String = s
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    c => vec![c],
                })
                .collect();
            format!("\"{esc}\"")
        }),
        "-?[0-9]{1,5}(\\.[0-9]{1,2})?",
        "&H[0-9A-F]{1,4}",
        "\\[[a-zA-Z][a-zA-Z0-9-]{0,10}\\]",
        "%[A-Za-z]{1,8}%",
        Just("true".to_owned()),
        Just("vbTextCompare".to_owned()),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            (
                "[A-Z][a-zA-Z]{0,8}",
                prop::collection::vec(prop::option::of(inner.clone()), 0..5)
            )
                .prop_map(|(name, args)| {
                    if args.len() == 1 && args[0].is_none() {
                        return format!("{name}()");
                    }
                    let a: Vec<String> = args.into_iter().map(Option::unwrap_or_default).collect();
                    format!("{name}( {} )", a.join(" ,"))
                }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|p| p.join("&")),
            (
                inner.clone(),
                prop_oneof![
                    Just("="),
                    Just("<>"),
                    Just("<="),
                    Just(">="),
                    Just("<"),
                    Just(">")
                ],
                inner
            )
                .prop_map(|(l, op, r)| format!("{l}{op}{r}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// print(parse(s)) re-parses to the same tree, and printing is stable.
    #[test]
    fn printer_round_trip(src in ast_strategy()) {
        let limits = ExprLimits::default();
        if let Ok(ast) = parse_ast(&src, &limits) {
            let printed = ast.to_string();
            let again = parse_ast(&printed, &limits).map_err(|e| TestCaseError::fail(e.render(&printed)))?;
            prop_assert_eq!(&again, &ast);
            prop_assert_eq!(again.to_string(), printed);
        }
    }

    /// Nothing an admin can type panics: parse, check and evaluation return
    /// values or errors.
    #[test]
    fn never_panics(src in "\\PC{0,60}", val in "\\PC{0,12}") {
        if let Ok(e) = Expression::parse(&src) {
            let a = attrs(&[("a", &[val.as_str()]), ("b", &[val.as_str(), "x"])]);
            let _ = e.evaluate_attributes(&a, &mut EvalContext::new(now()));
        }
    }

    /// Calls built from the real function names with random arguments never
    /// panic either, whatever the values.
    #[test]
    fn library_never_panics(
        f in prop::sample::select(idsync::expr::function_names().collect::<Vec<_>>()),
        args in prop::collection::vec(prop_oneof![
            Just("[a]".to_owned()), Just("[b]".to_owned()), Just("[missing]".to_owned()), Just(String::new()),
            "-?[0-9]{1,3}".prop_map(|s| s), "\"[a-z0-9 ,.*()?-]{0,6}\"".prop_map(|s| s),
        ], 0..8),
        val in "\\PC{0,12}",
    ) {
        let src = format!("{f}({})", args.join(", "));
        if let Ok(e) = Expression::parse(&src) {
            let a = attrs(&[("a", &[val.as_str()]), ("b", &[val.as_str(), "2"])]);
            let _ = e.evaluate_attributes(&a, &mut EvalContext::new(now()).with_default_domain("x.com"));
        }
    }
}
