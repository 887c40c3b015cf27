//! Image references: parsing never panics, and a parsed name prints back to
//! something that parses to the same name.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = berth_image::reference::parse_any(s);
    if let Ok(r) = berth_image::reference::parse_normalized_named(s) {
        let printed = r.to_string();
        let again = berth_image::reference::parse_normalized_named(&printed)
            .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?} which fails: {e}"));
        assert_eq!(again.to_string(), printed);
        let _ = r.familiar_string();
    }
});
