//! Scoping through the public API: every operator and rule, configuration
//! errors, explanations, overlaps, and property tests.

use idsync::anchor::Guid;
use idsync::dn::Dn;
use idsync::object::{AttrTable, Attributes, ObjectKind, Row, Value};
use idsync::scope::{
    BuiltinExclusion, Claim, CompiledScope, Decision, MemoryEnv, OutReason, OverlapScope,
    ScopeConfig, ScopeEnv, ScopedObject, Step, Tracking, check_overlaps, claims, compile,
};
use proptest::prelude::*;

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

fn config(json: &str) -> ScopeConfig {
    serde_json::from_str(json).unwrap()
}

/// A compiled scope and its attribute table.
struct Scope {
    scope: CompiledScope,
    table: AttrTable,
}

impl Scope {
    fn new(json: &str) -> Scope {
        let mut table = AttrTable::new();
        let scope = compile(&config(json), &mut table).unwrap();
        Scope { scope, table }
    }

    fn row(&self, attrs: &[(&str, &[Value])]) -> Row {
        let mut a = Attributes::new();
        for (name, values) in attrs {
            a.set(*name, values.iter().cloned());
        }
        self.table.project(&a)
    }

    fn decide(
        &self,
        guid: u128,
        at: &str,
        kind: ObjectKind,
        row: &Row,
        env: &MemoryEnv,
    ) -> Decision {
        let d = dn(at);
        let obj = ScopedObject::new(Guid::from_u128(guid), &d, kind, row);
        let decision = self.scope.evaluate(&obj, env);
        let why = self.scope.explain(&obj, env);
        assert_eq!(why.decision, decision, "explain disagrees: {}", why.summary);
        assert_eq!(why.in_scope, decision.is_in());
        decision
    }

    fn user(&self, at: &str, attrs: &[(&str, &[Value])]) -> Decision {
        self.decide(1, at, ObjectKind::User, &self.row(attrs), &MemoryEnv::new())
    }
}

fn filter(op: &str, values: &[&str], multivalued: &str) -> Scope {
    let clause = serde_json::json!({"attribute": "a", "operator": op, "values": values});
    Scope::new(
        &serde_json::json!({
            "builtin_exclusions": false,
            "filters": {"user": {"groups": [[clause]], "multivalued": multivalued}}
        })
        .to_string(),
    )
}

fn holds(op: &str, values: &[&str], attr: &[Value]) -> bool {
    holds_mv(op, values, attr, "all")
}

fn holds_mv(op: &str, values: &[&str], attr: &[Value], mv: &str) -> bool {
    let s = filter(op, values, mv);
    s.user("CN=u,DC=x", &[("a", attr)]).is_in()
}

fn s(v: &str) -> Value {
    Value::str(v)
}

const D: &str = "CN=u,OU=Staff,DC=corp";

#[test]
fn equals_family_is_case_sensitive() {
    assert!(holds("EQUALS", &["Sales"], &[s("Sales")]));
    assert!(!holds("EQUALS", &["Sales"], &[s("sales")]));
    assert!(holds("NOT EQUALS", &["Sales"], &[s("sales")]));
    assert!(!holds("NOT EQUALS", &["Sales"], &[s("Sales")]));
    assert!(holds("Includes", &["@contoso"], &[s("a@contoso.com")]));
    assert!(!holds("Includes", &["@Contoso"], &[s("a@contoso.com")]));
    assert!(holds("ENDS_WITH", &[".com"], &[s("a@contoso.com")]));
    assert!(!holds("ENDS_WITH", &[".COM"], &[s("a@contoso.com")]));
    assert!(holds("REGEX MATCH", &["^Eng"], &[s("Engineer")]));
    assert!(!holds("REGEX MATCH", &["^Eng"], &[s("engineer")]));
    assert!(
        holds("REGEX MATCH", &["gin"], &[s("Engineer")]),
        "unanchored"
    );
    assert!(holds("NOT REGEX MATCH", &["^Eng"], &[s("engineer")]));
    assert!(!holds("NOT REGEX MATCH", &["^Eng"], &[s("Engineer")]));
}

#[test]
fn booleans() {
    for v in [Value::Bool(true), s("true"), s("TRUE"), s("True")] {
        assert!(holds("IS TRUE", &[], std::slice::from_ref(&v)), "{v:?}");
        assert!(!holds("IS FALSE", &[], &[v]));
    }
    for v in [Value::Bool(false), s("false"), s("FALSE")] {
        assert!(holds("IS FALSE", &[], std::slice::from_ref(&v)), "{v:?}");
        assert!(!holds("IS TRUE", &[], &[v]));
    }
    assert!(!holds("IS TRUE", &[], &[s("yes")]));
    assert!(!holds("IS FALSE", &[], &[s("0")]));
}

#[test]
fn integers_compare_as_integers() {
    assert!(holds("Greater_Than", &["9"], &[s("10")]));
    assert!(holds("Greater_Than", &["9"], &[Value::Int(10)]));
    assert!(!holds("Greater_Than", &["10"], &[s("10")]));
    assert!(holds("Greater_Than_OR_EQUALS", &["10"], &[s("10")]));
    assert!(!holds("Greater_Than_OR_EQUALS", &["10"], &[s("9")]));
    assert!(holds("Greater_Than", &["-5"], &[s("-4")]));
    assert!(
        !holds("Greater_Than", &["9"], &[s("ten")]),
        "a non-integer value is false"
    );
    assert!(holds("&", &["2"], &[s("514")]));
    assert!(!holds("&", &["1"], &[s("514")]));
    assert!(holds("!&", &["1"], &[Value::Int(514)]));
    assert!(!holds("!&", &["566259712"], &[s("8388608")]));
    assert!(holds("!&", &["0x21C07000"], &[s("1")]));
    assert!(!holds("&", &["2"], &[s("x")]));
}

#[test]
fn null_or_empty_makes_every_clause_false_except_is_null() {
    let cases: &[(&str, &[&str])] = &[
        ("EQUALS", &["x"]),
        ("NOT EQUALS", &["x"]),
        ("IS TRUE", &[]),
        ("IS FALSE", &[]),
        ("IS NOT NULL", &[]),
        ("REGEX MATCH", &[".*"]),
        ("NOT REGEX MATCH", &["x"]),
        ("Greater_Than", &["0"]),
        ("Greater_Than_OR_EQUALS", &["0"]),
        ("Includes", &[""]),
        ("ENDS_WITH", &["x"]),
        ("&", &["1"]),
        ("!&", &["1"]),
    ];
    for (op, values) in cases {
        for attr in [&[][..], &[s("")][..], &[s(""), s("")][..]] {
            for mv in ["all", "any"] {
                assert!(!holds_mv(op, values, attr, mv), "{op} on {attr:?} ({mv})");
            }
        }
    }
    assert!(holds("IS NULL", &[], &[]));
    assert!(holds("IS NULL", &[], &[s("")]));
    assert!(!holds("IS NULL", &[], &[s("x")]));
    assert!(holds("IS NOT NULL", &[], &[s("x")]));
}

#[test]
fn multivalued_all_and_any() {
    let vals = [s("SMTP:a@contoso.com"), s("smtp:b@fabrikam.com")];
    assert!(!holds_mv("Includes", &["@contoso.com"], &vals, "all"));
    assert!(holds_mv("Includes", &["@contoso.com"], &vals, "any"));
    assert!(holds_mv("Includes", &["@"], &vals, "all"));
    assert!(!holds_mv("EQUALS", &["x"], &vals, "any"));
    // NOT EQUALS with all: the value is none of them
    assert!(holds_mv("NOT EQUALS", &["x"], &vals, "all"));
    assert!(!holds_mv(
        "NOT EQUALS",
        &["smtp:b@fabrikam.com"],
        &vals,
        "all"
    ));
    assert!(holds_mv(
        "NOT EQUALS",
        &["smtp:b@fabrikam.com"],
        &vals,
        "any"
    ));
    // empty values among others are skipped
    assert!(holds_mv("EQUALS", &["x"], &[s("x"), s("")], "all"));
}

#[test]
fn groups_or_clauses_and() {
    let sc = Scope::new(
        r#"{"builtin_exclusions": false, "filters": {"user": {"groups": [
        [{"attribute": "department", "operator": "EQUALS", "values": ["Sales"]},
         {"attribute": "title", "operator": "REGEX MATCH", "values": ["^Eng"]}],
        [{"attribute": "department", "operator": "EQUALS", "values": ["HR"]}]]}}}"#,
    );
    assert!(
        sc.user(
            D,
            &[("department", &[s("Sales")]), ("title", &[s("Engineer")])]
        )
        .is_in()
    );
    assert!(
        !sc.user(
            D,
            &[("department", &[s("Sales")]), ("title", &[s("Manager")])]
        )
        .is_in()
    );
    assert!(sc.user(D, &[("department", &[s("HR")])]).is_in());
    assert_eq!(sc.user(D, &[]), Decision::Out(OutReason::Filter));
}

#[test]
fn attribute_names_are_case_insensitive() {
    let sc = Scope::new(
        r#"{"builtin_exclusions": false, "filters": {"user": {"groups": [[
        {"attribute": "DEPARTMENT", "operator": "EQUALS", "values": ["Sales"]}]]}}}"#,
    );
    assert!(sc.user(D, &[("department", &[s("Sales")])]).is_in());
}

#[test]
fn config_errors() {
    let err = |json: &str| {
        compile(&config(json), &mut AttrTable::new())
            .unwrap_err()
            .to_string()
    };
    let clause = |c: &str| format!(r#"{{"filters": {{"user": {{"groups": [[{c}]]}}}}}}"#);
    assert_eq!(
        err(&clause(
            r#"{"attribute": "a", "operator": "Greater_Than", "values": ["ten"]}"#
        )),
        r#"scope.filters.user.groups[0][0].values[0]: operator Greater_Than needs an integer, got "ten""#
    );
    assert_eq!(
        err(&clause(
            r#"{"attribute": "a", "operator": "&", "values": ["x1"]}"#
        )),
        r#"scope.filters.user.groups[0][0].values[0]: operator & needs an integer, got "x1""#
    );
    assert!(
        err(&clause(
            r#"{"attribute": "a", "operator": "REGEX MATCH", "values": ["a("]}"#
        ))
        .starts_with(r#"scope.filters.user.groups[0][0].values[0]: invalid regex "a(": "#)
    );
    let long = "a".repeat(5000);
    assert_eq!(
        err(&clause(&format!(
            r#"{{"attribute": "a", "operator": "REGEX MATCH", "values": ["{long}"]}}"#
        ))),
        "scope.filters.user.groups[0][0].values[0]: regex of 5000 bytes is longer than the limit of 1024"
    );
    assert_eq!(
        err(&clause(
            r#"{"attribute": "a", "operator": "IS TRUE", "values": ["true"]}"#
        )),
        "scope.filters.user.groups[0][0].values: operator IS TRUE takes no value, got 1"
    );
    assert_eq!(
        err(&clause(
            r#"{"attribute": "a", "operator": "equals", "values": ["x"]}"#
        )),
        r#"scope.filters.user.groups[0][0].operator: unknown operator "equals"; did you mean "EQUALS"?"#
    );
    assert_eq!(
        err(&clause(
            r#"{"attribute": "a", "operator": "LIKE", "values": ["x"]}"#
        )),
        r#"scope.filters.user.groups[0][0].operator: unknown operator "LIKE""#
    );
    let e = compile(
        &config(r#"{"ous": [{"dn": "not a dn"}]}"#),
        &mut AttrTable::new(),
    )
    .unwrap_err()
    .prefixed("configurations[1].");
    assert_eq!(e.path, "configurations[1].scope.ous[0].dn");
}

#[test]
fn json_and_toml_deserialize_to_the_same_config() {
    let json = config(
        r#"{"kinds": ["user", "contact"],
        "ous": [{"dn": "OU=A,DC=x", "guid": "00000000-0000-0000-0000-000000000001",
                 "exclude": [{"dn": "OU=B,OU=A,DC=x"}]}],
        "groups": [{"dn": "CN=G,DC=x"}],
        "filters": {"user": {"multivalued": "any", "groups": [[
            {"attribute": "n", "operator": "Greater_Than", "values": ["9"]},
            {"attribute": "f", "operator": "IS TRUE"}]]}},
        "builtin_exclusions": false}"#,
    );
    let toml: ScopeConfig = toml::from_str(
        r#"
        kinds = ["user", "contact"]
        builtin_exclusions = false
        [[ous]]
        dn = "OU=A,DC=x"
        guid = "00000000-0000-0000-0000-000000000001"
        exclude = [{ dn = "OU=B,OU=A,DC=x" }]
        [[groups]]
        dn = "CN=G,DC=x"
        [filters.user]
        multivalued = "any"
        groups = [[
            { attribute = "n", operator = "Greater_Than", values = [9] },
            { attribute = "f", operator = "IS TRUE" },
        ]]
        "#,
    )
    .unwrap();
    assert_eq!(json, toml);
    let again: ScopeConfig = serde_json::from_str(&serde_json::to_string(&json).unwrap()).unwrap();
    assert_eq!(again, json);
    let defaults = config("{}");
    assert_eq!(defaults, ScopeConfig::default());
    assert_eq!(
        defaults.kinds,
        [ObjectKind::User, ObjectKind::Group, ObjectKind::Contact]
    );
    assert!(defaults.builtin_exclusions);
}

#[test]
fn ou_includes_and_excludes() {
    let sc = Scope::new(
        r#"{"ous": [
        {"dn": "OU=Corp,DC=x", "exclude": [{"dn": "OU=Lab,OU=Corp,DC=x"}, {"dn": "OU=Old,OU=Corp,DC=x"}]},
        {"dn": "OU=Keep,OU=Lab,OU=Corp,DC=x"},
        {"dn": "OU=Sales,DC=x"}]}"#,
    );
    assert!(sc.user("CN=a,OU=Corp,DC=x", &[]).is_in());
    assert!(sc.user("CN=a,OU=Deep,OU=Corp,DC=x", &[]).is_in());
    assert_eq!(
        sc.user("CN=a,OU=Old,OU=Corp,DC=x", &[]),
        Decision::Out(OutReason::ExcludedOu {
            include: 0,
            exclude: 1
        })
    );
    assert!(!sc.user("CN=a,OU=X,OU=Lab,OU=Corp,DC=x", &[]).is_in());
    assert!(
        sc.user("CN=a,OU=Keep,OU=Lab,OU=Corp,DC=x", &[]).is_in(),
        "a later include under an exclude"
    );
    assert!(
        sc.user("cn=a, ou=SALES, dc=X", &[]).is_in(),
        "dns compare normalized"
    );
    assert_eq!(
        sc.user("CN=a,OU=Sales2,DC=x", &[]),
        Decision::Out(OutReason::OutsideOus),
        "never a string prefix"
    );
    assert_eq!(
        sc.user("CN=a,DC=x", &[]),
        Decision::Out(OutReason::OutsideOus)
    );
}

#[test]
fn group_scope_is_direct_members_only_and_ands_with_ous() {
    let g = Guid::from_u128(100);
    let inner = Guid::from_u128(101);
    let sc = Scope::new(
        r#"{"ous": [{"dn": "OU=Staff,DC=x"}],
        "groups": [{"dn": "CN=Cloud,OU=Groups,DC=x", "guid": "00000000-0000-0000-0000-000000000064"}]}"#,
    );
    let mut env = MemoryEnv::new();
    env.add_member(g, Guid::from_u128(1));
    env.add_member(g, inner);
    env.add_member(inner, Guid::from_u128(2));
    env.add_member(g, Guid::from_u128(3));
    let row = Row::default();
    let at = "CN=u,OU=Staff,DC=x";
    assert!(sc.decide(1, at, ObjectKind::User, &row, &env).is_in());
    assert!(
        sc.decide(101, "CN=Inner,OU=Staff,DC=x", ObjectKind::Group, &row, &env)
            .is_in(),
        "a member group"
    );
    assert_eq!(
        sc.decide(2, at, ObjectKind::User, &row, &env),
        Decision::Out(OutReason::NotInGroup),
        "nested members are not followed"
    );
    assert_eq!(
        sc.decide(3, "CN=u,OU=Other,DC=x", ObjectKind::User, &row, &env),
        Decision::Out(OutReason::OutsideOus),
        "OU and group combine with AND"
    );
    env.remove_member(g, Guid::from_u128(1));
    assert_eq!(
        sc.decide(1, at, ObjectKind::User, &row, &env),
        Decision::Out(OutReason::NotInGroup)
    );
    env.add_member(g, Guid::from_u128(1));
    assert!(sc.decide(1, at, ObjectKind::User, &row, &env).is_in());
}

#[test]
fn group_by_dn_only_is_resolved_through_the_directory() {
    let g = Guid::from_u128(100);
    let sc = Scope::new(r#"{"groups": [{"dn": "CN=Cloud,DC=x"}, {"dn": "CN=Other,DC=x"}]}"#);
    let mut env = MemoryEnv::new();
    env.add_member(g, Guid::from_u128(1));
    let row = Row::default();
    assert!(
        !sc.decide(1, D, ObjectKind::User, &row, &env).is_in(),
        "group not known yet"
    );
    env.add_container(g, dn("CN=Cloud,DC=x"));
    assert!(sc.decide(1, D, ObjectKind::User, &row, &env).is_in());
    let why = explain(&sc, 1, D, ObjectKind::User, &row, &env);
    assert!(
        why.summary
            .contains("direct member of CN=Cloud,DC=x (scope.groups[0])"),
        "{}",
        why.summary
    );
}

fn explain(
    sc: &Scope,
    guid: u128,
    at: &str,
    kind: ObjectKind,
    row: &Row,
    env: &MemoryEnv,
) -> idsync::scope::Explanation {
    let d = dn(at);
    sc.scope.explain(
        &ScopedObject::new(Guid::from_u128(guid), &d, kind, row),
        env,
    )
}

#[test]
fn renamed_ou_keeps_scope_when_tracked_by_guid() {
    let ou = Guid::from_u128(50);
    let mut env = MemoryEnv::new();
    env.add_container(ou, dn("OU=Sales,DC=x"));
    let tracked = Scope::new(
        r#"{"ous": [{"dn": "OU=Sales,DC=x", "guid": "00000000-0000-0000-0000-000000000032"}]}"#,
    );
    let by_dn = Scope::new(r#"{"ous": [{"dn": "OU=Sales,DC=x"}]}"#);
    let row = Row::default();
    env.add_container(ou, dn("OU=Revenue,OU=Europe,DC=x"));
    let moved = "CN=u,OU=Revenue,OU=Europe,DC=x";
    assert!(
        tracked
            .decide(1, moved, ObjectKind::User, &row, &env)
            .is_in()
    );
    assert!(!by_dn.decide(1, moved, ObjectKind::User, &row, &env).is_in());
    let why = explain(&tracked, 1, moved, ObjectKind::User, &row, &env);
    match &why.steps[1] {
        Step::Ou {
            include: Some(t), ..
        } => {
            assert_eq!(t.tracked_by, Tracking::Guid);
            assert_eq!(t.current_dn, dn("OU=Revenue,OU=Europe,DC=x"));
            assert_eq!(t.configured_dn, dn("OU=Sales,DC=x"));
        }
        other => panic!("unexpected step {other:?}"),
    }
    assert!(
        why.summary.contains("followed by objectGUID"),
        "{}",
        why.summary
    );
    // unknown GUID in the directory: the configured DN is used
    env.remove_container(ou);
    assert!(
        tracked
            .decide(1, "CN=u,OU=Sales,DC=x", ObjectKind::User, &row, &env)
            .is_in()
    );
}

#[test]
fn pinned_guids_follow_renames_and_persist() {
    let mut cfg = config(
        r#"{"ous": [{"dn": "OU=A,DC=x", "exclude": [{"dn": "OU=B,OU=A,DC=x"}]}], "groups": [{"dn": "CN=G,DC=x"}]}"#,
    );
    let mut table = AttrTable::new();
    let mut scope = compile(&cfg, &mut table).unwrap();
    let mut env = MemoryEnv::new();
    env.add_container(Guid::from_u128(1), dn("OU=A,DC=x"));
    env.add_container(Guid::from_u128(2), dn("OU=B,OU=A,DC=x"));
    env.add_container(Guid::from_u128(3), dn("CN=G,DC=x"));
    let pins = scope.pin_guids(&env);
    assert_eq!(pins.len(), 3);
    assert!(
        scope.pin_guids(&env).is_empty(),
        "pinning twice finds nothing new"
    );
    cfg.apply_pins(&pins);
    assert_eq!(
        cfg.ous[0].guid.as_deref(),
        Some("00000000-0000-0000-0000-000000000001")
    );
    assert_eq!(
        cfg.ous[0].exclude[0].guid.as_deref(),
        Some("00000000-0000-0000-0000-000000000002")
    );
    assert_eq!(
        cfg.groups[0].guid.as_deref(),
        Some("00000000-0000-0000-0000-000000000003")
    );
    // the persisted configuration compiles to a scope that follows the rename
    let reloaded = compile(&cfg, &mut AttrTable::new()).unwrap();
    env.add_container(Guid::from_u128(1), dn("OU=Z,DC=x"));
    env.add_container(Guid::from_u128(2), dn("OU=B,OU=Z,DC=x"));
    env.add_container(Guid::from_u128(3), dn("CN=G2,DC=x"));
    env.add_member(Guid::from_u128(3), Guid::from_u128(9));
    let row = Row::default();
    for s in [&scope, &reloaded] {
        let d = dn("CN=u,OU=Z,DC=x");
        assert!(
            s.evaluate(
                &ScopedObject::new(Guid::from_u128(9), &d, ObjectKind::User, &row),
                &env
            )
            .is_in()
        );
        let d = dn("CN=u,OU=B,OU=Z,DC=x");
        assert!(
            !s.evaluate(
                &ScopedObject::new(Guid::from_u128(9), &d, ObjectKind::User, &row),
                &env
            )
            .is_in()
        );
    }
}

#[test]
fn kinds_never_synced_and_not_selected() {
    let sc = Scope::new(r#"{"kinds": ["user"]}"#);
    let row = Row::default();
    let env = MemoryEnv::new();
    assert_eq!(
        sc.decide(1, D, ObjectKind::Unsupported, &row, &env),
        Decision::Out(OutReason::KindNeverSynced)
    );
    assert_eq!(
        sc.decide(1, D, ObjectKind::Group, &row, &env),
        Decision::Out(OutReason::KindNotSelected)
    );
    let why = explain(&sc, 1, D, ObjectKind::Unsupported, &row, &env);
    assert_eq!(
        why.summary,
        "out of scope: unsupported objects (computers, devices and others) are never synced"
    );
    assert!(sc.scope.syncs(ObjectKind::User) && !sc.scope.syncs(ObjectKind::Contact));
}

#[test]
fn builtin_exclusions_apply_by_default_and_switch_off() {
    let on = Scope::new("{}");
    let off = Scope::new(r#"{"builtin_exclusions": false}"#);
    let msol: &[(&str, &[Value])] = &[("sAMAccountName", &[s("MSOL_0123")])];
    assert_eq!(
        on.user(D, msol),
        Decision::Out(OutReason::Builtin(BuiltinExclusion::MsolServiceAccount))
    );
    assert!(off.user(D, msol).is_in());
    assert!(
        on.user(D, &[]).is_in(),
        "absent attributes pass the built-in rules"
    );
    let crit: &[(&str, &[Value])] = &[("isCriticalSystemObject", &[Value::Bool(true)])];
    assert!(!on.user(D, crit).is_in());
    let d = dn(D);
    let row = on.row(msol);
    let why = on.scope.explain(
        &ScopedObject::new(Guid::from_u128(1), &d, ObjectKind::User, &row),
        &MemoryEnv::new(),
    );
    assert_eq!(
        why.summary,
        r#"out of scope: built-in exclusion sAMAccountName NOT REGEX MATCH ^MSOL_ (directory sync service account), value "MSOL_0123""#
    );
}

#[test]
fn explain_names_the_failing_clause_and_value() {
    let sc = Scope::new(
        r#"{"builtin_exclusions": false, "filters": {"user": {"groups": [
        [{"attribute": "department", "operator": "EQUALS", "values": ["Sales"]}],
        [{"attribute": "employeeID", "operator": "IS NOT NULL"},
         {"attribute": "employeeNumber", "operator": "Greater_Than", "values": ["100"]}]]}}}"#,
    );
    let row = sc.row(&[
        ("department", &[s("HR")]),
        ("employeeID", &[s("E1")]),
        ("employeeNumber", &[s("42")]),
    ]);
    let why = explain(&sc, 1, D, ObjectKind::User, &row, &MemoryEnv::new());
    assert!(!why.in_scope);
    let json = serde_json::to_value(&why).unwrap();
    let groups = &json["steps"][1]["groups"];
    assert_eq!(json["steps"][1]["rule"], "filter");
    assert_eq!(
        groups[0]["failed_clause"]["path"],
        "scope.filters.user.groups[0][0]"
    );
    assert_eq!(groups[0]["failed_clause"]["actual"][0], "HR");
    assert_eq!(
        groups[1]["failed_clause"]["path"],
        "scope.filters.user.groups[1][1]"
    );
    assert_eq!(groups[1]["failed_clause"]["operator"], "Greater_Than");
    assert_eq!(
        groups[1]["failed_clause"]["reason"],
        "value \"42\" does not satisfy it"
    );
    assert!(
        why.summary.contains(
            "scope.filters.user.groups[1][1] (employeeNumber Greater_Than \"100\"): value \"42\" does not satisfy it"
        ),
        "{}",
        why.summary
    );

    let row = sc.row(&[("employeeID", &[s("E1")]), ("employeeNumber", &[s("420")])]);
    let why = explain(&sc, 1, D, ObjectKind::User, &row, &MemoryEnv::new());
    assert!(why.in_scope);
    assert_eq!(why.summary, "in scope: user filter group 1 holds");
    let json = serde_json::to_value(&why).unwrap();
    assert_eq!(json["decision"], "in");
    assert_eq!(json["steps"][1]["matched_group"], 1);
    assert_eq!(
        json["steps"][1]["groups"][0]["failed_clause"]["reason"],
        "attribute is absent or empty (only IS NULL holds then)"
    );
}

#[test]
fn explain_never_shows_a_secret() {
    let sc = filter("EQUALS", &["x"], "all");
    let row = sc.row(&[(
        "a",
        &[Value::Secret(idsync::object::Secret::new(
            b"hunter2".to_vec(),
        ))],
    )]);
    let why = explain(&sc, 1, D, ObjectKind::User, &row, &MemoryEnv::new());
    let text = format!("{why:?}{}", serde_json::to_string(&why).unwrap());
    assert!(!text.contains("hunter2"));
    assert!(text.contains("<redacted>"));
}

// ---------------------------------------------------------------------------
// Overlaps
// ---------------------------------------------------------------------------

fn overlaps(a: &str, b: &str) -> Vec<String> {
    let (a, b) = (config(a), config(b));
    match check_overlaps(&[("a", &a), ("b", &b)]) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn overlapping_ou_subtrees() {
    assert_eq!(
        overlaps(
            r#"{"ous": [{"dn": "DC=x"}]}"#,
            r#"{"kinds": ["group"], "ous": [{"dn": "OU=S,DC=x"}]}"#
        ),
        [
            r#"configurations "a" and "b" overlap: both claim the objects in the subtree OU=S,DC=x (groups)"#
        ]
    );
    assert_eq!(
        overlaps("{}", "{}"),
        [
            r#"configurations "a" and "b" overlap: both claim the objects in the whole directory (users, groups, contacts)"#
        ]
    );
    assert!(
        overlaps(
            r#"{"ous": [{"dn": "OU=A,DC=x"}]}"#,
            r#"{"ous": [{"dn": "OU=B,DC=x"}]}"#
        )
        .is_empty()
    );
    assert!(
        overlaps(
            r#"{"ous": [{"dn": "OU=S,DC=x"}]}"#,
            r#"{"ous": [{"dn": "OU=S2,DC=x"}]}"#
        )
        .is_empty()
    );
    // an exclude carves the other configuration's subtree out
    assert!(
        overlaps(
            r#"{"ous": [{"dn": "DC=x", "exclude": [{"dn": "OU=P,DC=x"}]}]}"#,
            r#"{"ous": [{"dn": "OU=T,OU=P,DC=x"}]}"#
        )
        .is_empty()
    );
    // but an exclude deeper than the other's include does not
    assert_eq!(
        overlaps(
            r#"{"ous": [{"dn": "DC=x"}]}"#,
            r#"{"ous": [{"dn": "OU=P,DC=x", "exclude": [{"dn": "OU=Q,OU=P,DC=x"}]}]}"#
        )
        .len(),
        1
    );
    // disjoint kinds never overlap
    assert!(
        overlaps(
            r#"{"kinds": ["user"]}"#,
            r#"{"kinds": ["group", "contact"]}"#
        )
        .is_empty()
    );
}

#[test]
fn overlapping_groups_and_filters() {
    let g1 = r#"{"groups": [{"dn": "CN=G1,DC=x"}]}"#;
    let g2 = r#"{"groups": [{"dn": "CN=G2,DC=x"}, {"dn": "cn=g1,dc=x"}]}"#;
    assert_eq!(
        overlaps(g1, g2),
        [
            r#"configurations "a" and "b" overlap: both scope on group CN=G1,DC=x (its direct members in the whole directory) (users, groups, contacts)"#
        ]
    );
    assert!(
        overlaps(g1, r#"{"groups": [{"dn": "CN=G2,DC=x"}]}"#).is_empty(),
        "different groups: run time only"
    );
    // same GUID, different DNs (one was renamed)
    assert_eq!(
        overlaps(
            r#"{"groups": [{"dn": "CN=Old,DC=x", "guid": "00000000-0000-0000-0000-000000000007"}]}"#,
            r#"{"groups": [{"dn": "CN=New,DC=x", "guid": "00000000-0000-0000-0000-000000000007"}]}"#
        )
        .len(),
        1
    );
    assert_eq!(
        overlaps(g1, r#"{"ous": [{"dn": "OU=S,DC=x"}]}"#),
        [
            r#"configurations "a" and "b" overlap: members of the scoping groups of "a" in the subtree OU=S,DC=x are claimed by both (users, groups, contacts)"#
        ]
    );
    let sales = r#"{"kinds": ["user"], "filters": {"user": {"groups": [[{"attribute": "department", "operator": "EQUALS", "values": ["Sales"]}]]}}}"#;
    let hr = r#"{"kinds": ["user"], "filters": {"user": {"groups": [[{"attribute": "department", "operator": "EQUALS", "values": ["HR"]}]]}}}"#;
    assert!(
        overlaps(sales, hr).is_empty(),
        "different filters may partition"
    );
    assert_eq!(
        overlaps(sales, sales).len(),
        1,
        "the same filter claims the same objects"
    );
    assert_eq!(
        overlaps(sales, r#"{"kinds": ["user"]}"#).len(),
        1,
        "a filtered subset of everything"
    );
}

#[test]
fn overlap_errors_name_every_pair() {
    let (a, b, c) = (
        config("{}"),
        config(r#"{"ous": [{"dn": "OU=B,DC=x"}]}"#),
        config(r#"{"ous": [{"dn": "OU=C,DC=x"}]}"#),
    );
    let errors = check_overlaps(&[("a", &a), ("b", &b), ("c", &c)]).unwrap_err();
    let pairs: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.first.as_str(), e.second.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "b"), ("a", "c")]);
    assert_eq!(
        errors[0].scope,
        OverlapScope::Subtree {
            dn: dn("OU=B,DC=x")
        }
    );
}

#[test]
fn run_time_claims() {
    let pilot = Scope::new(
        r#"{"groups": [{"dn": "CN=Pilot,DC=x", "guid": "00000000-0000-0000-0000-000000000001"}]}"#,
    );
    let wave = Scope::new(
        r#"{"groups": [{"dn": "CN=Wave,DC=x", "guid": "00000000-0000-0000-0000-000000000002"}]}"#,
    );
    let mut env = MemoryEnv::new();
    env.add_member(Guid::from_u128(1), Guid::from_u128(10));
    env.add_member(Guid::from_u128(2), Guid::from_u128(10));
    env.add_member(Guid::from_u128(2), Guid::from_u128(11));
    let row = Row::default();
    let claim = |id| {
        claims([
            ("pilot", pilot.decide(id, D, ObjectKind::User, &row, &env)),
            ("wave", wave.decide(id, D, ObjectKind::User, &row, &env)),
        ])
    };
    assert_eq!(claim(10), Claim::Conflict(vec!["pilot", "wave"]));
    assert_eq!(claim(11), Claim::One("wave"));
    assert_eq!(claim(12), Claim::Unclaimed);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

const OUS: [&str; 6] = [
    "DC=x",
    "OU=A,DC=x",
    "OU=B,OU=A,DC=x",
    "OU=C,OU=B,OU=A,DC=x",
    "OU=D,DC=x",
    "OU=A2,DC=x",
];

const CLAUSES: [(&str, &str, &[&str]); 14] = [
    ("department", "EQUALS", &["Sales"]),
    ("department", "NOT EQUALS", &["HR"]),
    ("enabled", "IS TRUE", &[]),
    ("enabled", "IS FALSE", &[]),
    ("employeeID", "IS NULL", &[]),
    ("employeeID", "IS NOT NULL", &[]),
    ("title", "REGEX MATCH", &["^Eng"]),
    ("title", "NOT REGEX MATCH", &["er$"]),
    ("employeeNumber", "Greater_Than", &["9"]),
    ("employeeNumber", "Greater_Than_OR_EQUALS", &["10"]),
    ("mail", "Includes", &["@contoso"]),
    ("mail", "ENDS_WITH", &[".com"]),
    ("flags", "&", &["2"]),
    ("flags", "!&", &["0x21C07000"]),
];

const VALUES: [&str; 12] = [
    "Sales",
    "HR",
    "",
    "true",
    "FALSE",
    "Engineer",
    "10",
    "9",
    "a@contoso.com",
    "b@fabrikam.org",
    "514",
    "8388608",
];

fn arb_config() -> impl Strategy<Value = String> {
    let ou = (0..OUS.len(), proptest::option::of(0..OUS.len()));
    let clause = 0..CLAUSES.len();
    (
        proptest::collection::vec(ou, 0..3),
        proptest::collection::vec(0u128..4, 0..3),
        proptest::collection::vec(proptest::collection::vec(clause, 1..4), 0..3),
        any::<bool>(),
        any::<bool>(),
        proptest::sample::subsequence(vec!["user", "group", "contact"], 1..=3),
    )
        .prop_map(|(ous, groups, filter, any_mv, builtins, kinds)| {
            let ous: Vec<_> = ous
                .into_iter()
                .map(|(inc, ex)| {
                    let inc_dn = dn(OUS[inc]);
                    let exclude: Vec<_> = ex
                        .into_iter()
                        .map(|e| (e, dn(OUS[e])))
                        .filter(|(_, e)| e.is_under(&inc_dn) && *e != inc_dn)
                        .map(|(i, e)| serde_json::json!({"dn": e.to_string(), "guid": Guid::from_u128(1000 + i as u128).to_string()}))
                        .collect();
                    serde_json::json!({"dn": OUS[inc], "guid": Guid::from_u128(1000 + inc as u128).to_string(), "exclude": exclude})
                })
                .collect();
            let groups: Vec<_> = groups
                .into_iter()
                .map(|g| serde_json::json!({"dn": format!("CN=G{g},DC=x"), "guid": Guid::from_u128(500 + g).to_string()}))
                .collect();
            let filter: Vec<Vec<_>> = filter
                .into_iter()
                .map(|g| {
                    g.into_iter()
                        .map(|c| {
                            let (a, o, v) = CLAUSES[c];
                            serde_json::json!({"attribute": a, "operator": o, "values": v})
                        })
                        .collect()
                })
                .collect();
            let mut filters = serde_json::Map::new();
            for k in &kinds {
                filters.insert(
                    (*k).to_owned(),
                    serde_json::json!({"groups": filter, "multivalued": if any_mv {"any"} else {"all"}}),
                );
            }
            serde_json::json!({
                "kinds": kinds, "ous": ous, "groups": groups, "filters": filters, "builtin_exclusions": builtins
            })
            .to_string()
        })
}

fn arb_attrs() -> impl Strategy<Value = Vec<(&'static str, Vec<Value>)>> {
    let names = [
        "department",
        "enabled",
        "employeeID",
        "title",
        "employeeNumber",
        "mail",
        "flags",
        "sAMAccountName",
        "isCriticalSystemObject",
        "proxyAddresses",
    ];
    let value = prop_oneof![
        (0..VALUES.len()).prop_map(|i| Value::str(VALUES[i])),
        (-3i64..20).prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::str("MSOL_x")),
    ];
    proptest::collection::vec(
        (0..names.len(), proptest::collection::vec(value, 0..3)),
        0..6,
    )
    .prop_map(move |v| v.into_iter().map(|(i, vals)| (names[i], vals)).collect())
}

fn arb_kind() -> impl Strategy<Value = ObjectKind> {
    prop_oneof![
        Just(ObjectKind::User),
        Just(ObjectKind::Group),
        Just(ObjectKind::Contact),
        Just(ObjectKind::Unsupported)
    ]
}

/// A directory with the OUs of [`OUS`] and groups `G0..G3`, some memberships.
fn env_with(members: &[(u128, u128)]) -> MemoryEnv {
    let mut env = MemoryEnv::new();
    for (i, ou) in OUS.iter().enumerate() {
        env.add_container(Guid::from_u128(1000 + i as u128), dn(ou));
    }
    for g in 0..4 {
        env.add_container(Guid::from_u128(500 + g), dn(&format!("CN=G{g},DC=x")));
    }
    for (g, m) in members {
        env.add_member(Guid::from_u128(500 + g), Guid::from_u128(*m));
    }
    env
}

/// The DN an OU from [`OUS`] has after the moves applied to the directory.
fn current(env: &MemoryEnv, i: usize) -> Dn {
    env.container_dn(Guid::from_u128(1000 + i as u128))
        .cloned()
        .unwrap_or_else(|| dn(OUS[i]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn explain_agrees_with_evaluate(
        cfg in arb_config(),
        attrs in arb_attrs(),
        kind in arb_kind(),
        ou in 0..OUS.len(),
        members in proptest::collection::vec((0u128..4, 1u128..3), 0..4),
        guid in 1u128..3,
    ) {
        let mut table = AttrTable::new();
        let scope = compile(&config(&cfg), &mut table).unwrap();
        let mut a = Attributes::new();
        for (n, v) in &attrs {
            a.set(*n, v.iter().cloned());
        }
        let row = table.project(&a);
        let env = env_with(&members);
        let d = dn(&format!("CN=o,{}", OUS[ou]));
        let obj = ScopedObject::new(Guid::from_u128(guid), &d, kind, &row);
        let decision = scope.evaluate(&obj, &env);
        let why = scope.explain(&obj, &env);
        prop_assert_eq!(why.decision, decision);
        prop_assert_eq!(why.in_scope, decision.is_in());
        prop_assert_eq!(why.summary.starts_with("in scope"), decision.is_in());
        // every step but the deciding one passed; the deciding one failed
        let passed: Vec<bool> = why.steps.iter().map(step_passed).collect();
        if decision.is_in() {
            prop_assert!(passed.iter().all(|p| *p));
        } else {
            prop_assert_eq!(passed.last(), Some(&false));
            prop_assert!(passed[..passed.len() - 1].iter().all(|p| *p));
        }
        // a config that round-trips through JSON decides the same
        let again: ScopeConfig = serde_json::from_str(&serde_json::to_string(&config(&cfg)).unwrap()).unwrap();
        let scope2 = compile(&again, &mut table).unwrap();
        prop_assert_eq!(scope2.evaluate(&obj, &env), decision);
    }

    #[test]
    fn moving_anywhere_and_back_restores_scope(
        cfg in arb_config(),
        start in 0..OUS.len(),
        moves in proptest::collection::vec((0..OUS.len(), any::<bool>(), 0..OUS.len()), 1..6),
    ) {
        let scope = compile(&config(&cfg), &mut AttrTable::new()).unwrap();
        let row = Row::default();
        let mut env = env_with(&[(0, 1), (2, 1)]);
        let decide = |env: &MemoryEnv, at: &Dn| {
            scope.evaluate(&ScopedObject::new(Guid::from_u128(1), at, ObjectKind::User, &row), env)
        };
        let home = dn(&format!("CN=o,{}", OUS[start]));
        let before = decide(&env, &home);
        let mut at = home.clone();
        let mut moved_ous = Vec::new();
        for (target, move_ou, which) in moves {
            if move_ou {
                // move an OU (and with it its subtree) under another place
                let from = current(&env, which);
                let to_parent = dn(&format!("OU=Moved{which},{}", current(&env, target)));
                if to_parent.is_under(&from) || from.is_empty() {
                    continue;
                }
                for i in 0..OUS.len() {
                    if let Some(new) = current(&env, i).rebase(&from, &to_parent) {
                        moved_ous.push((i, current(&env, i)));
                        env.add_container(Guid::from_u128(1000 + i as u128), new);
                    }
                }
                if let Some(new) = at.rebase(&from, &to_parent) {
                    at = new;
                }
            } else {
                at = dn(&format!("CN=o,{}", current(&env, target)));
            }
            // tracking by GUID decides as if the configuration named the
            // OUs' current DNs
            let plain = compile(&at_current_dns(&config(&cfg), &env), &mut AttrTable::new()).unwrap();
            let expected = plain.evaluate(&ScopedObject::new(Guid::from_u128(1), &at, ObjectKind::User, &row), &env);
            prop_assert_eq!(decide(&env, &at), expected);
        }
        // undo the OU moves in reverse order, put the object back
        for (i, old) in moved_ous.into_iter().rev() {
            env.add_container(Guid::from_u128(1000 + i as u128), old);
        }
        prop_assert_eq!(decide(&env, &home), before);
    }

    #[test]
    fn ou_scope_is_invariant_under_moving_the_whole_tree(
        cfg in arb_config(),
        ou in 0..OUS.len(),
    ) {
        // every OU (tracked by GUID) moves under a new root together with
        // the object: the relative place is unchanged, and so is the decision
        let scope = compile(&config(&cfg), &mut AttrTable::new()).unwrap();
        let row = Row::default();
        let mut env = env_with(&[(1, 1)]);
        let at = dn(&format!("CN=o,{}", OUS[ou]));
        let before = scope.evaluate(&ScopedObject::new(Guid::from_u128(1), &at, ObjectKind::User, &row), &env);
        let root = dn("DC=x");
        let new_root = dn("DC=y");
        for i in 0..OUS.len() {
            let moved = current(&env, i).rebase(&root, &new_root).unwrap();
            env.add_container(Guid::from_u128(1000 + i as u128), moved);
        }
        let moved_at = at.rebase(&root, &new_root).unwrap();
        let after = scope.evaluate(&ScopedObject::new(Guid::from_u128(1), &moved_at, ObjectKind::User, &row), &env);
        prop_assert_eq!(after, before);
    }
}

/// The configuration with every OU named by its current DN, without GUIDs.
fn at_current_dns(cfg: &ScopeConfig, env: &MemoryEnv) -> ScopeConfig {
    let mut cfg = cfg.clone();
    let now = |dn: &mut String, guid: &mut Option<String>| {
        if let Some(i) = (0..OUS.len())
            .find(|i| guid.as_deref() == Some(&Guid::from_u128(1000 + *i as u128).to_string()))
        {
            *dn = current(env, i).to_string();
            *guid = None;
        }
    };
    for ou in &mut cfg.ous {
        now(&mut ou.dn, &mut ou.guid);
        for e in &mut ou.exclude {
            now(&mut e.dn, &mut e.guid);
        }
        // an exclude moved out of its include no longer applies to it
        let inc = dn(&ou.dn);
        ou.exclude.retain(|e| {
            let ex = dn(&e.dn);
            ex.is_under(&inc) && ex != inc
        });
    }
    cfg
}

fn step_passed(step: &Step) -> bool {
    match step {
        Step::Kind { passed, .. }
        | Step::Ou { passed, .. }
        | Step::Group { passed, .. }
        | Step::Builtin { passed, .. }
        | Step::Filter { passed, .. } => *passed,
        _ => true,
    }
}

/// The fuzz target's contract, run on every truncation and many byte flips
/// of a full configuration: decoding and compiling never panic.
#[test]
fn decoder_never_panics_on_damaged_input() {
    let full = br#"{"kinds": ["user", "group"], "ous": [{"dn": "OU=A,DC=x", "guid": "00000000-0000-0000-0000-000000000001",
        "exclude": [{"dn": "OU=B,OU=A,DC=x"}]}], "groups": [{"dn": "CN=G,DC=x"}],
        "filters": {"user": {"multivalued": "any", "groups": [[{"attribute": "title", "operator": "REGEX MATCH",
        "values": ["^(a|b){2,5}$"]}, {"attribute": "n", "operator": "Greater_Than", "values": [9]}]]}},
        "builtin_exclusions": true}"#;
    let mut inputs: Vec<Vec<u8>> = (0..full.len()).map(|i| full[..i].to_vec()).collect();
    for i in 0..full.len() {
        for b in [b'"', b'{', b'[', b'\\', b'0', b' ', 0xff] {
            let mut v = full.to_vec();
            v[i] = b;
            inputs.push(v);
        }
    }
    let mut compiled = 0;
    for input in &inputs {
        if let Ok(cfg) = serde_json::from_slice::<ScopeConfig>(input) {
            let _ = check_overlaps(&[("a", &cfg), ("b", &cfg)]);
            if let Ok(scope) = compile(&cfg, &mut AttrTable::new()) {
                compiled += 1;
                let d = dn(D);
                let row = Row::default();
                let obj = ScopedObject::new(Guid::from_u128(1), &d, ObjectKind::User, &row);
                assert_eq!(
                    scope.explain(&obj, &MemoryEnv::new()).decision,
                    scope.evaluate(&obj, &MemoryEnv::new())
                );
            }
        }
    }
    assert!(compiled > 10, "only {compiled} damaged inputs compiled");
}

#[test]
fn distinguished_name_clauses_read_the_objects_dn() {
    let sc = Scope::new(
        r#"{"builtin_exclusions": false, "filters": {"user": {"groups": [[
        {"attribute": "distinguishedName", "operator": "REGEX MATCH", "values": [",OU=Staff,"]}]]}}}"#,
    );
    assert!(sc.user("CN=u,OU=Staff,DC=corp", &[]).is_in());
    assert_eq!(
        sc.user("CN=u,OU=Other,DC=corp", &[]),
        Decision::Out(OutReason::Filter)
    );
    // a value the source sent wins over the DN
    assert!(
        sc.user(
            "CN=u,OU=Other,DC=corp",
            &[("distinguishedName", &[s("CN=u,OU=Staff,DC=corp")])]
        )
        .is_in()
    );
}

/// Counts the allocations of the current thread, so the hot path's "no
/// allocation" promise is checked, not assumed.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counting;

    fn count() {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every call is forwarded unchanged to the system allocator;
    // the only addition is a thread-local counter without a destructor.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    pub fn allocations() -> usize {
        ALLOCATIONS.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[test]
fn evaluate_does_not_allocate() {
    let sc = Scope::new(
        r#"{"ous": [{"dn": "OU=Staff,DC=x", "guid": "00000000-0000-0000-0000-000000000001",
                     "exclude": [{"dn": "OU=Lab,OU=Staff,DC=x"}]}],
            "groups": [{"dn": "CN=G,DC=x"}],
            "filters": {"user": {"multivalued": "any", "groups": [
                [{"attribute": "department", "operator": "EQUALS", "values": ["HR"]}],
                [{"attribute": "title", "operator": "REGEX MATCH", "values": ["^Eng"]},
                 {"attribute": "employeeNumber", "operator": "Greater_Than", "values": ["9"]},
                 {"attribute": "proxyAddresses", "operator": "Includes", "values": ["@contoso.com"]},
                 {"attribute": "flags", "operator": "EQUALS", "values": ["512"]},
                 {"attribute": "distinguishedName", "operator": "ENDS_WITH", "values": ["DC=x"]}]]}}}"#,
    );
    let mut env = MemoryEnv::new();
    env.add_container(Guid::from_u128(1), dn("OU=Staff,DC=x"));
    env.add_container(Guid::from_u128(2), dn("CN=G,DC=x"));
    env.add_member(Guid::from_u128(2), Guid::from_u128(7));
    let row = sc.row(&[
        ("department", &[s("Sales")]),
        ("title", &[s("Engineer")]),
        ("employeeNumber", &[s("10")]),
        (
            "proxyAddresses",
            &[s("SMTP:a@contoso.com"), s("smtp:a@fabrikam.com")],
        ),
        ("flags", &[Value::Int(512)]),
        ("sAMAccountName", &[s("ann")]),
        ("msExchRecipientTypeDetails", &[Value::Int(1)]),
    ]);
    let d = dn("CN=Ann,OU=Team,OU=Staff,DC=x");
    let obj = ScopedObject::new(Guid::from_u128(7), &d, ObjectKind::User, &row);
    assert!(sc.scope.evaluate(&obj, &env).is_in()); // warms the regex caches
    let before = counting::allocations();
    for _ in 0..1000 {
        assert!(sc.scope.evaluate(&obj, &env).is_in());
    }
    assert_eq!(counting::allocations() - before, 0);
    let probe = std::hint::black_box(vec![1u8]);
    assert!(counting::allocations() > before, "the counter counts");
    drop(probe);
}
