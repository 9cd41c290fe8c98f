//! The import of Microsoft Graph synchronization schemas.

use idsync::import::{ImportError, import_schema};
use idsync::mapping::{ApplyWhen, MappingSource};
use idsync::object::ObjectKind;

const SAMPLE: &str = include_str!("../../shared/reference/samples/ad2aad-schema-2020.json");

fn expression_of(report: &idsync::import::ImportReport, target: &str) -> Option<String> {
    report
        .config
        .mappings
        .user
        .custom
        .iter()
        .find(|m| m.target == target)
        .map(|m| match &m.source {
            MappingSource::Expression { expression } => expression.clone(),
            MappingSource::Attribute { name } => format!("[{name}]"),
            MappingSource::Constant { value } => format!("const {value}"),
        })
}

#[test]
fn sample_dump() {
    let report = import_schema(SAMPLE, "ad2aad").unwrap();
    for u in &report.unsupported {
        println!("{u}");
    }
    println!("{}", report.config.mappings.user.custom.len());
    println!("{:?}", expression_of(&report, "onPremisesUserPrincipalName"));
}
