//! Starting and stopping a lab: keys, listeners, inventory, stats.

use crate::counters::{Counters, LiveCounters};
pub use crate::device::LabDevice;
use crate::error::LabError;
use crate::files::write_atomic;
use crate::flavour::Flavour;
use crate::inventory::{self, InventoryPaths};
use crate::keys;
use crate::listen;
use crate::running_config::RunningConfig;
use crate::scenario::{Behaviour, Scenario};
use crate::server::{self, DeviceRuntime, Shared};
use fleet_proto::Secret;
use russh::keys::PrivateKey;
use russh::{MethodKind, MethodSet, SshId};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio::sync::watch;

/// Everything needed to start a lab; [`LabConfig::new`] gives the defaults
/// of `fleet lab`.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Number of devices.
    pub devices: usize,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Allow a non-loopback `bind` (the CLI sets this only for an explicit `--bind`).
    pub allow_non_loopback: bool,
    /// 0: OS-assigned port per device; P: device i listens on P+i.
    pub start_port: u16,
    /// Per-command latency for devices without a scenario override.
    pub latency: Duration,
    /// +- uniform jitter on `latency`.
    pub jitter: Duration,
    /// Scripted behaviours.
    pub scenario: Option<Scenario>,
    /// Seed for host keys, share picks and jitter (else the scenario's, else 0).
    pub seed: Option<u64>,
    /// Where keys, password, known_hosts, inventory and stats go.
    pub state_dir: PathBuf,
    /// Inventory path (default `<state-dir>/inventory.yaml`).
    pub inventory_path: Option<PathBuf>,
    /// Stats path (default `<state-dir>/stats.json`).
    pub stats_path: Option<PathBuf>,
    /// Flavours, assigned round-robin by device index.
    pub flavours: Vec<Flavour>,
    /// Lab password (and enable secret); random when `None`.
    pub password: Option<Secret>,
    /// Also serve an SSH jump host (`lab-jump`).
    pub jump_host: bool,
    /// Tokio worker threads (default: one per core).
    pub threads: Option<usize>,
}

impl LabConfig {
    /// Rejects configurations the lab cannot or must not serve.
    fn validate(&self) -> Result<(), LabError> {
        let bad = |message: String| LabError::Config { message };
        if self.devices == 0 {
            return Err(bad("--devices must be at least 1".to_string()));
        }
        if self.flavours.is_empty() {
            return Err(bad("--flavours must name at least one flavour".to_string()));
        }
        if !self.bind.is_loopback() && !self.allow_non_loopback {
            return Err(bad(format!(
                "refusing to listen on non-loopback address {} without an explicit --bind",
                self.bind
            )));
        }
        if self.start_port != 0 && usize::from(self.start_port) + self.devices > 65536 {
            return Err(bad(format!(
                "--start-port {} + {} devices exceeds port 65535",
                self.start_port, self.devices
            )));
        }
        Ok(())
    }

    /// The `fleet lab` defaults with `devices` devices and state in `state_dir`.
    pub fn new(devices: usize, state_dir: impl Into<PathBuf>) -> Self {
        LabConfig {
            devices,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            allow_non_loopback: false,
            start_port: 0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            scenario: None,
            seed: None,
            state_dir: state_dir.into(),
            inventory_path: None,
            stats_path: None,
            flavours: vec![Flavour::CiscoIos, Flavour::Linux],
            password: None,
            jump_host: false,
            threads: None,
        }
    }
}

/// A running lab. Dropping it shuts it down.
///
/// It owns a tokio runtime, so create and drop it from synchronous code
/// (a plain `#[test]`, or `spawn_blocking` inside async code): tokio
/// panics when a runtime is dropped inside another runtime's async context.
pub struct Lab {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    devices: Vec<LabDevice>,
    state_dir: PathBuf,
    inventory_path: PathBuf,
    stats_path: PathBuf,
    client_key_path: PathBuf,
    password_path: PathBuf,
    jump: Option<SocketAddr>,
    /// Bound-but-not-listening sockets of `refused` devices, kept to hold the ports.
    _refused: Vec<TcpSocket>,
}

/// A device before it is bound: name, flavour, behaviour, role group.
struct Planned {
    name: String,
    flavour: Flavour,
    behaviour: Behaviour,
    role: String,
}

/// Names devices (flavours round-robin), applies the scenario and picks
/// role groups (every 10th device `core`, unless a rule sets `group`).
fn plan(config: &LabConfig, seed: u64) -> Vec<Planned> {
    let named: Vec<(String, Flavour)> = (0..config.devices)
        .map(|i| {
            let flavour = config.flavours[i % config.flavours.len()];
            (format!("lab-{}-{:04}", flavour.short(), i + 1), flavour)
        })
        .collect();
    let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    let behaviours = match &config.scenario {
        Some(s) => s.assign(&names, seed, config.latency, config.jitter),
        None => vec![Behaviour::normal(config.latency, config.jitter); names.len()],
    };
    named
        .into_iter()
        .zip(behaviours)
        .enumerate()
        .map(|(i, ((name, flavour), behaviour))| {
            let role = behaviour
                .group
                .clone()
                .unwrap_or_else(|| if i % 10 == 0 { "core" } else { "access" }.to_string());
            Planned {
                name,
                flavour,
                behaviour,
                role,
            }
        })
        .collect()
}

/// Raises the open-files soft limit to the hard limit: each device holds a
/// listening socket and each session a connection.
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                log::warn!("could not raise RLIMIT_NOFILE to {hard}: {e}");
            }
        }
    }
}

fn ssh_config(flavour: Flavour, key: PrivateKey) -> Arc<russh::server::Config> {
    let id = match flavour {
        Flavour::Linux => "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
        Flavour::JuniperJunos => "SSH-2.0-OpenSSH_7.5",
        _ => "SSH-2.0-Cisco-1.25",
    };
    Arc::new(russh::server::Config {
        server_id: SshId::Standard(Cow::Borrowed(id)),
        methods: MethodSet::from(&[MethodKind::Password, MethodKind::PublicKey][..]),
        // A lab has no timing side channel to hide; a 1 s penalty per
        // rejection would only slow the tests.
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        nodelay: true,
        ..Default::default()
    })
}

fn bind_socket(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // Fixed ports: reuse them right after a previous lab exits (TIME_WAIT).
    // OS-assigned ports: no SO_REUSEADDR, which makes the kernel's free-port
    // search scan every bound socket (seconds for 10,000 devices).
    if addr.port() != 0 {
        socket.set_reuseaddr(true)?;
    }
    socket.bind(addr)?;
    Ok(socket)
}

impl Lab {
    /// Starts the lab on its own tokio runtime: binds every device, writes
    /// keys, password, known_hosts and the inventory (atomically), then
    /// returns. Usable from plain synchronous code.
    pub fn start(config: LabConfig) -> Result<Lab, LabError> {
        config.validate()?;
        raise_nofile_limit();

        std::fs::create_dir_all(&config.state_dir).map_err(LabError::io(format!(
            "failed to create state directory {}",
            config.state_dir.display()
        )))?;
        let state_dir = std::fs::canonicalize(&config.state_dir).map_err(LabError::io(format!(
            "failed to resolve state directory {}",
            config.state_dir.display()
        )))?;
        let password = config
            .password
            .clone()
            .unwrap_or_else(keys::random_password);
        let password_path = state_dir.join("password");
        write_atomic(
            &password_path,
            format!("{}\n", password.expose()).as_bytes(),
            0o600,
        )?;
        let client_key_path = state_dir.join("id_ed25519");
        let client_key = keys::client_key(&client_key_path)?;
        let seed = config
            .seed
            .or(config.scenario.as_ref().and_then(|s| s.seed))
            .unwrap_or(0);

        let plan = plan(&config, seed);
        let group_names: Vec<String> = plan
            .iter()
            .map(|p| p.role.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let names: Vec<String> = plan.iter().map(|p| p.name.clone()).collect();

        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("fleet-lab");
        if let Some(threads) = config.threads {
            builder.worker_threads(threads.max(1));
        }
        let runtime = builder
            .build()
            .map_err(LabError::io("failed to start the lab's tokio runtime"))?;

        let host = if config.bind.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            config.bind.to_string()
        };
        let mut listeners = Vec::new();
        let mut refused = Vec::new();
        let mut devices = Vec::new();
        let mut device_runtimes = Vec::new();
        let mut known_hosts = String::new();
        let _guard = runtime.enter();
        for (i, planned) in plan.into_iter().enumerate() {
            let Planned {
                name,
                flavour,
                behaviour,
                role,
            } = planned;
            let port = if config.start_port == 0 {
                0
            } else {
                config.start_port + i as u16
            };
            let want = SocketAddr::new(config.bind, port);
            let socket =
                bind_socket(want).map_err(LabError::io(format!("failed to bind {want}")))?;
            let addr = socket.local_addr().map_err(LabError::io(format!(
                "failed to read the address of {want}"
            )))?;
            if behaviour.refused {
                refused.push(socket);
            } else {
                let listener = socket
                    .listen(4096)
                    .map_err(LabError::io(format!("failed to listen on {addr}")))?;
                listeners.push((i, listener));
            }
            let key = keys::host_key(seed, &name, 0);
            let host_key = keys::public_openssh(&key)?;
            known_hosts.push_str(&keys::known_hosts_line(&host, addr.port(), &host_key));
            let primary = ssh_config(flavour, key);
            let changed = if behaviour.host_key_change {
                ssh_config(flavour, keys::host_key(seed, &name, 1))
            } else {
                Arc::clone(&primary)
            };
            let group = group_names.iter().position(|g| *g == role).unwrap_or(0);
            device_runtimes.push(Arc::new(DeviceRuntime {
                name: name.clone(),
                flavour,
                group,
                behaviour: behaviour.clone(),
                config: Arc::new(Mutex::new(RunningConfig::initial(&name, flavour))),
                ssh: [primary, changed],
                connections: AtomicU64::new(0),
            }));
            devices.push(LabDevice {
                name,
                flavour,
                host: host.clone(),
                addr,
                groups: vec![role],
                behaviour,
                host_key,
            });
        }

        let (stop, stop_rx) = watch::channel(false);
        let lab_ports: HashSet<u16> = devices.iter().map(|d| d.addr.port()).collect();
        let shared = Arc::new(Shared {
            seed,
            password,
            client_key,
            counters: LiveCounters::new(group_names, names),
            devices: device_runtimes,
            lab_ports,
            shutdown: stop_rx,
        });
        for (i, listener) in listeners {
            runtime.spawn(listen::serve_device(Arc::clone(&shared), i, listener));
        }
        let jump = if config.jump_host {
            let socket = bind_socket(SocketAddr::new(config.bind, 0))
                .map_err(LabError::io("failed to bind the jump host"))?;
            let listener = socket
                .listen(1024)
                .map_err(LabError::io("failed to listen on the jump host"))?;
            let addr = listener
                .local_addr()
                .map_err(LabError::io("failed to read the jump host address"))?;
            let key = keys::host_key(seed, "lab-jump", 0);
            known_hosts.push_str(&keys::known_hosts_line(
                &host,
                addr.port(),
                &keys::public_openssh(&key)?,
            ));
            runtime.spawn(server::serve_jump(
                Arc::clone(&shared),
                listener,
                ssh_config(Flavour::Linux, key),
            ));
            Some(addr)
        } else {
            None
        };
        drop(_guard);

        let known_hosts_path = state_dir.join("known_hosts");
        write_atomic(&known_hosts_path, known_hosts.as_bytes(), 0o644)?;
        let inventory_path = config
            .inventory_path
            .clone()
            .unwrap_or_else(|| state_dir.join("inventory.yaml"));
        let yaml = inventory::render(
            &devices,
            &InventoryPaths {
                known_hosts: &known_hosts_path,
                password: &password_path,
                client_key: &client_key_path,
            },
            jump,
        );
        write_atomic(&inventory_path, yaml.as_bytes(), 0o644)?;
        let stats_path = config
            .stats_path
            .clone()
            .unwrap_or_else(|| state_dir.join("stats.json"));
        Ok(Lab {
            runtime: Some(runtime),
            shared,
            stop,
            devices,
            state_dir,
            inventory_path,
            stats_path,
            client_key_path,
            password_path,
            jump,
            _refused: refused,
        })
    }

    /// The devices, in index order.
    pub fn devices(&self) -> &[LabDevice] {
        &self.devices
    }

    /// The device called `name`.
    pub fn device(&self, name: &str) -> Option<&LabDevice> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// The inventory file written at start.
    pub fn inventory_path(&self) -> &Path {
        &self.inventory_path
    }

    /// The absolute state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Where stats are written on SIGUSR1 and exit.
    pub fn stats_path(&self) -> &Path {
        &self.stats_path
    }

    /// The private key public-key auth accepts.
    pub fn client_key_path(&self) -> &Path {
        &self.client_key_path
    }

    /// The file holding the lab password (0600).
    pub fn password_path(&self) -> &Path {
        &self.password_path
    }

    /// The lab password (also the enable secret).
    pub fn password(&self) -> &Secret {
        &self.shared.password
    }

    /// The jump host's address, when enabled.
    pub fn jump_host(&self) -> Option<SocketAddr> {
        self.jump
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Writes the counters to the stats file (atomically) and returns them.
    pub fn write_stats(&self) -> Result<Counters, LabError> {
        let counters = self.counters();
        write_stats(&self.stats_path, &counters)?;
        Ok(counters)
    }

    /// Installs the SIGINT, SIGTERM and SIGUSR1 handlers, calls `ready`
    /// (so a SIGUSR1 sent right after the ready line is never fatal), then
    /// blocks until SIGINT or SIGTERM; on SIGUSR1 it writes the stats file
    /// and prints the JSON summary to stderr, and keeps running.
    pub fn run_until_signal(
        &self,
        ready: impl FnOnce() -> Result<(), LabError>,
    ) -> Result<(), LabError> {
        use tokio::signal::unix::{signal, SignalKind};
        let Some(runtime) = &self.runtime else {
            return ready();
        };
        let _context = runtime.enter();
        let sig = |kind: SignalKind, name: &str| {
            signal(kind).map_err(LabError::io(format!(
                "failed to install the {name} handler"
            )))
        };
        let mut int = sig(SignalKind::interrupt(), "SIGINT")?;
        let mut term = sig(SignalKind::terminate(), "SIGTERM")?;
        let mut usr1 = sig(SignalKind::user_defined1(), "SIGUSR1")?;
        ready()?;
        runtime.block_on(async {
            loop {
                tokio::select! {
                    _ = int.recv() => return Ok(()),
                    _ = term.recv() => return Ok(()),
                    _ = usr1.recv() => {
                        let counters = self.write_stats()?;
                        eprintln!("{}", summary_json(&counters));
                    }
                }
            }
        })
    }

    /// Stops every listener and session, writes the stats file and returns
    /// the final counters.
    pub fn shutdown(mut self) -> Result<Counters, LabError> {
        self.stop_runtime();
        self.write_stats()
    }

    fn stop_runtime(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_runtime();
    }
}

/// The one-line JSON summary.
pub(crate) fn summary_json(counters: &Counters) -> String {
    serde_json::to_string(counters).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn write_stats(path: &Path, counters: &Counters) -> Result<(), LabError> {
    let json = serde_json::to_string_pretty(counters).map_err(|e| LabError::Io {
        what: "failed to encode stats".to_string(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(path, format!("{json}\n").as_bytes(), 0o644)
}
