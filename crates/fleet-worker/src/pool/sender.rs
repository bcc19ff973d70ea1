//! The sender thread: the only writer to the master. It drains what the
//! other threads produce into as few IPC messages as the load allows: one
//! message when idle (low latency), many events per message when busy.

use super::state::Out;
use crate::link::ToMaster;
use fleet_proto::{WorkerEvent, WorkerStats, WorkerToMaster, OUTPUT_CHUNK};
use std::sync::mpsc;

/// Runs until `Bye` is sent (or the master is gone); returns the worker's
/// final statistics.
pub(super) fn sender_loop(
    mut to_master: Box<dyn ToMaster>,
    rx: mpsc::Receiver<Out>,
) -> WorkerStats {
    const MAX_EVENTS_PER_MESSAGE: usize = 512;
    let mut stats = WorkerStats::default();
    let mut send = |msg: WorkerToMaster, stats: &mut WorkerStats| match to_master.send(msg) {
        Ok(bytes) => {
            stats.ipc_messages += 1;
            stats.ipc_bytes += bytes as u64;
            true
        }
        Err(e) => {
            log::error!("failed to send to master: {e}");
            false
        }
    };
    while let Ok(first) = rx.recv() {
        let mut events = Vec::new();
        let mut bytes = 0;
        let mut heartbeat = None;
        let mut bye = None;
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Out::Event(ev) => {
                    if matches!(ev, WorkerEvent::Finished { .. }) {
                        stats.devices += 1;
                    }
                    bytes += payload(&ev);
                    events.push(ev)
                }
                Out::Heartbeat(threads, cpu_ms) => heartbeat = Some((threads, cpu_ms)),
                Out::Bye(s) => bye = Some(s),
            }
            if events.len() < MAX_EVENTS_PER_MESSAGE && bytes < OUTPUT_CHUNK && bye.is_none() {
                next = rx.try_recv().ok();
            }
        }
        if !events.is_empty() && !send(WorkerToMaster::Events(events), &mut stats) {
            return stats;
        }
        if let Some((threads, cpu_ms)) = heartbeat {
            if !send(WorkerToMaster::Heartbeat(threads), &mut stats)
                || !send(WorkerToMaster::Usage { cpu_ms }, &mut stats)
            {
                return stats;
            }
        }
        if let Some(mut final_stats) = bye {
            final_stats.devices = stats.devices;
            final_stats.ipc_messages = stats.ipc_messages + 1;
            final_stats.ipc_bytes = stats.ipc_bytes;
            send(WorkerToMaster::Bye(final_stats), &mut stats);
            return final_stats;
        }
    }
    stats
}

/// Bytes of output an event carries, for the sender's per-message budget.
fn payload(ev: &WorkerEvent) -> usize {
    match ev {
        WorkerEvent::Started { .. } => 64,
        WorkerEvent::Returned { seqs } => 16 + 4 * seqs.len(),
        WorkerEvent::Panicked { message, .. } => 64 + message.len(),
        WorkerEvent::OutputChunk { data, .. } => data.len(),
        WorkerEvent::Finished { result, .. } => {
            256 + result
                .outputs
                .iter()
                .map(|o| o.stdout.len() + o.stderr.len() + o.command.len())
                .sum::<usize>()
        }
    }
}
