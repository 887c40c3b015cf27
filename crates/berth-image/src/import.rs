//! `docker import`: one tar -> one layer + a config built from `--change`s.

use std::io::Read;

use crate::changes::apply_changes;
use crate::config::{History, ImageConfig, ImageJson, RootFs};
use crate::db;
use crate::error::ImageError;
use crate::reference;
use crate::store::ImageStore;

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Dockerfile-style instructions (`CMD ["echo"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    /// Commit message; empty means "Imported from -".
    pub message: String,
    /// `imp:v1`, `imp` (-> `imp:latest`); None leaves the image untagged.
    pub reference: Option<String>,
}

impl ImageStore {
    pub fn import(&self, tar: &mut dyn Read, opts: ImportOptions) -> Result<String, ImageError> {
        // Validate everything cheap before unpacking anything.
        let target = match opts.reference.as_deref() {
            Some(r) if !r.is_empty() => Some(crate::store::tag_reference(r, None)?),
            _ => None,
        };
        let mut config = ImageConfig::default();
        apply_changes(&mut config, &opts.changes)?;
        let _pin = self.layers_in_use();
        let layer = self.add_layer(tar, None)?;

        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = if opts.message.is_empty() {
            "Imported from -".to_string()
        } else {
            opts.message
        };
        let image = ImageJson {
            architecture: "amd64".into(),
            comment: Some(comment.clone()),
            config,
            created: Some(created.clone()),
            history: vec![History {
                created: Some(created),
                comment: Some(comment),
                ..Default::default()
            }],
            os: "linux".into(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            ..Default::default()
        };
        self.register_image(&image, None, target.as_ref())
    }

    /// Stores the config blob (its digest is the image id), then the rows:
    /// image and optional tag, in one transaction.
    pub(crate) fn register_image(
        &self,
        image: &ImageJson,
        parent: Option<&str>,
        tag: Option<&reference::Reference>,
    ) -> Result<String, ImageError> {
        let bytes = serde_json::to_vec(image)?;
        let id = self.content.put(&bytes)?;
        let text = String::from_utf8(bytes).map_err(|e| ImageError::Internal(e.to_string()))?;
        let mut conn = self.conn();
        let tx = crate::db::write_tx(&mut conn)?;
        db::insert_image(&tx, &id, &text, parent, image.created_unix())?;
        if let Some(t) = tag {
            db::set_ref(&tx, &t.to_string(), &id, false)?;
        }
        tx.commit()?;
        Ok(id)
    }
}
