//! What people do with device outputs after a run: save them as files (like
//! pssh's `--outdir`), group identical ones (like `dshbak -c`), and diff
//! them against a previous run.

use fleet_proto::DeviceResult;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// `show ip interface brief` -> `show-ip-interface-brief`: safe as a file
/// name on every filesystem, still readable.
pub fn slug(command: &str) -> String {
    let mut out = String::new();
    for c in command.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(80).collect();
    if out.is_empty() {
        "command".to_string()
    } else {
        out
    }
}

/// A device name as a directory name: no separators, no `..`.
fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("_{s}")
    } else {
        s
    }
}

/// Writes `DIR/<device>/<command-slug>.txt` for every command of a result
/// (stdout, then stderr if any). Two commands with one slug get `-2`, `-3`.
/// Outputs may hold configuration secrets: directories are created 0700
/// and files 0600, like run directories.
pub fn save(dir: &Path, result: &DeviceResult) -> io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let device_dir = dir.join(safe_name(&result.device));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&device_dir)?;
    let mut used = BTreeSet::new();
    let mut written = Vec::new();
    for out in &result.outputs {
        let base = slug(&out.command);
        let mut name = base.clone();
        let mut n = 1;
        while !used.insert(name.clone()) {
            n += 1;
            name = format!("{base}-{n}");
        }
        let path = device_dir.join(format!("{name}.txt"));
        let mut text = out.stdout.clone();
        if !out.stderr.is_empty() {
            text.push_str(&out.stderr);
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        io::Write::write_all(&mut file, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Each device's latest result, in the order of those latest results: a
/// resumed run appends to `results.jsonl`, so a device may appear several
/// times there.
pub fn latest(results: Vec<DeviceResult>) -> Vec<DeviceResult> {
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        last.insert(r.device.clone(), i);
    }
    let keep: BTreeSet<usize> = last.into_values().collect();
    results
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, r)| r)
        .collect()
}

/// The text a device produced, all commands in order: what grouping and
/// diffing compare.
fn combined(r: &DeviceResult) -> String {
    let mut s = String::new();
    for o in &r.outputs {
        if r.outputs.len() > 1 {
            let _ = writeln!(s, "### {}", o.command);
        }
        s.push_str(&o.stdout);
        s.push_str(&o.stderr);
    }
    if r.outputs.is_empty() {
        let _ = writeln!(s, "[{}] {}", r.status, r.error.as_deref().unwrap_or(""));
    }
    s
}

/// Each distinct output once, with the devices that produced it, largest
/// group first (`dshbak -c`).
pub fn group(results: &[DeviceResult]) -> String {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in results {
        groups.entry(combined(r)).or_default().push(&r.device);
    }
    let mut groups: Vec<(String, Vec<&str>)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1.cmp(&b.1)));
    let mut out = String::new();
    for (text, mut devices) in groups {
        devices.sort_unstable();
        // Names come from inventories: one line each, controls shown.
        let names: Vec<_> = devices.iter().map(|d| fleet_escape::line(d)).collect();
        let header = format!("{} ({})", names.join(","), devices.len());
        let rule = "-".repeat(header.chars().count().min(78));
        let _ = writeln!(out, "{rule}\n{header}\n{rule}");
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Which devices' outputs changed between two runs, with a unified diff
/// per changed device.
pub fn diff(previous: &[DeviceResult], current: &[DeviceResult]) -> String {
    let last = |rs: &[DeviceResult]| -> BTreeMap<String, String> {
        rs.iter().map(|r| (r.device.clone(), combined(r))).collect()
    };
    let (prev, cur) = (last(previous), last(current));
    let mut out = String::new();
    let mut unchanged = 0;
    for (device, now) in &cur {
        // Names come from inventories: one line each, controls shown.
        let name = fleet_escape::line(device);
        match prev.get(device) {
            None => {
                let _ = writeln!(out, "new: {name}");
            }
            Some(before) if before == now => unchanged += 1,
            Some(before) => {
                let _ = writeln!(out, "changed: {name}");
                let d = similar::TextDiff::from_lines(before.as_str(), now.as_str());
                let _ = write!(
                    out,
                    "{}",
                    d.unified_diff()
                        .context_radius(2)
                        .header(&format!("{name} (previous)"), &format!("{name} (now)"))
                );
            }
        }
    }
    for device in prev.keys().filter(|d| !cur.contains_key(*d)) {
        let _ = writeln!(out, "missing: {}", fleet_escape::line(device));
    }
    let _ = writeln!(out, "unchanged: {unchanged} devices");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{CommandOutput, Status, Timings};

    fn r(device: &str, outs: &[(&str, &str)]) -> DeviceResult {
        DeviceResult {
            device: device.into(),
            host: "h".into(),
            port: 22,
            status: Status::Ok,
            error: None,
            outputs: outs
                .iter()
                .map(|(c, o)| CommandOutput {
                    command: c.to_string(),
                    stdout: o.to_string(),
                    stderr: String::new(),
                    exit_status: Some(0),
                    truncated: false,
                })
                .collect(),
            worker: None,
            timings_ms: Timings::default(),
            attempt: 1,
            started_us: 0,
            batch: None,
        }
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("show ip interface brief"), "show-ip-interface-brief");
        assert_eq!(
            slug("cat /etc/os-release | head"),
            "cat-etc-os-release-head"
        );
        assert_eq!(slug("!!!"), "command");
    }

    #[test]
    fn save_writes_one_file_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let res = r("r1", &[("show version", "v1\n"), ("show  version", "v2\n")]);
        let files = save(dir.path(), &res).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("r1/show-version.txt")).unwrap(),
            "v1\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("r1/show-version-2.txt")).unwrap(),
            "v2\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("r1")), 0o700);
        assert_eq!(mode(&dir.path().join("r1/show-version.txt")), 0o600);
        let evil = r("../x", &[("a", "b")]);
        save(dir.path(), &evil).unwrap();
        assert!(dir.path().join(".._x/a.txt").is_file());
    }

    #[test]
    fn group_prints_each_output_once_biggest_first() {
        let rs = vec![
            r("a", &[("c", "same\n")]),
            r("b", &[("c", "other\n")]),
            r("c", &[("c", "same\n")]),
        ];
        let g = group(&rs);
        assert!(g.starts_with("-------\na,c (2)\n-------\nsame\n"), "{g}");
        assert!(g.contains("b (1)\n-----\nother\n"));
    }

    #[test]
    fn latest_keeps_one_result_per_device_the_last() {
        let rs = vec![
            r("a", &[("c", "old\n")]),
            r("b", &[("c", "b\n")]),
            r("a", &[("c", "new\n")]),
        ];
        let l = latest(rs);
        let names: Vec<&str> = l.iter().map(|r| r.device.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(l[1].outputs[0].stdout, "new\n");
    }

    #[test]
    fn diff_reports_changed_new_missing() {
        let before = vec![
            r("a", &[("c", "1\n")]),
            r("b", &[("c", "x\n")]),
            r("gone", &[]),
        ];
        let now = vec![
            r("a", &[("c", "2\n")]),
            r("b", &[("c", "x\n")]),
            r("new", &[]),
        ];
        let d = diff(&before, &now);
        assert!(d.contains("changed: a"));
        assert!(d.contains("-1\n+2\n"), "{d}");
        assert!(d.contains("new: new"));
        assert!(d.contains("missing: gone"));
        assert!(d.contains("unchanged: 1 devices"));
    }
}
