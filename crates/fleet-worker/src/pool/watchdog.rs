//! The watchdog: reports sessions stuck past their hard limit (and
//! replaces their threads), and sends the heartbeat that tells the master
//! this worker is alive. A deadlocked pool stops both, which is what the
//! master's silence check catches.

use super::state::{Out, Shared};
use fleet_proto::{ThreadProgress, WorkerEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs until the pool is finished.
pub(super) fn watchdog(shared: Arc<Shared>) {
    let mut next_beat = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        let mut replace = Vec::new();
        {
            let mut st = shared.lock();
            if st.finished() {
                return;
            }
            if now >= next_beat {
                next_beat = now + shared.config.heartbeat;
                let threads = st
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ThreadProgress {
                        thread: i as u32,
                        seq: s.busy.as_ref().map(|b| b.job.seq),
                        elapsed_ms: s
                            .busy
                            .as_ref()
                            .map_or(0, |b| now.duration_since(b.started).as_millis() as u64),
                    })
                    .collect();
                shared.send(Out::Heartbeat(threads, super::cpu_ms()));
            }
            let mut stuck = Vec::new();
            for (i, slot) in st.slots.iter_mut().enumerate() {
                if slot.busy.as_ref().is_some_and(|b| now >= b.hard_deadline) {
                    if let Some(b) = slot.busy.take() {
                        slot.generation += 1;
                        stuck.push((i, slot.generation, b));
                    }
                }
            }
            for (i, generation, b) in stuck {
                log::error!(
                    "device {} stuck in thread {} for {:.1} s: reporting timeout, replacing the thread",
                    b.job.device.name,
                    b.thread,
                    now.duration_since(b.started).as_secs_f64()
                );
                let result = b.result(&shared, b.stuck(now));
                shared.send(Out::Event(WorkerEvent::Finished {
                    seq: b.job.seq,
                    result,
                }));
                st.running -= 1;
                replace.push((i, generation));
            }
            if !replace.is_empty() {
                shared.wake_if_finished(&st);
            }
        }
        for (slot, generation) in replace {
            if let Err(e) = super::spawn_session_thread(&shared, slot, generation) {
                log::error!("could not replace a stuck thread: {e}");
            }
        }
    }
}
