//! The change-record JSON decoder on any bytes: never panics (bad JSON,
//! wrong types, truncated base64, unknown versions and record kinds all give
//! typed errors); an error names a path or a position; a batch that decodes
//! re-encodes, and the encoding decodes to the same batch and re-encodes to
//! the same bytes. The same holds for a single record.
#![no_main]

use idsync::change::{Change, ChangeBatch, ChangeError, Committed};
use libfuzzer_sys::fuzz_target;

fn check_error(e: &ChangeError, input: &[u8]) {
    let text = e.to_string();
    assert!(!text.is_empty());
    match e {
        ChangeError::Syntax { line, column, .. } => {
            assert!(*line >= 1 && *column <= input.len() + 1, "{text}")
        }
        ChangeError::Invalid { path, record, .. } => {
            assert!(!path.contains(": "), "{text}");
            if let Some(i) = record {
                assert!(path.starts_with(&format!("records[{i}]")), "{text}");
            }
        }
        ChangeError::Encode { .. } => panic!("decoding gave an encode error: {text}"),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    match ChangeBatch::from_json(data) {
        Err(e) => check_error(&e, data),
        Ok(batch) => {
            let json = match batch.to_json() {
                Ok(j) => j,
                Err(e) => panic!("a decoded batch does not encode: {e}"),
            };
            let again = match ChangeBatch::from_json(&json) {
                Ok(b) => b,
                Err(e) => panic!("the encoding of a decoded batch does not decode: {e}"),
            };
            assert_eq!(again, batch);
            assert_eq!(again.to_json().ok(), Some(json));
            // the continuity rules take any header
            let _ = Committed::default().check(&batch.header);
            let mut c = Committed::default();
            c.advance(&batch.header);
            let _ = c.check(&batch.header);
        }
    }
    match Change::from_json(data) {
        Err(e) => check_error(&e, data),
        Ok(change) => {
            let json = match change.to_json() {
                Ok(j) => j,
                Err(e) => panic!("a decoded record does not encode: {e}"),
            };
            assert_eq!(Change::from_json(&json).ok(), Some(change));
        }
    }
});
