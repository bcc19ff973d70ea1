//! Jump hosts (`ProxyJump`): reach a device through one or more SSH hops.
//!
//! Each hop is one SSH session, shared by every thread of the worker that
//! goes through it (the [`Pool`]). A hop's session belongs to one pump
//! thread: device threads ask it to open a `direct-tcpip` channel to the
//! next hop or device, and get back one end of a `UnixStream` pair whose
//! other end the pump bridges to the channel. The device's own libssh2
//! session then runs over that stream as if it were TCP. Only the pump
//! calls into the hop's libssh2 session, non-blocking, so hundreds of
//! bridged sessions share it without holding each other up.

use crate::budget::{Budget, Limit};
use crate::context::Context;
use crate::error::Failure;
use crate::ssh::{authenticate, handshake, Connected};
use crate::tcp;
use crate::wait::would_block;
use fleet_proto::device::host_port;
use fleet_proto::{JumpHost, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use ssh2::{Channel, ErrorCode};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// libssh2's "would block".
const EAGAIN: i32 = -37;
/// Session-level socket errors: the hop is gone.
const DEAD: [i32; 4] = [-43, -13, -7, -45];
/// Longest pump sleep (also the keepalive check interval).
const PUMP_TICK: Duration = Duration::from_millis(500);
/// Keepalive interval on hop sessions, seconds.
const KEEPALIVE_SECS: u32 = 30;

/// Pooled jump-host sessions of a [`Context`], keyed by the hop chain.
#[derive(Default)]
pub(crate) struct Pool {
    slots: Mutex<HashMap<String, Slot>>,
}

/// One hop's place in the pool: locked while it is being connected.
type Slot = Arc<Mutex<Option<Arc<Hop>>>>;

/// A live hop: where to send channel requests.
struct Hop {
    requests: Mutex<Sender<OpenRequest>>,
    waker: UnixStream,
    alive: Arc<AtomicBool>,
    name: String,
}

struct OpenRequest {
    host: String,
    port: u16,
    deadline: Option<Instant>,
    reply: Sender<Result<UnixStream, Failure>>,
}

fn hop_key(hops: &[JumpHost]) -> String {
    hops.iter()
        .map(|h| format!("{}@{}:{}", h.username, h.host, h.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// Opens a stream to `host:port` through `hops` (first hop first).
pub(crate) fn open_stream(
    ctx: &Context,
    hops: &[JumpHost],
    host: &str,
    port: u16,
    budget: &Budget,
) -> Result<UnixStream, Failure> {
    let hop = get_hop(ctx, hops, budget)?;
    hop.open(host, port, &budget.command())
}

/// The pooled session for the last hop of `hops`, connecting it (and the
/// hops before it) if needed.
fn get_hop(ctx: &Context, hops: &[JumpHost], budget: &Budget) -> Result<Arc<Hop>, Failure> {
    let key = hop_key(hops);
    let slot = {
        let mut slots = ctx.jumps.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key).or_default().clone()
    };
    // One thread connects a hop; others wanting the same hop wait for it.
    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(hop) = guard.as_ref() {
        if hop.alive.load(Ordering::Acquire) {
            return Ok(hop.clone());
        }
    }
    let (last, before) = hops
        .split_last()
        .ok_or_else(|| Failure::new(Status::ProtocolError, "empty jump host list"))?;
    let hop = Arc::new(connect_hop(ctx, before, last, budget)?);
    *guard = Some(hop.clone());
    Ok(hop)
}

fn connect_hop(
    ctx: &Context,
    before: &[JumpHost],
    hop: &JumpHost,
    budget: &Budget,
) -> Result<Hop, Failure> {
    let name = host_port(&hop.host, hop.port);
    let prefix = |f: Failure| Failure::new(f.status, format!("jump host {name}: {}", f.message));
    let t0 = Instant::now();
    let conn = if before.is_empty() {
        let stream = tcp::connect(&hop.host, hop.port, budget).map_err(prefix)?;
        handshake(stream, &hop.host, hop.port, budget, &ctx.host_keys()).map_err(prefix)?
    } else {
        let stream = open_stream(ctx, before, &hop.host, hop.port, budget)?;
        handshake(stream, &hop.host, hop.port, budget, &ctx.host_keys()).map_err(prefix)?
    };
    authenticate(&conn, &hop.username, &hop.auth, budget).map_err(prefix)?;
    log::info!(
        "jump host {name} connected in {:.1} ms",
        crate::budget::ms(t0.elapsed())
    );
    conn.sess.set_keepalive(false, KEEPALIVE_SECS);
    conn.sess.set_blocking(false);
    let (tx, rx) = mpsc::channel();
    let (waker, wake_rx) = UnixStream::pair().map_err(|e| {
        Failure::new(
            Status::ProtocolError,
            format!("jump host {name}: socketpair: {e}"),
        )
    })?;
    wake_rx
        .set_nonblocking(true)
        .map_err(|e| Failure::new(Status::ProtocolError, format!("jump host {name}: {e}")))?;
    let alive = Arc::new(AtomicBool::new(true));
    let pump = Pump {
        conn,
        requests: rx,
        waker: wake_rx,
        alive: alive.clone(),
        name: name.clone(),
        pending: VecDeque::new(),
        bridges: Vec::new(),
    };
    std::thread::Builder::new()
        .name(format!("jump-{name}"))
        .spawn(move || pump.run())
        .map_err(|e| {
            Failure::new(
                Status::ProtocolError,
                format!("jump host {name}: spawn pump: {e}"),
            )
        })?;
    Ok(Hop {
        requests: Mutex::new(tx),
        waker,
        alive,
        name,
    })
}

impl Hop {
    /// Asks the pump for a bridged channel to `host:port`.
    fn open(&self, host: &str, port: u16, limit: &Limit) -> Result<UnixStream, Failure> {
        let during = format!(
            "opening a channel to {} through jump host {}",
            host_port(host, port),
            self.name
        );
        let (reply, answer) = mpsc::channel();
        let req = OpenRequest {
            host: host.to_string(),
            port,
            deadline: limit.end,
            reply,
        };
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(req);
        if sent.is_err() {
            self.alive.store(false, Ordering::Release);
            return Err(Failure::new(
                Status::ProtocolError,
                format!("{during}: jump session is gone"),
            ));
        }
        let _ = (&self.waker).write(&[1]);
        let got = match limit.remaining(&during)? {
            Some(left) => answer.recv_timeout(left),
            None => answer.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match got {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(limit.expired(&during)),
            Err(RecvTimeoutError::Disconnected) => Err(Failure::new(
                Status::ProtocolError,
                format!("{during}: jump session is gone"),
            )),
        }
    }
}

/// One channel bridged to a local socket.
struct Bridge {
    ch: Channel,
    local: UnixStream,
    to_local: Vec<u8>,
    to_remote: Vec<u8>,
    local_eof: bool,
    remote_eof: bool,
    /// The device closed its side; EOF still to be sent on the channel.
    eof_pending: bool,
}

/// The thread that owns a hop's session.
struct Pump {
    conn: Connected,
    requests: Receiver<OpenRequest>,
    waker: UnixStream,
    alive: Arc<AtomicBool>,
    name: String,
    pending: VecDeque<OpenRequest>,
    bridges: Vec<Bridge>,
}

impl Pump {
    fn run(mut self) {
        let mut buf = vec![0u8; 32 * 1024];
        let mut senders_gone = false;
        loop {
            loop {
                match self.requests.try_recv() {
                    Ok(r) => self.pending.push_back(r),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        senders_gone = true;
                        break;
                    }
                }
            }
            if senders_gone && self.pending.is_empty() && self.bridges.is_empty() {
                break;
            }
            let mut progressed = self.open_pending();
            let mut i = 0;
            while i < self.bridges.len() {
                match pump_bridge(&mut self.bridges[i], &mut buf) {
                    Ok(p) => progressed |= p,
                    Err(e) => log::debug!("jump host {}: channel ended: {e}", self.name),
                }
                let b = &self.bridges[i];
                // The far end closed and the device has everything it sent.
                if b.remote_eof && b.to_local.is_empty() {
                    let mut b = self.bridges.swap_remove(i);
                    let _ = b.ch.close();
                    progressed = true;
                } else {
                    i += 1;
                }
            }
            if self.session_dead() {
                log::warn!("jump host {}: session lost", self.name);
                break;
            }
            if !progressed {
                self.wait();
            }
        }
        self.alive.store(false, Ordering::Release);
        for req in self.pending.drain(..) {
            let _ = req.reply.send(Err(Failure::new(
                Status::ProtocolError,
                format!("jump host {}: session lost", self.name),
            )));
        }
    }

    fn session_dead(&self) -> bool {
        match ssh2::Error::last_session_error(&self.conn.sess) {
            Some(e) => matches!(e.code(), ErrorCode::Session(c) if DEAD.contains(&c)),
            None => false,
        }
    }

    /// Works on the oldest channel request (libssh2 opens one at a time).
    fn open_pending(&mut self) -> bool {
        let Some(req) = self.pending.front() else {
            return false;
        };
        if req.deadline.is_some_and(|d| Instant::now() >= d) {
            self.pending.pop_front();
            return true;
        }
        let opened = self
            .conn
            .sess
            .channel_direct_tcpip(&req.host, req.port, None);
        let result = match opened {
            Err(e) if e.code() == ErrorCode::Session(EAGAIN) => return false,
            Err(e) => Err(Failure::new(
                Status::ConnectFailed,
                format!(
                    "jump host {} could not open a channel to {}: {}",
                    self.name,
                    host_port(&req.host, req.port),
                    e.message()
                ),
            )),
            Ok(ch) => match UnixStream::pair().and_then(|(ours, theirs)| {
                ours.set_nonblocking(true)?;
                Ok((ours, theirs))
            }) {
                Ok((ours, theirs)) => {
                    self.bridges.push(Bridge {
                        ch,
                        local: ours,
                        to_local: Vec::new(),
                        to_remote: Vec::new(),
                        local_eof: false,
                        remote_eof: false,
                        eof_pending: false,
                    });
                    Ok(theirs)
                }
                Err(e) => Err(Failure::new(
                    Status::ProtocolError,
                    format!("socketpair: {e}"),
                )),
            },
        };
        if let Some(req) = self.pending.pop_front() {
            if req.reply.send(result).is_err() {
                // The requester gave up: drop its bridge (if any) with it.
                if let Some(mut b) = self.bridges.pop() {
                    let _ = b.ch.close();
                }
            }
        }
        true
    }

    /// Sleeps until the session socket, a local socket or the waker is
    /// ready, or a tick passes (keepalives are sent from here).
    fn wait(&mut self) {
        let tick = match self.conn.sess.keepalive_send() {
            Ok(secs) => Duration::from_secs(u64::from(secs.max(1))).min(PUMP_TICK),
            Err(_) => PUMP_TICK,
        };
        let sess_flags = match self.conn.sess.block_directions() {
            ssh2::BlockDirections::Outbound => PollFlags::POLLIN | PollFlags::POLLOUT,
            ssh2::BlockDirections::Both => PollFlags::POLLIN | PollFlags::POLLOUT,
            _ => PollFlags::POLLIN,
        };
        // SAFETY: the session owns its socket for the pump's whole life.
        let sess_fd = unsafe { BorrowedFd::borrow_raw(self.conn.fd) };
        let mut fds = vec![
            PollFd::new(sess_fd, sess_flags),
            PollFd::new(self.waker.as_fd(), PollFlags::POLLIN),
        ];
        for b in &self.bridges {
            let mut flags = PollFlags::empty();
            if !b.local_eof && b.to_remote.is_empty() {
                flags |= PollFlags::POLLIN;
            }
            if !b.to_local.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(b.local.as_fd(), flags));
        }
        let ms = u16::try_from(tick.as_millis()).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
        let mut sink = [0u8; 64];
        while matches!((&self.waker).read(&mut sink), Ok(n) if n > 0) {}
    }
}

/// Moves bytes both ways once; returns whether anything moved.
fn pump_bridge(b: &mut Bridge, buf: &mut [u8]) -> io::Result<bool> {
    let mut progressed = false;
    // Remote -> local.
    if b.to_local.is_empty() && !b.remote_eof {
        match b.ch.read(buf) {
            Ok(0) => {
                b.remote_eof = true;
                let _ = b.local.shutdown(Shutdown::Write);
                progressed = true;
            }
            Ok(n) => {
                b.to_local.extend_from_slice(&buf[..n]);
                progressed = true;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                b.remote_eof = true;
                b.local_eof = true;
                b.to_local.clear();
                b.to_remote.clear();
                return Err(e);
            }
        }
    }
    if !b.to_local.is_empty() {
        match b.local.write(&b.to_local) {
            Ok(n) => {
                b.to_local.drain(..n);
                progressed = true;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                // The device session went away: stop both directions.
                b.to_local.clear();
                b.local_eof = true;
                b.remote_eof = true;
                b.to_remote.clear();
                return Err(e);
            }
        }
    }
    // Local -> remote.
    if b.to_remote.is_empty() && !b.local_eof {
        match b.local.read(buf) {
            Ok(0) => {
                b.local_eof = true;
                b.eof_pending = true;
                progressed = true;
            }
            Ok(n) => {
                b.to_remote.extend_from_slice(&buf[..n]);
                progressed = true;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                b.local_eof = true;
                return Err(e);
            }
        }
    }
    if !b.to_remote.is_empty() {
        match b.ch.write(&b.to_remote) {
            Ok(n) => {
                b.to_remote.drain(..n);
                progressed = true;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                b.to_remote.clear();
                b.local_eof = true;
                b.remote_eof = true;
                return Err(e);
            }
        }
    }
    if b.eof_pending && b.to_remote.is_empty() {
        match b.ch.send_eof() {
            Ok(()) => {
                b.eof_pending = false;
                progressed = true;
            }
            Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {}
            Err(e) => {
                b.eof_pending = false;
                b.remote_eof = true;
                return Err(e.into());
            }
        }
    }
    Ok(progressed)
}
