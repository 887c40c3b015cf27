//! `--docker from=..,host=..,ca=..,cert=..,key=..,skip-tls-verify=..` of
//! `context create` and `context update`: parsed, its files read and checked
//! the way the docker CLI checks them before it stores anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use berth_api::TlsOptions;

use super::lookup;
use crate::cli::ClientConfig;
use crate::context::store::{go_io_error, DockerEndpoint, TlsData};

/// One `--docker` value: comma-separated `key=value` pairs (docker's
/// `stringToString` flag; the flag may be repeated, later keys win).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValues(pub Vec<(String, String)>);

/// clap's parser for `--docker`.
pub fn parse(value: &str) -> Result<KeyValues, String> {
    if value.is_empty() {
        return Ok(KeyValues(Vec::new()));
    }
    value
        .split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("{kv} must be formatted as key=value")),
        })
        .collect::<Result<_, _>>()
        .map(KeyValues)
}

/// The `--docker` flags as one map; `None` when the flag was not given.
pub fn merged(values: &[KeyValues]) -> Option<BTreeMap<String, String>> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().flat_map(|v| v.0.iter().cloned()).collect())
}

const KEYS: [&str; 6] = ["from", "host", "ca", "cert", "key", "skip-tls-verify"];

/// The endpoint and TLS files `--docker` describes. Errors read as docker's
/// (callers prefix "unable to create docker endpoint config").
pub fn endpoint(
    config: &ClientConfig,
    opts: &BTreeMap<String, String>,
) -> Result<(DockerEndpoint, TlsData)> {
    let unknown: Vec<String> = opts
        .keys()
        .filter(|k| !KEYS.contains(&k.as_str()))
        .map(|k| format!("unrecognized config key: {k}"))
        .collect();
    if !unknown.is_empty() {
        bail!(unknown.join("\n"));
    }
    // `from`: another context's endpoint, without its TLS files (as docker).
    if let Some(from) = opts.get("from") {
        let meta = lookup(config, from)?;
        let ep = meta
            .endpoints
            .docker
            .ok_or_else(|| anyhow!("unable to get endpoint from context {from:?}"))?;
        return Ok((ep, TlsData::default()));
    }
    let path = |key: &str| opts.get(key).filter(|p| !p.is_empty()).map(PathBuf::from);
    let read = |p: &Option<PathBuf>| -> Result<Option<Vec<u8>>> {
        match p {
            Some(p) => std::fs::read(p)
                .map(Some)
                .map_err(|e| anyhow!(go_io_error("open", p, &e))),
            None => Ok(None),
        }
    };
    let (ca, cert, key) = (path("ca"), path("cert"), path("key"));
    let tls = TlsData {
        ca: read(&ca)?,
        cert: read(&cert)?,
        key: read(&key)?,
    };
    let skip_tls_verify = match opts.get("skip-tls-verify") {
        None => false,
        Some(v) => {
            go_bool(v).ok_or_else(|| anyhow!("skip-tls-verify: parsing {v:?}: invalid syntax"))?
        }
    };
    let host = opts.get("host").cloned().unwrap_or_default();
    // Docker checks an endpoint by making a client of it, which it only does
    // for a host: the TLS files first, then the address.
    if !host.is_empty() {
        check_tls(ca.as_deref(), cert.as_deref().zip(key.as_deref()))
            .map_err(|e| anyhow!("invalid docker endpoint options: {e}"))?;
        if !matches!(host.split_once("://"), Some((_, addr)) if !addr.is_empty()) {
            bail!("unable to apply docker endpoint options: unable to parse docker host `{host}`");
        }
    }
    let ep = DockerEndpoint {
        host,
        skip_tls_verify,
        ..Default::default()
    };
    Ok((ep, tls))
}

/// The CA must hold a certificate and a client certificate must go with its
/// key; a lone certificate or key is stored but never used, as in docker.
fn check_tls(ca: Option<&Path>, pair: Option<(&Path, &Path)>) -> Result<()> {
    if let Some(ca) = ca {
        let opts = TlsOptions {
            verify: true,
            ca: Some(ca.to_path_buf()),
            ..Default::default()
        };
        if opts.connector().is_err() {
            bail!("failed to retrieve context tls info: ca.pem seems invalid");
        }
    }
    if let Some((cert, key)) = pair {
        let opts = TlsOptions {
            cert: Some(cert.to_path_buf()),
            key: Some(key.to_path_buf()),
            ..Default::default()
        };
        opts.connector()
            .map_err(|e| anyhow!("failed to retrieve context tls info: {e}"))?;
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        assert_eq!(
            parse("host=unix:///s,skip-tls-verify=true").unwrap().0,
            vec![
                ("host".to_string(), "unix:///s".to_string()),
                ("skip-tls-verify".to_string(), "true".to_string())
            ]
        );
        assert_eq!(
            parse("nokv").unwrap_err(),
            "nokv must be formatted as key=value"
        );
        assert_eq!(parse("").unwrap().0, vec![]);
        assert_eq!(merged(&[]), None);
        let m = merged(&[parse("host=a").unwrap(), parse("host=b").unwrap()]).unwrap();
        assert_eq!(m["host"], "b");
        assert_eq!(go_bool("True"), Some(true));
        assert_eq!(go_bool("yes"), None);
    }
}
