//! Id shifting for a daemon with `--userns-remap`: container uid/gid `n`
//! is host id `base + n` for `n < size`. Layers are unpacked shifted up
//! (files in an image belong to the remapped root on the host) and trees
//! are archived shifted down (commit/export/cp show uid 0 again).

/// One contiguous range: container ids `0..size` are host ids `host..host+size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    fn to_host(self, id: u32) -> Option<u32> {
        (id < self.size).then(|| self.host + id)
    }

    fn to_container(self, id: u32) -> Option<u32> {
        id.checked_sub(self.host).filter(|&n| n < self.size)
    }
}

/// The uid and gid ranges of a remapped daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub uid: IdRange,
    pub gid: IdRange,
}

/// The kernel's overflow id: what a user namespace shows for unmapped ids.
pub const OVERFLOW_ID: u32 = 65534;

impl IdMap {
    /// Host ids of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (self.uid.host, self.gid.host)
    }

    /// Container (uid, gid) -> host (uid, gid); an id beyond the ranges
    /// cannot be represented on the host, which Docker refuses too.
    pub fn to_host(&self, uid: u32, gid: u32) -> Result<(u32, u32), crate::ImageError> {
        match (self.uid.to_host(uid), self.gid.to_host(gid)) {
            (Some(u), Some(g)) => Ok((u, g)),
            _ => Err(crate::ImageError::invalid(format!(
                "Container ID {uid}:{gid} cannot be mapped to a host ID (remapped range is {} uids, {} gids)",
                self.uid.size, self.gid.size
            ))),
        }
    }

    /// Host (uid, gid) -> container (uid, gid); host ids outside the ranges
    /// become the overflow id, as the container itself sees them.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            self.uid.to_container(uid).unwrap_or(OVERFLOW_ID),
            self.gid.to_container(gid).unwrap_or(OVERFLOW_ID),
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
        IdMap {
            uid: IdRange {
                host: 300000,
                size: 65536,
            },
            gid: IdRange {
                host: 400000,
                size: 1000,
            },
        }
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
}
