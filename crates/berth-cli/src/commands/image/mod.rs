//! `docker image ...` commands.

pub mod build;
pub mod build_prune;
pub mod history;
pub mod import;
pub mod inspect;
pub mod list;
pub mod load;
pub mod prune;
pub mod pull;
pub mod remove;
pub mod save;
pub mod tag;

/// Splits `name[:tag]` (a `:` before the last `/` belongs to a registry port).
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    if let Some((name, _digest)) = reference.split_once('@') {
        return (name, None);
    }
    let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags() {
        assert_eq!(split_tag("busybox"), ("busybox", None));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_tag("localhost:5000/a/b"),
            ("localhost:5000/a/b", None)
        );
        assert_eq!(
            split_tag("localhost:5000/a:v1"),
            ("localhost:5000/a", Some("v1"))
        );
        assert_eq!(split_tag("a@sha256:ff"), ("a", None));
    }
}
