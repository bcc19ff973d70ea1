//! Parsers for human-friendly flag values.

use std::time::Duration;

/// `30` (seconds), `5s`, `200ms`, `1m30s`: fleet's one duration rule
/// ([`fleet_proto::duration`]); zero allowed.
pub fn duration(s: &str) -> Result<Duration, String> {
    fleet_proto::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// A timeout flag: the same rule, zero refused.
pub fn timeout(s: &str) -> Result<Duration, String> {
    fleet_proto::duration::parse_timeout(s).map_err(|e| e.to_string())
}

/// `16MiB`, `512k`, `1000000` (bytes). K/M/G are powers of 1024 like
/// `ulimit` and most SSH tools.
pub fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size `{s}` (e.g. 16MiB, 512K, 100000)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size unit in `{s}` (use K, M or G)")),
    };
    Ok((n * mult) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("16MiB").unwrap(), 16 << 20);
        assert_eq!(size("512k").unwrap(), 512 << 10);
        assert_eq!(size("1000").unwrap(), 1000);
        assert!(size("12 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("200ms").unwrap(), Duration::from_millis(200));
        assert!(duration("soon").is_err());
        assert_eq!(duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert!(timeout("0").is_err());
        assert_eq!(timeout("30").unwrap(), Duration::from_secs(30));
    }
}
