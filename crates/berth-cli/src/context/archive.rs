//! The tar archive `docker context export` writes and `context import` reads:
//! `meta.json` (0644), a `tls` dir (0700), then per endpoint a `tls/<endpoint>`
//! dir and its files (0600), every header as Go's archive/tar writes it (ustar,
//! uid/gid 0, mtime 0). Berth's archive is docker's byte for byte, except that
//! docker 28 loses the last file's padding and the end-of-archive blocks
//! (it closes its pipe before its tar writer), which berth does write.

use std::io::{Cursor, Read};

use anyhow::{anyhow, bail, Result};
use tar::{EntryType, Header};

use super::store::{Meta, TlsTree};

/// The archive's metadata file.
const META_FILE: &str = "meta.json";

/// Docker refuses to read more than this from an import.
pub const MAX_IMPORT_SIZE: u64 = 10 << 20;

/// The archive of a context: `meta` and its TLS files.
pub fn encode(meta: &Meta, tls: &TlsTree) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: EntryType, mode: u32, data: &[u8]| -> Result<()> {
        b.append(&go_header(path, kind, mode, data.len() as u64)?, data)?;
        Ok(())
    };
    add(
        META_FILE,
        EntryType::Regular,
        0o644,
        &serde_json::to_vec(meta)?,
    )?;
    add("tls", EntryType::Directory, 0o700, &[])?;
    for (endpoint, files) in tls {
        add(&format!("tls/{endpoint}"), EntryType::Directory, 0o700, &[])?;
        for (file, data) in files {
            add(
                &format!("tls/{endpoint}/{file}"),
                EntryType::Regular,
                0o600,
                data,
            )?;
        }
    }
    Ok(b.into_inner()?)
}

/// A header with the bytes Go's archive/tar writes for these fields.
fn go_header(path: &str, kind: EntryType, mode: u32, size: u64) -> Result<Header> {
    let mut h = Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    // Go fills the device fields with zeros where tar-rs leaves them NUL.
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    h.set_cksum();
    // Go writes the checksum as six octal digits, NUL, space; tar-rs as seven
    // digits and a space. Same value, but Go's form makes the bytes docker's.
    let sum = h.cksum()?;
    let digits = format!("{sum:06o}");
    let field = &mut h.as_old_mut().cksum;
    field[..6].copy_from_slice(&digits.as_bytes()[digits.len() - 6..]);
    field[6] = 0;
    field[7] = b' ';
    Ok(h)
}

/// The context an archive holds, stored as `name`; nothing is written, so a
/// bad archive leaves no half-imported context behind. Errors are worded as
/// docker's.
pub fn decode(bytes: &[u8], name: &str) -> Result<(Meta, TlsTree)> {
    let mut meta = None;
    let mut tls = TlsTree::new();
    // Seeking over entry padding, unlike reading it, tolerates docker's
    // archives, which end right after the last file's data.
    let mut archive = tar::Archive::new(Cursor::new(bytes));
    for entry in archive.entries_with_seek().map_err(go_tar_error)? {
        let mut entry = entry.map_err(go_tar_error)?;
        // Docker only takes regular files into account.
        if entry.header().entry_type() != EntryType::Regular {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        check_path(&path).map_err(|e| anyhow!("{path}: {e}"))?;
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(go_tar_error)?;
        if (data.len() as u64) < entry.size() {
            bail!("unexpected EOF");
        }
        if path == META_FILE {
            meta = Some(parse_meta(&data, name)?);
        } else {
            // check_path let only `tls/...` through.
            let rest = &path["tls/".len()..];
            let (endpoint, file) = rest
                .split_once('/')
                .ok_or_else(|| anyhow!("archive format is invalid"))?;
            if file.contains('/') {
                bail!("{path}: unexpected path format");
            }
            tls.entry(endpoint.to_string())
                .or_default()
                .insert(file.to_string(), data);
        }
    }
    let meta = meta.ok_or_else(|| anyhow!("invalid context: no metadata found"))?;
    Ok((meta, tls))
}

/// Docker's rules for a file's path in the archive.
fn check_path(path: &str) -> Result<()> {
    if path != META_FILE && !path.starts_with("tls/") {
        bail!("unexpected context file");
    }
    let clean = path.split('/').all(|part| !matches!(part, "" | "." | ".."));
    if !clean {
        bail!("unexpected path format");
    }
    if path.contains('\\') {
        bail!("unexpected '\\' in path");
    }
    Ok(())
}

/// `meta.json` under its new name; `null` (Go's zero value) is a bare context.
fn parse_meta(data: &[u8], name: &str) -> Result<Meta> {
    let meta: Option<Meta> = match serde_json::from_slice::<serde_json::Value>(data)? {
        serde_json::Value::Null => None,
        // Go ignores a missing or mismatched Name; only the new one counts.
        serde_json::Value::Object(mut map) => {
            map.insert("Name".into(), name.into());
            Some(serde_json::from_value(map.into())?)
        }
        other => bail!(
            "json: cannot unmarshal {} into Go value of type store.Metadata",
            kind(&other)
        ),
    };
    Ok(meta.unwrap_or_else(|| Meta {
        name: name.to_string(),
        metadata: Default::default(),
        endpoints: Default::default(),
    }))
}

/// Go's name for a JSON value's kind, as its unmarshal errors print it.
fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        _ => "object",
    }
}

/// tar-rs's read errors in Go's archive/tar words, which docker prints: a
/// short block is `unexpected EOF`, a bad header `archive/tar: invalid tar
/// header` (a wrong checksum or an unreadable number in it). tar-rs only
/// tells them apart by message.
fn go_tar_error(e: std::io::Error) -> anyhow::Error {
    let text = e.to_string();
    if e.kind() == std::io::ErrorKind::UnexpectedEof || text.contains("entire block") {
        anyhow!("unexpected EOF")
    } else if text.contains("checksum mismatch") || text.contains("numeric field") {
        anyhow!("archive/tar: invalid tar header")
    } else {
        anyhow!(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#"{"Name":"aa","Metadata":{"Description":"d"},"Endpoints":{"docker":{"Host":"unix:///tmp/a.sock","SkipTLSVerify":false}}}"#;

    fn tree(files: &[(&str, &str, &str)]) -> TlsTree {
        let mut t = TlsTree::new();
        for (ep, f, d) in files {
            t.entry(ep.to_string())
                .or_default()
                .insert(f.to_string(), d.as_bytes().to_vec());
        }
        t
    }

    #[test]
    fn round_trip_renames() {
        let meta: Meta = serde_json::from_str(META).unwrap();
        let tls = tree(&[
            ("docker", "ca.pem", "CA"),
            ("docker", "cert.pem", "CERT"),
            ("docker", "key.pem", "KEY"),
            ("other", "x.pem", "X"),
        ]);
        let bytes = encode(&meta, &tls).unwrap();
        let (back, back_tls) = decode(&bytes, "bb").unwrap();
        assert_eq!(back.name, "bb");
        assert_eq!(back.endpoints, meta.endpoints);
        assert_eq!(back.metadata, meta.metadata);
        assert_eq!(back_tls, tls);
        // No TLS: still decodes, with none.
        let bytes = encode(&meta, &TlsTree::new()).unwrap();
        assert_eq!(decode(&bytes, "cc").unwrap().1, TlsTree::new());
    }

    #[test]
    fn headers_are_gos() {
        let meta: Meta = serde_json::from_str(META).unwrap();
        let bytes = encode(&meta, &TlsTree::new()).unwrap();
        // meta.json block, its data block, the tls dir block, two end blocks.
        assert_eq!(bytes.len(), 5 * 512);
        let h = &bytes[..512];
        assert!(h.starts_with(b"meta.json\0"));
        // mode, uid, gid, size (119), mtime, checksum, type: as docker 28.2.2 wrote them.
        assert_eq!(
            &h[100..157],
            b"0000644\x000000000\x000000000\x0000000000167\x0000000000000\x00011032\x00 0"
        );
        assert_eq!(&h[257..265], b"ustar\x0000");
        assert_eq!(&h[329..345], b"0000000\x000000000\x00");
        assert_eq!(&bytes[512..512 + META.len()], META.as_bytes());
        let d = &bytes[1024..1536];
        assert!(d.starts_with(b"tls\0"));
        assert_eq!(&d[100..108], b"0000700\0");
        assert_eq!(&d[148..157], b"007716\x00 5");
        assert!(bytes[1536..].iter().all(|b| *b == 0));
    }

    #[test]
    fn reads_dockers_unterminated_archives() {
        let meta: Meta = serde_json::from_str(META).unwrap();
        let tls = tree(&[("docker", "ca.pem", "CA")]);
        let bytes = encode(&meta, &tls).unwrap();
        // Docker's export stops right after the last file's data.
        let docker = &bytes[..bytes.len() - 1024 - (512 - 2)];
        assert!(docker.ends_with(b"CA"));
        assert_eq!(decode(docker, "dd").unwrap().1, tls);
    }

    #[test]
    fn bad_archives_fail_as_in_docker() {
        let err = |b: &[u8]| decode(b, "xx").unwrap_err().to_string();
        assert_eq!(err(b""), "invalid context: no metadata found");
        assert_eq!(err(b"hello\n"), "unexpected EOF");
        assert_eq!(err(&[b'x'; 1024]), "archive/tar: invalid tar header");
        let one = |path: &str, data: &str| {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = go_header("x", EntryType::Regular, 0o600, data.len() as u64).unwrap();
            // Raw, as tar-rs's set_path would normalize `./` and refuse `..`.
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, data.as_bytes()).unwrap();
            b.into_inner().unwrap()
        };
        assert_eq!(
            err(&one("other.json", "{}")),
            "other.json: unexpected context file"
        );
        assert_eq!(
            err(&one("./meta.json", "{}")),
            "./meta.json: unexpected context file"
        );
        assert_eq!(
            err(&one("tls/docker/../x", "")),
            "tls/docker/../x: unexpected path format"
        );
        assert_eq!(
            err(&one("tls/docker/a\\b", "")),
            "tls/docker/a\\b: unexpected '\\' in path"
        );
        assert_eq!(err(&one("tls/ca.pem", "")), "archive format is invalid");
        assert!(err(&one("meta.json", "nojson")).contains("expected"));
        let (m, _) = decode(&one("meta.json", "null"), "nn").unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"Name":"nn","Metadata":{},"Endpoints":{}}"#
        );
    }
}
