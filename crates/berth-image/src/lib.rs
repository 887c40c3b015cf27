//! berth-image: the content store (blobs by digest), layers unpacked into
//! overlay2/vfs snapshots, image metadata and references in SQLite, and the
//! per-container rw layers. Synchronous: the daemon calls it from blocking
//! threads.

mod apply;
mod cached_step;
mod changes;
mod commit;
pub mod compress;
pub mod config;
pub mod content;
mod db;
pub use db::write_tx;
mod derive;
mod distribution;
mod driver;
mod error;
mod fspath;
mod glob;
pub mod idmap;
mod import;
mod inspect;
mod layer;
mod list;
mod load;
pub mod reference;
mod remove;
mod rwdiff;
mod rwlayer;
mod rwsize;
mod save;
mod store;
pub mod tarhead;
pub mod treetar;

pub use apply::{apply_tar, WhiteoutMode};
pub use commit::{image_config_from_container, CommitOptions};
pub use config::{HealthConfig, ImageConfig};
pub use distribution::{layer_chain_ids, BlobSource, LayerInfo, LayerPin, PushSource};
pub use driver::SnapshotMount;
pub use error::{ErrorKind, ImageError};
pub use import::ImportOptions;
pub use layer::StagedLayer;
pub use rwdiff::{Change, ChangeKind};
pub use save::SavePlan;
pub use store::{Image, ImageStore};

#[cfg(test)]
mod testutil;
