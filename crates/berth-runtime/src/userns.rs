//! User namespaces: the id maps of a new one (written by the parent, which
//! holds CAP_SETUID/CAP_SETGID in the initial user namespace, so no
//! `setgroups deny` is needed), and becoming its root in the child.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{Linux, LinuxIdMapping};

use crate::error::{Context, Result, RuntimeError};

/// `/proc/<pid>/uid_map` and `gid_map` contents for a new user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdMaps {
    pub uid_map: String,
    pub gid_map: String,
}

impl IdMaps {
    /// From the spec's `uidMappings`/`gidMappings`; both must be present:
    /// a user namespace without maps runs everything as the overflow id.
    pub fn from_spec(linux: &Linux) -> Result<IdMaps> {
        let render = |what: &str, maps: Option<&Vec<LinuxIdMapping>>| -> Result<String> {
            let maps = maps.filter(|m| !m.is_empty()).ok_or_else(|| {
                RuntimeError::InvalidSpec(format!(
                    "a new user namespace needs linux.{what} in the spec"
                ))
            })?;
            Ok(render_map(maps))
        };
        Ok(IdMaps {
            uid_map: render("uidMappings", linux.uid_mappings().as_ref())?,
            gid_map: render("gidMappings", linux.gid_mappings().as_ref())?,
        })
    }

    /// Parent side, after clone and before the child's go-ahead.
    pub fn write(&self, pid: i32) -> Result<()> {
        for (file, map) in [("uid_map", &self.uid_map), ("gid_map", &self.gid_map)] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, map).ctx(|| format!("write {path} ({})", map.trim()))?;
        }
        Ok(())
    }
}

/// One "inside outside length" line per range, as the kernel reads them.
fn render_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Child side, right after entering a user namespace: until now the process
/// keeps the host's root ids, which are unmapped there (files it created
/// would fail with EOVERFLOW); uid/gid 0 of the namespace are the remapped
/// root, so mounts and files made from here on belong to the container.
pub(crate) fn become_root() -> Result<()> {
    setgroups(&[]).ctx(|| "setgroups [] in the user namespace")?;
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .ctx(|| "setgid 0 in the user namespace")?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .ctx(|| "setuid 0 in the user namespace")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxIdMappingBuilder};

    fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .unwrap()
    }

    #[test]
    fn maps_render_one_line_per_range() {
        let l = LinuxBuilder::default()
            .uid_mappings(vec![map(0, 300000, 65536)])
            .gid_mappings(vec![map(0, 400000, 10), map(10, 500000, 5)])
            .build()
            .unwrap();
        let m = IdMaps::from_spec(&l).unwrap();
        assert_eq!(m.uid_map, "0 300000 65536\n");
        assert_eq!(m.gid_map, "0 400000 10\n10 500000 5\n");
    }

    #[test]
    fn missing_maps_are_an_invalid_spec() {
        let l = LinuxBuilder::default()
            .uid_mappings(vec![map(0, 1, 1)])
            .build()
            .unwrap();
        assert!(matches!(
            IdMaps::from_spec(&l),
            Err(RuntimeError::InvalidSpec(_))
        ));
    }
}
