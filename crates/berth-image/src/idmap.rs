//! Id shifting for a daemon with `--userns-remap`: container uid/gid `n`
//! is host id `base + n` for `n < size` of the first subordinate range, and
//! the ids after it continue in the next ranges. Layers are unpacked shifted up
//! (files in an image belong to the remapped root on the host) and trees
//! are archived shifted down (commit/export/cp show uid 0 again).

/// One subordinate range: `size` host ids from `host`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub host: u32,
    pub size: u32,
}

/// Container ids `0..` mapped onto `ranges` in order, contiguously (as
/// Docker maps every `/etc/subuid` range of the remap user): the first
/// range holds container ids `0..size0`, the next one the following ids.
fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    let mut first = 0u32;
    for r in ranges {
        if id >= first && id - first < r.size {
            return Some(r.host + (id - first));
        }
        first = first.checked_add(r.size)?;
    }
    None
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    let mut first = 0u32;
    for r in ranges {
        if let Some(n) = id.checked_sub(r.host).filter(|&n| n < r.size) {
            return first.checked_add(n);
        }
        first = first.checked_add(r.size)?;
    }
    None
}

/// How many subordinate ranges of one kind a remapped daemon maps (the
/// kernel takes 340 lines per map; /etc/subuid users have a handful).
pub const MAX_RANGES: usize = 32;

/// One to [`MAX_RANGES`] ranges, in order; `Copy` like the maps holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRanges {
    list: [IdRange; MAX_RANGES],
    len: usize,
}

impl IdRanges {
    /// None for no ranges or more than [`MAX_RANGES`].
    pub fn new(ranges: &[IdRange]) -> Option<IdRanges> {
        if ranges.is_empty() || ranges.len() > MAX_RANGES {
            return None;
        }
        let mut list = [IdRange { host: 0, size: 0 }; MAX_RANGES];
        list[..ranges.len()].copy_from_slice(ranges);
        Some(IdRanges {
            list,
            len: ranges.len(),
        })
    }

    pub fn as_slice(&self) -> &[IdRange] {
        &self.list[..self.len]
    }
}

impl std::ops::Deref for IdRanges {
    type Target = [IdRange];
    fn deref(&self) -> &[IdRange] {
        self.as_slice()
    }
}

/// The uid and gid ranges of a remapped daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub uids: IdRanges,
    pub gids: IdRanges,
}

/// The kernel's overflow id: what a user namespace shows for unmapped ids.
pub const OVERFLOW_ID: u32 = 65534;

impl IdMap {
    /// One uid and one gid range.
    pub fn single(uid: IdRange, gid: IdRange) -> IdMap {
        IdMap {
            uids: IdRanges::new(&[uid]).expect("one range"),
            gids: IdRanges::new(&[gid]).expect("one range"),
        }
    }

    /// Host ids of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (
            self.uids.first().map_or(OVERFLOW_ID, |r| r.host),
            self.gids.first().map_or(OVERFLOW_ID, |r| r.host),
        )
    }

    /// How many uids and gids the container has.
    pub fn sizes(&self) -> (u64, u64) {
        let total = |v: &[IdRange]| v.iter().map(|r| u64::from(r.size)).sum();
        (total(&self.uids), total(&self.gids))
    }

    /// Container (uid, gid) -> host (uid, gid); an id beyond the ranges
    /// cannot be represented on the host, which Docker refuses too.
    pub fn to_host(&self, uid: u32, gid: u32) -> Result<(u32, u32), crate::ImageError> {
        match (to_host(&self.uids, uid), to_host(&self.gids, gid)) {
            (Some(u), Some(g)) => Ok((u, g)),
            _ => {
                let (u, g) = self.sizes();
                Err(crate::ImageError::invalid(format!(
                    "Container ID {uid}:{gid} cannot be mapped to a host ID (remapped range is {u} uids, {g} gids)"
                )))
            }
        }
    }

    /// Host (uid, gid) -> container (uid, gid); host ids outside the ranges
    /// become the overflow id, as the container itself sees them.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            to_container(&self.uids, uid).unwrap_or(OVERFLOW_ID),
            to_container(&self.gids, gid).unwrap_or(OVERFLOW_ID),
        )
    }
}

/// `to_container` for an optional map (identity without one).
pub fn host_to_container(map: Option<&IdMap>, uid: u32, gid: u32) -> (u32, u32) {
    map.map_or((uid, gid), |m| m.to_container(uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> IdMap {
        IdMap::single(
            IdRange {
                host: 300000,
                size: 65536,
            },
            IdRange {
                host: 400000,
                size: 1000,
            },
        )
    }

    #[test]
    fn shifts_both_ways() {
        let m = map();
        assert_eq!(m.to_host(0, 0).unwrap(), (300000, 400000));
        assert_eq!(m.to_host(1000, 999).unwrap(), (301000, 400999));
        assert_eq!(m.to_container(300000, 400000), (0, 0));
        assert_eq!(m.to_container(365535, 400999), (65535, 999));
        assert_eq!(m.root(), (300000, 400000));
    }

    #[test]
    fn out_of_range_ids() {
        let m = map();
        assert!(m.to_host(65536, 0).is_err());
        assert!(m.to_host(0, 1000).is_err());
        assert_eq!(m.to_container(0, 0), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.to_container(365536, 399999), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(host_to_container(None, 7, 8), (7, 8));
    }

    #[test]
    fn several_ranges_are_contiguous_inside() {
        let r = |host, size| IdRange { host, size };
        let m = IdMap {
            uids: IdRanges::new(&[r(300000, 10), r(500000, 5)]).unwrap(),
            gids: IdRanges::new(&[r(400000, 15)]).unwrap(),
        };
        assert!(IdRanges::new(&[]).is_none());
        assert_eq!(m.to_host(9, 9).unwrap(), (300009, 400009));
        assert_eq!(m.to_host(10, 10).unwrap(), (500000, 400010));
        assert_eq!(m.to_host(14, 14).unwrap(), (500004, 400014));
        assert!(m.to_host(15, 0).is_err());
        assert_eq!(m.to_container(500004, 400014), (14, 14));
        assert_eq!(m.to_container(300010, 0), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.sizes(), (15, 15));
        assert_eq!(m.root(), (300000, 400000));
    }
}
