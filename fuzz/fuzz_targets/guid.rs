//! `Guid::parse`, `ImmutableId::parse` and `Guid::from_ad_bytes` on any
//! input: never panic; errors point inside the input; whatever parses
//! round-trips through its text, its AD bytes and its ImmutableId.
#![no_main]

use idsync::anchor::{Guid, ImmutableId};
use libfuzzer_sys::fuzz_target;

fn check_guid(g: Guid) {
    assert_eq!(Guid::parse(&g.to_string()), Ok(g));
    assert_eq!(Guid::parse(&format!("{{{}}}", g.to_string().to_uppercase())), Ok(g));
    assert_eq!(Guid::from_ad_bytes(&g.to_ad_bytes()), Ok(g));
    let id = g.immutable_id();
    assert_eq!(ImmutableId::parse(&id.to_string()), Ok(id));
    assert_eq!(id.guid(), g);
}

fuzz_target!(|data: &[u8]| {
    match Guid::from_ad_bytes(data) {
        Ok(g) => {
            assert_eq!(g.to_ad_bytes().as_slice(), data);
            check_guid(g);
        }
        Err(e) => assert!(data.len() != 16, "{e}"),
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Guid::parse(text) {
        Ok(g) => check_guid(g),
        Err(e) => assert!(e.position().is_some_and(|p| p <= text.len()), "{e} for {text:?}"),
    }
    match ImmutableId::parse(text) {
        Ok(id) => {
            assert_eq!(id.to_string(), text);
            check_guid(id.guid());
        }
        Err(e) => assert!(e.position().is_some_and(|p| p <= text.len()), "{e} for {text:?}"),
    }
});
