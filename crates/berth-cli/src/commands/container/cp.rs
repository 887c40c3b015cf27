//! `docker cp`: between a container (`CONTAINER:PATH`) and the local
//! filesystem or a tar stream (`-`), with docker's rules for directories,
//! files and a trailing `/.` (copy the contents of a directory).
//!
//! An archive coming out of a container is untrusted: entries are only ever
//! written below the destination, never through a symlink on the way.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use berth_api::{reader_body, Query};
use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::StatusError;

/// Copy files/folders between a container and the local filesystem
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
)]
pub struct Args {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// The `X-Docker-Container-Path-Stat` header.
#[derive(Debug, Deserialize)]
struct PathStat {
    #[allow(dead_code)]
    name: String,
    mode: u32,
    #[serde(rename = "linkTarget", default)]
    link_target: String,
}

const GO_MODE_DIR: u32 = 1 << 31;

/// `container:path` -> Some((container, path)); local paths -> None.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    match (split(&args.src), split(&args.dest)) {
        (Some(_), Some(_)) => bail!(StatusError::new(
            1,
            "copying between containers is not supported".to_string()
        )),
        (None, None) => bail!(StatusError::new(
            1,
            "must specify at least one container source".to_string()
        )),
        (Some((c, p)), None) => from_container(ctx, &args, c, p).await,
        (None, Some((c, p))) => to_container(ctx, &args, c, p).await,
    }
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s.as_bytes().iter().filter(|c| **c != b'=') {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

async fn stat(ctx: &Ctx, container: &str, path: &str) -> Result<PathStat, berth_api::Error> {
    let q = Query::new().add("path", path).build();
    let resp = ctx
        .client
        .request(
            Method::HEAD,
            &format!("/containers/{}/archive{q}", seg(container)),
            None,
            None,
        )
        .await?;
    let raw = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok())
        .and_then(b64_decode)
        .and_then(|j| serde_json::from_slice(&j).ok());
    raw.ok_or_else(|| berth_api::Error::Protocol("invalid path stat header from daemon".into()))
}

fn api_err(e: berth_api::Error) -> anyhow::Error {
    StatusError::new(1, crate::errors::api_error_text(&e)).into()
}

async fn from_container(ctx: &Ctx, args: &Args, container: &str, path: &str) -> Result<()> {
    let mut src = path.to_string();
    if args.follow_link {
        if let Ok(st) = stat(ctx, container, &src).await {
            if !st.link_target.is_empty() {
                src = st.link_target;
            }
        }
    }
    let q = Query::new().add("path", &src).build();
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/archive{q}", seg(container)),
            None,
            None,
        )
        .await
        .map_err(api_err)?;
    let st: PathStat = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok())
        .and_then(b64_decode)
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or_else(|| anyhow!("invalid path stat header from daemon"))?;
    let mut body = resp.into_body();
    if args.dest == "-" {
        let mut out = tokio::io::stdout();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data).await?;
            }
        }
        out.flush().await?;
        return Ok(());
    }
    let plan = extract_plan(&src, st.mode & GO_MODE_DIR != 0, Path::new(&args.dest))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let keep = args.archive;
    let writer = tokio::task::spawn_blocking(move || {
        let reader = ChanReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        extract_local(reader, &plan, keep)
    });
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if tx.send(data.to_vec()).is_err() {
                break;
            }
        }
    }
    drop(tx);
    writer.await??;
    Ok(())
}

struct ChanReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Where the archive's top entry lands locally.
#[derive(Debug)]
struct Plan {
    /// The local path the archive's top entry becomes.
    root: PathBuf,
    /// "/." copies: entries are the directory's contents, not one top entry.
    contents_only: bool,
}

fn extract_plan(src: &str, src_is_dir: bool, dest: &Path) -> Result<Plan> {
    let contents_only = src.ends_with("/.");
    let base = Path::new(src.trim_end_matches("/."))
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| ".".into());
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => Ok(Plan {
            root: if contents_only {
                dest.to_path_buf()
            } else {
                dest.join(base)
            },
            contents_only,
        }),
        Ok(_) if src_is_dir => bail!(StatusError::new(
            1,
            format!("cannot copy a directory to a file: {}", dest.display())
        )),
        Ok(_) => Ok(Plan {
            root: dest.to_path_buf(),
            contents_only,
        }),
        Err(_) => {
            if dest.to_string_lossy().ends_with('/') && !src_is_dir {
                bail!(StatusError::new(
                    1,
                    format!("destination directory \"{}\" must exist", dest.display())
                ));
            }
            let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(p) = parent {
                if !p.is_dir() {
                    bail!(StatusError::new(
                        1,
                        format!("no such directory: {}", p.display())
                    ));
                }
            }
            Ok(Plan {
                root: dest.to_path_buf(),
                contents_only,
            })
        }
    }
}

/// Unpacks entries under `plan.root` (the archive's top entry renamed).
fn extract_local(input: impl Read, plan: &Plan, keep_ids: bool) -> Result<()> {
    let mut a = tar::Archive::new(input);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(keep_ids);
    a.set_overwrite(true);
    for entry in a.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut comps = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => comps.push(n.to_os_string()),
                Component::CurDir => {}
                _ => bail!(
                    "invalid path in archive from the container: {}",
                    path.display()
                ),
            }
        }
        // The first component is the copied item itself (or "." for "/.").
        let rel: PathBuf = if plan.contents_only {
            comps.iter().collect()
        } else {
            comps.iter().skip(1).collect()
        };
        let target = if rel.as_os_str().is_empty() {
            plan.root.clone()
        } else {
            plan.root.join(&rel)
        };
        // Never write through a symlink (one the archive made, say).
        let mut cur = plan.root.clone();
        for c in rel.parent().into_iter().flat_map(|p| p.components()) {
            cur.push(c);
            if std::fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink()) {
                bail!("refusing to write {} through a symlink", target.display());
            }
        }
        if std::fs::symlink_metadata(&plan.root).is_ok_and(|m| m.file_type().is_symlink())
            && !rel.as_os_str().is_empty()
        {
            bail!("refusing to write below symlink {}", plan.root.display());
        }
        if entry.header().entry_type().is_dir() {
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&target)?;
            }
        } else if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&target)?;
        }
        entry
            .unpack(&target)
            .map_err(|e| anyhow!("writing {}: {e}", target.display()))?;
    }
    Ok(())
}

async fn to_container(ctx: &Ctx, args: &Args, container: &str, path: &str) -> Result<()> {
    // Where the archive is extracted and what its top entry is called.
    let (dir, name): (String, Option<String>) = if args.src == "-" {
        (path.to_string(), None)
    } else {
        let src_base = Path::new(args.src.trim_end_matches("/."))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let src_meta = if args.follow_link {
            std::fs::metadata(&args.src)
        } else {
            std::fs::symlink_metadata(&args.src)
        }
        .map_err(|e| {
            StatusError::new(
                1,
                format!(
                    "lstat {}: {}",
                    args.src,
                    crate::commands::image::import::io_reason(&e)
                ),
            )
        })?;
        match stat(ctx, container, path).await {
            Ok(st) if st.mode & GO_MODE_DIR != 0 => {
                let n = if args.src.ends_with("/.") {
                    ".".to_string()
                } else {
                    src_base
                };
                (path.to_string(), Some(n))
            }
            Ok(_) if src_meta.is_dir() => bail!(StatusError::new(
                1,
                "cannot copy a directory to a file".to_string()
            )),
            Ok(_) => parent_and_base(path),
            Err(e) if e.status() == Some(404) => {
                if path.ends_with('/') && !src_meta.is_dir() {
                    bail!(StatusError::new(
                        1,
                        format!("destination directory \"{path}\" must exist")
                    ));
                }
                parent_and_base(path)
            }
            Err(e) => return Err(api_err(e)),
        }
    };
    let q = Query::new()
        .add("path", &dir)
        .add("noOverwriteDirNonDir", "true")
        .flag("copyUIDGID", args.archive)
        .build();
    let url = format!("/containers/{}/archive{q}", seg(container));
    let body = match name {
        None => reader_body(tokio::io::stdin()),
        Some(n) => {
            let (rd, wr) = std::io::pipe()?;
            let src = PathBuf::from(&args.src);
            let follow = args.follow_link;
            std::thread::spawn(move || {
                let _ = write_local_tar(&src, &n, follow, wr);
            });
            let fd: std::os::fd::OwnedFd = rd.into();
            reader_body(tokio::fs::File::from_std(std::fs::File::from(fd)))
        }
    };
    ctx.client
        .request(Method::PUT, &url, Some(body), Some("application/x-tar"))
        .await
        .map_err(api_err)?;
    Ok(())
}

/// `/a/b` -> ("/a", "b"): extract into the parent under a new name.
fn parent_and_base(path: &str) -> (String, Option<String>) {
    let p = Path::new(path.trim_end_matches('/'));
    let parent = p
        .parent()
        .map(|x| x.to_string_lossy().into_owned())
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| "/".into());
    let base = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    (parent, Some(base))
}

/// Archives a local file or directory as `name` (".": a directory's contents).
fn write_local_tar(src: &Path, name: &str, follow: bool, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let meta = if follow {
        std::fs::metadata(src)?
    } else {
        std::fs::symlink_metadata(src)?
    };
    if meta.is_dir() {
        b.append_dir_all(name, src)?;
    } else if meta.file_type().is_symlink() {
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&meta);
        h.set_size(0);
        b.append_link(&mut h, name, std::fs::read_link(src)?)?;
    } else {
        let mut f = std::fs::File::open(src)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&meta);
        b.append_data(&mut h, name, &mut f)?;
    }
    b.into_inner()?.flush()?;
    Ok(())
}
