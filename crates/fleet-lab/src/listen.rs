//! One listener per device: accepts connections and hands each to its
//! transport, SSH ([`crate::server`]) or telnet ([`crate::telnet`]), after
//! the scripted hang or banner delay.

use crate::server::{session_seed, stopped, LabHandler, Shared};
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections for device `device` until shutdown.
pub(crate) async fn serve_device(shared: Arc<Shared>, device: usize, listener: TcpListener) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(Arc::clone(&shared), device, stream));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("accept failed on {}: {e}", shared.devices[device].name);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stopped(shared.shutdown.clone()) => return,
        }
    }
}

/// One TCP connection to a device, through its scripted behaviour.
async fn connection(shared: Arc<Shared>, index: usize, stream: TcpStream) {
    let dev = Arc::clone(&shared.devices[index]);
    let _session = shared.counters.session_started(index, dev.group);
    let nth = dev.connections.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let stop = stopped(shared.shutdown.clone());
    tokio::pin!(stop);
    if dev.behaviour.hang {
        // Hold the socket open and say nothing until the lab stops.
        stop.await;
        return;
    }
    if !dev.behaviour.banner_delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(dev.behaviour.banner_delay) => {}
            _ = &mut stop => return,
        }
    }
    if dev.behaviour.telnet {
        let rng = rand::rngs::StdRng::seed_from_u64(session_seed(shared.seed, &dev.name, nth));
        tokio::select! {
            _ = crate::telnet::session(&shared, &dev, stream, rng) => {}
            _ = &mut stop => {}
        }
        return;
    }
    let key = usize::from(dev.behaviour.host_key_change && nth > 0);
    let config = Arc::clone(&dev.ssh[key]);
    let handler = LabHandler::new(Arc::clone(&shared), Some(index), nth);
    match russh::server::run_stream(config, stream, handler).await {
        Ok(session) => {
            tokio::select! {
                result = session => if let Err(e) = result {
                    log::debug!("session on {} ended: {e}", dev.name);
                },
                _ = &mut stop => {}
            }
        }
        Err(e) => log::debug!("handshake on {} failed: {e}", dev.name),
    }
}
