//! The malformed-input corpus: every file under `tests/malformed/<decoder>/`
//! must be refused by that decoder with a typed error that says what is
//! wrong and where (a byte position, a line:column, or a field path), and
//! must never panic. Time and memory are bounded by the decoders' limits
//! (DN length, expression length and depth, regex size, JSON nesting, LDIF
//! line and record size), not by timing here.
//!
//! Decoders (directory: what is run):
//! - `dn`: [`Dn::parse`]
//! - `guid`: [`Guid::parse`]
//! - `immutable_id`: [`ImmutableId::parse`]
//! - `expression`: [`Expression::parse`]
//! - `scope_json`: `serde_json` into [`ScopeConfig`], then `compile`
//! - `config_json`: `serde_json` into [`SyncConfig`], then `compile`
//! - `config_toml`: `toml` into [`SyncConfig`], then `compile`
//! - `change_json`: [`ChangeBatch::from_json`]
//! - `ldif`: [`LdifReader`] with 16 KiB lines / 64 KiB records, then
//!   `to_source_object` for every record
//!
//! The text decoders (`dn`, `guid`, `immutable_id`, `expression`) take
//! `&str`, so their files are valid UTF-8; invalid UTF-8 is in the byte
//! decoders' directories.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use idsync::anchor::{Guid, ImmutableId};
use idsync::change::ChangeBatch;
use idsync::config::SyncConfig;
use idsync::dn::Dn;
use idsync::expr::Expression;
use idsync::ldif::LdifReader;
use idsync::object::AttrTable;
use idsync::scope::ScopeConfig;

/// Runs one decoder; `Ok(())` means the input was accepted, `Err` carries
/// the error's message.
fn decode(decoder: &str, bytes: &[u8]) -> Result<(), String> {
    let text = || std::str::from_utf8(bytes).expect("text corpus files are valid utf-8");
    match decoder {
        "dn" => Dn::parse(text()).map(drop).map_err(|e| e.to_string()),
        "guid" => Guid::parse(text()).map(drop).map_err(|e| e.to_string()),
        "immutable_id" => ImmutableId::parse(text())
            .map(drop)
            .map_err(|e| e.to_string()),
        "expression" => Expression::parse(text())
            .map(drop)
            .map_err(|e| e.to_string()),
        "scope_json" => {
            let scope: ScopeConfig = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            scope
                .compile(&mut AttrTable::new())
                .map(drop)
                .map_err(|e| e.to_string())
        }
        "config_json" => {
            let config: SyncConfig = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            config
                .compile("config")
                .map(drop)
                .map_err(|e| e.to_string())
        }
        "config_toml" => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let config: SyncConfig = toml::from_str(text).map_err(|e| e.to_string())?;
            config
                .compile("config")
                .map(drop)
                .map_err(|e| e.to_string())
        }
        "change_json" => ChangeBatch::from_json(bytes)
            .map(drop)
            .map_err(|e| e.to_string()),
        "ldif" => {
            // Every record becomes a source object, as an LDIF import does
            // (a change record is refused there).
            for record in LdifReader::with_limits(bytes, 16 * 1024, 64 * 1024) {
                record
                    .map_err(|e| e.to_string())?
                    .to_source_object()
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        other => panic!("no decoder for corpus directory {other:?}"),
    }
}

/// Whether a message says where: a byte position, a line (and column), a
/// `line:column`, or a field path before the first `": "`.
fn says_where(msg: &str) -> bool {
    let lower = msg.to_lowercase();
    if lower.contains("at byte ") || lower.contains("line ") {
        return true;
    }
    // `L:C` as in `expression 1:6:` or `ldif 3:1:`
    let line_col = msg.split([' ', '(']).any(|w| {
        let w = w.trim_end_matches(':');
        let mut parts = w.split(':');
        matches!((parts.next(), parts.next(), parts.next()),
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()))
    });
    if line_col {
        return true;
    }
    // a field path: `config.deletion.policy.threshold: ...`,
    // `records[0].passwordHash: ...`, `v: ...`; `change batch: ...` is the
    // whole document (a batch that is not an object at all)
    if msg.starts_with("change batch: ") {
        return true;
    }
    match msg.split_once(": ") {
        Some((path, _)) => {
            !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_' | '-'))
        }
        None => false,
    }
}

/// The first word(s) a decoder's messages must start with (what failed),
/// where the decoder has its own error type.
fn says_what(decoder: &str, msg: &str) -> bool {
    let prefixes: &[&str] = match decoder {
        "dn" => &["dn "],
        "guid" => &["guid "],
        "immutable_id" => &["immutable id "],
        "expression" => &["expression "],
        "ldif" => &["ldif "],
        // serde / toml errors name the problem in their own words; the
        // compile errors start with the field path (checked by says_where)
        _ => return !msg.trim().is_empty(),
    };
    prefixes.iter().any(|p| msg.starts_with(p))
}

fn corpus() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).expect("tests/malformed exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let decoder = dir.file_name().unwrap().to_string_lossy().into_owned();
        for f in std::fs::read_dir(&dir).unwrap() {
            files.push((decoder.clone(), f.unwrap().path()));
        }
    }
    files.sort();
    files
}

#[test]
fn every_malformed_input_is_a_typed_error_that_says_what_and_where() {
    let files = corpus();
    assert!(
        files.len() >= 200,
        "the corpus has {} files, expected at least 200",
        files.len()
    );
    let mut problems = Vec::new();
    let mut per_decoder = std::collections::BTreeMap::<String, usize>::new();
    for (decoder, path) in &files {
        *per_decoder.entry(decoder.clone()).or_default() += 1;
        let bytes = std::fs::read(path).unwrap();
        let name = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(path);
        match catch_unwind(AssertUnwindSafe(|| decode(decoder, &bytes))) {
            Err(_) => problems.push(format!("{}: PANICKED", name.display())),
            Ok(Ok(())) => problems.push(format!("{}: accepted", name.display())),
            Ok(Err(msg)) => {
                if !says_what(decoder, &msg) || !says_where(&msg) {
                    problems.push(format!(
                        "{}: message does not say what and where: {msg}",
                        name.display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} corpus files failed ({per_decoder:?}):\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}

#[test]
fn the_corpus_covers_every_decoder() {
    let files = corpus();
    for decoder in [
        "dn",
        "guid",
        "immutable_id",
        "expression",
        "scope_json",
        "config_json",
        "config_toml",
        "change_json",
        "ldif",
    ] {
        let n = files.iter().filter(|(d, _)| d == decoder).count();
        assert!(n >= 10, "{decoder}: only {n} corpus files");
    }
}

/// Error messages stay bounded whatever the input's size: a message quotes a
/// window of the input, not all of it (they end up in logs). The `toml`
/// crate's own parse errors quote the offending line and are exempt.
#[test]
fn error_messages_are_bounded() {
    let mut long = Vec::new();
    for (decoder, path) in corpus() {
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(Err(msg)) = catch_unwind(AssertUnwindSafe(|| decode(&decoder, &bytes))) {
            if msg.len() > 2_000 && !msg.starts_with("TOML parse error") {
                long.push(format!("{}: {} bytes", path.display(), msg.len()));
            }
        }
    }
    assert!(long.is_empty(), "unbounded messages:\n{}", long.join("\n"));
}

/// The minimal reproduction of the bug above.
#[test]
fn a_long_expression_error_does_not_quote_all_of_it() {
    let mut c = SyncConfig::new("corp");
    let source = format!("Trim({}[a]{})", "Trim(".repeat(3000), ")".repeat(3000));
    c.mappings
        .user
        .custom
        .push(idsync::mapping::AttributeMapping::expression(
            "Title", &source,
        ));
    let msg = c.compile("config").unwrap_err().to_string();
    assert!(msg.len() < 500, "{} bytes: {}", msg.len(), &msg[..200]);
}
