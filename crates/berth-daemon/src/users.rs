//! Resolves Docker's `--user` (`name`, `uid`, `uid:gid`, `name:group`) against
//! the container's own /etc/passwd and /etc/group, as Docker does before
//! handing numeric ids to the runtime.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read(lookup: &dyn Fn(&str) -> Option<PathBuf>, path: &str) -> String {
    lookup(path)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 6 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

pub fn resolve(
    spec: &str,
    group_add: &[String],
    lookup: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<User, UserError> {
    let users = passwd(&read(lookup, "/etc/passwd"));
    let grps = groups(&read(lookup, "/etc/group"));
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = users.iter().find(|e| e.name == user_part).or_else(|| {
        user_part
            .parse::<u32>()
            .ok()
            .and_then(|u| users.iter().find(|e| e.uid == u))
    });
    let (uid, mut gid, home, name) = match (entry, user_part.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        (None, Ok(uid)) => (uid, 0, "/".to_string(), None),
        (None, Err(_)) => return Err(UserError::NoUser(user_part.to_string())),
    };
    let find_group = |g: &str| -> Result<u32, UserError> {
        if let Some(e) = grps.iter().find(|e| e.name == g) {
            return Ok(e.gid);
        }
        g.parse::<u32>()
            .map_err(|_| UserError::NoGroup(g.to_string()))
    };
    // runc's setgroups list starts with the primary group: `id` in a Docker
    // container shows groups=0(root) for root and groups=4343 for 4242:4343.
    let mut additional = Vec::new();
    if let Some(g) = group_part {
        gid = find_group(g)?;
    } else if let Some(n) = &name {
        // Supplementary groups only come from /etc/group when no group was given.
        additional.extend(grps.iter().filter(|e| e.members.contains(n)).map(|e| e.gid));
    }
    if !additional.contains(&gid) {
        additional.insert(0, gid);
    }
    for g in group_add {
        let id = find_group(g)?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_files(spec: &str) -> Result<User, UserError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app\n",
        )
        .unwrap();
        let root = dir.path().to_path_buf();
        resolve(spec, &[], &move |p: &str| {
            Some(root.join(p.trim_start_matches('/')))
        })
    }

    #[test]
    fn resolves_names_and_numbers() {
        assert_eq!(with_files("").unwrap().uid, 0);
        assert_eq!(with_files("").unwrap().home, "/root");
        let app = with_files("app").unwrap();
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone()),
            (1000, 1000, vec![1000, 10])
        );
        assert_eq!(app.home, "/home/app");
        let n = with_files("4242").unwrap();
        assert_eq!((n.uid, n.gid), (4242, 0));
        let n = with_files("4242:4343").unwrap();
        assert_eq!((n.uid, n.gid), (4242, 4343));
        let n = with_files("1000:1000").unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(
            with_files("nosuchuser").unwrap_err().to_string(),
            "unable to find user nosuchuser: no matching entries in passwd file"
        );
    }
}
