//! Runs every shared conformance vector (`../shared/vectors/`, or the folder in
//! `IDSYNC_VECTORS`): each folder's runner loads every `*.json` file in it,
//! reports every failing case with its file and id, prints
//! `<folder>: N passed, M failed`, and the test fails if any case failed or a
//! folder is missing.

#[path = "conformance/support.rs"]
mod support;

#[path = "conformance/dn.rs"]
mod dn;
#[path = "conformance/expressions.rs"]
mod expressions;
#[path = "conformance/guid.rs"]
mod guid;
#[path = "conformance/matching.rs"]
mod matching;
#[path = "conformance/scoping.rs"]
mod scoping;

use support::{Report, Runner};

/// Every folder with its runner. A folder listed here and missing on disk is a
/// failure; a folder on disk without a runner is a failure too.
const RUNNERS: &[(&str, Runner)] = &[
    ("guid", guid::run),
    ("dn", dn::run),
    ("matching", matching::run),
    ("expressions", expressions::run),
    ("scoping", scoping::run),
];

#[test]
fn shared_vectors() {
    let root = support::vectors_root();
    assert!(
        root.is_dir(),
        "conformance vectors folder {} is missing (set IDSYNC_VECTORS)",
        root.display()
    );
    let mut failed_total = 0;
    let mut problems = Vec::new();
    for (folder, run) in RUNNERS {
        let dir = root.join(folder);
        if !dir.is_dir() {
            problems.push(format!("{folder}: folder {} is missing", dir.display()));
            continue;
        }
        let mut report = Report::new(folder);
        for (path, json) in support::load_folder(&dir, &mut report) {
            run(&path, &json, &mut report);
        }
        report.print();
        failed_total += report.failed();
        if report.passed() == 0 {
            problems.push(format!("{folder}: no case ran"));
        }
    }
    for entry in std::fs::read_dir(&root).expect("read vectors folder") {
        let entry = entry.expect("read vectors entry");
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !RUNNERS.iter().any(|(f, _)| *f == name) {
            problems.push(format!("{name}: no runner for this folder"));
        }
    }
    assert!(
        failed_total == 0 && problems.is_empty(),
        "{failed_total} conformance case(s) failed; problems: {problems:?}"
    );
}
