//! `Dn::parse` on any text: never panics; an error points inside the input;
//! a parsed DN's canonical text re-parses to an equal DN with the same text,
//! and its ancestors are what `parent` and `is_under` say they are.
#![no_main]

use idsync::dn::Dn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Dn::parse(text) {
        Err(e) => assert!(e.position <= text.len(), "{e} for {text:?}"),
        Ok(dn) => {
            let again = match Dn::parse(dn.as_str()) {
                Ok(d) => d,
                Err(e) => panic!("canonical {:?} of {text:?} does not parse: {e}", dn.as_str()),
            };
            assert_eq!(again, dn);
            assert_eq!(again.as_str(), dn.as_str());
            assert_eq!(again.normalized(), dn.normalized());
            assert_eq!(again.len(), dn.len());
            for i in 0..dn.len() {
                assert_eq!(again.rdn_avas(i), dn.rdn_avas(i));
            }
            if let Some(parent) = dn.parent() {
                assert_eq!(parent.len() + 1, dn.len());
                assert!(dn.is_under(&parent));
                assert!(dn == parent || !parent.is_under(&dn));
            } else {
                assert!(dn.is_empty());
            }
            assert!(dn.is_under(&Dn::root()));
        }
    }
});
