//! The LDIF reader on any bytes: never panics; every error has a 1-based
//! line within the input and a column within that line's length; the result
//! does not depend on how the input is chunked (a 1-byte `BufRead` gives the
//! same records and errors as a slice); records convert to source objects
//! (or a typed error) without panicking.
#![no_main]

use std::io::BufReader;

use idsync::ldif::{LdifReader, LdifRecord};
use libfuzzer_sys::fuzz_target;

const MAX_LINE: usize = 512;
const MAX_RECORD: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let whole: Vec<String> = LdifReader::with_limits(data, MAX_LINE, MAX_RECORD)
        .map(|r| {
            match &r {
                Ok(record) => check_record(record),
                Err(e) => {
                    assert!(e.line >= 1 && e.line as usize <= lines.len(), "{e}");
                    let len = lines.get(e.line as usize - 1).map_or(0, |l| l.len());
                    assert!(e.column >= 1 && e.column <= len.max(MAX_LINE) + 1, "{e}");
                }
            }
            format!("{r:?}")
        })
        .collect();
    let chunked: Vec<String> =
        LdifReader::with_limits(BufReader::with_capacity(1, data), MAX_LINE, MAX_RECORD)
            .map(|r| format!("{r:?}"))
            .collect();
    assert_eq!(whole, chunked);
});

fn check_record(record: &LdifRecord) {
    let _ = record.to_source_object();
    assert_eq!(idsync::dn::Dn::parse(record.dn().as_str()).as_ref(), Ok(record.dn()));
    if let LdifRecord::Change(change) = record {
        let _ = change.new_dn();
    }
}
