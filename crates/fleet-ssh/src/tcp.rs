//! TCP connect: resolve the name within the connect limit, then try each
//! address in turn, each with its share of what is left of the limit.

use crate::budget::{human, Budget, Limit};
use crate::error::Failure;
use fleet_proto::Status;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::time::Duration;

/// Connects to `host:port`, trying each resolved address in order.
///
/// `host` may be a name, an IPv4 or IPv6 literal, or an IPv6 literal in
/// brackets (`[::1]`, as in URLs and OpenSSH's `[host]:port`).
pub(crate) fn connect(host: &str, port: u16, budget: &Budget) -> Result<TcpStream, Failure> {
    let limit = budget.connect();
    let addrs = resolve(host, port, &limit)?;
    connect_any(host, port, &addrs, &limit)
}

/// `[::1]` -> `::1`; anything else unchanged.
pub(crate) fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The addresses of `host`. A literal needs no lookup; a name is looked up
/// on a helper thread, because getaddrinfo(3) has no timeout and cannot be
/// cancelled: the session stops waiting when the connect limit runs out,
/// and the lookup ends on its own later.
fn resolve(host: &str, port: u16, limit: &Limit) -> Result<Vec<SocketAddr>, Failure> {
    let name = unbracket(host);
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let during = format!("resolve {name}");
    let (tx, rx) = mpsc::channel();
    let owned = name.to_string();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let found = (owned.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(found);
        })
        .map_err(|e| Failure::new(Status::ConnectFailed, format!("{during}: {e}")))?;
    let found = match limit.remaining(&during)? {
        Some(left) => rx.recv_timeout(left).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => limit.expired(&during),
            mpsc::RecvTimeoutError::Disconnected => {
                Failure::new(Status::ConnectFailed, format!("{during}: lookup failed"))
            }
        })?,
        None => rx
            .recv()
            .map_err(|_| Failure::new(Status::ConnectFailed, format!("{during}: lookup failed")))?,
    };
    let addrs = found.map_err(|e| Failure::new(Status::ConnectFailed, format!("{during}: {e}")))?;
    if addrs.is_empty() {
        return Err(Failure::new(
            Status::ConnectFailed,
            format!("{during}: no addresses"),
        ));
    }
    Ok(addrs)
}

/// The time one connect attempt may take when `addresses_left` addresses
/// (this one included) share `left`: an equal share, so a dead first
/// address cannot use up the whole limit; the last one gets all that is
/// left.
pub(crate) fn attempt_time(left: Duration, addresses_left: usize) -> Duration {
    let n = u32::try_from(addresses_left.max(1)).unwrap_or(u32::MAX);
    left / n
}

/// Tries each address in turn within the connect limit.
fn connect_any(
    host: &str,
    port: u16,
    addrs: &[SocketAddr],
    limit: &Limit,
) -> Result<TcpStream, Failure> {
    let mut last: Option<Failure> = None;
    for (i, addr) in addrs.iter().enumerate() {
        let during = format!("connect to {addr}");
        let left = limit.remaining(&during)?;
        let attempt = match left {
            Some(left) => {
                let slice = attempt_time(left, addrs.len() - i).max(Duration::from_millis(1));
                TcpStream::connect_timeout(addr, slice).map_err(|e| (e, Some(slice)))
            }
            None => TcpStream::connect(addr).map_err(|e| (e, None)),
        };
        match attempt {
            Ok(stream) => {
                // Small request/response packets: no Nagle delays.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err((e, slice))
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                last = Some(if i + 1 == addrs.len() {
                    limit.expired(&during)
                } else {
                    let waited = slice.map(human).unwrap_or_default();
                    log::debug!("{during}: no answer within {waited}; trying the next address");
                    Failure::new(
                        Status::ConnectFailed,
                        format!("{during}: no answer within {waited}"),
                    )
                });
            }
            Err((e, _)) => {
                last = Some(Failure::new(
                    Status::ConnectFailed,
                    format!("{during}: {e}"),
                ));
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Failure::new(
            Status::ConnectFailed,
            format!("connect to {}", fleet_proto::device::host_port(host, port)),
        )
    }))
}

/// Holds the socket's writes back (`on`), or sends what is held (`off`).
///
/// A session's goodbye is four small writes in a row that need no answer:
/// the channel's EOF and CLOSE, SSH_MSG_DISCONNECT and the FIN. Sent one
/// by one (the socket has `TCP_NODELAY`), they are four segments the device
/// receives, acknowledges and wakes up for; held, `close(2)` sends them as
/// one. Nothing may wait for the peer while writes are held (Linux sends
/// them after 200 ms anyway). Best effort: a stream that is not TCP (a jump
/// host's forwarded channel) is left as it is.
pub(crate) fn hold_writes(fd: RawFd, on: bool) {
    #[cfg(target_os = "linux")]
    {
        let value: nix::libc::c_int = on.into();
        // SAFETY: `fd` is the session's open socket for the whole call, and
        // `value` outlives it; setsockopt(2) only reads `size_of` bytes.
        let rc = unsafe {
            nix::libc::setsockopt(
                fd,
                nix::libc::IPPROTO_TCP,
                nix::libc::TCP_CORK,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
            )
        };
        if rc != 0 {
            log::trace!("TCP_CORK {on} not set: {}", io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, on);
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::Timeouts;

    fn budget(connect: Duration) -> Budget {
        Budget::new(Timeouts {
            connect: Some(connect),
            command: None,
            session: None,
        })
    }

    /// `tcpi_segs_in` and `tcpi_notsent_bytes` of a socket (Linux's
    /// `struct tcp_info`, offsets 140 and 144 since Linux 4.6).
    #[cfg(target_os = "linux")]
    fn tcp_info(s: &TcpStream) -> (u32, u32) {
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 232];
        let mut len = buf.len() as nix::libc::socklen_t;
        // SAFETY: the buffer and its length outlive the call; the kernel
        // writes at most `len` bytes.
        let rc = unsafe {
            nix::libc::getsockopt(
                s.as_raw_fd(),
                nix::libc::IPPROTO_TCP,
                nix::libc::TCP_INFO,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
        assert!(len >= 148, "this kernel's tcp_info is too short ({len})");
        let at = |i: usize| u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap());
        (at(140), at(144))
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn held_writes_wait_for_release_or_leave_with_the_fin() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        client.set_nodelay(true).unwrap();
        let (mut server, _) = l.accept().unwrap();
        let mut got = [0u8; 2];

        // The count itself: two writes, each read before the next, are
        // two segments.
        let (before, _) = tcp_info(&server);
        for byte in [b"a", b"b"] {
            client.write_all(byte).unwrap();
            server.read_exact(&mut got[..1]).unwrap();
        }
        let (after, _) = tcp_info(&server);
        assert_eq!(after - before, 2);

        // Held: nothing leaves until released, then all of it does.
        hold_writes(client.as_raw_fd(), true);
        client.write_all(b"cd").unwrap();
        assert_eq!(tcp_info(&client).1, 2, "the bytes wait in the socket");
        hold_writes(client.as_raw_fd(), false);
        assert_eq!(tcp_info(&client).1, 0, "released: sent at once");
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"cd");

        // Held until close: the writes and the FIN are one segment.
        let (before, _) = tcp_info(&server);
        hold_writes(client.as_raw_fd(), true);
        client.write_all(b"e").unwrap();
        client.write_all(b"f").unwrap();
        drop(client);
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"ef");
        let (after, _) = tcp_info(&server);
        assert_eq!(after - before, 1, "data and FIN in one segment");
    }

    #[test]
    fn brackets_are_stripped_from_ipv6_literals_only() {
        assert_eq!(unbracket("[::1]"), "::1");
        assert_eq!(unbracket("::1"), "::1");
        assert_eq!(unbracket("router1"), "router1");
        assert_eq!(unbracket("[x"), "[x");
    }

    #[test]
    fn each_address_gets_an_equal_share_the_last_gets_the_rest() {
        let left = Duration::from_secs(6);
        assert_eq!(attempt_time(left, 3), Duration::from_secs(2));
        assert_eq!(attempt_time(left, 1), left);
        assert_eq!(attempt_time(left, 0), left);
    }

    #[test]
    fn literals_need_no_lookup() {
        let b = budget(Duration::from_secs(1));
        let got = resolve("[::1]", 22, &b.connect()).unwrap();
        assert_eq!(got, vec!["[::1]:22".parse().unwrap()]);
        let got = resolve("127.0.0.1", 22, &b.connect()).unwrap();
        assert_eq!(got, vec!["127.0.0.1:22".parse().unwrap()]);
    }

    #[test]
    fn a_bracketed_ipv6_host_connects() {
        let listener = std::net::TcpListener::bind("[::1]:0")
            .expect("this test needs IPv6 loopback (::1) on the machine");
        let port = listener.local_addr().unwrap().port();
        let b = budget(Duration::from_secs(10));
        connect("[::1]", port, &b).expect("connect to [::1]");
    }

    /// A listener whose accept queue is full: SYNs to it are dropped, so a
    /// connect hangs like one to a dead address.
    fn black_hole() -> (std::net::TcpListener, TcpStream, SocketAddr) {
        use nix::sys::socket::{listen, Backlog};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listen(&l, Backlog::new(0).unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let filler = TcpStream::connect(addr).unwrap();
        (l, filler, addr)
    }

    #[test]
    fn a_dead_first_address_leaves_time_for_the_next() {
        let (_hole, _filler, dead) = black_hole();
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live_addr = live.local_addr().unwrap();
        let b = budget(Duration::from_secs(4));
        let stream = connect_any("h", 0, &[dead, live_addr], &b.connect())
            .expect("the second address within the same connect limit");
        assert_eq!(stream.peer_addr().unwrap(), live_addr);
    }

    #[test]
    fn a_dead_only_address_times_out_with_the_connect_limit() {
        let (_hole, _filler, dead) = black_hole();
        let b = budget(Duration::from_millis(300));
        let err = connect_any("h", 0, &[dead], &b.connect()).unwrap_err();
        assert_eq!(err.status, Status::Timeout, "{}", err.message);
    }
}
