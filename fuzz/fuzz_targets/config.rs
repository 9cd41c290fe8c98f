//! A SyncConfig from JSON, then compiled, on any bytes: never panics; a
//! refusal is a typed error whose message starts with the field path it
//! names (under the `config` prefix given to compile); a configuration that
//! compiles also starts an engine, and its JSON form decodes to an equal
//! configuration that compiles again (serde and compile agree).
#![no_main]

use idsync::config::SyncConfig;
use idsync::engine::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<SyncConfig>(data) else {
        return;
    };
    match config.compile("config") {
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with("config"), "error without a field path: {text}");
            // Engine::new validates the same way.
            assert!(Engine::new(&config).is_err(), "compile refused, engine started: {text}");
        }
        Ok(_) => {
            if let Err(e) = Engine::new(&config) {
                panic!("compiled but the engine refused it: {e}");
            }
            let json = match serde_json::to_vec(&config) {
                Ok(j) => j,
                Err(e) => panic!("a decoded configuration does not encode: {e}"),
            };
            let again: SyncConfig = match serde_json::from_slice(&json) {
                Ok(c) => c,
                Err(e) => panic!("the encoding of a configuration does not decode: {e}"),
            };
            assert_eq!(again, config);
            if let Err(e) = again.compile("config") {
                panic!("a re-decoded configuration does not compile: {e}");
            }
        }
    }
});
