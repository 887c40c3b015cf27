//! Docker image references: parsing, normalisation (`busybox` ->
//! `docker.io/library/busybox:latest`) and the familiar short form, following
//! distribution/reference (the Go package Docker uses) including its error
//! messages, because the CLI prints them verbatim.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::ImageError;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

const NAME_COMPONENT: &str = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*";
const DOMAIN: &str = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?";
const TAG: &str = r"[\w][\w.-]{0,127}";
const DIGEST: &str = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}";

static REFERENCE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{DOMAIN}/)?{NAME_COMPONENT}(?:/{NAME_COMPONENT})*");
    Regex::new(&format!("^({name})(?::({TAG}))?(?:@({DIGEST}))?$")).expect("static regex")
});
static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{TAG}$")).expect("static regex"));
static IDENTIFIER_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-f0-9]{64}$").expect("static regex"));
static SHORT_ID_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^(?:sha256:)?[a-f0-9]{1,64}$").expect("static regex"));

/// A named reference: `domain/path[:tag][@digest]`, always normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// What a user-supplied image string may denote (Docker's `ParseAnyReference`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyReference {
    /// `sha256:<64hex>` or a bare 64-hex id.
    Id(String),
    Named(Reference),
}

impl Reference {
    /// `docker.io/library/busybox` (no tag/digest).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox` for official images, `user/app`, `registry:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// `busybox:latest`, `busybox@sha256:...`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        push_suffix(&mut s, self);
        s
    }

    /// Adds `:latest` when neither tag nor digest is given (Docker's `TagNameOnly`).
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// Same name with the given tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ImageError> {
        if !TAG_RE.is_match(tag) {
            return Err(ImageError::invalid("invalid tag format"));
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }
}

fn push_suffix(s: &mut String, r: &Reference) {
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d);
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form, as stored: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self);
        f.write_str(&s)
    }
}

/// Splits off the registry domain and applies Docker's defaults
/// (`docker.io`, `library/` for single-component names).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i)
            if name[..i].contains(['.', ':'])
                || &name[..i] == "localhost"
                || name[..i].to_lowercase() != name[..i] =>
        {
            (name[..i].to_string(), name[i + 1..].to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// Docker's `ParseNormalizedNamed`.
pub fn parse_normalized_named(s: &str) -> Result<Reference, ImageError> {
    if IDENTIFIER_RE.is_match(s) {
        return Err(ImageError::invalid(format!(
            "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )));
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote_name = remainder.split(':').next().unwrap_or_default();
    if remote_name.to_lowercase() != remote_name {
        return Err(ImageError::invalid(
            "invalid reference format: repository name must be lowercase",
        ));
    }
    parse(&format!("{domain}/{remainder}"))
}

/// Docker's `reference.Parse` on an already-qualified string.
fn parse(s: &str) -> Result<Reference, ImageError> {
    let Some(caps) = REFERENCE_RE.captures(s) else {
        if s.is_empty() {
            return Err(ImageError::invalid(
                "repository name must have at least one component",
            ));
        }
        if REFERENCE_RE.is_match(&s.to_lowercase()) {
            return Err(ImageError::invalid(
                "invalid reference format: repository name must be lowercase",
            ));
        }
        return Err(ImageError::invalid("invalid reference format"));
    };
    let name = caps.get(1).map_or("", |m| m.as_str());
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ImageError::invalid(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )));
    }
    let digest = match caps.get(3) {
        Some(d) => Some(validate_digest(d.as_str())?),
        None => None,
    };
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) => (d.to_string(), p.to_string()),
        None => (String::new(), name.to_string()),
    };
    Ok(Reference {
        domain,
        path,
        tag: caps.get(2).map(|m| m.as_str().to_string()),
        digest,
    })
}

/// Only sha256 is stored by berth; other algorithms are rejected as Docker's
/// digest package does for unknown or malformed ones.
fn validate_digest(d: &str) -> Result<String, ImageError> {
    match d.split_once(':') {
        Some(("sha256", hex)) if IDENTIFIER_RE.is_match(hex) => Ok(d.to_string()),
        Some(("sha256", _)) => Err(ImageError::invalid("invalid checksum digest length")),
        _ => Err(ImageError::invalid("unsupported digest algorithm")),
    }
}

/// Docker's `ParseAnyReference`: an image id or a named reference.
pub fn parse_any(s: &str) -> Result<AnyReference, ImageError> {
    if IDENTIFIER_RE.is_match(s) {
        return Ok(AnyReference::Id(format!("sha256:{s}")));
    }
    if let Some(hex) = s.strip_prefix("sha256:") {
        if IDENTIFIER_RE.is_match(hex) {
            return Ok(AnyReference::Id(s.to_string()));
        }
    }
    parse_normalized_named(s).map(AnyReference::Named)
}

/// Could `s` be a (possibly truncated) image id?
pub fn is_short_id(s: &str) -> bool {
    SHORT_ID_RE.is_match(s)
}

/// Validates a tag on its own (`docker tag x repo:TAG`).
pub fn validate_tag(tag: &str) -> Result<(), ImageError> {
    if TAG_RE.is_match(tag) {
        Ok(())
    } else {
        Err(ImageError::invalid("invalid tag format"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        parse_normalized_named(s)
            .unwrap()
            .with_default_tag()
            .to_string()
    }

    #[test]
    fn normalises_official_and_user_images() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(
            norm("docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(
            norm("registry:5000/team/app"),
            "registry:5000/team/app:latest"
        );
        assert_eq!(norm("my.reg/app"), "my.reg/app:latest");
    }

    #[test]
    fn familiar_forms() {
        let r = parse_normalized_named("docker.io/library/busybox:latest").unwrap();
        assert_eq!(r.familiar_string(), "busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        let r = parse_normalized_named("user/app")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.familiar_string(), "user/app:latest");
        let r = parse_normalized_named("registry:5000/app:v2").unwrap();
        assert_eq!(r.familiar_string(), "registry:5000/app:v2");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse_normalized_named(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.tag, None);
        assert_eq!(r.clone().with_default_tag().tag, None);
        assert_eq!(r.familiar_string(), format!("busybox@{d}"));
        let err = parse_normalized_named("busybox@sha256:abc").unwrap_err();
        assert_eq!(err.to_string(), "invalid reference format");
    }

    #[test]
    fn docker_error_messages() {
        let msg = |s: &str| parse_normalized_named(s).unwrap_err().to_string();
        assert_eq!(
            msg("Busybox"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            msg("user/App"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(msg("bad name"), "invalid reference format");
        assert_eq!(msg("busybox:"), "invalid reference format");
        assert_eq!(msg(":tag"), "invalid reference format");
        assert_eq!(msg(""), "invalid reference format");
        assert_eq!(msg("a--"), "invalid reference format");
        let id = "0".repeat(64);
        assert_eq!(
            msg(&id),
            format!("invalid repository name ({id}), cannot specify 64-byte hexadecimal strings")
        );
        let long = "a".repeat(300);
        assert_eq!(
            msg(&long),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn uppercase_domain_is_allowed() {
        assert_eq!(norm("Registry.Example/app"), "Registry.Example/app:latest");
    }

    #[test]
    fn any_reference_and_ids() {
        let hex = "ab".repeat(32);
        assert_eq!(
            parse_any(&hex).unwrap(),
            AnyReference::Id(format!("sha256:{hex}"))
        );
        assert_eq!(
            parse_any(&format!("sha256:{hex}")).unwrap(),
            AnyReference::Id(format!("sha256:{hex}"))
        );
        assert!(matches!(
            parse_any("imp:v1").unwrap(),
            AnyReference::Named(_)
        ));
        assert!(is_short_id("abc123"));
        assert!(is_short_id("sha256:abc"));
        assert!(!is_short_id("busybox"));
    }

    #[test]
    fn tags() {
        assert!(validate_tag("v1.0-rc_1").is_ok());
        assert_eq!(
            validate_tag("-bad").unwrap_err().to_string(),
            "invalid tag format"
        );
        assert!(validate_tag(&"a".repeat(129)).is_err());
    }
}
