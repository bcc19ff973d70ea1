//! Running without an inventory (pdsh-style `-w HOSTLIST`), and the user's
//! OpenSSH client config applied to every SSH device, inventory or ad hoc.
//!
//! Precedence, per value (documented in the README, "Without an inventory"):
//! 1. explicit flags (`--host-key-check`, `--known-hosts`, `--connect-timeout`,
//!    and for `-w` hosts `user@host:port` in the list, then `--user`,
//!    `--port`, `--key-file`/`--password-env`, `--platform`);
//! 2. values the inventory sets (a username, credentials, jump hosts, a port
//!    other than 22, timeouts, `host_key_check`, `known_hosts`);
//! 3. the ssh config (`-F FILE`, else `~/.ssh/config` then `/etc/ssh/ssh_config`);
//! 4. ssh's defaults: port 22, the local user, the agent and `~/.ssh/id_*`.

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use fleet_hostlist::Target;
use fleet_inventory::SharedDevice;
use fleet_proto::device::host_port;
use fleet_proto::{Auth, Device, DeviceTable, HostKeyCheck, JumpHost, Secret, Transport};
use fleet_ssh::identity::{default_identities, ssh_auth, ssh_auth_with_defaults, IdentityPolicy};
use fleet_sshconfig::{expand_tokens, Query, Resolved, SshConfig, StrictHostKeyChecking, Tokens};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Flags for ad-hoc hosts and the ssh config (shared by `run` and `inventory`).
#[derive(Debug, Args, Default, Clone)]
pub struct AdhocArgs {
    /// Hosts to run on, pdsh syntax: 'web[01-20,25]', 'alice@db1:2222',
    /// '^FILE' (one per line), '-' (stdin); added to the inventory's devices, if any.
    #[arg(short = 'w', long = "hosts", value_name = "HOSTLIST")]
    pub hosts: Vec<String>,

    /// Leave out these hosts (same syntax; matches device names and addresses).
    #[arg(short = 'x', long = "exclude", value_name = "HOSTLIST")]
    pub exclude: Vec<String>,

    /// OpenSSH client config to apply to every SSH device, as ssh does
    /// ('none' for no config) [default: ~/.ssh/config, then /etc/ssh/ssh_config].
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Login user for -w hosts (a 'user@' in the host list wins; beats the ssh config).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// SSH port for -w hosts (a ':port' in the host list wins; beats the ssh config).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Private key for -w hosts (repeatable); replaces the agent and ssh config keys.
    #[arg(long, value_name = "FILE")]
    pub key_file: Vec<PathBuf>,

    /// Environment variable holding the password for -w hosts (never an argument).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,

    /// Platform of -w hosts (linux, cisco_ios, ...).
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,
}

impl AdhocArgs {
    /// Whether any host was given with `-w`.
    pub fn has_hosts(&self) -> bool {
        !self.hosts.is_empty()
    }
}

/// The local facts ssh consults (computed once, from the master's environment).
#[derive(Debug, Clone)]
pub struct LocalEnv {
    /// `$HOME`, else the passwd entry's directory: `~`, `%d`, default keys.
    pub home: PathBuf,
    /// The local user name: default login, `%u`, `Match localuser`.
    pub user: String,
    /// `SSH_AUTH_SOCK` is set.
    pub agent: bool,
}

impl LocalEnv {
    /// Reads the process environment.
    pub fn from_process() -> LocalEnv {
        let pw = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten();
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .or_else(|| pw.as_ref().map(|p| p.dir.clone()))
            .unwrap_or_else(|| PathBuf::from("/"));
        let user = pw
            .map(|p| p.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".to_string());
        LocalEnv {
            home,
            user,
            agent: std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()),
        }
    }
}

/// A run-wide setting the ssh config gives per host: one value for all, or several.
#[derive(Debug, Clone, PartialEq)]
pub enum PerRun<T> {
    /// No SSH device gets a value from the config.
    Unset,
    /// Every SSH device gets this value.
    One(T),
    /// Devices disagree: (device, value) of two that differ.
    Mixed(String, String),
}

impl<T: Clone + PartialEq + std::fmt::Debug> PerRun<T> {
    fn add(&mut self, device: &str, v: Option<T>, seen: &mut Option<(String, Option<T>)>) {
        match seen {
            None => {
                *seen = Some((device.to_string(), v.clone()));
                *self = v.map_or(PerRun::Unset, PerRun::One);
            }
            Some((first, fv)) if *fv != v && !matches!(self, PerRun::Mixed(..)) => {
                *self = PerRun::Mixed(
                    format!("{first}: {}", show(fv)),
                    format!("{device}: {}", show(&v)),
                );
            }
            _ => {}
        }
    }

    /// The single value, or an error telling the user which flag decides.
    pub fn single(&self, keyword: &str, flag: &str) -> Result<Option<T>> {
        match self {
            PerRun::Unset => Ok(None),
            PerRun::One(v) => Ok(Some(v.clone())),
            PerRun::Mixed(a, b) => bail!(
                "the ssh config gives devices different {keyword} ({a}; {b}): fleet applies \
                 one value per run, so pass {flag} (or set it in the inventory)"
            ),
        }
    }
}

fn show<T: std::fmt::Debug>(v: &Option<T>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "unset".to_string(),
    }
}

/// Devices with the ssh config applied, and the run-wide values it gives.
#[derive(Debug)]
pub struct Resolution {
    /// Inventory devices, then ad-hoc ones, minus exclusions.
    pub devices: Vec<Device>,
    /// `StrictHostKeyChecking` across SSH devices.
    pub host_key_check: PerRun<HostKeyCheck>,
    /// `UserKnownHostsFile` (expanded) across SSH devices.
    pub known_hosts: PerRun<Vec<PathBuf>>,
    /// `GlobalKnownHostsFile` (else ssh's defaults), read only.
    pub global_known_hosts: Vec<PathBuf>,
}

impl Resolution {
    /// The writable known_hosts file and the read-only ones, when neither a
    /// flag nor the inventory named one.
    pub fn known_hosts_files(&self) -> Result<(Option<PathBuf>, Vec<PathBuf>)> {
        let user = self
            .known_hosts
            .single("UserKnownHostsFile", "--known-hosts")?;
        Ok(match user {
            Some(files) if !files.is_empty() => (
                Some(files[0].clone()),
                files[1..]
                    .iter()
                    .chain(&self.global_known_hosts)
                    .cloned()
                    .collect(),
            ),
            _ => (None, self.global_known_hosts.clone()),
        })
    }
}

/// Loads the ssh config named by `-F`, or the user's and the system's.
pub fn load_ssh_config(flag: Option<&Path>, env: &LocalEnv) -> Result<SshConfig> {
    let user_base = env.home.join(".ssh");
    match flag {
        Some(p) if p == Path::new("none") => Ok(SshConfig::empty()),
        Some(p) => SshConfig::load(p, &user_base).context("-F"),
        None => {
            let mut cfg = SshConfig::empty();
            let user = user_base.join("config");
            if user.exists() {
                cfg = cfg.then(SshConfig::load(&user, &user_base)?);
            }
            let system = Path::new("/etc/ssh/ssh_config");
            if system.exists() {
                cfg = cfg.then(SshConfig::load(system, Path::new("/etc/ssh"))?);
            }
            Ok(cfg)
        }
    }
}

/// Expands `-w`/`-x`, adds the ad-hoc devices to `inventory`, and applies
/// the ssh config to every SSH device.
pub fn resolve(
    args: &AdhocArgs,
    inventory: Vec<Device>,
    env: &LocalEnv,
    connect_timeout_flag: bool,
) -> Result<Resolution> {
    let mut r = Resolver::new(args, env, connect_timeout_flag)?;
    let mut devices = Vec::with_capacity(inventory.len());
    for d in inventory {
        devices.extend(r.device(d)?);
    }
    // Only built when there are -w hosts: 100k inventory devices need no set.
    let known: std::collections::HashSet<String> = if r.has_targets() {
        devices.iter().map(|d| d.name.clone()).collect()
    } else {
        Default::default()
    };
    let (adhoc, mut res) = r.finish(|name| known.contains(name))?;
    devices.extend(adhoc);
    res.devices = devices;
    Ok(res)
}

/// [`resolve`] one device at a time, so an inventory can stream through
/// it: [`Resolver::device`] for each inventory device in order, then
/// [`Resolver::finish`] for the `-w` hosts and the run-wide values.
pub struct Resolver<'a> {
    args: &'a AdhocArgs,
    env: &'a LocalEnv,
    connect_timeout_flag: bool,
    cfg: SshConfig,
    /// `-w` hosts, expanded.
    targets: Vec<Target>,
    /// `-x` hosts, expanded.
    excluded: Vec<Target>,
    /// `--key-file` / `--password-env` for `-w` hosts.
    explicit_auth: Vec<Auth>,
    /// `~/.ssh/id_*` that exist.
    default_files: Vec<PathBuf>,
    res: Resolution,
    seen_check: Option<(String, Option<HostKeyCheck>)>,
    seen_kh: Option<(String, Option<Vec<PathBuf>>)>,
    global: Option<Vec<PathBuf>>,
    /// Inventory devices kept (not excluded).
    kept: usize,
    /// [`Resolver::shared`]: by the address of an inventory profile and a
    /// device port, that profile (kept, so the address stays its) and what
    /// the ssh config made of it for each distinct config answer.
    applied: rustc_hash::FxHashMap<(usize, u16), (Arc<Device>, Vec<Applied>)>,
}

/// One profile with the ssh config applied: the config's answer it was
/// made from, the port and the resulting profile (name and host empty).
struct Applied {
    resolved: Resolved,
    port: u16,
    profile: Arc<Device>,
}

/// Inventory profiles [`Resolver::shared`] remembers.
const MAX_APPLIED_PROFILES: usize = 16_384;

/// Different config answers remembered per profile; past this many (Host
/// patterns that split the devices finely) each device is resolved alone.
const MAX_APPLIED_PER_PROFILE: usize = 16;

/// Whether what the ssh config answered makes the same profile for any
/// host: no `HostName`, and no `%` token (`%h`, `%n`, `%C`, ...) in the
/// file names it gives.
fn host_free(r: &Resolved) -> bool {
    let no_tokens = |files: &[String]| files.iter().all(|f| !f.contains('%'));
    r.hostname.is_none()
        && no_tokens(&r.identity_files)
        && r.user_known_hosts_files.as_deref().is_none_or(no_tokens)
        && r.global_known_hosts_files.as_deref().is_none_or(no_tokens)
}

impl<'a> Resolver<'a> {
    /// Reads the ssh config and expands `-w`/`-x` (stdin for `-`).
    pub fn new(args: &'a AdhocArgs, env: &'a LocalEnv, connect_timeout_flag: bool) -> Result<Self> {
        let cfg = load_ssh_config(args.ssh_config.as_deref(), env)?;
        let mut stdin = std::io::stdin().lock();
        let targets = if args.hosts.is_empty() {
            Vec::new()
        } else {
            fleet_hostlist::load(&args.hosts.join(","), &mut stdin).context("-w")?
        };
        let excluded = if args.exclude.is_empty() {
            Vec::new()
        } else {
            fleet_hostlist::load(&args.exclude.join(","), &mut stdin).context("-x")?
        };
        let password = match &args.password_env {
            Some(var) => Some(Secret::new(std::env::var(var).map_err(|_| {
                anyhow!("--password-env {var}: environment variable {var} is not set")
            })?)),
            None => None,
        };
        let mut explicit_auth: Vec<Auth> = args
            .key_file
            .iter()
            .map(|p| Auth::KeyFile {
                path: p.clone(),
                passphrase: None,
            })
            .collect();
        explicit_auth.extend(password.map(Auth::Password));
        Ok(Resolver {
            args,
            env,
            connect_timeout_flag,
            cfg,
            targets,
            excluded,
            explicit_auth,
            default_files: default_identities(&env.home),
            res: Resolution {
                devices: Vec::new(),
                host_key_check: PerRun::Unset,
                known_hosts: PerRun::Unset,
                global_known_hosts: Vec::new(),
            },
            seen_check: None,
            seen_kh: None,
            global: None,
            kept: 0,
            applied: Default::default(),
        })
    }

    /// Whether `-w` named hosts ([`Resolver::finish`] then asks which names
    /// the inventory has).
    pub fn has_targets(&self) -> bool {
        !self.targets.is_empty()
    }

    fn is_excluded(&self, name: &str, host: &str, port: u16) -> bool {
        self.excluded.iter().any(|x| {
            (x.host == name || x.name() == name || x.host == host)
                && x.port.is_none_or(|p| p == port)
        })
    }

    /// One inventory device with the ssh config applied, or `None` when
    /// `-x` leaves it out.
    pub fn device(&mut self, mut d: Device) -> Result<Option<Device>> {
        if self.is_excluded(&d.name, &d.host, d.port) {
            return Ok(None);
        }
        self.kept += 1;
        self.apply_config(&mut d, None)?;
        Ok(Some(d))
    }

    /// [`Resolver::device`] for a device with a shared profile, into
    /// `table`: the ssh config is asked per device (its `Host` patterns
    /// may match any name), but applied once per profile and distinct
    /// answer when that answer cannot depend on the host ([`host_free`]).
    pub fn shared(&mut self, d: SharedDevice<'_>, table: &mut DeviceTable) -> Result<()> {
        if self.is_excluded(d.name, d.host, d.port) {
            return Ok(());
        }
        self.kept += 1;
        if d.profile.transport != Transport::Ssh {
            table.push_shared(d.name, d.host, d.port, d.profile);
            return Ok(());
        }
        let r = self.query(d.host, &d.profile.username, None);
        let key = (Arc::as_ptr(d.profile) as usize, d.port);
        let cacheable = host_free(&r);
        if cacheable {
            if let Some((_, applied)) = self.applied.get(&key) {
                if let Some(a) = applied.iter().find(|a| a.resolved == r) {
                    table.push_shared(d.name, d.host, a.port, &a.profile);
                    return Ok(());
                }
            }
        }
        let mut device = d.to_device();
        self.apply_resolved(&mut device, None, &r)?;
        if !cacheable || device.host != d.host {
            table.push(device);
            return Ok(());
        }
        let (name, host) = (
            std::mem::take(&mut device.name),
            std::mem::take(&mut device.host),
        );
        let port = std::mem::replace(&mut device.port, 0);
        let profile = Arc::new(device);
        table.push_shared(&name, &host, port, &profile);
        // All-distinct profiles (nothing to share): keep no more of them.
        if self.applied.len() >= MAX_APPLIED_PROFILES && !self.applied.contains_key(&key) {
            return Ok(());
        }
        let (_, applied) = self
            .applied
            .entry(key)
            .or_insert_with(|| (Arc::clone(d.profile), Vec::new()));
        if applied.len() < MAX_APPLIED_PER_PROFILE {
            applied.push(Applied {
                resolved: r,
                port,
                profile,
            });
        }
        Ok(())
    }

    /// The `-w` devices the inventory does not have (`known` says which
    /// names it has), resolved, and the run-wide values; an error when
    /// `-x` left nothing.
    pub fn finish(mut self, known: impl Fn(&str) -> bool) -> Result<(Vec<Device>, Resolution)> {
        let targets = std::mem::take(&mut self.targets);
        let mut adhoc = Vec::new();
        for t in fleet_hostlist::exclude(targets, &self.excluded) {
            if known(&t.name()) {
                continue;
            }
            let mut d = Device::new(t.name(), t.host.clone(), 0);
            d.platform = self.args.platform.clone();
            d.auth = self.explicit_auth.clone();
            self.apply_config(&mut d, Some(&t))?;
            adhoc.push(d);
        }
        let mut res = self.res;
        res.global_known_hosts = self.global.unwrap_or_else(|| {
            vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ]
        });
        if self.kept + adhoc.len() == 0 {
            bail!("no hosts left to run on after -x");
        }
        Ok((adhoc, res))
    }

    fn apply_config(&mut self, d: &mut Device, target: Option<&Target>) -> Result<()> {
        if d.transport != Transport::Ssh {
            return Ok(());
        }
        let r = self.query(&d.host, &d.username, target);
        self.apply_resolved(d, target, &r)
    }

    /// What the ssh config says for `host`, as `username` (the device's;
    /// empty if none) or a `-w` target's user.
    fn query(&self, host: &str, username: &str, target: Option<&Target>) -> Resolved {
        let explicit_user = match target {
            Some(t) => t.user.as_deref().or(self.args.user.as_deref()),
            None => (!username.is_empty()).then_some(username),
        };
        self.cfg.resolve(&Query {
            host,
            user: explicit_user,
            local_user: &self.env.user,
        })
    }

    /// Applies the config's answer `r` for `d` and notes its run-wide values.
    fn apply_resolved(
        &mut self,
        d: &mut Device,
        target: Option<&Target>,
        r: &Resolved,
    ) -> Result<()> {
        let (args, env, cfg) = (self.args, self.env, &self.cfg);
        let alias = d.host.clone();
        apply(
            d,
            target,
            args,
            r,
            cfg,
            env,
            &self.default_files,
            self.connect_timeout_flag,
        )?;
        let tokens = Tokens {
            host: &d.host,
            original_host: &alias,
            remote_user: &d.username,
            local_user: &env.user,
            port: d.port,
            home: &env.home,
        };
        self.res.host_key_check.add(
            &d.name,
            r.strict_host_key_checking.map(|s| match s {
                StrictHostKeyChecking::Yes => HostKeyCheck::Strict,
                StrictHostKeyChecking::AcceptNew => HostKeyCheck::AcceptNew,
                StrictHostKeyChecking::No => HostKeyCheck::Off,
            }),
            &mut self.seen_check,
        );
        let kh = r
            .user_known_hosts_files
            .as_ref()
            .map(|files| expand_all(files, &tokens, "UserKnownHostsFile", &d.name))
            .transpose()?;
        self.res.known_hosts.add(&d.name, kh, &mut self.seen_kh);
        if self.global.is_none() {
            if let Some(files) = &r.global_known_hosts_files {
                self.global = Some(expand_all(files, &tokens, "GlobalKnownHostsFile", &d.name)?);
            }
        }
        Ok(())
    }
}

fn expand_all(
    files: &[String],
    t: &Tokens<'_>,
    keyword: &str,
    device: &str,
) -> Result<Vec<PathBuf>> {
    files
        .iter()
        .map(|f| expand_tokens(f, t).with_context(|| format!("ssh config {keyword} for {device}")))
        .collect()
}

/// Fills one SSH device from its flags, inventory values and ssh config.
#[allow(clippy::too_many_arguments)] // the per-device inputs of one resolution step
fn apply(
    d: &mut Device,
    target: Option<&Target>,
    args: &AdhocArgs,
    r: &Resolved,
    cfg: &SshConfig,
    env: &LocalEnv,
    default_files: &[PathBuf],
    connect_timeout_flag: bool,
) -> Result<()> {
    let alias = d.host.clone();
    d.host = r.hostname.clone().unwrap_or(alias.clone());
    d.port = match target {
        Some(t) => t.port.or(args.port).or(r.port).unwrap_or(22),
        // An inventory's 22 may be its default: the config may change it.
        None if d.port == 22 => r.port.unwrap_or(22),
        None => d.port,
    };
    if d.username.is_empty() {
        d.username = r.user.clone().unwrap_or_else(|| env.user.clone());
    }
    // The inventory falls back to the agent for devices without credentials:
    // that is no explicit choice, so the config's keys still apply after it.
    let agent_only = d.auth == [Auth::Agent];
    if d.auth.is_empty() || agent_only {
        let tokens = Tokens {
            host: &d.host,
            original_host: &alias,
            remote_user: &d.username,
            local_user: &env.user,
            port: d.port,
            home: &env.home,
        };
        let files = expand_all(&r.identity_files, &tokens, "IdentityFile", &d.name)?;
        let mut auth = ssh_auth_with_defaults(
            default_files,
            &IdentityPolicy {
                agent: env.agent && !agent_only,
                identity_files: &files,
                identities_only: r.identities_only == Some(true),
            },
        );
        if agent_only {
            auth.insert(0, Auth::Agent);
        }
        d.auth = auth;
    }
    if d.jump.is_empty() {
        if let Some(hops) = &r.proxy_jump {
            d.jump = jump_chain(hops, cfg, env, &d.auth, &d.name, 0)?;
        }
    }
    if !connect_timeout_flag && d.timeouts.connect.is_none() {
        if let Some(Some(t)) = r.connect_timeout {
            d.timeouts.connect = Some(t);
        }
    }
    Ok(())
}

/// Most nested `ProxyJump`s followed (a hop's own hops), against loops.
const MAX_JUMP_DEPTH: usize = 8;

/// The hops to reach a host: each hop's own `ProxyJump` comes first, as
/// ssh does when it runs `ssh -J` for the hop.
fn jump_chain(
    hops: &[fleet_sshconfig::Hop],
    cfg: &SshConfig,
    env: &LocalEnv,
    device_auth: &[Auth],
    device: &str,
    depth: usize,
) -> Result<Vec<JumpHost>> {
    if depth >= MAX_JUMP_DEPTH {
        bail!("ssh config ProxyJump for {device}: more than {MAX_JUMP_DEPTH} nested jump hosts (a loop?)");
    }
    let mut chain = Vec::new();
    for (i, hop) in hops.iter().enumerate() {
        // Only the first hop is reached directly; ssh ignores the others' ProxyJump.
        if i == 0 {
            let r = cfg.resolve(&Query {
                host: &hop.host,
                user: hop.user.as_deref(),
                local_user: &env.user,
            });
            if let Some(inner) = r.proxy_jump.as_deref().filter(|h| !h.is_empty()) {
                chain.extend(jump_chain(inner, cfg, env, device_auth, device, depth + 1)?);
            }
        }
        chain.push(jump_host(hop, cfg, env, device_auth, device)?);
    }
    Ok(chain)
}

/// A `ProxyJump` hop resolved through the config (its `HostName`, `User`,
/// `Port`, `IdentityFile`); without its own keys it uses the device's credentials.
fn jump_host(
    hop: &fleet_sshconfig::Hop,
    cfg: &SshConfig,
    env: &LocalEnv,
    device_auth: &[Auth],
    device: &str,
) -> Result<JumpHost> {
    let r = cfg.resolve(&Query {
        host: &hop.host,
        user: hop.user.as_deref(),
        local_user: &env.user,
    });
    let host = r.hostname.clone().unwrap_or(hop.host.clone());
    let port = hop.port.or(r.port).unwrap_or(22);
    let username = r.user.clone().unwrap_or_else(|| env.user.clone());
    let tokens = Tokens {
        host: &host,
        original_host: &hop.host,
        remote_user: &username,
        local_user: &env.user,
        port,
        home: &env.home,
    };
    let files = expand_all(&r.identity_files, &tokens, "IdentityFile", device)?;
    let auth = if files.is_empty() {
        device_auth.to_vec()
    } else {
        ssh_auth(
            &env.home,
            &IdentityPolicy {
                agent: env.agent,
                identity_files: &files,
                identities_only: r.identities_only == Some(true),
            },
        )
    };
    Ok(JumpHost {
        host,
        port,
        username,
        auth,
    })
}

/// How `fleet inventory list` shows a device's credentials (never a secret).
pub fn auth_summary(auth: &[Auth]) -> String {
    if auth.is_empty() {
        return "-".to_string();
    }
    auth.iter()
        .map(|a| match a {
            Auth::Agent => "agent".to_string(),
            Auth::KeyFile { path, .. } => format!("key:{}", path.display()),
            Auth::Password(_) => "password".to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `user@host:port` hops, comma-separated, or `-`.
pub fn jump_summary(jump: &[JumpHost]) -> String {
    if jump.is_empty() {
        return "-".to_string();
    }
    jump.iter()
        .map(|j| format!("{}@{}", j.username, host_port(&j.host, j.port)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(home: &Path) -> LocalEnv {
        LocalEnv {
            home: home.to_path_buf(),
            user: "me".into(),
            agent: false,
        }
    }

    fn args(cfg: &Path, hosts: &str) -> AdhocArgs {
        AdhocArgs {
            hosts: vec![hosts.to_string()],
            ssh_config: Some(cfg.to_path_buf()),
            ..AdhocArgs::default()
        }
    }

    /// Devices through [`Resolver::shared`] and through
    /// [`Resolver::device`] one by one: the same table, the same run-wide values.
    fn shared_and_alone(cfg: &str, devices: &[(&str, &str, u16, &Arc<Device>)]) -> DeviceTable {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg");
        std::fs::write(&path, cfg).unwrap();
        let a = AdhocArgs {
            ssh_config: Some(path),
            ..AdhocArgs::default()
        };
        let env = env(dir.path());
        let mut shared = Resolver::new(&a, &env, false).unwrap();
        let mut alone = Resolver::new(&a, &env, false).unwrap();
        let (mut table, mut whole) = (DeviceTable::new(), Vec::new());
        for &(name, host, port, profile) in devices {
            let d = SharedDevice {
                name,
                host,
                port,
                profile,
            };
            shared.shared(d, &mut table).unwrap();
            whole.extend(alone.device(d.to_device()).unwrap());
        }
        assert_eq!(table.iter().collect::<Vec<_>>(), whole);
        let (_, s) = shared.finish(|_| false).unwrap();
        let (_, w) = alone.finish(|_| false).unwrap();
        assert_eq!(
            (s.host_key_check, s.known_hosts, s.global_known_hosts),
            (w.host_key_check, w.known_hosts, w.global_known_hosts)
        );
        table
    }

    #[test]
    fn shared_profiles_apply_the_config_once_unless_a_host_pattern_tells_hosts_apart() {
        let mut p = Device::new("", "", 0);
        p.username = "admin".into();
        let p = Arc::new(p);
        let mut q = Device::new("", "", 0);
        q.groups = vec!["other".into()];
        let q = Arc::new(q);
        let devices = [
            ("r1", "10.0.0.1", 22, &p),
            ("r2", "10.0.0.2", 22, &p),
            ("r3", "special", 22, &p),
            ("r4", "10.0.0.4", 22, &p),
            ("r5", "10.0.0.5", 2222, &p),
            ("r6", "10.0.0.6", 22, &q),
            ("r7", "special", 22, &q),
        ];
        // `Host special` tells one host apart; `Host *` is the same for all.
        let t = shared_and_alone(
            "Host special\n  Port 2200\n  IdentityFile ~/special\n  StrictHostKeyChecking no\n\
             Host *\n  User cfg\n  ConnectTimeout 7\n  IdentityFile ~/all\n",
            &devices,
        );
        let key = |i: usize| t.device(i).auth;
        assert_eq!((t.port(2), t.port(0), t.port(4)), (2200, 22, 2222));
        assert_ne!(key(2), key(0), "special gets its own key file");
        assert_eq!(key(0), key(3));
        assert_eq!(
            t.device(5).username,
            "cfg",
            "no inventory user: the config's"
        );
        assert_eq!(t.device(0).username, "admin");
        // r1, r2, r4, r5 (a port is the row's): one profile; special apart.
        assert_eq!(t.profiles(), 4);
        // HostName and %h make every host its own.
        let t = shared_and_alone(
            "Host 10.*\n  HostName %h.example\nHost *\n  IdentityFile ~/k-%h\n",
            &devices,
        );
        assert_eq!(t.host(1), "10.0.0.2.example");
        assert_eq!(t.host(2), "special");
        assert_ne!(t.device(0).auth, t.device(1).auth);
    }

    #[test]
    fn precedence_list_then_flags_then_inventory_then_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::write(
            &cfg,
            "Host dev* inv\n  HostName 127.0.0.1\n  Port 2201\n  User cfguser\n  IdentityFile ~/k-%h-%r\n\
             Host *\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 7\n",
        )
        .unwrap();
        let mut a = args(&cfg, "dev1,bob@dev2:2202,dev3");
        a.user = Some("flaguser".into());
        let mut inv = Device::new("inv", "inv", 22);
        inv.username = "invuser".into();
        inv.auth = vec![Auth::Agent];
        let res = resolve(&a, vec![inv], &env(dir.path()), false).unwrap();
        let by: std::collections::HashMap<_, _> =
            res.devices.iter().map(|d| (d.name.as_str(), d)).collect();
        assert_eq!(by["dev1"].host, "127.0.0.1");
        assert_eq!(by["dev1"].port, 2201);
        assert_eq!(by["dev1"].username, "flaguser");
        assert_eq!(by["dev2:2202"].port, 2202);
        assert_eq!(by["dev2:2202"].username, "bob");
        assert_eq!(by["inv"].username, "invuser");
        assert_eq!(
            auth_summary(&by["inv"].auth),
            format!("agent,key:{}/k-127.0.0.1-invuser", dir.path().display())
        );
        assert_eq!(by["inv"].port, 2201);
        assert_eq!(
            auth_summary(&by["dev1"].auth),
            format!("key:{}/k-127.0.0.1-flaguser", dir.path().display())
        );
        assert_eq!(
            by["dev1"].timeouts.connect,
            Some(std::time::Duration::from_secs(7))
        );
        assert_eq!(res.host_key_check, PerRun::One(HostKeyCheck::AcceptNew));
        // --connect-timeout given: the config's ConnectTimeout does not apply.
        let res = resolve(&a, vec![], &env(dir.path()), true).unwrap();
        assert_eq!(res.devices[0].timeouts.connect, None);
    }

    #[test]
    fn exclusion_and_mixed_run_wide_values() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::write(
            &cfg,
            "Host a*\n  StrictHostKeyChecking no\n  UserKnownHostsFile ~/kh1 ~/kh2\n",
        )
        .unwrap();
        let mut a = args(&cfg, "a[1-3],b1");
        a.exclude = vec!["a2".into()];
        let res = resolve(&a, vec![], &env(dir.path()), false).unwrap();
        let names: Vec<&str> = res.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a1", "a3", "b1"]);
        let e = res
            .host_key_check
            .single("StrictHostKeyChecking", "--host-key-check");
        let msg = e.unwrap_err().to_string();
        assert!(
            msg.contains("a1: Off") && msg.contains("b1: unset"),
            "{msg}"
        );
        a.exclude = vec!["b1".into()];
        let res = resolve(&a, vec![], &env(dir.path()), false).unwrap();
        let (w, extra) = res.known_hosts_files().unwrap();
        assert_eq!(w, Some(dir.path().join("kh1")));
        assert_eq!(extra[0], dir.path().join("kh2"));
        assert_eq!(extra[1], Path::new("/etc/ssh/ssh_known_hosts"));
        a.exclude = vec!["a[1-3],b1".into()];
        assert!(resolve(&a, vec![], &env(dir.path()), false).is_err());
    }

    #[test]
    fn proxy_jump_hops_resolve_through_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::write(
            &cfg,
            "Host bastion\n  HostName 127.0.0.9\n  User jumper\n  Port 2222\n\
             Host *.lab\n  ProxyJump bastion,admin@10.0.0.1:23\n",
        )
        .unwrap();
        let mut a = args(&cfg, "r1.lab");
        a.password_env = Some("FLEET_ADHOC_UNIT_PW".into());
        assert!(resolve(&a, vec![], &env(dir.path()), false)
            .unwrap_err()
            .to_string()
            .contains("FLEET_ADHOC_UNIT_PW is not set"));
        a.password_env = None;
        a.key_file = vec![PathBuf::from("/k")];
        let res = resolve(&a, vec![], &env(dir.path()), false).unwrap();
        let d = &res.devices[0];
        assert_eq!(
            jump_summary(&d.jump),
            "jumper@127.0.0.9:2222,admin@10.0.0.1:23"
        );
        assert_eq!(auth_summary(&d.jump[0].auth), "key:/k");
        assert_eq!(d.username, "me");

        // A hop's own ProxyJump comes first; a loop is an error.
        std::fs::write(
            &cfg,
            "Host inner\n  HostName 127.0.0.8\nHost bastion\n  ProxyJump inner\n\
             Host *.lab\n  ProxyJump bastion\nHost loop\n  ProxyJump loop\n",
        )
        .unwrap();
        let res = resolve(&a, vec![], &env(dir.path()), false).unwrap();
        assert_eq!(
            jump_summary(&res.devices[0].jump),
            "me@127.0.0.8:22,me@bastion:22"
        );
        let e = resolve(&args(&cfg, "loop"), vec![], &env(dir.path()), false).unwrap_err();
        assert!(e.to_string().contains("a loop?"), "{e}");
    }
}
