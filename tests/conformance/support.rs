//! Shared plumbing of the conformance runners.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// A runner: one parsed vectors file in, results into the report.
pub type Runner = fn(&Path, &Json, &mut Report);

/// The vectors folder: `IDSYNC_VECTORS`, else `../shared/vectors` from the crate root.
pub fn vectors_root() -> PathBuf {
    match std::env::var_os("IDSYNC_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
    }
}

/// Loads every `*.json` file of a folder, sorted by name; unreadable or
/// malformed files are failures in the report.
pub fn load_folder(dir: &Path, report: &mut Report) -> Vec<(PathBuf, Json)> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => {
            report.fail(dir, "-", format!("cannot read folder: {e}"));
            return Vec::new();
        }
    };
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        match std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
        {
            Ok(json) => out.push((p, json)),
            Err(e) => report.fail(&p, "-", format!("cannot load: {e}")),
        }
    }
    if out.is_empty() {
        report.fail(dir, "-", "no vectors file in folder".to_owned());
    }
    out
}

/// Passed and failed cases of one folder.
pub struct Report {
    folder: String,
    passed: usize,
    failures: Vec<String>,
}

impl Report {
    pub fn new(folder: &str) -> Report {
        Report {
            folder: folder.to_owned(),
            passed: 0,
            failures: Vec::new(),
        }
    }

    pub fn pass(&mut self) {
        self.passed += 1;
    }

    pub fn fail(&mut self, file: &Path, id: &str, why: String) {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        self.failures.push(format!(
            "{}/{} [{id}]: {why}",
            self.folder,
            name.unwrap_or_default()
        ));
    }

    /// Records the outcome of one case.
    pub fn check(&mut self, file: &Path, id: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.pass(),
            Err(why) => self.fail(file, id, why),
        }
    }

    pub fn passed(&self) -> usize {
        self.passed
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    pub fn print(&self) {
        for f in &self.failures {
            println!("FAIL {f}");
        }
        println!(
            "{}: {} passed, {} failed",
            self.folder,
            self.passed,
            self.failures.len()
        );
    }
}

/// The string at `key`, or an error naming it.
pub fn str_field<'a>(case: &'a Json, key: &str) -> Result<&'a str, String> {
    case.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("case has no string field {key:?}"))
}

/// The array at `key` (empty when absent).
pub fn array_field<'a>(json: &'a Json, key: &str) -> &'a [Json] {
    json.get(key)
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}
