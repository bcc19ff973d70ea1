//! The sender thread: the only writer to the master. It packs what the
//! other threads produce into as few IPC messages as the load allows.
//!
//! - Idle (nothing sent lately): the first event goes out at once, so a
//!   lone result or a slow run pays no added latency.
//! - Busy: after a message, the thread sleeps one [`WINDOW`] and then
//!   sends everything that arrived meanwhile as one message. Session
//!   threads hand over events without waking it (nobody waits on the
//!   channel while it sleeps), so a busy worker sends about one message
//!   per window instead of one or two per session, and the master's
//!   reader and dispatcher wake as rarely. When a window brings nothing,
//!   the thread goes back to idle.
//!
//! `Bye` is sent last, after every event handed over before it; the
//! serving thread unparks the sender so `Bye` does not wait out a window.

use super::state::Out;
use crate::link::ToMaster;
use fleet_proto::{WorkerEvent, WorkerStats, WorkerToMaster, OUTPUT_CHUNK};
use std::sync::mpsc;
use std::time::Duration;

/// How long a busy sender gathers events into one message. Results reach
/// the master at most this much later; the master's adaptive prefetch
/// measures that delay in its round trip and covers it.
pub(super) const WINDOW: Duration = Duration::from_millis(4);

/// Most events in one message.
const MAX_EVENTS_PER_MESSAGE: usize = 512;

/// What is waiting to be sent, packed into messages as it arrives.
#[derive(Default)]
struct Outbox {
    /// Full `Events` messages, and the one being filled.
    full: Vec<Vec<WorkerEvent>>,
    events: Vec<WorkerEvent>,
    /// Output bytes in `events`, for the per-message budget.
    bytes: usize,
    /// The latest heartbeat (an older one is superseded).
    heartbeat: Option<(Vec<fleet_proto::ThreadProgress>, f64)>,
    bye: Option<WorkerStats>,
    /// `Finished` events seen (the worker's device count).
    finished: u64,
}

impl Outbox {
    fn push(&mut self, out: Out) {
        match out {
            Out::Event(ev) => {
                if matches!(ev, WorkerEvent::Finished { .. }) {
                    self.finished += 1;
                }
                let size = payload(&ev);
                if !self.events.is_empty()
                    && (self.events.len() >= MAX_EVENTS_PER_MESSAGE
                        || self.bytes + size > OUTPUT_CHUNK)
                {
                    self.full.push(std::mem::take(&mut self.events));
                    self.bytes = 0;
                }
                self.bytes += size;
                self.events.push(ev);
            }
            Out::Heartbeat(threads, cpu_ms) => self.heartbeat = Some((threads, cpu_ms)),
            Out::Bye(stats) => self.bye = Some(stats),
        }
    }

    fn is_empty(&self) -> bool {
        self.full.is_empty()
            && self.events.is_empty()
            && self.heartbeat.is_none()
            && self.bye.is_none()
    }

    /// The messages to send now, in order: events, then the heartbeat,
    /// then `Bye` (its counters are filled in by the caller).
    fn take(&mut self) -> Vec<WorkerToMaster> {
        let mut msgs: Vec<WorkerToMaster> =
            self.full.drain(..).map(WorkerToMaster::Events).collect();
        if !self.events.is_empty() {
            msgs.push(WorkerToMaster::Events(std::mem::take(&mut self.events)));
            self.bytes = 0;
        }
        if let Some((threads, cpu_ms)) = self.heartbeat.take() {
            msgs.push(WorkerToMaster::Heartbeat(threads));
            msgs.push(WorkerToMaster::Usage { cpu_ms });
        }
        if let Some(stats) = self.bye.take() {
            msgs.push(WorkerToMaster::Bye(stats));
        }
        msgs
    }
}

/// Runs until `Bye` is sent (or the master is gone); returns the worker's
/// final statistics.
pub(super) fn sender_loop(
    mut to_master: Box<dyn ToMaster>,
    rx: mpsc::Receiver<Out>,
    window: Duration,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut outbox = Outbox::default();
    // Idle: block for the first item.
    while let Ok(first) = rx.recv() {
        outbox.push(first);
        loop {
            while let Ok(more) = rx.try_recv() {
                outbox.push(more);
            }
            if outbox.is_empty() {
                break; // a quiet window: back to idle
            }
            stats.devices = outbox.finished;
            for msg in outbox.take() {
                let msg = match msg {
                    WorkerToMaster::Bye(mut last) => {
                        last.devices = stats.devices;
                        last.ipc_messages = stats.ipc_messages + 1;
                        last.ipc_bytes = stats.ipc_bytes;
                        let _ = to_master.send(WorkerToMaster::Bye(last));
                        return last;
                    }
                    other => other,
                };
                match to_master.send(msg) {
                    Ok(bytes) => {
                        stats.ipc_messages += 1;
                        stats.ipc_bytes += bytes as u64;
                    }
                    Err(e) => {
                        log::error!("failed to send to master: {e}");
                        return stats;
                    }
                }
            }
            // Busy: gather for one window (unparked early for `Bye`).
            std::thread::park_timeout(window);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::LinkError;
    use std::time::Duration;

    fn started(seq: u32) -> Out {
        Out::Event(WorkerEvent::Started {
            seq,
            thread: "t".into(),
        })
    }

    fn chunk(seq: u32, len: usize) -> Out {
        Out::Event(WorkerEvent::OutputChunk {
            seq,
            index: 0,
            stderr: false,
            data: "x".repeat(len),
        })
    }

    /// The seqs of the events in each `Events` message, and the other
    /// messages by name.
    fn shape(msgs: &[WorkerToMaster]) -> Vec<String> {
        msgs.iter()
            .map(|m| match m {
                WorkerToMaster::Events(evs) => format!(
                    "events {:?}",
                    evs.iter()
                        .map(|e| match e {
                            WorkerEvent::Started { seq, .. }
                            | WorkerEvent::OutputChunk { seq, .. }
                            | WorkerEvent::Finished { seq, .. } => *seq,
                            _ => u32::MAX,
                        })
                        .collect::<Vec<_>>()
                ),
                WorkerToMaster::Heartbeat(_) => "heartbeat".into(),
                WorkerToMaster::Usage { .. } => "usage".into(),
                WorkerToMaster::Bye(_) => "bye".into(),
                WorkerToMaster::Hello { .. } => "hello".into(),
            })
            .collect()
    }

    #[test]
    fn events_gathered_in_a_window_travel_as_one_message() {
        let mut o = Outbox::default();
        for seq in 0..5 {
            o.push(started(seq));
        }
        assert_eq!(shape(&o.take()), vec!["events [0, 1, 2, 3, 4]"]);
        assert!(o.is_empty());
        assert!(o.take().is_empty());
    }

    #[test]
    fn a_full_message_is_closed_on_event_count_and_on_output_bytes() {
        let mut o = Outbox::default();
        for seq in 0..(MAX_EVENTS_PER_MESSAGE as u32 + 3) {
            o.push(started(seq));
        }
        let msgs = o.take();
        assert_eq!(msgs.len(), 2);
        match (&msgs[0], &msgs[1]) {
            (WorkerToMaster::Events(a), WorkerToMaster::Events(b)) => {
                assert_eq!((a.len(), b.len()), (MAX_EVENTS_PER_MESSAGE, 3))
            }
            _ => panic!("not two event messages"),
        }
        // Two chunks that together pass the byte budget go in two messages.
        o.push(chunk(1, OUTPUT_CHUNK - 10));
        o.push(chunk(2, OUTPUT_CHUNK / 2));
        o.push(started(3));
        assert_eq!(shape(&o.take()), vec!["events [1]", "events [2, 3]"]);
    }

    #[test]
    fn heartbeat_follows_the_events_and_bye_comes_last() {
        let mut o = Outbox::default();
        o.push(Out::Bye(WorkerStats::default()));
        o.push(Out::Heartbeat(Vec::new(), 1.0));
        o.push(Out::Heartbeat(Vec::new(), 2.0));
        o.push(started(7));
        let msgs = o.take();
        assert_eq!(
            shape(&msgs),
            vec!["events [7]", "heartbeat", "usage", "bye"]
        );
        assert!(matches!(msgs[2], WorkerToMaster::Usage { cpu_ms } if cpu_ms == 2.0));
    }

    /// A master that collects what it is sent.
    struct Collect(mpsc::Sender<WorkerToMaster>);

    impl ToMaster for Collect {
        fn send(&mut self, msg: WorkerToMaster) -> Result<usize, LinkError> {
            self.0.send(msg).map(|_| 1).map_err(|_| LinkError::Closed)
        }
    }

    #[test]
    fn an_idle_sender_sends_at_once_and_bye_loses_nothing_queued_before_it() {
        let (tx, rx) = mpsc::channel();
        let (master_tx, master_rx) = mpsc::channel();
        // A window far longer than the test may take: anything that
        // waited for it would fail the first check.
        let window = Duration::from_secs(3600);
        let sender =
            std::thread::spawn(move || sender_loop(Box::new(Collect(master_tx)), rx, window));
        tx.send(started(1)).unwrap();
        let first = master_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the first event of an idle sender goes out without waiting a window");
        assert_eq!(shape(&[first]), vec!["events [1]"]);
        // Busy now: these wait for the window, or for Bye's unpark.
        let finished = |seq| {
            Out::Event(WorkerEvent::Finished {
                seq,
                result: fleet_proto::DeviceResult {
                    device: format!("d{seq}"),
                    host: "h".into(),
                    port: 22,
                    status: fleet_proto::Status::Ok,
                    error: None,
                    outputs: Vec::new(),
                    worker: None,
                    timings_ms: fleet_proto::Timings::default(),
                    attempt: 1,
                    started_us: 0,
                    batch: None,
                },
            })
        };
        tx.send(finished(1)).unwrap();
        tx.send(started(2)).unwrap();
        tx.send(finished(2)).unwrap();
        tx.send(Out::Bye(WorkerStats::default())).unwrap();
        sender.thread().unpark();
        let stats = sender.join().unwrap();
        let rest: Vec<WorkerToMaster> = master_rx.try_iter().collect();
        // (A spurious wake-up may split the events; their order holds.)
        let seqs: Vec<u32> = rest
            .iter()
            .filter_map(|m| match m {
                WorkerToMaster::Events(evs) => Some(evs),
                _ => None,
            })
            .flatten()
            .map(|e| match e {
                WorkerEvent::Started { seq, .. } | WorkerEvent::Finished { seq, .. } => *seq,
                _ => u32::MAX,
            })
            .collect();
        assert_eq!(seqs, vec![1, 2, 2]);
        assert!(matches!(rest.last(), Some(WorkerToMaster::Bye(_))));
        assert_eq!(stats.devices, 2);
        assert_eq!(
            stats.ipc_messages,
            rest.len() as u64 + 1,
            "every message counted"
        );
    }
}
