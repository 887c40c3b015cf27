//! `docker commit`: the container's upper dir becomes a new layer on top of
//! its image's layers, with a config derived from the container's.
//! Everything is validated before the layer is made; if registering the image
//! fails, the new layer is collected again, so a failed commit leaves nothing.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::changes::apply_changes;
use crate::config::{History, ImageConfig, ImageJson, RootFs};
use crate::db;
use crate::error::{ImageError, PathContext};
use crate::rwdiff::{exists_in_lowers, is_init_stub};
use crate::store::{parse_config, tag_reference, ImageStore};
use crate::treetar::{TreeOptions, TreeTar};

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// The container's config (Docker's `Config` fields an image keeps).
    pub config: ImageConfig,
    /// `--change` instructions applied on top of `config`.
    pub changes: Vec<String>,
    pub author: String,
    pub comment: String,
    /// History `created_by`: the container's command.
    pub created_by: String,
    /// Full container id, recorded as the image's `container`.
    pub container_id: String,
    /// `repo[:tag]`; None leaves the image untagged.
    pub reference: Option<String>,
}

impl ImageStore {
    /// Commits the rw layer of `container_id`; returns the new image id.
    /// The caller keeps the container from changing meanwhile (pause).
    pub fn commit(&self, container_id: &str, opts: CommitOptions) -> Result<String, ImageError> {
        let target = match opts.reference.as_deref() {
            Some(r) if !r.is_empty() => Some(tag_reference(r, None)?),
            _ => None,
        };
        let mut config = opts.config;
        apply_changes(&mut config, &opts.changes)?;
        let info = self.rw_layer_info(container_id)?;
        let parent = {
            let conn = self.conn();
            let row = db::get_image(&conn, &info.image_id)?
                .ok_or_else(|| ImageError::NoSuchImage(info.image_id.clone()))?;
            parse_config(&row)?
        };

        let layer = {
            let _pin = self.layers_in_use();
            let (mut rd, wr) = std::io::pipe().map_err(|e| ImageError::io("creating pipe", e))?;
            std::thread::scope(|s| {
                let upper = info.upper.as_path();
                let lowers = info.lowers.clone();
                let ids = self.id_map().copied();
                let writer = s.spawn(move || tar_upper(upper, lowers, ids, wr));
                let added = self.add_layer(&mut rd, info.top.as_ref());
                // Unblock the writer if the reader stopped early.
                drop(rd);
                let written = writer
                    .join()
                    .unwrap_or_else(|_| Err(ImageError::Internal("archiver panicked".into())));
                match (added, written) {
                    (Ok(l), Ok(())) => Ok(l),
                    (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                }
            })?
        };

        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let mut history = parent.history.clone();
        history.push(History {
            created: Some(created.clone()),
            created_by: non_empty(opts.created_by),
            author: non_empty(opts.author.clone()),
            comment: non_empty(opts.comment.clone()),
            empty_layer: false,
        });
        let mut diff_ids = parent.rootfs.diff_ids.clone();
        diff_ids.push(layer.diff_id.clone());
        let image = ImageJson {
            architecture: parent.architecture.clone(),
            author: non_empty(opts.author),
            comment: non_empty(opts.comment),
            config,
            container: non_empty(opts.container_id),
            created: Some(created),
            history,
            os: parent.os.clone(),
            parent: Some(info.image_id.clone()),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids,
            },
            variant: parent.variant.clone(),
            ..Default::default()
        };
        match self.register_image(&image, Some(&info.image_id), target.as_ref()) {
            Ok(id) => Ok(id),
            Err(e) => {
                // The layer is referenced by nothing now: collect it.
                let _ = self.prune_layers();
                Err(e)
            }
        }
    }
}

/// Writes the upper dir as a layer tar (overlay whiteouts -> `.wh.` files).
/// The runtime's mount-target stubs are left out, as Docker's init layer is.
fn tar_upper(
    upper: &Path,
    lowers: Vec<PathBuf>,
    id_map: Option<crate::idmap::IdMap>,
    out: std::io::PipeWriter,
) -> Result<(), ImageError> {
    let dir = File::open(upper).at("opening", upper)?;
    let skip = move |name: &Path, st: &nix::sys::stat::FileStat| {
        let path = Path::new("/").join(name);
        let text = path.to_string_lossy();
        let comps: Vec<OsString> = name.iter().map(|c| c.to_os_string()).collect();
        is_init_stub(&text, st, false) && !exists_in_lowers(&lowers, &comps)
    };
    let mut t = TreeTar::new(
        out,
        TreeOptions {
            overlay_whiteouts: true,
            id_map,
        },
    )
    .with_skip(Box::new(skip));
    t.append_contents(dir.as_fd(), Path::new(""))?;
    t.finish()?;
    Ok(())
}

/// The fields of a container's `Config` an image keeps.
pub fn image_config_from_container(config: &serde_json::Value) -> ImageConfig {
    serde_json::from_value(config.clone()).unwrap_or_default()
}
