//! For unit tests of code that reads the environment through a lookup
//! function (`env: impl Fn(&str) -> Option<String>`) instead of the process
//! environment, which tests running in parallel would share.

use std::collections::HashMap;

/// A lookup that knows exactly `vars`.
pub fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}
