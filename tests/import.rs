//! Getting real data in: the import of Microsoft Graph synchronization
//! schemas (`idsync::import`) and LDIF as a directory source
//! (`idsync::ldif::LdifSource`), through the public API.

use idsync::change::{AttrOp, BatchKind, Change, Completeness, Watermark};
use idsync::config::SyncConfig;
use idsync::dn::Dn;
use idsync::engine::Engine;
use idsync::import::{ImportError, ImportReport, import_schema};
use idsync::ldif::{LdifObjectError, LdifSource, LdifSourceError};
use idsync::mapping::{ApplyWhen, MappingSource};
use idsync::memory::InMemoryTarget;
use idsync::object::{ObjectKind, Value};
use idsync::source::{DirectorySource, SourceError};
use idsync::time::Timestamp;
use serde_json::json;

const SAMPLE: &str = include_str!("../../shared/reference/samples/ad2aad-schema-2020.json");

fn user_source(report: &ImportReport, target: &str) -> Option<MappingSource> {
    report
        .config
        .mappings
        .user
        .custom
        .iter()
        .find(|m| m.target == target)
        .map(|m| m.source.clone())
}

fn expr(text: &str) -> Option<MappingSource> {
    Some(MappingSource::Expression {
        expression: text.to_owned(),
    })
}

/// A schema with one user object mapping.
fn schema(mappings: serde_json::Value, scope: serde_json::Value) -> String {
    json!({
        "synchronizationRules": [{
            "name": "AD2AADProvisioning",
            "objectMappings": [{
                "enabled": true,
                "flowTypes": "Add, Update, Delete",
                "name": "users",
                "sourceObjectName": "user",
                "targetObjectName": "User",
                "attributeMappings": mappings,
                "scope": scope
            }]
        }]
    })
    .to_string()
}

fn attr_mapping(target: &str, source: serde_json::Value) -> serde_json::Value {
    json!({
        "targetAttributeName": target,
        "flowType": "Always",
        "flowBehavior": "FlowWhenChanged",
        "matchingPriority": 0,
        "defaultValue": null,
        "exportMissingReferences": false,
        "source": source
    })
}

fn paths(report: &ImportReport) -> Vec<&str> {
    report.unsupported.iter().map(|u| u.path.as_str()).collect()
}

// ---------------------------------------------------------------------------
// The public sample
// ---------------------------------------------------------------------------

#[test]
fn sample_imports_every_user_mapping() {
    let report = import_schema(SAMPLE, "ad2aad").unwrap();
    let users = &report.config.mappings.user;
    assert!(!users.use_defaults);
    assert_eq!(users.custom.len(), 136);
    assert_eq!(report.config.scope.kinds, vec![ObjectKind::User]);
    // The one thing left out: the disabled credentials object mapping.
    assert_eq!(
        paths(&report),
        vec!["synchronizationRules[0].objectMappings[1]"]
    );
    assert!(report.unsupported[0].what.contains("disabled"));
    report.config.compile("imported").unwrap();
}

#[test]
fn sample_expressions_are_verbatim_and_the_hidden_macro_is_restored() {
    let report = import_schema(SAMPLE, "ad2aad").unwrap();
    assert_eq!(
        user_source(&report, "AccountEnabled"),
        expr(
            r#"IIF(IsPresent([userAccountControl]), IIF(BitAnd([userAccountControl], 2)="0", "True", "False"), Not([accountDisabled]))"#
        )
    );
    assert_eq!(user_source(&report, "City"), expr("Trim([l])"));
    assert_eq!(
        user_source(&report, "LastPasswordChangeTimestamp"),
        expr(
            r#"IIF(IsPresent([pwdLastSet]), FormatDateTime(DateFromNum([pwdLastSet]), , "yyyyMMddHHmmss.0Z"), )"#
        )
    );
    assert_eq!(
        user_source(&report, "PostOfficeBox"),
        expr(r#"IIF(IsPresent([postOfficeBox]), Left(Trim(Item([postOfficeBox], 1)), 448), "")"#)
    );
    // The display text hides the third Join argument; the tree has it.
    assert_eq!(
        user_source(&report, "onPremisesUserPrincipalName"),
        expr(
            r#"IIF(IsPresent([userPrincipalName]), [userPrincipalName], IIF(IsPresent([sAMAccountName]), Join("@", [sAMAccountName], %DomainFQDN%), Error("AccountName is not present")))"#
        )
    );
}

#[test]
fn sample_customisations_constants_and_flows_are_kept() {
    let report = import_schema(SAMPLE, "ad2aad").unwrap();
    assert_eq!(
        user_source(&report, "UserPrincipalName"),
        Some(MappingSource::Attribute {
            name: "mail".into()
        })
    );
    assert_eq!(
        user_source(&report, "SourceAnchor"),
        Some(MappingSource::Attribute {
            name: "employeeID".into()
        })
    );
    assert_eq!(
        user_source(&report, "dnsDomainName"),
        Some(MappingSource::Constant {
            value: "%DomainFQDN%".into()
        })
    );
    assert!(
        report
            .config
            .mappings
            .user
            .custom
            .iter()
            .all(|m| m.apply == ApplyWhen::Always && m.default_value.is_none())
    );
}

#[test]
fn sample_scoping_clauses() {
    let report = import_schema(SAMPLE, "ad2aad").unwrap();
    let scope = &report.config.scope;
    // The template's eleven default exclusions are the built-in ones...
    assert!(scope.builtin_exclusions);
    // ...and the portal's OU scoping clause
    // (distinguishedName ENDS_WITH OU=Cloud,DC=mydomain,DC=tld) is the OU scope.
    assert_eq!(scope.ous.len(), 1);
    assert_eq!(scope.ous[0].dn, "OU=Cloud,DC=mydomain,DC=tld");
    assert!(scope.filters.is_empty());
}

#[test]
fn sample_config_drives_an_engine() {
    let mut config = import_schema(SAMPLE, "ad2aad").unwrap().config;
    config.domain.fqdn = "mydomain.tld".into();
    let mut engine = Engine::new(&config).unwrap();
    let mut source = LdifSource::new(
        "ad2aad",
        "dn: CN=Ann,OU=Cloud,DC=mydomain,DC=tld\nobjectClass: user\n\
         objectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\nsAMAccountName: ann\nmail: ann@mydomain.tld\n\
         employeeID: E1\n\n\
         dn: CN=Bob,OU=Other,DC=mydomain,DC=tld\nobjectClass: user\n\
         objectGUID:: AAAAAAAAAAAAAAAAAAAAAQ==\nsAMAccountName: bob\nmail: bob@mydomain.tld\n",
    )
    .unwrap();
    let mut target = InMemoryTarget::new("mydomain.onmicrosoft.com");
    target.add_verified_domain("mydomain.tld");
    let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let r = engine
        .run_cycle(&mut source, &mut target, now, false)
        .unwrap();
    assert_eq!(r.commit.failed, 0);
    let upns: Vec<String> = target
        .live()
        .filter_map(|o| o.user_principal_name().map(str::to_owned))
        .collect();
    assert_eq!(upns, vec!["ann@mydomain.tld".to_owned()]);
}

// ---------------------------------------------------------------------------
// Mappings
// ---------------------------------------------------------------------------

#[test]
fn flow_types_and_default_values() {
    let mut once = attr_mapping(
        "Department",
        json!({"type": "Attribute", "name": "department"}),
    );
    once["flowType"] = json!("ObjectAddOnly");
    once["defaultValue"] = json!("Unassigned");
    let mut multi = attr_mapping("Title", json!({"type": "Attribute", "name": "title"}));
    multi["flowType"] = json!("MultiValueAddOnly");
    let report = import_schema(&schema(json!([once, multi]), json!(null)), "t").unwrap();
    let users = &report.config.mappings.user.custom;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].apply, ApplyWhen::OnCreate);
    assert_eq!(users[0].default_value.as_deref(), Some("Unassigned"));
    assert_eq!(
        paths(&report),
        vec!["synchronizationRules[0].objectMappings[0].attributeMappings[1].flowType"]
    );
    assert!(report.unsupported[0].what.contains("MultiValueAddOnly"));
}

#[test]
fn a_function_without_display_text_is_rendered_from_its_tree() {
    let tree = json!({"type": "Function", "name": "Join", "parameters": [
        {"key": "separator", "value": {"type": "Constant", "name": "."}},
        {"key": "source", "value": {"type": "Attribute", "name": "givenName"}},
        {"key": "source", "value": {"type": "Attribute", "name": "sn"}}
    ]});
    let report = import_schema(
        &schema(json!([attr_mapping("Alias", tree)]), json!(null)),
        "t",
    )
    .unwrap();
    assert_eq!(
        user_source(&report, "Alias"),
        expr(r#"Join(".", [givenName], [sn])"#)
    );
    assert!(report.unsupported.is_empty());
}

#[test]
fn mappings_idsync_refuses_are_reported_not_dropped_silently() {
    let mappings = json!([
        attr_mapping("NoSuchTarget", json!({"type": "Attribute", "name": "cn"})),
        attr_mapping(
            "DisplayName",
            json!({"type": "Function", "name": "Jion",
            "expression": "Jion(\" \", [givenName])", "parameters": []})
        ),
        attr_mapping(
            "GivenName",
            json!({"type": "Attribute", "name": "givenName"})
        ),
        attr_mapping("GivenName", json!({"type": "Attribute", "name": "cn"}))
    ]);
    let report = import_schema(&schema(mappings, json!(null)), "t").unwrap();
    assert_eq!(report.config.mappings.user.custom.len(), 1);
    let p = "synchronizationRules[0].objectMappings[0].attributeMappings";
    assert_eq!(
        paths(&report),
        vec![format!("{p}[0]"), format!("{p}[1]"), format!("{p}[3]")]
    );
    assert!(report.unsupported[0].what.contains("NoSuchTarget"));
    assert!(
        report.unsupported[1].what.contains("Jion"),
        "{}",
        report.unsupported[1].what
    );
    assert!(
        report.unsupported[2]
            .what
            .contains("second mapping into GivenName")
    );
    report.config.compile("x").unwrap();
}

#[test]
fn matching_behaviour_and_references_are_reported() {
    let mut upn = attr_mapping(
        "UserPrincipalName",
        json!({"type": "Attribute", "name": "userPrincipalName"}),
    );
    upn["matchingPriority"] = json!(2);
    upn["flowBehavior"] = json!("FlowAlways");
    let mut guid = attr_mapping(
        "onPremisesObjectIdentifier",
        json!({"type": "Attribute", "name": "objectGUID"}),
    );
    guid["matchingPriority"] = json!(1);
    let mut manager = attr_mapping("Manager", json!({"type": "Attribute", "name": "manager"}));
    manager["exportMissingReferences"] = json!(true);
    let report = import_schema(&schema(json!([upn, guid, manager]), json!(null)), "t").unwrap();
    assert_eq!(report.config.mappings.user.custom.len(), 3);
    let p = "synchronizationRules[0].objectMappings[0].attributeMappings";
    assert_eq!(
        paths(&report),
        vec![
            format!("{p}[0].flowBehavior"),
            format!("{p}[0].matchingPriority"),
            format!("{p}[2].exportMissingReferences"),
        ]
    );
}

// ---------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------

fn clause(attr: &str, op: &str, values: &[&str]) -> serde_json::Value {
    if values.is_empty() {
        json!({"sourceOperandName": attr, "operatorName": op, "targetOperand": null})
    } else {
        json!({"sourceOperandName": attr, "operatorName": op, "targetOperand": {"values": values}})
    }
}

#[test]
fn filter_groups_become_the_user_filter_and_both_lists_combine() {
    let scope = json!({
        "categoryFilterGroups": [],
        "inputFilterGroups": [
            {"name": "a", "clauses": [clause("department", "EQUALS", &["Sales"])]},
            {"name": "b", "clauses": [clause("department", "EQUALS", &["Support"])]}
        ],
        "groups": [
            {"name": "c", "clauses": [clause("extensionAttribute1", "IS NOT NULL", &[]),
                                      clause("title", "REGEX MATCH", &["^Eng{"])]}
        ]
    });
    let report = import_schema(&schema(json!([]), scope), "t").unwrap();
    assert!(
        report
            .unsupported
            .iter()
            .all(|u| u.what.contains("default exclusion"))
    );
    let filter = report.config.scope.filters.user.as_ref().unwrap();
    assert_eq!(filter.groups.len(), 2);
    for (g, dept) in filter.groups.iter().zip(["Sales", "Support"]) {
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].values[0].0, dept);
        assert_eq!(g[1].operator, "IS NOT NULL");
        assert!(g[1].values.is_empty());
        // A .NET literal brace is escaped for the regex crate.
        assert_eq!(g[2].values[0].0, r"^Eng\{");
    }
    report.config.compile("x").unwrap();
}

#[test]
fn a_schema_without_default_exclusions_says_idsync_applies_them() {
    let scope = json!({"inputFilterGroups": [
        {"name": "a", "clauses": [clause("department", "EQUALS", &["Sales"]),
                                  clause("isCriticalSystemObject", "IS FALSE", &[])]}
    ]});
    let report = import_schema(&schema(json!([]), scope), "t").unwrap();
    let filter = report.config.scope.filters.user.as_ref().unwrap();
    assert_eq!(
        filter.groups,
        vec![vec![idsync::scope::Clause {
            attribute: "department".into(),
            operator: "EQUALS".into(),
            values: vec![idsync::scope::FilterValue("Sales".into())],
        }]]
    );
    // Ten of the eleven template exclusions are absent: each is named.
    assert_eq!(report.unsupported.len(), 10);
    assert!(report.unsupported.iter().any(|u| u.what.contains("^MSOL_")));
}

#[test]
fn unknown_operators_and_category_filters_are_reported() {
    let scope = json!({
        "categoryFilterGroups": [{"name": "x", "clauses": []}],
        "inputFilterGroups": [{"name": "a", "clauses": [
            clause("department", "STARTS_WITH", &["S"]),
            clause("department", "EQUALS", &["A", "B"]),
            clause("title", "EQUALS", &["Boss"])
        ]}]
    });
    let report = import_schema(&schema(json!([]), scope), "t").unwrap();
    let p = "synchronizationRules[0].objectMappings[0].scope";
    let got = paths(&report);
    assert!(got.contains(&format!("{p}.categoryFilterGroups").as_str()));
    assert!(got.contains(&format!("{p}.inputFilterGroups[0].clauses[0].operatorName").as_str()));
    assert!(got.contains(&format!("{p}.inputFilterGroups[0].clauses[1].targetOperand").as_str()));
    let filter = report.config.scope.filters.user.as_ref().unwrap();
    assert_eq!(filter.groups.len(), 1);
    assert_eq!(filter.groups[0].len(), 1);
    assert_eq!(filter.groups[0][0].attribute, "title");
}

#[test]
fn portal_ou_scoping_with_two_ous_becomes_two_ou_scopes() {
    let exclusions = || -> Vec<serde_json::Value> {
        vec![
            clause("isCriticalSystemObject", "IS FALSE", &[]),
            clause("sAMAccountName", "NOT REGEX MATCH", &["^MSOL_"]),
        ]
    };
    let group = |ou: &str| {
        let mut c = exclusions();
        c.push(clause("distinguishedName", "ENDS_WITH", &[ou]));
        json!({"name": "DefaultUserExclusions.0.UX-OrganizationalGroup-Scope", "clauses": c})
    };
    let scope = json!({"inputFilterGroups": [group("OU=A,DC=x"), group("OU=B,DC=x")]});
    let report = import_schema(&schema(json!([]), scope), "t").unwrap();
    let ous: Vec<&str> = report
        .config
        .scope
        .ous
        .iter()
        .map(|o| o.dn.as_str())
        .collect();
    assert_eq!(ous, vec!["OU=A,DC=x", "OU=B,DC=x"]);
    assert!(report.config.scope.filters.is_empty());
    assert!(report.config.scope.builtin_exclusions);
}

// ---------------------------------------------------------------------------
// Object mappings and hard errors
// ---------------------------------------------------------------------------

#[test]
fn object_mappings_per_kind() {
    let json = json!({"synchronizationRules": [{"objectMappings": [
        {"enabled": true, "sourceObjectName": "group", "targetObjectName": "Group",
         "flowTypes": "Add, Update", "attributeMappings": [
            attr_mapping("DisplayName", json!({"type": "Attribute", "name": "cn"}))]},
        {"enabled": true, "sourceObjectName": "contact", "targetObjectName": "Contact",
         "attributeMappings": []},
        {"enabled": true, "sourceObjectName": "computer", "targetObjectName": "Device",
         "attributeMappings": []}
    ]}, {"objectMappings": []}]})
    .to_string();
    let report = import_schema(&json, "t").unwrap();
    assert_eq!(
        report.config.scope.kinds,
        vec![ObjectKind::Group, ObjectKind::Contact]
    );
    assert_eq!(report.config.mappings.group.custom.len(), 1);
    assert!(!report.config.mappings.group.use_defaults);
    assert!(!report.config.mappings.contact.use_defaults);
    assert_eq!(
        paths(&report),
        vec![
            "synchronizationRules[0].objectMappings[0].flowTypes",
            "synchronizationRules[0].objectMappings[2].sourceObjectName",
            "synchronizationRules[1]",
        ]
    );
    assert!(report.unsupported[0].what.contains("Delete"));
}

#[test]
fn hard_errors_name_their_path() {
    let err = import_schema("{\"synchronizationRules\": [", "t").unwrap_err();
    assert!(matches!(err, ImportError::Json { line: 1, .. }), "{err}");

    let err = import_schema("{}", "t").unwrap_err();
    assert_eq!(err.to_string(), "$: missing field synchronizationRules");

    let err = import_schema(r#"{"synchronizationRules": {}}"#, "t").unwrap_err();
    assert_eq!(err.to_string(), "synchronizationRules: expected an array");

    let err = import_schema(r#"{"synchronizationRules": [{}]}"#, "t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "synchronizationRules[0]: missing field objectMappings"
    );

    let no_target = json!([{"flowType": "Always", "source": {"type": "Attribute", "name": "cn"}}]);
    let err = import_schema(&schema(no_target, json!(null)), "t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "synchronizationRules[0].objectMappings[0].attributeMappings[0]: missing field targetAttributeName"
    );

    let bad_type = json!([attr_mapping(
        "Mail",
        json!({"type": "Lookup", "name": "mail"})
    )]);
    let err = import_schema(&schema(bad_type, json!(null)), "t").unwrap_err();
    assert!(
        matches!(&err, ImportError::UnknownSourceType { path, found }
        if path.ends_with("attributeMappings[0].source.type") && found == "Lookup")
    );

    let bad_value = json!({"inputFilterGroups": [{"clauses": [
        {"sourceOperandName": "a", "operatorName": "EQUALS", "targetOperand": {"values": [{"x": 1}]}}]}]});
    let err = import_schema(&schema(json!([]), bad_value), "t").unwrap_err();
    assert!(
        err.to_string().ends_with(
            "clauses[0].targetOperand.values[0]: expected a string, a number or a boolean"
        ),
        "{err}"
    );

    let two_users = json!({"synchronizationRules": [{"objectMappings": [
        {"sourceObjectName": "user", "attributeMappings": []},
        {"sourceObjectName": "User", "attributeMappings": []}]}]})
    .to_string();
    let err = import_schema(&two_users, "t").unwrap_err();
    assert!(
        matches!(&err, ImportError::DuplicateKind { kind: ObjectKind::User, first, .. }
        if first == "synchronizationRules[0].objectMappings[0]")
    );
}

#[test]
fn a_schema_with_nothing_to_import_is_an_error() {
    let err = import_schema(r#"{"synchronizationRules": []}"#, "t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "synchronizationRules: no enabled object mapping for users, groups or contacts"
    );
    let disabled = json!({"synchronizationRules": [{"objectMappings": [
        {"enabled": false, "sourceObjectName": "user", "attributeMappings": []}]}]})
    .to_string();
    let err = import_schema(&disabled, "t").unwrap_err();
    assert!(matches!(&err, ImportError::NothingToImport { path }
        if path == "synchronizationRules[0].objectMappings"));
}

// ---------------------------------------------------------------------------
// LDIF as a directory source
// ---------------------------------------------------------------------------

const CORP: &str = include_str!("../examples/data/corp.ldif");
const CORP_CHANGES: &str = include_str!("../examples/data/corp-changes.ldif");

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

#[test]
fn content_records_are_a_full_read_in_pages() {
    let mut source = LdifSource::new("corp", CORP).unwrap().with_page_size(5);
    assert_eq!(source.objects().len(), 17);
    let pages = source.full_read().unwrap();
    assert_eq!(pages.len(), 4);
    let mut since = Watermark::None;
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p.header.since, since);
        since = p.header.watermark.clone();
        let BatchKind::Full {
            page,
            completeness,
            objects,
        } = p.header.kind
        else {
            panic!("not a full read page");
        };
        assert_eq!(page as usize, i);
        let expected = if i == 3 {
            Completeness::Finished
        } else {
            Completeness::InProgress
        };
        assert_eq!(completeness, expected);
        assert_eq!(objects as usize, (5 * (i + 1)).min(17));
    }
    let records: Vec<&Change> = pages.iter().flat_map(|p| &p.records).collect();
    assert!(records.iter().all(|c| matches!(c, Change::Add { .. })));
    // The full read's watermark is where deltas continue from.
    let delta = source.changes_since(&pages[3].header.watermark).unwrap();
    assert!(delta.records.is_empty());
    assert_eq!(delta.header.kind, BatchKind::Delta);
}

#[test]
fn change_records_map_to_changes() {
    let mut source = LdifSource::new("corp", CORP).unwrap();
    let start = source.full_read().unwrap().pop().unwrap().header.watermark;
    assert_eq!(source.apply_changes(CORP_CHANGES).unwrap(), 5);
    let delta = source.changes_since(&start).unwrap();
    let ops: Vec<&str> = delta.records.iter().map(Change::op).collect();
    assert_eq!(ops, vec!["modify", "move", "delete", "modify", "add"]);

    let Change::Modify { changes, .. } = &delta.records[0] else {
        panic!()
    };
    assert_eq!(changes[0].name.as_str(), "title");
    assert_eq!(
        changes[0].op,
        AttrOp::Replace([Value::str("Senior Engineer")].into_iter().collect())
    );
    assert!(matches!(&changes[1].op, AttrOp::Incremental { add, remove }
        if add.len() == 1 && remove.is_empty()));

    let Change::Move {
        dn: new_dn,
        changes,
        ..
    } = &delta.records[1]
    else {
        panic!()
    };
    assert_eq!(
        *new_dn,
        dn("CN=Kai Lund,OU=Staff,DC=corp,DC=example,DC=com")
    );
    assert_eq!(changes[0].name.as_str(), "CN");

    let Change::Delete(t) = &delta.records[2] else {
        panic!()
    };
    assert_eq!(t.deleted_name(), Some("Eve Moss"));
    assert_eq!(
        t.last_known_parent,
        Some(dn("OU=Staff,DC=corp,DC=example,DC=com"))
    );
    assert!(t.dn.is_under(&dn("CN=Deleted Objects,DC=corp,DC=example,DC=com")));

    let Change::Modify { changes, .. } = &delta.records[3] else {
        panic!()
    };
    assert!(matches!(&changes[0].op, AttrOp::Incremental { add, .. }
        if matches!(add.first(), Some(Value::Dn(d)) if *d == dn("CN=Cy Doe,OU=Staff,DC=corp,DC=example,DC=com"))));

    // The source's own state follows, so a later full read agrees.
    assert!(
        source
            .get_by_dn(&dn("CN=Eve Moss,OU=Staff,DC=corp,DC=example,DC=com"))
            .is_none()
    );
    assert!(source.get_by_dn(new_dn).is_some());
    let bob = source
        .get_by_dn(&dn("CN=Bob Ray,OU=Staff,DC=corp,DC=example,DC=com"))
        .unwrap();
    assert_eq!(bob.attributes.get("title"), [Value::str("Senior Engineer")]);
    assert_eq!(bob.attributes.get("proxyAddresses").len(), 2);
    let total: usize = source
        .full_read()
        .unwrap()
        .iter()
        .map(|p| p.records.len())
        .sum();
    assert_eq!(total, 17);
}

#[test]
fn deltas_replay_from_any_earlier_watermark() {
    let mut source = LdifSource::new("corp", CORP).unwrap();
    let w0 = source.full_read().unwrap().pop().unwrap().header.watermark;
    source
        .apply_changes("dn: CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com\nchangetype: modify\nreplace: title\ntitle: A\n-\n")
        .unwrap();
    let w1 = source.changes_since(&w0).unwrap().header.watermark;
    source
        .apply_changes("dn: CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com\nchangetype: modify\nreplace: title\ntitle: B\n-\n")
        .unwrap();
    assert_eq!(source.position(), 2);
    assert_eq!(source.changes_since(&w0).unwrap().records.len(), 2);
    assert_eq!(source.changes_since(&w1).unwrap().records.len(), 1);
    assert!(matches!(
        source.changes_since(&Watermark::None),
        Err(SourceError::WatermarkVoid(_))
    ));
    assert!(matches!(
        source.changes_since(&Watermark::dirsync(b"ldif:9", "ldif")),
        Err(SourceError::WatermarkVoid(_))
    ));
}

#[test]
fn moving_an_ou_moves_the_entries_under_it() {
    let mut source = LdifSource::new("corp", CORP).unwrap();
    source
        .apply_changes(
            "dn: OU=Sales,DC=corp,DC=example,DC=com\nchangetype: modrdn\nnewrdn: OU=Revenue\ndeleteoldrdn: 1\n",
        )
        .unwrap();
    let gus = source.get_by_dn(&dn("CN=Gus Hale,OU=Revenue,DC=corp,DC=example,DC=com"));
    assert!(gus.is_some());
    let ou = source
        .get_by_dn(&dn("OU=Revenue,DC=corp,DC=example,DC=com"))
        .unwrap();
    assert_eq!(ou.attributes.get("ou"), [Value::str("Revenue")]);
    // Change records name entries by their DN after the move.
    source
        .apply_changes("dn: CN=Gus Hale,OU=Revenue,DC=corp,DC=example,DC=com\nchangetype: delete\n")
        .unwrap();
}

#[test]
fn an_ldif_directory_syncs_end_to_end() {
    let mut source = LdifSource::new("corp", CORP).unwrap();
    let mut config = SyncConfig::new("corp");
    config.domain.fqdn = "corp.example.com".into();
    let mut engine = Engine::new(&config).unwrap();
    let mut target = InMemoryTarget::new("contoso.onmicrosoft.com");
    target.add_verified_domain("corp.example.com");
    let t0 = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let r = engine
        .run_cycle(&mut source, &mut target, t0, false)
        .unwrap();
    assert!(r.full_read);
    assert_eq!(r.commit.failed, 0);
    assert_eq!(engine.exports().count(), 13);
    source.apply_changes(CORP_CHANGES).unwrap();
    let t1 = Timestamp::parse_rfc3339("2026-01-01T00:01:00Z").unwrap();
    let r = engine
        .run_cycle(&mut source, &mut target, t1, false)
        .unwrap();
    assert!(!r.full_read);
    assert_eq!(r.commit.failed, 0);
    assert_eq!(engine.exports().count(), 14);
    // The leaver's deletion is held (the default policy).
    assert_eq!(r.plan.held.len(), 1);
}

// ---------------------------------------------------------------------------
// LDIF source errors
// ---------------------------------------------------------------------------

const ANN: &str =
    "dn: CN=Ann,OU=S,DC=x\nobjectClass: user\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\ncn: Ann\n";

#[test]
fn an_entry_without_object_guid_is_an_error_naming_its_line() {
    let text = format!("version: 1\n\n{ANN}\ndn: CN=Bob,OU=S,DC=x\nobjectClass: user\ncn: Bob\n");
    let err = LdifSource::new("x", &text).unwrap_err();
    assert!(
        matches!(
            &err,
            LdifSourceError::Object(LdifObjectError::MissingObjectGuid { line: 8, .. })
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "ldif record at line 8 (CN=Bob,OU=S,DC=x): no objectGUID"
    );
}

#[test]
fn content_errors() {
    let err = LdifSource::new("x", &format!("{ANN}\n{ANN}")).unwrap_err();
    assert!(
        matches!(err, LdifSourceError::DuplicateGuid { line: 6, .. }),
        "{err}"
    );

    let other = ANN.replace("/xmWb4aLEdC0LQDAT8lk", "AAAAAAAAAAAAAAAAAAAA");
    let err = LdifSource::new("x", &format!("{ANN}\n{other}")).unwrap_err();
    assert!(
        matches!(err, LdifSourceError::DuplicateDn { line: 6, .. }),
        "{err}"
    );

    let err = LdifSource::new("x", "dn: CN=Ann,DC=x\nchangetype: delete\n").unwrap_err();
    assert!(
        matches!(
            err,
            LdifSourceError::Object(LdifObjectError::NotAnEntry { line: 1, .. })
        ),
        "{err}"
    );

    let err = LdifSource::new("x", "dn: CN=Ann,DC=x\nobjectGUID:: AAAA\n").unwrap_err();
    assert!(
        matches!(
            err,
            LdifSourceError::Object(LdifObjectError::InvalidObjectGuid { line: 2, .. })
        ),
        "{err}"
    );

    let err = LdifSource::new("x", "dn: CN=Ann,DC=x\ncn:< file:///etc/passwd\n").unwrap_err();
    assert!(
        matches!(&err, LdifSourceError::Syntax(e) if e.line == 2),
        "{err}"
    );
}

type Expect = fn(&LdifSourceError) -> bool;

#[test]
fn change_errors_leave_the_source_unchanged() {
    let mut source = LdifSource::new("x", ANN).unwrap();
    let cases: &[(&str, Expect)] = &[
        (
            "dn: CN=Nobody,OU=S,DC=x\nchangetype: modify\nreplace: title\ntitle: t\n-\n",
            |e| {
                matches!(
                    e,
                    LdifSourceError::UnknownEntry {
                        line: 1,
                        change: "modify",
                        ..
                    }
                )
            },
        ),
        (
            "dn: CN=Ann,OU=S,DC=x\nchangetype: modify\nreplace: objectGUID\nobjectGUID:: AAAAAAAAAAAAAAAAAAAAAA==\n-\n",
            |e| matches!(e, LdifSourceError::ObjectGuidModified { line: 3, .. }),
        ),
        ("dn: OU=S,DC=x\nchangetype: delete\n", |e| {
            matches!(
                e,
                LdifSourceError::UnknownEntry {
                    change: "delete",
                    ..
                }
            )
        }),
        (
            "dn: CN=Ann,OU=S,DC=x\ncontrol: 1.2.840.113556.1.4.805 true\nchangetype: delete\n",
            |e| matches!(e, LdifSourceError::CriticalControl { line: 2, oid } if oid == "1.2.840.113556.1.4.805"),
        ),
        (
            "dn: CN=Bob,OU=S,DC=x\nchangetype: add\nobjectClass: user\n",
            |e| {
                matches!(
                    e,
                    LdifSourceError::Object(LdifObjectError::MissingObjectGuid { line: 1, .. })
                )
            },
        ),
        (
            "dn: CN=Ann,OU=S,DC=x\nchangetype: modify\nreplace: title\ntitle: changed\n-\n\n\
             dn: CN=Ghost,OU=S,DC=x\nchangetype: delete\n",
            |e| matches!(e, LdifSourceError::UnknownEntry { line: 7, .. }),
        ),
    ];
    for (text, expected) in cases {
        let err = source.apply_changes(text).unwrap_err();
        assert!(expected(&err), "{text}: {err}");
        assert_eq!(source.position(), 0, "{text}");
        assert!(
            source.objects()[0].attributes.get("title").is_empty(),
            "{text}"
        );
    }
    // A non-critical control is ignored.
    source
        .apply_changes("dn: CN=Ann,OU=S,DC=x\ncontrol: 1.2.3 false\nchangetype: modify\nreplace: title\ntitle: t\n-\n")
        .unwrap();
    assert_eq!(source.position(), 1);
}

#[test]
fn delete_of_a_non_leaf_and_moddn_onto_an_existing_dn_are_refused() {
    let text = "dn: OU=S,DC=x\nobjectClass: organizationalUnit\nobjectGUID:: AAAAAAAAAAAAAAAAAAAAAQ==\n\n\
                dn: CN=Ann,OU=S,DC=x\nobjectClass: user\nobjectGUID:: AAAAAAAAAAAAAAAAAAAAAg==\n\n\
                dn: CN=Bob,OU=S,DC=x\nobjectClass: user\nobjectGUID:: AAAAAAAAAAAAAAAAAAAAAw==\n";
    let mut source = LdifSource::new("x", text).unwrap();
    let err = source
        .apply_changes("dn: OU=S,DC=x\nchangetype: delete\n")
        .unwrap_err();
    assert!(
        matches!(err, LdifSourceError::NotLeaf { line: 1, .. }),
        "{err}"
    );
    let err = source
        .apply_changes("dn: CN=Ann,OU=S,DC=x\nchangetype: moddn\nnewrdn: CN=Bob\ndeleteoldrdn: 1\n")
        .unwrap_err();
    assert!(
        matches!(&err, LdifSourceError::DuplicateDn { dn, .. } if *dn == dn_of("CN=Bob,OU=S,DC=x")),
        "{err}"
    );
}

fn dn_of(s: &str) -> Dn {
    dn(s)
}

#[test]
fn group_filters_keep_user_only_exclusions_as_clauses() {
    let json = json!({"synchronizationRules": [{"objectMappings": [
        {"sourceObjectName": "group", "attributeMappings": [],
         "scope": {"inputFilterGroups": [{"name": "g", "clauses": [
            clause("isCriticalSystemObject", "IS FALSE", &[]),
            clause("sAMAccountName", "NOT REGEX MATCH", &["^MSOL_"])]}]}}
    ]}]})
    .to_string();
    let report = import_schema(&json, "t").unwrap();
    let filter = report.config.scope.filters.group.as_ref().unwrap();
    // isCriticalSystemObject is a built-in rule for every kind; ^MSOL_ is
    // built in for users only, so for groups it stays a clause.
    assert_eq!(filter.groups.len(), 1);
    assert_eq!(filter.groups[0].len(), 1);
    assert_eq!(filter.groups[0][0].attribute, "sAMAccountName");
    assert!(report.unsupported.is_empty());
}

#[test]
fn the_imported_configuration_survives_json() {
    let config = import_schema(SAMPLE, "ad2aad").unwrap().config;
    let text = serde_json::to_string_pretty(&config).unwrap();
    let back: SyncConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, config);
    back.compile("saved").unwrap();
}
