//! What a run will do, decided before anything starts: the devices, each
//! with the commands it will run, from the loaded inventory and the typed
//! options of `fleet run`.
//!
//! [`RunPlan::build`] is the one place device selection happens, in this
//! order: `--ask-pass` password, `--limit`, `--shard`, `[::1]` hosts
//! unbracketed, the flags that override the inventory (`-c` commands,
//! `--transport`, `--mode`, timeouts), `--config`/`--config-line` push,
//! the "nothing to run" check, then `--resume` (devices already done in
//! that run drop out).
//!
//! One rule for flags and the inventory: a flag given on the command line
//! wins over what the inventory says for every device; a flag left unset
//! does not (its default only fills what the inventory leaves open, through
//! the run-level settings). `--host-key-check` and `--known-hosts` follow
//! the same rule where the run config is built.
//!
//! A configuration line may hold secrets as placeholders, `{{ env:NAME }}`
//! (an environment variable of `fleet run`) or `{{ file:PATH }}` (a file's
//! content, trailing newline dropped). The master reads the values and
//! sends them to the workers with the device, like passwords; the session
//! fills them in only as it sends the line, so the dry run, run.json,
//! results and logs show the placeholder, and the value is masked in what
//! the device echoes.

use fleet_inventory::limit::Limit;
use fleet_proto::{Auth, Device, DeviceTable, Mode, Secret, Timeouts, Transport};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Why a plan could not be made: bad input, nothing has run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `--limit` left no device.
    #[error("no device in {inventory} matches --limit '{expr}'")]
    NoMatch {
        /// The inventory file.
        inventory: PathBuf,
        /// The `--limit` expression as given.
        expr: String,
    },
    /// A device would run no command at all.
    #[error("nothing to run on device `{0}`: give --command or `commands:` in the inventory")]
    NothingToRun(String),
    /// The `--config FILE` could not be read.
    #[error("failed to read config file {path}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `--save-config` or `--commit` without any configuration line.
    #[error("{0} needs --config or --config-line")]
    ConfigMissing(&'static str),
    /// The device's platform has no (known) configuration mode.
    #[error("device `{device}`: {why}")]
    ConfigMode {
        /// The device.
        device: String,
        /// What is missing.
        why: String,
    },
    /// A `{{ ... }}` placeholder in a configuration line is malformed or
    /// its value cannot be read.
    #[error("config line {line}: {why}")]
    Placeholder {
        /// 1-based, over `--config FILE` lines then `--config-line`s.
        line: usize,
        /// What is wrong (never the value).
        why: String,
    },
    /// A placeholder's value could not be read (the cause says why).
    #[error("config line {line}: {placeholder}")]
    PlaceholderValue {
        /// 1-based, as for [`PlanError::Placeholder`].
        line: usize,
        /// The placeholder as written (`{{ env:NAME }}`), never its value.
        placeholder: String,
        /// Why it has no value.
        #[source]
        source: PlaceholderError,
    },
    /// The `--resume` run directory could not be read.
    #[error("failed to read the run to resume, {path}")]
    Resume {
        /// Its `results.jsonl`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a `{{ env:NAME }}` or `{{ file:PATH }}` placeholder has no value.
/// Never quotes a value.
#[derive(Debug, thiserror::Error)]
pub enum PlaceholderError {
    /// The environment variable is not set.
    #[error("environment variable {0} is not set")]
    EnvUnset(String),
    /// The environment variable's value is not UTF-8.
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUtf8(String),
    /// The file could not be read.
    #[error("failed to read {}", path.display())]
    File {
        /// The file, as written in the placeholder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Configuration lines to push through each device's configuration mode
/// (`--config FILE`, `--config-line LINE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPush {
    /// Configuration lines, in order.
    pub lines: Vec<String>,
    /// Save the configuration afterwards (`write memory` or the platform's
    /// equivalent).
    pub save: bool,
    /// Actually send them (`--commit`); otherwise the plan is a dry run.
    pub commit: bool,
    /// Commit with automatic rollback after this many minutes unless
    /// confirmed (`--commit-confirmed`; Junos, EOS configuration sessions).
    pub confirmed_minutes: Option<u32>,
    /// Values of the placeholders in `lines`, keyed by the placeholder as
    /// written.
    pub placeholders: BTreeMap<String, Secret>,
}

impl ConfigPush {
    /// Collects lines from `--config FILE` (blank lines and `!`/`#`
    /// comments skipped) and `--config-line`; `None` when there are none.
    /// Checked before the inventory loads: `--save-config` and `--commit`
    /// without lines are errors, and so is a placeholder whose value cannot
    /// be read.
    pub fn from_sources(
        file: Option<&Path>,
        lines: &[String],
        save: bool,
        commit: bool,
    ) -> Result<Option<ConfigPush>, PlanError> {
        let mut all = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| PlanError::ConfigFile {
                path: path.to_path_buf(),
                source,
            })?;
            all.extend(
                text.lines()
                    .map(str::trim_end)
                    .filter(|l| {
                        let t = l.trim_start();
                        !t.is_empty() && !t.starts_with('!') && !t.starts_with('#')
                    })
                    .map(String::from),
            );
        }
        all.extend(lines.iter().cloned());
        if all.is_empty() {
            if save {
                return Err(PlanError::ConfigMissing("--save-config"));
            }
            if commit {
                return Err(PlanError::ConfigMissing("--commit"));
            }
            return Ok(None);
        }
        let mut placeholders = BTreeMap::new();
        for (i, line) in all.iter().enumerate() {
            let err = |why: String| PlanError::Placeholder { line: i + 1, why };
            for (text, source) in find_placeholders(line).map_err(err)? {
                let value = source
                    .read()
                    .map_err(|source| PlanError::PlaceholderValue {
                        line: i + 1,
                        placeholder: text.to_owned(),
                        source,
                    })?;
                placeholders.insert(text.to_string(), value);
            }
        }
        Ok(Some(ConfigPush {
            lines: all,
            save,
            commit,
            confirmed_minutes: None,
            placeholders,
        }))
    }

    /// The whole command sequence for `device`: enter config mode, the
    /// lines, the platform's commit (Junos `commit`, or a confirmed commit
    /// with `--commit-confirmed`), leave, save, then the device's own
    /// commands (e.g. a `show` to verify). Forces shell mode: config mode
    /// is a CLI state.
    pub fn apply(&self, device: &mut Device) -> Result<(), PlanError> {
        let err = |why: String| PlanError::ConfigMode {
            device: device.name.clone(),
            why,
        };
        let platform = device.platform.as_deref();
        let spec = fleet_ssh::platform::Platform::for_device(platform)
            .map(|p| p.spec)
            .ok_or_else(|| {
                err(format!(
                    "unknown platform {:?}; config mode needs a known platform",
                    platform.unwrap_or("-")
                ))
            })?;
        let (Some(enter), Some(exit)) = (spec.config_enter, spec.config_exit) else {
            return Err(err(format!(
                "platform {} has no configuration mode",
                spec.name
            )));
        };
        let confirmed = match self.confirmed_minutes {
            None => None,
            Some(minutes) => match spec.confirmed_commit {
                Some(c) => Some((c, minutes)),
                None => {
                    return Err(err(format!(
                        "platform {} has no confirmed commit (--commit-confirmed works on juniper_junos and arista_eos)",
                        spec.name
                    )))
                }
            },
        };
        let mut commands = vec![confirmed.map_or(enter, |(c, _)| c.enter).to_string()];
        commands.extend(self.lines.iter().cloned());
        match confirmed {
            Some((c, minutes)) => {
                commands.push(c.command(minutes));
                if !c.leaves_config_mode {
                    commands.push(exit.to_string());
                }
            }
            None => {
                commands.extend(spec.commit.map(String::from));
                commands.push(exit.to_string());
            }
        }
        if self.save {
            match (spec.save, spec.commit) {
                (Some(save), _) => commands.push(save.to_string()),
                // A commit already made the change persistent.
                (None, Some(_)) => {}
                (None, None) => {
                    return Err(err(format!(
                        "don't know how to save the configuration on {}",
                        spec.name
                    )))
                }
            }
        }
        commands.append(&mut device.commands);
        device.commands = commands;
        device.mode = Some(Mode::Shell);
        device.placeholders.extend(
            self.placeholders
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Ok(())
    }
}

/// Where a placeholder's value comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    /// `{{ env:NAME }}`.
    Env(&'a str),
    /// `{{ file:PATH }}`.
    File(&'a str),
}

impl Source<'_> {
    /// The value; the error says why not, never quoting the value.
    fn read(&self) -> Result<Secret, PlaceholderError> {
        match self {
            Source::Env(name) => std::env::var(name).map(Secret::new).map_err(|e| match e {
                std::env::VarError::NotPresent => PlaceholderError::EnvUnset((*name).to_owned()),
                std::env::VarError::NotUnicode(_) => {
                    PlaceholderError::EnvNotUtf8((*name).to_owned())
                }
            }),
            Source::File(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| PlaceholderError::File {
                        path: PathBuf::from(path),
                        source,
                    })?;
                let value = text.strip_suffix('\n').unwrap_or(&text);
                let value = value.strip_suffix('\r').unwrap_or(value);
                Ok(Secret::new(value))
            }
        }
    }
}

/// The placeholders of a line, as written, with their sources. Text in
/// `{{ }}` that is not `env:` or `file:` is an error, so a typo never goes
/// to a device as literal text. (`Err` is the message that
/// [`PlanError::Placeholder`] wraps at once with the line number.)
fn find_placeholders(line: &str) -> Result<Vec<(&str, Source<'_>)>, String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            return Err("`{{` without `}}`".into());
        };
        let text = &rest[start..start + len + 2];
        let inner = text[2..text.len() - 2].trim();
        let source = match inner.split_once(':') {
            Some(("env", name)) if !name.trim().is_empty() => Source::Env(name.trim()),
            Some(("file", path)) if !path.trim().is_empty() => Source::File(path.trim()),
            _ => {
                return Err(format!(
                    "{text}: a placeholder is {{{{ env:NAME }}}} or {{{{ file:PATH }}}}"
                ))
            }
        };
        found.push((text, source));
        rest = &rest[start + len + 2..];
    }
    Ok(found)
}

/// A `--limit` expression, parsed, with its text for messages.
#[derive(Debug, Clone)]
pub struct LimitExpr {
    /// As given.
    pub expr: String,
    /// Parsed.
    pub limit: Limit,
}

impl LimitExpr {
    /// Parses an Ansible-like pattern (`group:core,!name:lab-*`).
    pub fn parse(expr: &str) -> Result<LimitExpr, fleet_inventory::limit::LimitError> {
        Ok(LimitExpr {
            expr: expr.to_string(),
            limit: Limit::parse(expr)?,
        })
    }

    /// True when the device is selected.
    pub fn matches(&self, d: &Device) -> bool {
        self.limit.matches(d)
    }
}

/// `--resume RUN_DIR [--retry-failed]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The run directory to continue.
    pub dir: PathBuf,
    /// Also re-run devices whose last result failed.
    pub retry_failed: bool,
}

/// The options of `fleet run` that choose devices and shape their
/// commands, already parsed and typed.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--ask-pass`: tried after each device's own credentials.
    pub password: Option<Secret>,
    /// `--limit`.
    pub limit: Option<LimitExpr>,
    /// `-c`: replaces every device's commands.
    pub commands: Vec<String>,
    /// `--transport noop`: replaces every device's transport.
    pub transport: Option<Transport>,
    /// `--connect-timeout` / `--command-timeout` / `--session-timeout`
    /// as given: each one set replaces every device's.
    pub timeouts: Timeouts,
    /// `--mode`: replaces every device's mode and its platform's default.
    pub mode: Option<Mode>,
    /// `--config` / `--config-line`.
    pub config: Option<ConfigPush>,
    /// `--resume`.
    pub resume: Option<Resume>,
    /// `--shard K/N --shard-by KEY`: keep only that part of the devices
    /// selected by `--limit` (before `--resume` drops the done ones).
    pub shard: Option<(fleet_shard::Shard, fleet_shard::ShardBy)>,
}

/// The devices a run will run, each with its final commands.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// In inventory order, packed: what devices share is stored once.
    pub devices: DeviceTable,
    /// Configuration lines without `--commit`: print, send nothing.
    pub dry_run: bool,
    /// With `--resume`: devices of the inventory (after `--limit`) already
    /// done in that run, left out.
    pub already_done: usize,
    /// With `--shard`: what run.json records about this part.
    pub shard: Option<fleet_proto::rundir::ShardRecord>,
}

impl RunPlan {
    /// Chooses and shapes devices from `inventory` (loaded from
    /// `inventory_path`) following `opts`. What every device of a profile
    /// shares (credentials, commands, transport, ...) is changed once per
    /// profile; only `--limit`, `--shard`, `--resume` and `[::1]` hosts
    /// look at devices one by one.
    pub fn build(
        inventory_path: &Path,
        devices: impl Into<DeviceTable>,
        opts: &PlanOptions,
    ) -> Result<RunPlan, PlanError> {
        let mut devices: DeviceTable = devices.into();
        if let Some(pw) = &opts.password {
            devices.map_profiles(|d, _| {
                if d.transport != Transport::Noop {
                    d.auth.push(Auth::Password(pw.clone()));
                }
                Ok::<(), PlanError>(())
            })?;
        }
        if let Some(limit) = &opts.limit {
            devices.retain(|t, i| limit.matches(&t.device(i)));
            if devices.is_empty() {
                return Err(PlanError::NoMatch {
                    inventory: inventory_path.to_path_buf(),
                    expr: limit.expr.clone(),
                });
            }
        }
        let mut shard = None;
        if let Some((part, by)) = &opts.shard {
            let selected = devices.len();
            let digest = fleet_shard::selection_digest((0..devices.len()).map(|i| devices.name(i)));
            let keys: Vec<String> = (0..devices.len())
                .map(|i| match by {
                    fleet_shard::ShardBy::Name => devices.name(i).to_string(),
                    by => by.key(&devices.device(i)).into_owned(),
                })
                .collect();
            let owner = fleet_shard::assign(&keys, part.n() as usize);
            drop(keys);
            devices.retain(|_, i| owner[i] == part.index());
            shard = Some(fleet_proto::rundir::ShardRecord {
                k: part.k(),
                n: part.n(),
                by: by.to_string(),
                selection_digest: digest,
                selected,
                limit: opts.limit.as_ref().map(|l| l.expr.clone()),
                devices: devices.len(),
            });
        }
        // `[::1]` is how people write an IPv6 address next to a port;
        // the address itself is `::1` (to connect, for known_hosts).
        devices.map_hosts(|h| unbracketed(h).map(String::from));
        let shaped = devices.map_profiles(|d, first| {
            for hop in &mut d.jump {
                if let Some(h) = unbracketed(&hop.host) {
                    hop.host = h.to_string();
                }
            }
            if !opts.commands.is_empty() {
                d.commands = opts.commands.clone();
            }
            if let Some(t) = opts.transport {
                d.transport = t;
            }
            let t = &opts.timeouts;
            d.timeouts.connect = t.connect.or(d.timeouts.connect);
            d.timeouts.command = t.command.or(d.timeouts.command);
            d.timeouts.session = t.session.or(d.timeouts.session);
            if opts.mode.is_some() {
                d.mode = opts.mode;
            }
            if let Some(push) = &opts.config {
                // Without -c, a config push runs only the config; with -c,
                // the commands run after it (e.g. a `show` to verify).
                if opts.commands.is_empty() {
                    d.commands.clear();
                }
                push.apply(d).map_err(|e| (first, e))?;
            }
            Ok(())
        });
        if let Err((first, e)) = shaped {
            // Profiles have no name: say which device it was.
            return Err(match e {
                PlanError::ConfigMode { why, .. } => PlanError::ConfigMode {
                    device: devices.name(first).to_string(),
                    why,
                },
                other => other,
            });
        }
        if let Some(i) = (0..devices.len()).find(|&i| devices.profile(i).commands.is_empty()) {
            return Err(PlanError::NothingToRun(devices.name(i).to_string()));
        }
        let mut already_done = 0;
        if let Some(resume) = &opts.resume {
            let before = devices.len();
            let done = done_in(&resume.dir, resume.retry_failed)?;
            devices.retain(|t, i| !done.contains(t.name(i)));
            already_done = before - devices.len();
        }
        Ok(RunPlan {
            devices,
            dry_run: opts.config.as_ref().is_some_and(|c| !c.commit),
            already_done,
            shard,
        })
    }
}

/// `[::1]` -> `Some("::1")`; other hosts `None` (unchanged).
fn unbracketed(host: &str) -> Option<&str> {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
}

/// Names of the devices of a previous run that need no new run: a last
/// result other than cancelled (with `retry_failed`, only successes).
fn done_in(dir: &Path, retry_failed: bool) -> Result<HashSet<String>, PlanError> {
    let path = dir.join("results.jsonl");
    let results =
        crate::sink::read_results(&path).map_err(|source| PlanError::Resume { path, source })?;
    let last: HashMap<&str, fleet_proto::Status> = results
        .iter()
        .map(|r| (r.device.as_str(), r.status))
        .collect();
    Ok(last
        .iter()
        .filter(|(_, st)| match st {
            fleet_proto::Status::Cancelled => false,
            st if retry_failed => st.is_ok(),
            _ => true,
        })
        .map(|(name, _)| name.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devs() -> Vec<Device> {
        let mut a = Device::new("r1", "h", 22);
        a.groups = vec!["core".into()];
        a.commands = vec!["show version".into()];
        let mut b = Device::new("r2", "h", 22);
        b.commands = vec!["uptime".into()];
        vec![a, b]
    }

    #[test]
    fn limit_commands_and_transport_shape_devices() {
        let opts = PlanOptions {
            limit: Some(LimitExpr::parse("group:core").unwrap()),
            commands: vec!["id".into()],
            transport: Some(Transport::Noop),
            ..PlanOptions::default()
        };
        let plan = RunPlan::build(Path::new("inv.yaml"), devs(), &opts).unwrap();
        assert_eq!(plan.devices.len(), 1);
        assert_eq!(plan.devices.device(0).commands, ["id"]);
        assert_eq!(plan.devices.device(0).transport, Transport::Noop);
        assert!(!plan.dry_run);
    }

    #[test]
    fn a_limit_matching_nothing_is_an_error() {
        let opts = PlanOptions {
            limit: Some(LimitExpr::parse("name:nope").unwrap()),
            ..PlanOptions::default()
        };
        let e = RunPlan::build(Path::new("inv.yaml"), devs(), &opts).unwrap_err();
        assert!(matches!(e, PlanError::NoMatch { .. }), "{e}");
    }

    #[test]
    fn config_push_commits_where_the_platform_needs_it() {
        let plan = |platform: &str, save: bool, minutes: Option<u32>| {
            let mut push = ConfigPush::from_sources(None, &["L".into()], save, true)
                .unwrap()
                .unwrap();
            push.confirmed_minutes = minutes;
            let mut d = Device::new("r1", "h", 22);
            d.platform = Some(platform.into());
            push.apply(&mut d).map(|()| d.commands)
        };
        assert_eq!(
            plan("juniper_junos", true, None).unwrap(),
            ["configure", "L", "commit", "exit configuration-mode"]
        );
        assert_eq!(
            plan("juniper_junos", false, Some(5)).unwrap(),
            [
                "configure",
                "L",
                "commit confirmed 5",
                "exit configuration-mode"
            ]
        );
        assert_eq!(
            plan("arista_eos", true, Some(90)).unwrap(),
            [
                "configure session fleet",
                "L",
                "commit timer 01:30:00",
                "write memory"
            ]
        );
        assert_eq!(
            plan("cisco_nxos", true, None).unwrap(),
            [
                "configure terminal",
                "L",
                "end",
                "copy running-config startup-config"
            ]
        );
        let e = plan("cisco_ios", false, Some(5)).unwrap_err();
        assert!(e.to_string().contains("has no confirmed commit"), "{e}");
    }

    #[test]
    fn config_push_without_commit_is_a_dry_run_and_needs_lines() {
        assert!(matches!(
            ConfigPush::from_sources(None, &[], false, true),
            Err(PlanError::ConfigMissing("--commit"))
        ));
        let push = ConfigPush::from_sources(None, &["hostname x".into()], false, false)
            .unwrap()
            .unwrap();
        let mut d = devs();
        for x in &mut d {
            x.platform = Some("cisco_ios".into());
        }
        let opts = PlanOptions {
            config: Some(push),
            ..PlanOptions::default()
        };
        let plan = RunPlan::build(Path::new("inv.yaml"), d, &opts).unwrap();
        assert!(plan.dry_run);
        assert_eq!(plan.devices.device(0).commands[1], "hostname x");
        assert_eq!(plan.devices.device(0).mode, Some(Mode::Shell));
    }

    #[test]
    fn explicit_flags_win_over_the_inventory_unset_ones_do_not() {
        use std::time::Duration;
        let mut d = devs();
        d[0].timeouts.connect = Some(Duration::from_secs(9));
        d[0].timeouts.command = Some(Duration::from_secs(8));
        d[0].mode = Some(Mode::Shell);
        d[0].host = "[::1]".into();
        let opts = PlanOptions {
            timeouts: Timeouts {
                connect: Some(Duration::from_secs(2)),
                command: None,
                session: Some(Duration::from_secs(60)),
            },
            mode: Some(Mode::Exec),
            ..PlanOptions::default()
        };
        let plan = RunPlan::build(Path::new("inv.yaml"), d, &opts).unwrap();
        let r1 = &plan.devices.device(0);
        assert_eq!(r1.timeouts.connect, Some(Duration::from_secs(2)), "given");
        assert_eq!(
            r1.timeouts.command,
            Some(Duration::from_secs(8)),
            "not given"
        );
        assert_eq!(r1.timeouts.session, Some(Duration::from_secs(60)));
        assert_eq!(r1.mode, Some(Mode::Exec), "--mode beats the inventory");
        assert_eq!(plan.devices.device(1).mode, Some(Mode::Exec));
        assert_eq!(r1.host, "::1", "brackets are notation, not the address");
        // Nothing given: the inventory stays as it was.
        let mut d = devs();
        d[0].mode = Some(Mode::Shell);
        let plan = RunPlan::build(Path::new("inv.yaml"), d, &PlanOptions::default()).unwrap();
        assert_eq!(plan.devices.device(0).mode, Some(Mode::Shell));
        assert_eq!(plan.devices.device(1).mode, None, "left to the platform");
        assert_eq!(plan.devices.device(0).timeouts, Timeouts::default());
    }

    #[test]
    fn placeholders_are_found_with_their_source() {
        let found = find_placeholders("username a secret {{ env:PW }} key {{file:/k}}").unwrap();
        assert_eq!(
            found,
            [
                ("{{ env:PW }}", Source::Env("PW")),
                ("{{file:/k}}", Source::File("/k"))
            ]
        );
        assert!(find_placeholders("no secrets here").unwrap().is_empty());
        assert!(find_placeholders("{{ envv:PW }}").is_err());
        assert!(find_placeholders("{{ env:PW ").is_err());
    }

    #[test]
    fn placeholder_values_are_read_once_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "from-file\n").unwrap();
        let lines = vec![format!("a {{{{ file:{} }}}}", f.display())];
        let push = ConfigPush::from_sources(None, &lines, false, true)
            .unwrap()
            .unwrap();
        let v: Vec<&str> = push.placeholders.values().map(Secret::expose).collect();
        assert_eq!(v, ["from-file"]);
        let mut d = Device::new("r1", "h", 22);
        d.platform = Some("cisco_ios".into());
        push.apply(&mut d).unwrap();
        assert_eq!(d.commands[1], lines[0], "the plan keeps the placeholder");
        assert_eq!(d.placeholders.len(), 1, "the value travels with the device");
        let lines = vec![
            "ok".to_string(),
            "b {{ env:FLEET_SURELY_UNSET_9 }}".to_string(),
        ];
        let err = ConfigPush::from_sources(None, &lines, false, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config line 2: {{ env:FLEET_SURELY_UNSET_9 }}"
        );
        let cause = std::error::Error::source(&err).expect("the cause is kept");
        assert_eq!(
            cause.to_string(),
            "environment variable FLEET_SURELY_UNSET_9 is not set"
        );
    }

    #[test]
    fn an_unreadable_placeholder_file_keeps_its_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let lines = vec![format!("k {{{{ file:{} }}}}", missing.display())];
        let err = ConfigPush::from_sources(None, &lines, false, true).unwrap_err();
        let PlanError::PlaceholderValue { line, source, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*line, 1);
        assert_eq!(
            source.to_string(),
            format!("failed to read {}", missing.display())
        );
        let io = std::error::Error::source(source)
            .and_then(|e| e.downcast_ref::<std::io::Error>())
            .expect("the io::Error is kept");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
