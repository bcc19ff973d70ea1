//! TCP connect: resolve every address, try each within the connect limit.

use crate::budget::Budget;
use crate::error::Failure;
use fleet_proto::Status;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};

/// Connects to `host:port`, trying each resolved address in order.
pub(crate) fn connect(host: &str, port: u16, budget: &Budget) -> Result<TcpStream, Failure> {
    let limit = budget.connect();
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Failure::new(Status::ConnectFailed, format!("resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Failure::new(
            Status::ConnectFailed,
            format!("resolve {host}: no addresses"),
        ));
    }
    let mut last: Option<Failure> = None;
    for addr in addrs {
        let during = format!("connect to {addr}");
        let attempt = match limit.remaining(&during)? {
            Some(left) => TcpStream::connect_timeout(&addr, left),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => {
                // Small request/response packets: no Nagle delays.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                last = Some(limit.expired(&during));
            }
            Err(e) => {
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
