//! Container filesystem endpoints: `changes`, `archive` (HEAD/GET/PUT, what
//! `docker cp` uses), `export` and `POST /commit`.

use std::os::fd::AsFd;
use std::path::Path as FsPath;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};

use super::bodyio::{body_channel, pump_body, response_channel};
use super::{AppState, Query};
use crate::container::Status;
use crate::daemon::{Daemon, Entry};
use crate::error::{ApiError, ApiResult};
use crate::fsops::resolve::{locate, not_found, open_in_root, path_stat, PathStat};
use crate::fsops::rootfs::{with_rootfs, Source};
use crate::fsops::untar::{extract_remapped, ExtractOptions};
use crate::fsops::FsError;
use berth_image::treetar::{TreeOptions, TreeTar};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// The running container's init pid, if it has one.
fn running_pid(e: &Entry) -> Option<i32> {
    let c = e.get();
    (matches!(c.state.status, Status::Running | Status::Paused) && c.state.pid > 0)
        .then_some(c.state.pid)
}

/// Where file operations on `e` look: the live rootfs of a running
/// container, else its snapshot.
fn source(d: &Daemon, e: &Entry, writable: bool) -> ApiResult<Source> {
    if let Some(pid) = running_pid(e) {
        return Ok(Source::Proc(pid));
    }
    Ok(Source::Snapshot {
        mount: d.images.rw_layer_mount(&e.id)?,
        writable,
    })
}

fn required_path(q: &Query) -> ApiResult<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("path cannot be empty")),
    }
}

fn stat_header(s: &PathStat) -> ApiResult<HeaderValue> {
    let j = serde_json::to_vec(s).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(j))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// GET /containers/{id}/changes
pub async fn changes(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let e = d.lookup(&id)?;
    let images = d.images.clone();
    let list = tokio::task::spawn_blocking(move || images.rw_changes(&e.id))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let out: Vec<Value> = list
        .into_iter()
        .map(|c| json!({"Path": c.path, "Kind": c.kind as u8}))
        .collect();
    Ok(Json(Value::Array(out)).into_response())
}

/// HEAD /containers/{id}/archive
pub async fn archive_head(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let path = required_path(&Query::from_uri(req.uri()))?;
    let e = d.lookup(&id)?;
    let name = id.clone();
    let st = with_rootfs(source(&d, &e, false)?, move |root| {
        let loc = locate(root, &path, &name)?;
        path_stat(root, &loc)
    })
    .await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(STAT_HEADER, stat_header(&st)?);
    Ok(r)
}

/// GET /containers/{id}/archive: a tar of the path, stat in the header.
pub async fn archive_get(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let path = required_path(&Query::from_uri(req.uri()))?;
    let e = d.lookup(&id)?;
    let src = source(&d, &e, false)?;
    let id_map = d.images.id_map().copied();
    let (stat_tx, stat_rx) = tokio::sync::oneshot::channel();
    let (writer, body) = response_channel();
    let name = id.clone();
    tokio::spawn(with_rootfs(src, move |root| {
        let located = locate(root, &path, &name).and_then(|loc| {
            let st = path_stat(root, &loc)?;
            Ok((loc, st))
        });
        let (loc, st) = match located {
            Ok(v) => v,
            Err(err) => {
                let _ = stat_tx.send(Err(err));
                return Ok(());
            }
        };
        // Docker names the entry after the path's last element; "/x/."
        // archives the directory's contents as "./...".
        let archive_name = if loc.abs.ends_with("/.") || loc.abs == "/" {
            ".".to_string()
        } else {
            st.name.clone()
        };
        let _ = stat_tx.send(Ok(st));
        let mut t = TreeTar::new(
            writer,
            TreeOptions {
                id_map,
                ..Default::default()
            },
        );
        let written = t
            .append_at(loc.parent.as_fd(), &loc.base, FsPath::new(&archive_name))
            .and_then(|()| t.finish());
        match written {
            Ok(w) => drop(w),
            Err(err) => tracing::warn!("archiving {} of {name}: {err}", loc.abs),
        }
        Ok(())
    }));
    let st = stat_rx
        .await
        .map_err(|_| ApiError::internal("archive worker failed"))??;
    let mut r = Response::new(body);
    r.headers_mut().insert(STAT_HEADER, stat_header(&st)?);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

/// uid/gid of the container's configured user, read from its own files.
fn container_ids(root: std::os::fd::BorrowedFd<'_>, user: &str) -> Result<(u32, u32), FsError> {
    let keep = std::cell::RefCell::new(Vec::new());
    let lookup = |p: &str| -> Option<std::path::PathBuf> {
        let fd = open_in_root(root, FsPath::new(p), nix::fcntl::OFlag::O_RDONLY).ok()?;
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        keep.borrow_mut().push(fd);
        Some(path.into())
    };
    let u =
        crate::users::resolve(user, &[], &lookup).map_err(|e| FsError::Invalid(e.to_string()))?;
    Ok((u.uid, u.gid))
}

/// PUT /containers/{id}/archive: extracts the body (a tar) into `path`.
pub async fn archive_put(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let path = required_path(&q)?;
    let e = d.lookup(&id)?;
    let c = e.get();
    if c.host_config
        .get("ReadonlyRootfs")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(FsError::ReadOnly.into());
    }
    let no_overwrite = q.flag("noOverwriteDirNonDir");
    let copy_ids = q.flag("copyUIDGID");
    let user = c.config_str("User").unwrap_or("").to_string();
    let id_map = d.images.id_map().copied();
    // A stopped container must not start while its snapshot is mounted
    // writable elsewhere.
    let _op = if running_pid(&e).is_none() {
        Some(e.op.lock().await)
    } else {
        None
    };
    let src = source(&d, &e, true)?;
    let (tx, mut reader) = body_channel();
    let name = id.clone();
    let work = with_rootfs(src, move |root| {
        let abs = crate::fsops::resolve::absolute(&path);
        open_in_root(
            root,
            FsPath::new(&abs),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
        )
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ENOENT) => not_found(&abs, &name),
            Some(libc::ENOTDIR) => FsError::Invalid("extraction point is not a directory".into()),
            _ => FsError::io(format!("resolving {abs}"), err),
        })?;
        let chown = if copy_ids {
            Some(container_ids(root, &user)?)
        } else {
            None
        };
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: no_overwrite,
            chown,
            chmod: None,
        };
        let r = extract_remapped(root, &abs, &mut reader, opts, id_map.as_ref());
        // Drain what the client still sends so it sees our answer.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        r
    });
    let pump = pump_body(req.into_body(), tx);
    let (result, pumped) = tokio::join!(work, pump);
    result?;
    pumped.map_err(ApiError::bad_request)?;
    Ok(StatusCode::OK.into_response())
}

/// GET /containers/{id}/export: the container's filesystem as a tar.
pub async fn export(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let e = d.lookup(&id)?;
    let src = Source::Snapshot {
        mount: d.images.rw_layer_mount(&e.id)?,
        writable: false,
    };
    let id_map = d.images.id_map().copied();
    let (writer, body) = response_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let name = id.clone();
    let work = tokio::spawn(with_rootfs(src, move |root| {
        let _ = ready_tx.send(());
        let mut t = TreeTar::new(
            writer,
            TreeOptions {
                id_map,
                ..Default::default()
            },
        );
        match t
            .append_contents(root, FsPath::new(""))
            .and_then(|()| t.finish())
        {
            Ok(w) => drop(w),
            Err(err) => tracing::warn!("exporting {name}: {err}"),
        }
        Ok(())
    }));
    if ready_rx.await.is_err() {
        // The rootfs could not be opened: report why.
        work.await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        return Err(ApiError::internal("export failed"));
    }
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

/// POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=
pub async fn commit(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let changes = super::query_all(req.uri(), "changes");
    let name = q.get("container").unwrap_or("").to_string();
    let e = d.lookup(&name)?;
    let body = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let overrides: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let c = e.get();
    let mut config = Value::Object(c.config.clone());
    if let Value::Object(o) = overrides {
        for (k, v) in o {
            if !v.is_null() {
                config[k] = v;
            }
        }
    }
    let created_by = config["Cmd"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let reference = match (q.get("repo").unwrap_or(""), q.get("tag").unwrap_or("")) {
        ("", _) => None,
        (r, "") => Some(r.to_string()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    let opts = berth_image::CommitOptions {
        config: berth_image::image_config_from_container(&config),
        changes,
        author: q.get("author").unwrap_or("").to_string(),
        comment: q.get("comment").unwrap_or("").to_string(),
        created_by,
        container_id: c.id.clone(),
        reference,
    };
    // Pause (freeze) a running container so the layer is consistent.
    let pause = q.get("pause").is_none_or(|_| q.flag("pause"));
    let frozen = if pause && c.state.status == Status::Running {
        let cg = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(&c))
            .map_err(|err| ApiError::internal(format!("cannot find cgroup of {}: {err}", c.id)))?;
        cg.freeze()
            .map_err(|err| ApiError::internal(err.to_string()))?;
        Some(cg)
    } else {
        None
    };
    let images = d.images.clone();
    let id = c.id.clone();
    let result = tokio::task::spawn_blocking(move || images.commit(&id, opts)).await;
    if let Some(cg) = frozen {
        if let Err(err) = cg.thaw() {
            tracing::warn!("thawing {} after commit: {err}", c.id);
        }
    }
    let image_id = result.map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(json!({"Id": image_id}))).into_response())
}
