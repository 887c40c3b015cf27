//! POST /build: the classic builder. The body is the context tar; the answer
//! is a JSON message stream (`stream`, `aux`, `errorDetail`) as Docker's.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::bodyio::{body_channel, pump_body};
use super::{query_all, AppState, Query};
use crate::build::{self, Context, Out};
use crate::error::{ApiError, ApiResult};

fn json_map<T: serde::de::DeserializeOwned + Default>(q: &Query, key: &str) -> ApiResult<T> {
    match q.get(key).filter(|s| !s.is_empty()) {
        None => Ok(T::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} JSON: {e}"))),
    }
}

/// The HostConfig of the RUN containers, from the resource and network
/// parameters of the request.
fn run_host_config(q: &Query, uri: &axum::http::Uri) -> ApiResult<serde_json::Map<String, Value>> {
    let mut hc = serde_json::Map::new();
    if let Some(n) = q
        .get("networkmode")
        .filter(|n| !n.is_empty() && *n != "default")
    {
        hc.insert("NetworkMode".into(), Value::from(n));
    }
    let hosts: Vec<Value> = query_all(uri, "extrahosts")
        .iter()
        .flat_map(|h| h.split(','))
        .filter(|h| !h.is_empty())
        .map(Value::from)
        .collect();
    if !hosts.is_empty() {
        hc.insert("ExtraHosts".into(), Value::Array(hosts));
    }
    for (param, field) in [
        ("memory", "Memory"),
        ("memswap", "MemorySwap"),
        ("cpushares", "CpuShares"),
        ("cpuperiod", "CpuPeriod"),
        ("cpuquota", "CpuQuota"),
        ("shmsize", "ShmSize"),
    ] {
        if let Some(v) = q.get(param).filter(|v| !v.is_empty()) {
            let n: i64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid {param}: {v}")))?;
            if n != 0 {
                hc.insert(field.into(), Value::from(n));
            }
        }
    }
    for (param, field) in [
        ("cpusetcpus", "CpusetCpus"),
        ("cpusetmems", "CpusetMems"),
        ("cgroupparent", "CgroupParent"),
    ] {
        if let Some(v) = q.get(param).filter(|v| !v.is_empty()) {
            hc.insert(field.into(), Value::from(v));
        }
    }
    // `docker build --ulimit`: a JSON list of {Name, Soft, Hard}, as in a
    // HostConfig; checked with the RUN container's create.
    let ulimits = json_map::<Vec<Value>>(q, "ulimits")?;
    if !ulimits.is_empty() {
        hc.insert("Ulimits".into(), Value::Array(ulimits));
    }
    Ok(hc)
}

pub async fn build(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let request = build::Request {
        tags: query_all(req.uri(), "t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        quiet: q.flag("q"),
        no_cache: q.flag("nocache"),
        build_args: json_map::<HashMap<String, Option<String>>>(&q, "buildargs")?,
        dockerfile: q
            .get("dockerfile")
            .filter(|s| !s.is_empty())
            .unwrap_or("Dockerfile")
            .to_string(),
        labels: json_map::<BTreeMap<String, String>>(&q, "labels")?,
        target: q
            .get("target")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        rm: q.get("rm").is_none_or(|_| q.flag("rm")),
        force_rm: q.flag("forcerm"),
        pull: q.flag("pull"),
        cache_from: json_map::<Vec<String>>(&q, "cachefrom")?,
        host_config: run_host_config(&q, req.uri())?,
    };
    // Tags are checked before anything runs, as Docker does.
    for t in &request.tags {
        berth_image::reference::parse_normalized_named(t)
            .map_err(|e| ApiError::bad_request(format!("invalid reference format: {t}: {e}")))?;
    }
    let (tx, mut reader) = body_channel();
    let data_root = d.opts.data_root.clone();
    let dockerfile = request.dockerfile.clone();
    let unpack = tokio::task::spawn_blocking(move || {
        let r = Context::unpack(&data_root, &mut reader, &dockerfile);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        r
    });
    let pumped = pump_body(req.into_body(), tx).await;
    let ctx = unpack
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("reading the build context: {e}")))?;
    pumped.map_err(ApiError::bad_request)?;

    let (msg_tx, msg_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let out = Out::new(msg_tx, request.quiet);
    tokio::spawn(async move {
        if let Err(e) = build::build(&d, &request, &ctx, &out).await {
            out.error(&e.to_string());
        }
        // The client's answer ends here; removing the context can follow.
        drop(out);
        let _ = tokio::task::spawn_blocking(move || drop(ctx)).await;
    });
    let stream = futures_util::stream::unfold(msg_rx, |mut rx| async move {
        let v = rx.recv().await?;
        Some((
            Ok::<_, Infallible>(bytes::Bytes::from(format!("{v}\r\n"))),
            rx,
        ))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}
