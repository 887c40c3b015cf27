//! `DELETE /images/{name}`, following Docker's image_delete.go: untag by
//! reference, delete by id, conflicts with containers/children/other tags,
//! optional pruning of untagged parents, and release of unused layers.

use std::collections::HashSet;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::db::{self, LayerRow};
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::reference::{self, Reference};
use crate::store::{lookup, parse_config, ImageStore};

const DEPENDENT_CHILD: u8 = 1;
const RUNNING_CONTAINER: u8 = 2;
const ACTIVE_REFERENCE: u8 = 4;
const STOPPED_CONTAINER: u8 = 8;
const HARD: u8 = DEPENDENT_CHILD | RUNNING_CONTAINER;
const SOFT: u8 = ACTIVE_REFERENCE | STOPPED_CONTAINER;

struct Conflict {
    image_id: String,
    hard: bool,
    used: bool,
    message: String,
}

impl From<Conflict> for ImageError {
    fn from(c: Conflict) -> Self {
        let force = if c.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        ImageError::Conflict(format!(
            "conflict: unable to delete {} ({force}) - {}",
            short(&c.image_id),
            c.message
        ))
    }
}

/// Docker's `stringid.TruncateID`.
fn short(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}

fn is_image_id_prefix(image_id: &str, prefix: &str) -> bool {
    image_id.starts_with(prefix)
        || image_id
            .split_once(':')
            .is_some_and(|(_, h)| h.starts_with(prefix))
}

/// Parsed references to an image: (reference, is_digest).
fn refs(conn: &Connection, id: &str) -> Result<Vec<(Reference, bool)>, ImageError> {
    Ok(db::refs_of(conn, id)?
        .into_iter()
        .filter_map(|(n, d)| reference::parse_normalized_named(&n).ok().map(|r| (r, d)))
        .collect())
}

/// True when the references are one tag plus digests of the same repository.
fn is_single_reference(refs: &[(Reference, bool)]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical = HashSet::new();
    for (r, is_digest) in refs {
        if *is_digest {
            canonical.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0].0);
    canonical.len() == 1 && canonical.contains(&single.name())
}

/// Files to delete once the transaction has committed.
#[derive(Default)]
struct Garbage {
    layers: Vec<LayerRow>,
    configs: Vec<String>,
}

impl ImageStore {
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        prune: bool,
        in_use: &dyn Fn(&str) -> Option<(String, bool)>,
    ) -> Result<Vec<Value>, ImageError> {
        let _gc = self.layers_exclusive();
        let image_id = lookup(&self.conn(), name)?.id;
        // The callback runs without our lock held: it may take the daemon's.
        let user = in_use(&image_id);
        let mut records = Vec::new();
        let mut garbage = Garbage::default();
        {
            let mut conn = self.conn();
            let tx = crate::db::write_tx(&mut conn)?;
            if lookup(&tx, name)?.id != image_id {
                return Err(ImageError::Conflict(format!(
                    "image {name} changed during removal"
                )));
            }
            let mut repo_refs = refs(&tx, &image_id)?;
            let mut quiet = false;
            if !is_image_id_prefix(&image_id, name) {
                if !force && is_single_reference(&repo_refs) {
                    if let Some((cid, _)) = &user {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                            short(cid),
                            short(&image_id)
                        )));
                    }
                }
                let parsed = reference::parse_normalized_named(name)?.with_default_tag();
                db::delete_ref(&tx, &parsed.to_string())?;
                records.push(json!({"Untagged": parsed.familiar_string()}));
                repo_refs = refs(&tx, &image_id)?;
                if parsed.digest.is_none() {
                    let tag_left = repo_refs
                        .iter()
                        .any(|(r, d)| !d && r.name() == parsed.name());
                    if !tag_left {
                        let mut remaining = Vec::new();
                        for (r, d) in repo_refs {
                            if d && r.name() == parsed.name() {
                                db::delete_ref(&tx, &r.to_string())?;
                                records.push(json!({"Untagged": r.familiar_string()}));
                            } else {
                                remaining.push((r, d));
                            }
                        }
                        repo_refs = remaining;
                    }
                }
                if !repo_refs.is_empty() {
                    tx.commit()?;
                    return Ok(records);
                }
                quiet = true;
            } else if is_single_reference(&repo_refs) {
                let mask = HARD | if force { 0 } else { SOFT & !ACTIVE_REFERENCE };
                if let Some(c) = check_conflict(&tx, &image_id, mask, user.as_ref())? {
                    return Err(c.into());
                }
                for (r, _) in repo_refs {
                    db::delete_ref(&tx, &r.to_string())?;
                    records.push(json!({"Untagged": r.familiar_string()}));
                }
            }
            let mut target = Some((image_id, user, force, quiet));
            while let Some((id, user, force, quiet)) = target.take() {
                let parent = delete_helper(
                    &tx,
                    &id,
                    user.as_ref(),
                    force,
                    quiet,
                    &mut records,
                    &mut garbage,
                )?;
                if let (true, Some(p)) = (prune, parent) {
                    // Parents are pruned unforced and quietly (Docker).
                    let parent_user = in_use(&p);
                    target = Some((p, parent_user, false, true));
                }
            }
            tx.commit()?;
        }
        self.delete_garbage(garbage);
        Ok(records)
    }

    fn delete_garbage(&self, garbage: Garbage) {
        for l in garbage.layers {
            if let Err(e) = self.driver.remove(&l.cache_id) {
                tracing::warn!(%e, layer = %l.chain_id, "removing layer dir");
            }
            if let Some(blob) = &l.blob {
                let still_used = self
                    .conn()
                    .query_row("SELECT 1 FROM layer_layers WHERE blob = ?1", [blob], |_| {
                        Ok(())
                    })
                    .is_ok();
                if !still_used {
                    let _ = self.content.delete(blob);
                }
            }
        }
        for c in garbage.configs {
            let _ = self.content.delete(&c);
        }
    }

    /// Deletes layers no image and no rw layer uses (crash leftovers and
    /// layers kept alive by a container of a force-removed image).
    pub(crate) fn prune_layers(&self) -> Result<(), ImageError> {
        let _gc = self.layers_exclusive();
        self.prune_layers_locked()
    }

    /// As `prune_layers` when nothing is creating layers right now (no pull,
    /// load or build holds the layer pin); false when something is.
    pub(crate) fn try_prune_layers_impl(&self) -> Result<bool, ImageError> {
        let Some(_gc) = self.layers_try_exclusive() else {
            return Ok(false);
        };
        self.prune_layers_locked()?;
        Ok(true)
    }

    fn prune_layers_locked(&self) -> Result<(), ImageError> {
        let mut garbage = Garbage::default();
        {
            let mut conn = self.conn();
            let tx = crate::db::write_tx(&mut conn)?;
            let used = used_chains(&tx)?;
            let mut st = tx.prepare("SELECT chain_id FROM layer_layers")?;
            let all: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            drop(st);
            for c in all.iter().filter(|c| !used.contains(*c)) {
                if let Some(l) = db::get_layer(&tx, c)? {
                    tx.execute("DELETE FROM layer_layers WHERE chain_id = ?1", [c])?;
                    garbage.layers.push(l);
                }
            }
            tx.commit()?;
        }
        self.delete_garbage(garbage);
        Ok(())
    }
}

/// Docker's `checkImageDeleteConflict`.
fn check_conflict(
    conn: &Connection,
    id: &str,
    mask: u8,
    user: Option<&(String, bool)>,
) -> Result<Option<Conflict>, ImageError> {
    let conflict = |hard, used, message: String| Conflict {
        image_id: id.to_string(),
        hard,
        used,
        message,
    };
    if mask & DEPENDENT_CHILD != 0 && !db::children_of(conn, id)?.is_empty() {
        return Ok(Some(conflict(
            true,
            false,
            "image has dependent child images".into(),
        )));
    }
    if let Some((cid, running)) = user {
        if *running && mask & RUNNING_CONTAINER != 0 {
            return Ok(Some(conflict(
                true,
                true,
                format!("image is being used by running container {}", short(cid)),
            )));
        }
    }
    if mask & ACTIVE_REFERENCE != 0 && !db::refs_of(conn, id)?.is_empty() {
        return Ok(Some(conflict(
            false,
            false,
            "image is referenced in multiple repositories".into(),
        )));
    }
    if let Some((cid, running)) = user {
        if !*running && mask & STOPPED_CONTAINER != 0 {
            return Ok(Some(conflict(
                false,
                true,
                format!("image is being used by stopped container {}", short(cid)),
            )));
        }
    }
    Ok(None)
}

/// Docker's `imageDeleteHelper` (without the recursion, which the caller
/// drives). Returns the image's parent for pruning.
fn delete_helper(
    tx: &Connection,
    id: &str,
    user: Option<&(String, bool)>,
    force: bool,
    quiet: bool,
    records: &mut Vec<Value>,
    garbage: &mut Garbage,
) -> Result<Option<String>, ImageError> {
    let mask = HARD | if force { 0 } else { SOFT };
    if let Some(c) = check_conflict(tx, id, mask, user)? {
        let dangling = db::refs_of(tx, id)?.is_empty() && db::children_of(tx, id)?.is_empty();
        if quiet && (!dangling || c.used) {
            return Ok(None);
        }
        return Err(c.into());
    }
    let row = db::get_image(tx, id)?.ok_or_else(|| ImageError::NoSuchImage(id.to_string()))?;
    for (r, _) in refs(tx, id)? {
        db::delete_ref(tx, &r.to_string())?;
        records.push(json!({"Untagged": r.familiar_string()}));
    }
    tx.execute("DELETE FROM image_images WHERE id = ?1", [id])?;
    records.push(json!({"Deleted": id}));
    garbage.configs.push(id.to_string());

    let img = parse_config(&row)?;
    let used = used_chains(tx)?;
    for c in chain_ids(&img.rootfs.diff_ids).iter().rev() {
        if used.contains(c) {
            // Everything below is used too (chains include their parents).
            break;
        }
        if let Some(l) = db::get_layer(tx, c)? {
            tx.execute("DELETE FROM layer_layers WHERE chain_id = ?1", [c])?;
            records.push(json!({"Deleted": c}));
            garbage.layers.push(l);
        }
    }
    Ok(row.parent.filter(|p| !p.is_empty()))
}

/// Chain ids used by any image or rw layer (with all their ancestors).
fn used_chains(conn: &Connection) -> Result<HashSet<String>, ImageError> {
    let mut used = HashSet::new();
    for row in db::all_images(conn)? {
        used.extend(chain_ids(&parse_config(&row)?.rootfs.diff_ids));
    }
    let mut st = conn.prepare("SELECT top_chain FROM layer_rw WHERE top_chain IS NOT NULL")?;
    let tops: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for top in tops {
        let mut next = Some(top);
        while let Some(c) = next {
            if !used.insert(c.clone()) {
                break;
            }
            next = db::get_layer(conn, &c)?.and_then(|l| l.parent);
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str, d: bool) -> (Reference, bool) {
        (
            reference::parse_normalized_named(s)
                .unwrap()
                .with_default_tag(),
            d,
        )
    }

    #[test]
    fn single_reference_rules() {
        let dg = format!("imp@sha256:{}", "a".repeat(64));
        assert!(!is_single_reference(&[]));
        assert!(is_single_reference(&[r("imp:v1", false)]));
        assert!(!is_single_reference(&[
            r("imp:v1", false),
            r("imp:v2", false)
        ]));
        assert!(is_single_reference(&[r("imp:v1", false), r(&dg, true)]));
        assert!(!is_single_reference(&[r("other:v1", false), r(&dg, true)]));
    }

    #[test]
    fn id_prefix_and_short() {
        let id = format!("sha256:{}", "ab".repeat(32));
        assert!(is_image_id_prefix(&id, "abab"));
        assert!(is_image_id_prefix(&id, "sha256:ab"));
        assert!(!is_image_id_prefix(&id, "imp:v1"));
        assert_eq!(short(&id), "abababababab");
    }
}
