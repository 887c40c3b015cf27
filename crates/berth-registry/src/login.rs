//! `POST /auth` (check credentials against a registry) and `GET
//! /images/search` (the v1 search API of an index).

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthConfig, Challenge};
use crate::client::{error_text, fetch_token, http_client, resolve_base};
use crate::error::{RegistryError, Result};

/// `https://index.docker.io/v1/`, `127.0.0.1:5000`, `http://x:5000/` -> domain.
pub fn server_domain(serveraddress: &str) -> String {
    let s = serveraddress.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
            berth_image::reference::DEFAULT_DOMAIN.to_string()
        }
        h => h.to_string(),
    }
}

/// Checks `auth` against its registry's `/v2/` endpoint.
pub async fn login(auth: &AuthConfig) -> Result<()> {
    let domain = server_domain(&auth.serveraddress);
    let http = http_client(&domain)?;
    let url = format!("{}/v2/", resolve_base(&domain).await?);
    let get = |header: Option<String>| {
        let mut req = http.get(&url);
        if let Some(h) = header {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        req.send()
    };
    let resp = get(None)
        .await
        .map_err(|e| RegistryError::http(format!("Get {url:?}"), e))?;
    if resp.status().is_success() {
        return Ok(());
    }
    let failed = |status: StatusCode| RegistryError::LoginFailed {
        url: url.clone(),
        status: status.to_string(),
    };
    if resp.status() != StatusCode::UNAUTHORIZED {
        return Err(failed(resp.status()));
    }
    let challenge = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse);
    let header = match challenge {
        Some(Challenge::Bearer { realm, service, .. }) => {
            let token = fetch_token(&http, auth, &realm, service.as_deref(), None).await?;
            format!("Bearer {token}")
        }
        _ => auth.basic_header(),
    };
    let resp = get(Some(header))
        .await
        .map_err(|e| RegistryError::http(format!("Get {url:?}"), e))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(failed(resp.status()))
    }
}

/// One result of `GET /images/search`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SearchResult {
    #[serde(default)]
    pub star_count: i64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_automated: bool,
    #[serde(default)]
    pub description: String,
}

/// Searches the index of the registry named in `term` (`host/term` or the
/// Docker Hub). Registries without the v1 search API answer 404, which Docker
/// reports as `Unexpected status code 404`.
pub async fn search(
    term: &str,
    limit: Option<u32>,
    auth: &AuthConfig,
) -> Result<Vec<SearchResult>> {
    let (domain, query) = match term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (
            berth_image::reference::DEFAULT_DOMAIN.to_string(),
            term.to_string(),
        ),
    };
    let base = if domain == berth_image::reference::DEFAULT_DOMAIN {
        "https://index.docker.io".to_string()
    } else {
        resolve_base(&domain).await?
    };
    let http = http_client(&domain)?;
    let url = format!("{base}/v1/search");
    let mut req = http.get(&url).query(&[("q", query.as_str())]);
    if let Some(n) = limit {
        req = req.query(&[("n", n.to_string())]);
    }
    if auth.has_basic() {
        req = req.basic_auth(&auth.username, Some(&auth.password));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| RegistryError::http(format!("Get {url:?}"), e))?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(RegistryError::Registry(format!(
            "Unexpected status code {}",
            status.as_u16()
        )));
    }
    #[derive(Deserialize)]
    struct Results {
        #[serde(default)]
        results: Vec<SearchResult>,
    }
    let r: Results = serde_json::from_slice(&body).map_err(|e| {
        RegistryError::Registry(format!(
            "invalid search response: {e}: {}",
            error_text(status, &body)
        ))
    })?;
    let mut out = r.results;
    if let Some(n) = limit {
        out.truncate(n as usize);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(server_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(server_domain("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(server_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(server_domain(""), "docker.io");
    }
}
