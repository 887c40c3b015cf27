//! /etc/hosts and /etc/resolv.conf of a container once its addresses are
//! known. Written in place (same inode): the files are bind-mounted into a
//! running container, and `network connect` must show through.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Docker's hosts file: localhost lines, `--add-host` entries, one line per
/// `--link` ("ip alias target-hostname target-name"), the container's own
/// addresses last (IPv4 and, on networks with IPv6, IPv6 ones).
pub fn hosts(
    extra: &[String],
    links: &[(Ipv4Addr, Vec<String>)],
    own: &[IpAddr],
    hostname: &str,
) -> String {
    let mut s = String::from(LOCALHOST);
    for h in extra {
        if let Some((name, ip)) = h.split_once(':') {
            s.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for (ip, names) in links {
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    for ip in own {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// resolv.conf pointing at the embedded DNS server, keeping the host's
/// search domains and options as Docker does.
pub fn resolv_embedded(host_resolv: &str, search: &[String], options: &[String]) -> String {
    let mut s = String::from("nameserver 127.0.0.11\n");
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    } else if let Some(l) = host_resolv
        .lines()
        .find(|l| l.trim_start().starts_with("search"))
    {
        s.push_str(l.trim());
        s.push('\n');
    }
    let mut opts: Vec<String> = options.to_vec();
    if opts.is_empty() {
        for l in host_resolv.lines() {
            if let Some(o) = l.trim().strip_prefix("options") {
                opts.extend(o.split_whitespace().map(str::to_string));
            }
        }
    }
    if !opts.iter().any(|o| o.starts_with("ndots:")) {
        opts.push("ndots:0".into());
    }
    s.push_str(&format!("options {}\n", opts.join(" ")));
    s
}

pub fn write_in_place(path: &Path, content: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines_in_docker_order() {
        let h = hosts(
            &["dbhost:10.1.2.3".into()],
            &[(
                Ipv4Addr::new(172, 30, 0, 2),
                vec!["db".into(), "linkedhost".into(), "linked".into()],
            )],
            &[
                Ipv4Addr::new(172, 30, 0, 3).into(),
                "fd00:db8:1::2".parse().unwrap(),
            ],
            "hn",
        );
        assert!(h.ends_with(
            "10.1.2.3\tdbhost\n172.30.0.2\tdb linkedhost linked\n172.30.0.3\thn\nfd00:db8:1::2\thn\n"
        ));
    }

    #[test]
    fn embedded_resolv_keeps_search() {
        let r = resolv_embedded(
            "search corp\nnameserver 10.0.0.1\noptions rotate\n",
            &[],
            &[],
        );
        assert_eq!(
            r,
            "nameserver 127.0.0.11\nsearch corp\noptions rotate ndots:0\n"
        );
    }
}
