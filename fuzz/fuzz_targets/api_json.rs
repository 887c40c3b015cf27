//! `POST /containers/create` bodies: decoding, validation and the spec
//! conversion never panic, and every accepted body gives a spec that
//! serializes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = berth_daemon::fuzz_api::create_body_to_spec(data) {
        let _ = format!("{spec:?}");
    }
});
