//! Entry points for the fuzz targets in `fuzz/` (not an API): the pure part
//! of `POST /containers/create`, from the request body to the OCI spec.

use std::path::Path;

use serde_json::{Map, Value};

use crate::container::{Container, Paths};

/// Decodes a create body as the handler does (Config fields at the top,
/// `HostConfig` beside them), validates it and builds the runtime spec for
/// a container without files. Errors are the API's messages.
pub fn create_body_to_spec(body: &[u8]) -> Result<oci_spec::runtime::Spec, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Value::Object(mut config) = v else {
        return Err("body is not an object".into());
    };
    let host_config = match config.remove("HostConfig") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    config.remove("NetworkingConfig");
    let host_config =
        crate::create::normalize_host_config(host_config).map_err(|e| e.to_string())?;
    crate::logopts::validate(&host_config).map_err(|e| e.to_string())?;
    crate::security_opts::validate_host_config(&host_config).map_err(|e| e.to_string())?;
    let (path, args) = crate::create::command(&config).map_err(|e| e.to_string())?;
    let c = Container {
        id: "0".repeat(64),
        name: "/fuzz".into(),
        created: chrono::Utc::now(),
        path,
        args,
        config,
        host_config,
        image_id: String::new(),
        state: Default::default(),
        restart_count: 0,
        driver: "overlay2".into(),
    };
    let paths = Paths::new(Path::new("/nonexistent-berth-fuzz"), &c.id);
    let built = crate::spec::build(
        &c,
        &paths,
        Path::new("/nonexistent-berth-fuzz/rootfs"),
        &|_| None,
    )
    .map_err(|e| e.to_string())?;
    Ok(built.spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_body_becomes_a_spec() {
        let spec = create_body_to_spec(br#"{"Image":"busybox","Cmd":["true"]}"#).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().args().as_ref().unwrap(),
            &["true".to_string()]
        );
        assert!(create_body_to_spec(b"[]").is_err());
        assert!(
            create_body_to_spec(br#"{"Cmd":["x"],"HostConfig":{"SecurityOpt":["foo=bar"]}}"#)
                .is_err()
        );
    }
}
