//! Build steps taken from `--cache-from` images, as Docker's classic
//! builder does: such an image (typically pulled from a registry, so none
//! of its steps are in the local build cache) stands for the step when its
//! history starts with the parent's history and layers and its next
//! history entry reads the same as the step's (`CreatedBy`). The step's
//! image is then made from the parent plus that entry and its layer, with
//! the step's own config.

use crate::config::{ImageConfig, ImageJson};
use crate::db;
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::store::{lookup, parse_config, ImageStore};

impl ImageStore {
    /// The image for a build step from the first of `sources` that has it
    /// (see the module doc), registered as a child of `parent_id`; `None`
    /// when none has it. The source itself is the answer when the step is
    /// its last and its config is the step's, so rebuilding what was pushed
    /// gives the same image id.
    pub fn cached_step_from(
        &self,
        parent_id: &str,
        sources: &[String],
        created_by: &str,
        config: &ImageConfig,
    ) -> Result<Option<String>, ImageError> {
        // Held until the new image row references the layer, so no layer
        // collection runs in between.
        let _pin = self.layers_in_use();
        let (parent, images) = {
            let conn = self.conn();
            let parent = parse_config(&lookup(&conn, parent_id)?)?;
            let mut images = Vec::new();
            for s in sources {
                if let Some(row) = db::get_image(&conn, s)? {
                    images.push((row.id.clone(), parse_config(&row)?));
                }
            }
            (parent, images)
        };
        let Some((source_id, source)) = images
            .iter()
            .find(|(_, img)| continues(img, &parent, created_by))
        else {
            return Ok(None);
        };
        let at = parent.history.len();
        if at + 1 == source.history.len() && source.config == *config {
            return Ok(Some(source_id.clone()));
        }
        let image = step_image(&parent, parent_id, source, config);
        // The layer must still be there (a source is an image, so its
        // layers are, unless the store is damaged).
        if let Some(chain) = chain_ids(&image.rootfs.diff_ids).last() {
            if db::get_layer(&self.conn(), chain)?.is_none() {
                return Ok(None);
            }
        }
        self.register_image(&image, Some(parent_id), None).map(Some)
    }
}

/// Whether `source` is `parent` followed by a step reading `created_by`
/// (Docker's `isValidParent` and `isValidConfig`).
fn continues(source: &ImageJson, parent: &ImageJson, created_by: &str) -> bool {
    let at = parent.history.len();
    let (ph, sh) = (&parent.history, &source.history);
    let (pd, sd) = (&parent.rootfs.diff_ids, &source.rootfs.diff_ids);
    sh.len() > at
        && pd.len() <= sd.len()
        && sh[..at] == ph[..]
        && sd[..pd.len()] == pd[..]
        && sh[at].created_by.as_deref() == Some(created_by)
        // The entry's layer is the source's next one: the parent's layers
        // and history agree in number with the source's up to here.
        && non_empty(sh, at) == pd.len()
}

/// How many of the first `n` history entries have a layer.
fn non_empty(history: &[crate::config::History], n: usize) -> usize {
    history[..n].iter().filter(|h| !h.empty_layer).count()
}

/// Parent + the source's history entry at the parent's length (and its
/// layer unless the entry is empty), with `config`.
fn step_image(
    parent: &ImageJson,
    parent_id: &str,
    source: &ImageJson,
    config: &ImageConfig,
) -> ImageJson {
    let at = parent.history.len();
    let entry = source.history[at].clone();
    let mut rootfs = parent.rootfs.clone();
    if !entry.empty_layer {
        rootfs
            .diff_ids
            .push(source.rootfs.diff_ids[parent.rootfs.diff_ids.len()].clone());
    }
    let mut history = parent.history.clone();
    history.push(entry.clone());
    ImageJson {
        config: config.clone(),
        created: entry.created,
        history,
        rootfs,
        parent: Some(parent_id.to_string()),
        container: None,
        architecture: source.architecture.clone(),
        os: source.os.clone(),
        variant: source.variant.clone(),
        ..parent.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::History;

    fn entry(by: &str, empty: bool) -> History {
        History {
            created: Some("2026-01-01T00:00:00Z".into()),
            created_by: Some(by.into()),
            empty_layer: empty,
            ..Default::default()
        }
    }

    fn image(steps: &[(&str, Option<&str>)]) -> ImageJson {
        let mut img = ImageJson::default();
        for (by, layer) in steps {
            img.history.push(entry(by, layer.is_none()));
            if let Some(l) = layer {
                img.rootfs.diff_ids.push(l.to_string());
            }
        }
        img
    }

    #[test]
    fn a_source_continues_its_prefix_with_the_same_step_text() {
        let base = image(&[("base", Some("sha256:b"))]);
        let source = image(&[
            ("base", Some("sha256:b")),
            ("ENV", None),
            ("COPY x", Some("sha256:c")),
        ]);
        assert!(continues(&source, &base, "ENV"));
        assert!(!continues(&source, &base, "ENV A=2"));
        let after_env = image(&[("base", Some("sha256:b")), ("ENV", None)]);
        assert!(continues(&source, &after_env, "COPY x"));
        // Another base (history or layers differ): no match.
        let other = image(&[("base", Some("sha256:z"))]);
        assert!(!continues(&source, &other, "ENV"));
        let renamed = image(&[("base2", Some("sha256:b"))]);
        assert!(!continues(&source, &renamed, "ENV"));
        // Nothing after the parent: no match.
        assert!(!continues(&source, &source, "COPY x"));
        // An empty base (scratch) is a prefix of anything.
        assert!(continues(&source, &ImageJson::default(), "base"));
    }

    #[test]
    fn the_step_image_takes_the_entry_its_layer_and_the_steps_config() {
        let parent = image(&[("base", Some("sha256:b")), ("ENV", None)]);
        let mut source = image(&[
            ("base", Some("sha256:b")),
            ("ENV", None),
            ("COPY x", Some("sha256:c")),
            ("CMD", None),
        ]);
        source.architecture = "amd64".into();
        let config = ImageConfig {
            user: Some("7".into()),
            ..Default::default()
        };
        let img = step_image(&parent, "sha256:p", &source, &config);
        assert_eq!(img.rootfs.diff_ids, ["sha256:b", "sha256:c"]);
        assert_eq!(img.history, source.history[..3]);
        assert_eq!(img.config, config);
        assert_eq!(img.parent.as_deref(), Some("sha256:p"));
        assert_eq!(img.architecture, "amd64");
        let after_copy = step_image(&img, "sha256:q", &source, &config);
        assert_eq!(after_copy.rootfs.diff_ids, ["sha256:b", "sha256:c"]);
        assert_eq!(after_copy.history.len(), 4);
    }
}
