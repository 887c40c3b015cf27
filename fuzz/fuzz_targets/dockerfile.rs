//! Dockerfiles: the parser and the build plan never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = berth_build::ignore::Ignore::parse(text);
    if let Ok(steps) = berth_build::parse(text) {
        if let Ok(plan) = berth_build::Plan::new(steps) {
            let _ = plan.stages_for(None);
        }
    }
});
