//! The SSH side: a russh handler per connection ([`crate::listen`] accepts
//! them), a task per channel that runs exec commands or the interactive
//! shell, and the state every connection shares.

use crate::counters::LiveCounters;
use crate::flavour::Flavour;
use crate::hash::seeded;
use crate::outputs::run_command;
use crate::running_config::RunningConfig;
use crate::scenario::Behaviour;
use crate::shell::{Shell, ShellEvent};
use fleet_proto::Secret;
use rand::{Rng, SeedableRng};
use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Handle, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, Disconnect};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Login name every lab device accepts.
pub const USERNAME: &str = "admin";

/// Size of each chunk when streaming large outputs.
const CHUNK: usize = 64 * 1024;

/// One simulated device while the lab runs.
pub(crate) struct DeviceRuntime {
    /// Device name and initial hostname.
    pub name: String,
    /// Which CLI it imitates.
    pub flavour: Flavour,
    /// Role group id in the counters.
    pub group: usize,
    /// Scripted behaviour.
    pub behaviour: Behaviour,
    /// Running config, edited by shell sessions.
    pub config: Arc<Mutex<RunningConfig>>,
    /// SSH configs: `[normal host key, changed host key]`.
    pub ssh: [Arc<russh::server::Config>; 2],
    /// Connections so far, for the host-key-change scenario.
    pub connections: AtomicU64,
}

/// State every connection task shares.
pub(crate) struct Shared {
    /// Lab seed, for reproducible jitter.
    pub seed: u64,
    /// What password auth and `enable` accept.
    pub password: Secret,
    /// The client key public-key auth accepts.
    pub client_key: PublicKey,
    /// What the lab saw.
    pub counters: LiveCounters,
    /// All devices, by index.
    pub devices: Vec<Arc<DeviceRuntime>>,
    /// Ports the jump host may forward to.
    pub lab_ports: HashSet<u16>,
    /// Flips to `true` when the lab stops.
    pub shutdown: watch::Receiver<bool>,
}

/// Waits until the lab shuts down.
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means "stop".
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Accepts connections for the jump host until shutdown.
pub(crate) async fn serve_jump(
    shared: Arc<Shared>,
    listener: TcpListener,
    config: Arc<russh::server::Config>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => if let Ok((stream, _)) = accepted {
                let shared = Arc::clone(&shared);
                let config = Arc::clone(&config);
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let handler = LabHandler::new(Arc::clone(&shared), None, 0);
                    if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                        tokio::select! {
                            _ = session => {}
                            _ = stopped(shared.shutdown.clone()) => {}
                        }
                    }
                });
            },
            _ = stopped(shared.shutdown.clone()) => return,
        }
    }
}

/// Seed of connection `nth` to device `name`: jitter is reproducible per seed.
pub(crate) fn session_seed(seed: u64, name: &str, nth: u64) -> u64 {
    seeded(seed, &format!("{name}/{nth}"))
}

/// Per-connection russh handler; `device` is `None` on the jump host.
pub(crate) struct LabHandler {
    shared: Arc<Shared>,
    device: Option<usize>,
    /// Whether this connection was counted as a completed handshake.
    handshake_counted: bool,
    /// Seed for this connection's latency jitter.
    rng_seed: u64,
}

impl LabHandler {
    pub(crate) fn new(shared: Arc<Shared>, device: Option<usize>, nth: u64) -> Self {
        let name = device
            .map(|i| shared.devices[i].name.as_str())
            .unwrap_or("lab-jump");
        let rng_seed = session_seed(shared.seed, name, nth);
        LabHandler {
            shared,
            device,
            handshake_counted: false,
            rng_seed,
        }
    }

    /// The first auth request proves the key exchange finished.
    fn handshake_done(&mut self) {
        if !self.handshake_counted {
            self.handshake_counted = true;
            self.shared.counters.handshake();
        }
    }

    fn rejects_all(&self) -> bool {
        self.device
            .is_some_and(|i| self.shared.devices[i].behaviour.auth_fail)
    }

    fn verdict(&self, ok: bool) -> Auth {
        self.shared.counters.auth(ok);
        if ok {
            Auth::Accept
        } else {
            Auth::reject()
        }
    }
}

impl russh::server::Handler for LabHandler {
    type Error = russh::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        let escapes = self
            .device
            .is_some_and(|i| self.shared.devices[i].behaviour.escapes);
        Ok(escapes.then(crate::escapes::banner))
    }

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        self.handshake_done();
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.handshake_done();
        let ok =
            !self.rejects_all() && user == USERNAME && password == self.shared.password.expose();
        Ok(self.verdict(ok))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.handshake_done();
        if !self.rejects_all()
            && user == USERNAME
            && offer.public_key.key_data() == self.shared.client_key.key_data()
        {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.handshake_done();
        let ok = !self.rejects_all()
            && user == USERNAME
            && key.public_key.key_data() == self.shared.client_key.key_data();
        Ok(self.verdict(ok))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(index) = self.device else {
            // The jump host only forwards.
            return Ok(());
        };
        self.shared.counters.channel();
        reply.accept().await;
        let shared = Arc::clone(&self.shared);
        let handle = session.handle();
        let rng = rand::rngs::StdRng::seed_from_u64(self.rng_seed);
        self.rng_seed = self.rng_seed.wrapping_add(1);
        tokio::spawn(run_channel(shared, index, channel, handle, rng));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let loopback = host_to_connect == "localhost"
            || host_to_connect
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let port = u16::try_from(port_to_connect).ok();
        let allowed = self.device.is_none()
            && loopback
            && port.is_some_and(|p| self.shared.lab_ports.contains(&p));
        let Some(port) = port.filter(|_| allowed) else {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let target = match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(t) => t,
            Err(_) => {
                reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
                return Ok(());
            }
        };
        reply.accept().await;
        self.shared.counters.channel();
        tokio::spawn(async move {
            let mut target = target;
            let mut stream = channel.into_stream();
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut target).await;
        });
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }
}

/// Sends bytes on a channel (respecting its window) and counts them.
async fn send(shared: &Shared, channel: &Channel<Msg>, ext: Option<u32>, bytes: Vec<u8>) -> bool {
    if bytes.is_empty() {
        return true;
    }
    let len = bytes.len();
    let result = match ext {
        None => channel.data_bytes(bytes).await,
        Some(ext) => channel.extended_data_bytes(ext, bytes).await,
    };
    if result.is_ok() {
        shared.counters.sent(len);
    }
    result.is_ok()
}

/// Waits the behaviour's command latency +- jitter.
async fn command_delay(behaviour: &Behaviour, rng: &mut rand::rngs::StdRng) {
    let base = behaviour.latency.as_micros() as i128;
    let jitter = behaviour.jitter.as_micros() as i128;
    let offset = if jitter > 0 {
        rng.random_range(-jitter..=jitter)
    } else {
        0
    };
    let micros = (base + offset).max(0) as u64;
    if micros > 0 {
        tokio::time::sleep(Duration::from_micros(micros)).await;
    }
}

/// Serves one session channel: waits for exec or shell and runs it.
async fn run_channel(
    shared: Arc<Shared>,
    index: usize,
    mut channel: Channel<Msg>,
    handle: Handle,
    mut rng: rand::rngs::StdRng,
) {
    let dev = Arc::clone(&shared.devices[index]);
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Exec { command, .. } => {
                let command = String::from_utf8_lossy(&command).into_owned();
                exec(&shared, &dev, &channel, &handle, &mut rng, &command).await;
                return;
            }
            ChannelMsg::RequestShell { .. } => {
                shell(&shared, &dev, &mut channel, &mut rng).await;
                return;
            }
            ChannelMsg::Eof | ChannelMsg::Close => return,
            _ => {}
        }
    }
}

/// Runs one exec command: output, exit status, EOF, close.
async fn exec(
    shared: &Shared,
    dev: &DeviceRuntime,
    channel: &Channel<Msg>,
    handle: &Handle,
    rng: &mut rand::rngs::StdRng,
    command: &str,
) {
    shared.counters.command();
    command_delay(&dev.behaviour, rng).await;
    let (stdout, stderr, status) = match dev.behaviour.large_output {
        Some(total) => {
            if !stream_large(shared, dev, channel, handle, total).await {
                return;
            }
            (Vec::new(), Vec::new(), 0)
        }
        None => {
            let config = match dev.config.lock() {
                Ok(mut c) => {
                    c.settle(std::time::Instant::now());
                    c.clone()
                }
                Err(_) => RunningConfig::initial(&dev.name, dev.flavour),
            };
            let r = run_command(&dev.name, dev.flavour, command, &config);
            if dev.behaviour.escapes {
                let r = crate::escapes::command(r, dev.flavour, command);
                (
                    crate::escapes::exec_stdout(&r),
                    r.stderr.into_bytes(),
                    r.exit_status,
                )
            } else {
                (r.stdout.into_bytes(), r.stderr.into_bytes(), r.exit_status)
            }
        }
    };
    if dev.behaviour.disconnect_mid_output && dev.behaviour.large_output.is_none() {
        let half = stdout.len() / 2;
        send(shared, channel, None, stdout[..half].to_vec()).await;
        drop_connection(handle).await;
        return;
    }
    let _ =
        send(shared, channel, None, stdout).await && send(shared, channel, Some(1), stderr).await;
    let _ = channel.exit_status(status).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

async fn drop_connection(handle: &Handle) {
    let _ = handle
        .disconnect(
            Disconnect::ConnectionLost,
            "fleet lab: disconnect mid-output".to_string(),
            String::new(),
        )
        .await;
}

/// Streams `total` bytes of [`large_output_line`]s in window-sized chunks;
/// false when the connection was dropped on purpose or by the client.
async fn stream_large(
    shared: &Shared,
    dev: &DeviceRuntime,
    channel: &Channel<Msg>,
    handle: &Handle,
    total: u64,
) -> bool {
    let stop_at = if dev.behaviour.disconnect_mid_output {
        total / 2
    } else {
        total
    };
    let mut sent: u64 = 0;
    let mut line_no: u64 = 0;
    let mut buf = Vec::with_capacity(CHUNK + 128);
    while sent < stop_at {
        while buf.len() < CHUNK {
            buf.extend_from_slice(large_output_line(&dev.name, line_no).as_bytes());
            line_no += 1;
        }
        let take = (stop_at - sent).min(CHUNK as u64) as usize;
        let rest = buf.split_off(take);
        let chunk = std::mem::replace(&mut buf, rest);
        sent += chunk.len() as u64;
        if !send(shared, channel, None, chunk).await {
            return false;
        }
    }
    if dev.behaviour.disconnect_mid_output {
        drop_connection(handle).await;
        return false;
    }
    true
}

/// Line `n` (0-based) of a large output: a device's large output is these
/// lines concatenated, cut at the configured size.
pub fn large_output_line(device_name: &str, n: u64) -> String {
    format!("{device_name} large output line {n:010} 0123456789abcdefghijklmnopqrstuvwxyz\n")
}

/// Where a shell session's bytes go: an SSH channel or a telnet socket.
pub(crate) enum ShellSink<'a> {
    /// SSH session channel (window-aware).
    Ssh(&'a Channel<Msg>),
    /// Telnet: the TCP write half.
    Telnet(&'a mut tokio::net::tcp::OwnedWriteHalf),
}

impl ShellSink<'_> {
    /// Sends bytes and counts them; false when the peer is gone.
    pub(crate) async fn write(&mut self, shared: &Shared, bytes: Vec<u8>) -> bool {
        match self {
            ShellSink::Ssh(channel) => send(shared, channel, None, bytes).await,
            ShellSink::Telnet(w) => {
                use tokio::io::AsyncWriteExt;
                let len = bytes.len();
                let ok = w.write_all(&bytes).await.is_ok();
                if ok {
                    shared.counters.sent(len);
                }
                ok
            }
        }
    }
}

/// Plays shell events: echo now, command output after the latency.
/// Returns false when the session must end (logout or peer gone); on
/// logout over SSH it also sends exit status, EOF and close.
pub(crate) async fn play_shell_events(
    shared: &Shared,
    dev: &DeviceRuntime,
    rng: &mut rand::rngs::StdRng,
    events: Vec<ShellEvent>,
    sink: &mut ShellSink<'_>,
) -> bool {
    for event in events {
        let ok = match event {
            ShellEvent::Echo(bytes) => sink.write(shared, bytes).await,
            ShellEvent::Output(bytes) => {
                shared.counters.command();
                command_delay(&dev.behaviour, rng).await;
                sink.write(shared, bytes).await
            }
            ShellEvent::Close => {
                if let ShellSink::Ssh(channel) = sink {
                    let _ = channel.exit_status(0).await;
                    let _ = channel.eof().await;
                    let _ = channel.close().await;
                }
                return false;
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A new CLI for a session on `dev`.
pub(crate) fn new_shell(shared: &Shared, dev: &DeviceRuntime) -> Shell {
    Shell::new(
        &dev.name,
        dev.flavour,
        Arc::clone(&dev.config),
        shared.password.clone(),
    )
    .with_escapes(dev.behaviour.escapes)
    .with_sticky_end(dev.behaviour.sticky_config_mode)
}

/// Runs the interactive shell until the client logs out or closes.
async fn shell(
    shared: &Shared,
    dev: &DeviceRuntime,
    channel: &mut Channel<Msg>,
    rng: &mut rand::rngs::StdRng,
) {
    let mut cli = new_shell(shared, dev);
    if !send(shared, channel, None, cli.greeting()).await {
        return;
    }
    while let Some(msg) = channel.wait().await {
        let data = match msg {
            ChannelMsg::Data { data } => data,
            ChannelMsg::Eof | ChannelMsg::Close => return,
            _ => continue,
        };
        let events = cli.feed(&data);
        if !play_shell_events(shared, dev, rng, events, &mut ShellSink::Ssh(channel)).await {
            return;
        }
    }
}
