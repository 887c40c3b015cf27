//! Docker's human-readable durations (go-units HumanDuration) and the
//! regular-expression match its name filter uses.

pub fn duration(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = d.num_minutes();
    if mins == 1 {
        return "About a minute".into();
    }
    if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

/// Docker matches `--filter name=` as a regular expression against the name.
pub fn regex_like_match(pattern: &str, name: &str) -> bool {
    match regex::Regex::new(pattern) {
        Ok(re) => re.is_match(name),
        Err(_) => name.contains(pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_like_go_units() {
        assert_eq!(duration(TimeDelta::milliseconds(300)), "Less than a second");
        assert_eq!(duration(TimeDelta::seconds(1)), "1 second");
        assert_eq!(duration(TimeDelta::seconds(45)), "45 seconds");
        assert_eq!(duration(TimeDelta::seconds(90)), "About a minute");
        assert_eq!(duration(TimeDelta::minutes(5)), "5 minutes");
        assert_eq!(duration(TimeDelta::hours(3)), "3 hours");
        assert_eq!(duration(TimeDelta::days(3)), "3 days");
    }

    #[test]
    fn name_filter() {
        assert!(regex_like_match("psx", "psx-run"));
        assert!(regex_like_match("^psx-r", "psx-run"));
        assert!(!regex_like_match("^run", "psx-run"));
    }
}
