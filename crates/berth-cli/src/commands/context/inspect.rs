//! `docker context inspect`: the stored metadata with the names of the TLS
//! files and where they are kept, as a JSON list or a template per context.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::{default_meta, default_tls};
use crate::cli::ClientConfig;
use crate::commands::system::inspect::{print_inspect, InspectOutcome};
use crate::context::store::{ContextMetadata, Endpoints, Meta, DOCKER_ENDPOINT};
use crate::context::DEFAULT;

/// Display detailed information on one or more contexts
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] [CONTEXT] [CONTEXT...]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// The current context when none is named.
    #[arg(value_name = "CONTEXT")]
    pub names: Vec<String>,
}

/// docker's `contextWithTLSListing`, fields in its order.
#[derive(Serialize)]
struct Inspected<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Metadata")]
    metadata: &'a ContextMetadata,
    #[serde(rename = "Endpoints")]
    endpoints: &'a Endpoints,
    #[serde(rename = "TLSMaterial")]
    tls_material: BTreeMap<&'static str, Vec<&'static str>>,
    #[serde(rename = "Storage")]
    storage: Storage,
}

#[derive(Serialize)]
struct Storage {
    #[serde(rename = "MetadataPath")]
    metadata_path: String,
    #[serde(rename = "TLSPath")]
    tls_path: String,
}

/// Where docker says the default context is kept.
const IN_MEMORY: &str = "<IN MEMORY>";

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let names = if args.names.is_empty() {
        vec![config.context.clone()]
    } else {
        args.names
    };
    let outcomes = names
        .iter()
        .map(|name| match inspect(config, name) {
            Ok(raw) => InspectOutcome::Found(raw),
            Err(e) => InspectOutcome::Other(format!("{e:#}")),
        })
        .collect();
    print_inspect(outcomes, args.format.as_deref())
}

fn inspect(config: &ClientConfig, name: &str) -> Result<Vec<u8>> {
    let (meta, files, storage): (Meta, Vec<&str>, Storage) = if name == DEFAULT {
        let mut meta = default_meta(config);
        // Its description is what `ls` shows; the in-memory context has none.
        meta.metadata = ContextMetadata::default();
        let files = default_tls(config)?.files().map(|(f, _)| f).collect();
        let storage = Storage {
            metadata_path: IN_MEMORY.into(),
            tls_path: IN_MEMORY.into(),
        };
        (meta, files, storage)
    } else {
        let store = config.store();
        let meta = store.get(name)?;
        let files = store.tls_files(name);
        let storage = Storage {
            metadata_path: store.meta_dir(name).display().to_string(),
            tls_path: store.tls_dir(name).display().to_string(),
        };
        (meta, files, storage)
    };
    let mut tls_material = BTreeMap::new();
    if !files.is_empty() {
        tls_material.insert(DOCKER_ENDPOINT, files);
    }
    let inspected = Inspected {
        name: &meta.name,
        metadata: &meta.metadata,
        endpoints: &meta.endpoints,
        tls_material,
        storage,
    };
    Ok(go_html_escape(&serde_json::to_string(&inspected)?).into_bytes())
}

/// Go's encoding/json escapes `<`, `>` and `&` (docker shows `\u003cIN MEMORY\u003e`);
/// in JSON text they can only occur inside strings, so a plain replace is exact.
fn go_html_escape(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_like_go() {
        assert_eq!(
            go_html_escape(r#"{"a":"<IN MEMORY> & more"}"#),
            r#"{"a":"\u003cIN MEMORY\u003e \u0026 more"}"#
        );
    }
}
