//! Units as the docker CLI parses them: go-units RAMInBytes ("64m"), `--cpus`
//! decimals, Go durations ("1m30s"), ulimits and restart policies.

use anyhow::{anyhow, bail, Result};
use berth_api::types::{RestartPolicy, Ulimit};

/// go-units `RAMInBytes`: binary multiples, case-insensitive suffix k/m/g/t/p with
/// optional `b`/`ib` ("64m", "1.5g", "512", "2KiB").
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let t = s.trim();
    let invalid = || anyhow!("invalid size: '{s}'");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(invalid());
    }
    let value: f64 = num.parse().map_err(|_| invalid())?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(invalid()),
    };
    Ok((value * mult) as i64)
}

/// `--memory-swap`: `-1` means unlimited, otherwise a size.
pub fn mem_swap(s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// `--cpus 1.5` -> NanoCpus 1500000000, exact for decimal input like docker's big.Rat.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let t = s.trim();
    let invalid = || anyhow!("failed to parse {s} as a rational number");
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    if frac.len() > 9 && frac[9..].chars().any(|c| c != '0') {
        bail!("value is too precise");
    }
    let int: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| invalid())?
    };
    let mut frac_digits: String = frac.chars().take(9).collect();
    while frac_digits.len() < 9 {
        frac_digits.push('0');
    }
    let frac: i64 = frac_digits.parse().map_err(|_| invalid())?;
    int.checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(invalid)
}

/// Go `time.ParseDuration` in nanoseconds ("1m30s", "100ms", "1.5h").
pub fn parse_go_duration(s: &str) -> Result<i64> {
    let invalid = || anyhow!("time: invalid duration \"{s}\"");
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let (neg, mut rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| anyhow!("time: missing unit in duration \"{s}\""))?;
        let value: f64 = rest[..n_end].parse().map_err(|_| invalid())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(anyhow!("time: missing unit in duration \"{s}\"")),
            u => bail!("time: unknown unit \"{u}\" in duration \"{s}\""),
        };
        total += value * mult;
        rest = &rest[u_end..];
    }
    Ok(if neg { -(total as i64) } else { total as i64 })
}

/// `--ulimit nofile=512:1024` (or `nofile=512`: soft = hard).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = match limits.split_once(':') {
        Some((a, b)) => (a, b),
        None => (limits, limits),
    };
    let parse = |v: &str| -> Result<i64> {
        v.parse()
            .map_err(|_| anyhow!("invalid ulimit argument: {s}"))
    };
    let (soft, hard) = (parse(soft)?, parse(hard)?);
    if soft > hard && hard != -1 {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let maximum_retry_count = match count {
        Some(c) => c.parse().map_err(|_| {
            anyhow!("invalid restart policy format: maximum retry count must be an integer")
        })?,
        None => 0,
    };
    match name {
        "" | "no" | "always" | "unless-stopped" if count.is_some() => {
            bail!("invalid restart policy format: maximum retry count can only be used with 'on-failure'")
        }
        "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
            name: name.to_string(),
            maximum_retry_count,
        }),
        _ => bail!("invalid restart policy format: unknown policy '{name}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_units() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 67108864);
        assert_eq!(ram_in_bytes("64M").unwrap(), 67108864);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert_eq!(ram_in_bytes("512").unwrap(), 512);
        assert_eq!(ram_in_bytes("2KiB").unwrap(), 2048);
        assert_eq!(ram_in_bytes("10mb").unwrap(), 10 << 20);
        assert!(ram_in_bytes("abc").is_err());
        assert!(ram_in_bytes("10x").is_err());
        assert_eq!(mem_swap("-1").unwrap(), -1);
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0.25").unwrap(), 250_000_000);
        assert_eq!(parse_cpus("2").unwrap(), 2_000_000_000);
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("0.0000000001").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("100ms").unwrap(), 100_000_000);
        assert_eq!(parse_go_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("5x").is_err());
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=512:1024").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 512, 1024));
        let u = parse_ulimit("nproc=10").unwrap();
        assert_eq!((u.soft, u.hard), (10, 10));
        assert!(parse_ulimit("nofile").is_err());
        assert!(parse_ulimit("nofile=2:1").is_err());
    }

    #[test]
    fn restart_policies() {
        let p = parse_restart("on-failure:3").unwrap();
        assert_eq!((p.name.as_str(), p.maximum_retry_count), ("on-failure", 3));
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
    }
}
