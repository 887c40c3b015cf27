//! `docker build` (classic builder): the context directory is sent as a tar,
//! minus what `.dockerignore` excludes, and the daemon's message stream is
//! printed; `-q` prints only the image id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use berth_api::{reader_body, Query};
use berth_build::ignore::Ignore;
use hyper::Method;

use crate::cli::Ctx;
use crate::errors::FlagError;
use crate::opts::{csv, units};

/// Build an image from a Dockerfile
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] PATH | URL | -")]
pub struct Args {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tag: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long = "target", value_name = "string")]
    pub target: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", default_value_t = true, action = clap::ArgAction::Set, value_name = "bool")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile", value_name = "string")]
    pub iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network", value_name = "string")]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int")]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings")]
    pub cache_from: Vec<String>,
    /// Set the parent cgroup for the "RUN" instructions during build
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Compress the build context using gzip
    #[arg(long = "compress")]
    pub compress: bool,
    /// Skip image verification
    #[arg(
        long = "disable-content-trust",
        value_name = "bool",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub disable_content_trust: bool,
    /// Container isolation technology
    #[arg(long = "isolation", value_name = "string")]
    pub isolation: Option<String>,
    /// Security options
    #[arg(long = "security-opt", value_name = "strings")]
    pub security_opt: Vec<String>,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// The context: a directory, or `-` for a tar or a Dockerfile on stdin
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// What was read from stdin for `build -` or `-f -`.
fn read_stdin() -> Result<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .context("reading stdin")?;
    Ok(data)
}

/// Whether `data` is an archive (compressed, or a tar), as the docker CLI
/// tells a context tar from a Dockerfile on stdin.
fn is_archive(data: &[u8]) -> bool {
    berth_build::archive::is_compressed(data) || berth_image::tarhead::valid_tar_header(data)
}

/// Parses a size with Docker's units (`512m`, `1g`, plain bytes).
fn bytes_arg(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    Ok((n * mult as f64) as i64)
}

/// The Dockerfile's name inside the context, and its text when it lives
/// outside the context and must be added to the tar.
fn dockerfile(dir: &Path, file: Option<&str>) -> Result<(String, Option<Vec<u8>>)> {
    let Some(f) = file else {
        return Ok(("Dockerfile".into(), None));
    };
    let p = PathBuf::from(f);
    let abs = if p.is_absolute() {
        p
    } else {
        std::env::current_dir()?.join(p)
    };
    let abs = abs.canonicalize().map_err(|e| {
        anyhow!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: {e}")
    })?;
    let dir = dir.canonicalize()?;
    match abs.strip_prefix(&dir) {
        Ok(rel) => Ok((rel.to_string_lossy().into_owned(), None)),
        Err(_) => {
            let text = std::fs::read(&abs).with_context(|| format!("reading {}", abs.display()))?;
            Ok((format!(".dockerfile.{:x}", std::process::id()), Some(text)))
        }
    }
}

/// Tars `dir` without the excluded paths; `keep` is always sent.
fn context_tar(dir: &Path, keep: &str, extra: Option<(&str, &[u8])>) -> Result<Vec<u8>> {
    let ignore = std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|t| Ignore::parse(&t))
        .unwrap_or_default();
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    add_dir(&mut b, dir, "", &ignore, keep)?;
    if let Some((name, data)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, data)?;
    }
    Ok(b.into_inner()?)
}

fn add_dir(
    b: &mut tar::Builder<Vec<u8>>,
    dir: &Path,
    rel: &str,
    ignore: &Ignore,
    keep: &str,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = e.file_type()?.is_dir();
        let excluded = ignore.excluded(&path) && path != keep;
        if excluded
            && !(is_dir && (ignore.has_exceptions() || keep.starts_with(&format!("{path}/"))))
        {
            continue;
        }
        if is_dir {
            if !excluded {
                b.append_dir(&path, e.path())?;
            }
            add_dir(b, &e.path(), &path, ignore, keep)?;
        } else {
            b.append_path_with_name(e.path(), &path)?;
        }
    }
    Ok(())
}

/// go-units' Ulimit in the docker CLI's field order, for `ulimits`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueryUlimit {
    name: String,
    hard: i64,
    soft: i64,
}

/// The query parameters of `--cache-from`, `--cgroup-parent`, `--isolation`,
/// `--security-opt` and `--ulimit`, as the docker CLI sends them (only when
/// set; `strings` flags split their values as CSV). The daemon takes what it
/// implements and ignores the rest, as Docker's classic builder does on a
/// host without the feature. A value the docker CLI's flag parsing refuses
/// is a [`FlagError`].
fn flag_params(args: &Args) -> Result<Vec<(&'static str, String)>> {
    let strings = |flag: &str, values: &[String]| -> Result<Vec<String>> {
        let mut out = Vec::new();
        for v in values {
            out.extend(csv::string_slice(v).map_err(|e| FlagError::new(flag, v, e))?);
        }
        Ok(out)
    };
    let mut params = Vec::new();
    let cache_from = strings("--cache-from", &args.cache_from)?;
    if !cache_from.is_empty() {
        params.push(("cachefrom", serde_json::to_string(&cache_from)?));
    }
    if let Some(p) = args.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        params.push(("cgroupparent", p.to_string()));
    }
    if let Some(i) = args.isolation.as_deref().filter(|i| !i.is_empty()) {
        params.push(("isolation", i.to_string()));
    }
    for opt in strings("--security-opt", &args.security_opt)? {
        params.push(("securityopt", opt));
    }
    let ulimits = args
        .ulimit
        .iter()
        .map(|u| {
            let u = units::parse_ulimit(u).map_err(|e| FlagError::new("--ulimit", u, e))?;
            Ok(QueryUlimit {
                name: u.name,
                hard: u.hard,
                soft: u.soft,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if !ulimits.is_empty() {
        params.push(("ulimits", serde_json::to_string(&ulimits)?));
    }
    Ok(params)
}

/// `--compress`: the context tar gzipped (the daemon sniffs compression).
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    Ok(e.finish()?)
}

fn key_values(list: &[String]) -> BTreeMap<String, Option<String>> {
    list.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            // `--build-arg NAME` takes the value from the environment.
            None => (a.clone(), std::env::var(a).ok()),
        })
        .collect()
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    // Flag values first, as the docker CLI refuses them before reading anything.
    let extra = flag_params(&args).map_err(|e| match e.downcast_ref::<FlagError>() {
        Some(f) => f
            .with_usage("berth build [OPTIONS] PATH | URL | -", "berth build")
            .into(),
        None => e,
    })?;
    let stdin_file = args.file.as_deref() == Some("-");
    let (name, tar) = if args.path == "-" {
        if stdin_file {
            return Err(anyhow!(
                "invalid argument: can't use stdin for both build context and dockerfile"
            ));
        }
        let data = read_stdin()?;
        let name = args.file.clone().unwrap_or_else(|| "Dockerfile".into());
        if is_archive(&data) {
            (name, data)
        } else {
            // A Dockerfile on stdin: the context is that file alone.
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, "Dockerfile", data.as_slice())?;
            ("Dockerfile".into(), b.into_inner()?)
        }
    } else {
        let dir = PathBuf::from(&args.path);
        if !dir.is_dir() {
            return Err(anyhow!(
                "unable to prepare context: path {:?} not found",
                args.path
            ));
        }
        if stdin_file {
            let text = read_stdin()?;
            let name = format!(".dockerfile.{:x}", std::process::id());
            let tar = context_tar(&dir, &name, Some((name.as_str(), &text)))?;
            (name, tar)
        } else {
            let (name, outside) = dockerfile(&dir, args.file.as_deref())?;
            let extra = outside.as_deref().map(|d| (name.as_str(), d));
            let tar = context_tar(&dir, &name, extra)?;
            (name, tar)
        }
    };
    let labels: BTreeMap<String, String> = key_values(&args.label)
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let mut q = Query::new()
        .add("dockerfile", &name)
        .add(
            "buildargs",
            &serde_json::to_string(&key_values(&args.build_arg))?,
        )
        .add("labels", &serde_json::to_string(&labels)?)
        .add("rm", if args.rm { "1" } else { "0" })
        .opt("target", args.target.as_deref());
    for t in &args.tag {
        q = q.add("t", t);
    }
    if args.quiet {
        q = q.add("q", "1");
    }
    if args.no_cache {
        q = q.add("nocache", "1");
    }
    if args.force_rm {
        q = q.add("forcerm", "1");
    }
    if args.pull {
        q = q.add("pull", "1");
    }
    q = q
        .opt("networkmode", args.network.as_deref())
        .opt("cpusetcpus", args.cpuset_cpus.as_deref())
        .opt("cpusetmems", args.cpuset_mems.as_deref())
        .opt("platform", args.platform.as_deref());
    if !args.add_host.is_empty() {
        q = q.add("extrahosts", args.add_host.join(","));
    }
    for (param, v) in &extra {
        q = q.add(param, v);
    }
    for (param, v) in [
        ("memory", args.memory.as_deref()),
        ("memswap", args.memory_swap.as_deref()),
        ("shmsize", args.shm_size.as_deref()),
    ] {
        if let Some(v) = v {
            q = q.add(param, bytes_arg(v)?.to_string());
        }
    }
    for (param, v) in [
        ("cpushares", args.cpu_shares),
        ("cpuperiod", args.cpu_period),
        ("cpuquota", args.cpu_quota),
    ] {
        if let Some(v) = v {
            q = q.add(param, v.to_string());
        }
    }
    // Content trust (`--disable-content-trust=false`) would resolve FROM
    // images through Notary, which berth does not talk to: the flag is accepted.
    let tar = if args.compress { gzip(&tar)? } else { tar };
    if !args.quiet {
        println!(
            "Sending build context to Docker daemon  {}",
            human_size(tar.len() as f64)
        );
    }
    let body = reader_body(std::io::Cursor::new(tar));
    let stream = ctx
        .client
        .stream(
            Method::POST,
            &format!("/build{}", q.build()),
            Some(body),
            Some("application/x-tar"),
        )
        .await?;
    let mut id = String::new();
    berth_api::jsonmessage::display_stream(stream, &mut std::io::stdout(), args.quiet, |aux| {
        if let Some(i) = aux.get("ID").and_then(|v| v.as_str()) {
            id = i.to_string();
        }
    })
    .await
    .map_err(|e| anyhow!("{e}"))?;
    if args.quiet {
        println!("{id}");
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id)
            .with_context(|| format!("writing image ID file {}", path.display()))?;
    }
    Ok(())
}

/// Docker's `units.HumanSize`: decimal units, 4 significant digits.
fn human_size(mut n: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut i = 0;
    while n >= 1000.0 && i + 1 < units.len() {
        n /= 1000.0;
        i += 1;
    }
    let digits = if n >= 100.0 {
        1
    } else if n >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{n:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(4096.0), "4.096kB");
        assert_eq!(human_size(512.0), "512B");
        assert_eq!(human_size(2_500_000.0), "2.5MB");
    }

    fn parse(argv: &[&str]) -> Args {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            a: Args,
        }
        let mut all = vec!["build"];
        all.extend_from_slice(argv);
        all.push(".");
        <T as clap::Parser>::try_parse_from(all).unwrap().a
    }

    #[test]
    fn flag_params_as_docker_sends_them() {
        let a = parse(&[
            "--cache-from",
            "a",
            "--cache-from",
            "b,\"c,d\"",
            "--cgroup-parent",
            "/x",
            "--isolation",
            "hyperv",
            "--security-opt",
            "seccomp=unconfined,label=x",
            "--ulimit",
            "nofile=1:2",
            "--ulimit",
            "nproc=5",
            "--compress",
            "--disable-content-trust=false",
        ]);
        assert_eq!(
            flag_params(&a).unwrap(),
            vec![
                ("cachefrom", r#"["a","b","c,d"]"#.to_string()),
                ("cgroupparent", "/x".into()),
                ("isolation", "hyperv".into()),
                ("securityopt", "seccomp=unconfined".into()),
                ("securityopt", "label=x".into()),
                (
                    "ulimits",
                    r#"[{"Name":"nofile","Hard":2,"Soft":1},{"Name":"nproc","Hard":5,"Soft":5}]"#
                        .into()
                ),
            ]
        );
        assert!(a.compress && !a.disable_content_trust);
        // Empty values send nothing.
        let a = parse(&["--cache-from", "", "--cgroup-parent=", "--isolation="]);
        assert!(flag_params(&a).unwrap().is_empty());
    }

    #[test]
    fn refused_flag_values() {
        let e = flag_params(&parse(&["--ulimit", "x"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"x\" for \"--ulimit\" flag: invalid ulimit argument: x"
        );
        let e = flag_params(&parse(&["--cache-from", "a\"b"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"a\\\"b\" for \"--cache-from\" flag: parse error on line 1, column 2: bare \" in non-quoted-field"
        );
    }

    #[test]
    fn compressed_context_is_gzip() {
        let gz = gzip(b"tar bytes").unwrap();
        assert!(berth_build::archive::is_compressed(&gz));
    }

    #[test]
    fn context_honours_dockerignore() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("keep.txt"), "k").unwrap();
        std::fs::write(d.path().join("secret.key"), "s").unwrap();
        std::fs::create_dir(d.path().join("logs")).unwrap();
        std::fs::write(d.path().join("logs/a.log"), "l").unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM x").unwrap();
        std::fs::write(
            d.path().join(".dockerignore"),
            "secret.key\nlogs\nDockerfile\n",
        )
        .unwrap();
        let tar = context_tar(d.path(), "Dockerfile", None).unwrap();
        let mut a = tar::Archive::new(tar.as_slice());
        let mut names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![".dockerignore", "Dockerfile", "keep.txt"]);
    }
}
