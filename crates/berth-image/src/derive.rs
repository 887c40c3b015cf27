//! Images that differ from their parent only in configuration: what the
//! builder's metadata instructions (ENV, CMD, LABEL...) produce. Same
//! layers, one more history entry marked `empty_layer`.

use crate::config::{History, ImageConfig, ImageJson};
use crate::db;
use crate::error::ImageError;
use crate::store::{parse_config, ImageStore};

impl ImageStore {
    /// Registers a child of `parent_id` with `config`; returns its id.
    pub fn derive_config(
        &self,
        parent_id: &str,
        config: ImageConfig,
        created_by: &str,
    ) -> Result<String, ImageError> {
        let parent = {
            let conn = self.conn();
            let row = db::get_image(&conn, parent_id)?
                .ok_or_else(|| ImageError::NoSuchImage(parent_id.to_string()))?;
            parse_config(&row)?
        };
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut history = parent.history.clone();
        history.push(History {
            created: Some(created.clone()),
            created_by: Some(created_by.to_string()),
            empty_layer: true,
            ..Default::default()
        });
        let image = ImageJson {
            config,
            created: Some(created),
            history,
            parent: Some(parent_id.to_string()),
            container: None,
            ..parent
        };
        self.register_image(&image, Some(parent_id), None)
    }
}
