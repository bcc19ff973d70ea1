//! The channel between master and worker.
//!
//! Messages travel as bincode-encoded [`Frame`]s over ipc-channel: bincode
//! gives a compact, exact byte count for the IPC statistics, and the frame
//! is a plain byte buffer that ipc-channel moves without re-encoding.
//! With `-p 0` the same pool talks to the master through std channels
//! instead, skipping serialization: [`ToMaster`] and [`FromMaster`] hide
//! which one is in use.

use fleet_proto::{MasterToWorker, WorkerToMaster};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::mpsc;

/// Why a link failed. Any of these means the other side is gone or broken.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The IPC channel could not be created or connected.
    #[error("failed to {what}")]
    Setup {
        /// What was being set up (`connect to the master`, ...).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A frame could not cross the channel.
    #[error("failed to {what} a frame over ipc")]
    Transfer {
        /// `send` or `receive`.
        what: &'static str,
        /// ipc-channel's error.
        #[source]
        source: ipc_channel::IpcError,
    },
    /// A frame did not decode: the two sides disagree on the protocol.
    #[error("failed to decode a message")]
    Decode(#[from] bincode::error::DecodeError),
    /// A message did not encode.
    #[error("failed to encode a message")]
    Encode(#[from] bincode::error::EncodeError),
    /// The other side closed the channel.
    #[error("the other side closed the channel")]
    Closed,
}

impl LinkError {
    /// A failed send of a frame.
    pub fn send(source: ipc_channel::IpcError) -> LinkError {
        LinkError::Transfer {
            what: "send",
            source,
        }
    }
}

/// One message on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct Frame(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// Sent by a new worker through the master's one-shot server: the two
/// channel ends the master keeps.
#[derive(Debug, Serialize, Deserialize)]
pub struct Bootstrap {
    /// The master sends work on this.
    pub to_worker: IpcSender<Frame>,
    /// The master receives events on this.
    pub from_worker: IpcReceiver<Frame>,
}

/// Encodes a message into a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Frame, LinkError> {
    Ok(Frame(bincode::serde::encode_to_vec(
        msg,
        bincode::config::standard(),
    )?))
}

/// Decodes a frame.
pub fn decode<T: DeserializeOwned>(frame: &Frame) -> Result<T, LinkError> {
    let (msg, _) = bincode::serde::decode_from_slice(&frame.0, bincode::config::standard())?;
    Ok(msg)
}

/// The worker's sending half.
pub trait ToMaster: Send {
    /// Sends a message; returns the bytes that crossed the process boundary
    /// (0 in-process).
    fn send(&mut self, msg: WorkerToMaster) -> Result<usize, LinkError>;
}

/// The worker's receiving half.
pub trait FromMaster: Send {
    /// Blocks for the next message.
    fn recv(&mut self) -> Result<MasterToWorker, LinkError>;
}

/// [`ToMaster`] over ipc-channel.
pub struct IpcToMaster(IpcSender<Frame>);

impl ToMaster for IpcToMaster {
    fn send(&mut self, msg: WorkerToMaster) -> Result<usize, LinkError> {
        let frame = encode(&msg)?;
        let len = frame.0.len();
        self.0.send(frame).map_err(LinkError::send)?;
        Ok(len)
    }
}

/// [`FromMaster`] over ipc-channel.
pub struct IpcFromMaster(IpcReceiver<Frame>);

impl FromMaster for IpcFromMaster {
    fn recv(&mut self) -> Result<MasterToWorker, LinkError> {
        match self.0.recv() {
            Ok(frame) => decode(&frame),
            Err(ipc_channel::IpcError::Disconnected) => Err(LinkError::Closed),
            Err(source) => Err(LinkError::Transfer {
                what: "receive",
                source,
            }),
        }
    }
}

/// [`FromMaster`] for a pool running inside the master (`-p 0`).
impl FromMaster for mpsc::Receiver<MasterToWorker> {
    fn recv(&mut self) -> Result<MasterToWorker, LinkError> {
        mpsc::Receiver::recv(self).map_err(|_| LinkError::Closed)
    }
}

/// Worker side of the bootstrap: connects to the master's one-shot server
/// named `server`, creates both channels and hands the master its ends.
pub fn connect(server: &str) -> Result<(IpcToMaster, IpcFromMaster), LinkError> {
    let setup = |what| move |source| LinkError::Setup { what, source };
    let boot: IpcSender<Bootstrap> =
        IpcSender::connect(server.to_string()).map_err(setup("connect to the master"))?;
    let (to_worker, worker_rx) =
        ipc::channel::<Frame>().map_err(setup("create the master-to-worker channel"))?;
    let (worker_tx, from_worker) =
        ipc::channel::<Frame>().map_err(setup("create the worker-to-master channel"))?;
    boot.send(Bootstrap {
        to_worker,
        from_worker,
    })
    .map_err(LinkError::send)?;
    Ok((IpcToMaster(worker_tx), IpcFromMaster(worker_rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let msg = WorkerToMaster::Heartbeat(vec![fleet_proto::ThreadProgress {
            thread: 3,
            seq: Some(7),
            elapsed_ms: 1200,
        }]);
        let frame = encode(&msg).unwrap();
        match decode::<WorkerToMaster>(&frame).unwrap() {
            WorkerToMaster::Heartbeat(t) => {
                assert_eq!((t[0].thread, t[0].seq, t[0].elapsed_ms), (3, Some(7), 1200))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
