//! Session threads: take a device, run it, report, repeat.
//!
//! Panic policy (the same for every layout): a panic during a session is a
//! crash caused by that device. In a worker process the panic hook (see
//! [`crate::process`]) logs it with its backtrace and aborts the process;
//! the master re-runs the devices that were running there, each alone, and
//! isolates the one that keeps crashing as `worker_lost`. In the in-process
//! pool of `-p 0` there is no process to lose: the session boundary catches
//! the panic and reports [`WorkerEvent::Panicked`], which the master treats
//! exactly like a crash with that device alone running. Either way the
//! device ends `worker_lost` after its crash retries, and its neighbours
//! end as they would have.

use super::state::{now_us, Busy, Out, Shared, HARD_LIMIT_MARGIN};
use fleet_proto::event::{Lifecycle, DEVICE_LOG_TARGET};
use fleet_proto::rundir::TracePhase;
use fleet_proto::{DeviceResult, WorkerEvent, OUTPUT_CHUNK};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fault injection for fleet's own end-to-end tests. Compiled in only with
/// the cargo feature `test-hooks` (`make test` turns it on); a release
/// build ignores the variables.
#[derive(Debug, Default)]
pub(crate) struct TestHooks {
    /// `FLEET_TEST_PANIC_DEVICE`: the session of this device panics.
    panic_device: Option<String>,
}

impl TestHooks {
    /// Reads the hooks from the environment (feature `test-hooks` only).
    pub(crate) fn from_env() -> TestHooks {
        #[cfg(feature = "test-hooks")]
        {
            TestHooks {
                panic_device: std::env::var("FLEET_TEST_PANIC_DEVICE").ok(),
            }
        }
        #[cfg(not(feature = "test-hooks"))]
        {
            TestHooks::default()
        }
    }

    fn before_session(&self, device: &str) {
        if self.panic_device.as_deref() == Some(device) {
            panic!("injected panic for device {device} (FLEET_TEST_PANIC_DEVICE)");
        }
    }
}

/// The end of a session thread once its pool is done: it sleeps until the
/// process exits instead of returning. The pool ends only as its process
/// does (a worker after `Bye`, the master after the run), and the kernel
/// tears a whole process down at once, where each thread that exits on its
/// own unmaps its stack and hands its allocator pages back while its
/// siblings still run, each a TLB shootdown across the cores: 100 exiting
/// threads cost ~10 ms of a run's CPU (docs/performance.md, session 9).
fn retire() -> ! {
    loop {
        std::thread::park();
    }
}

/// One session thread.
pub(super) fn session_loop(shared: &Shared, slot: usize, generation: u32, thread: String) {
    // A session reported but still counted running: counted done under the
    // same lock that takes the next job (one lock per session, not two).
    let mut reported = false;
    loop {
        // Taking a job and counting it running happen under one lock, so
        // the end of the pool (nothing queued, nothing running) is never
        // seen between the two.
        let (job, batch) = {
            let mut st = shared.lock();
            if std::mem::take(&mut reported) {
                st.running -= 1;
                shared.wake_if_finished(&st);
            }
            loop {
                if st.slots[slot].generation != generation {
                    return;
                }
                if st.stopping {
                    st.slots[slot].alive = false;
                    drop(st);
                    retire();
                }
                if slot >= st.active {
                    // Parked by `SetThreads`: the slot has no thread until
                    // it is wanted again.
                    st.slots[slot].alive = false;
                    return;
                }
                if let Some((job, batch)) = st.queue.pop_front() {
                    let job = Arc::new(job);
                    let timeouts = job.device.timeouts.or(shared.config.timeouts);
                    let limit = timeouts.session.unwrap_or(Duration::from_secs(600));
                    let started = Instant::now();
                    st.running += 1;
                    st.slots[slot].busy = Some(Busy {
                        job: Arc::clone(&job),
                        batch,
                        thread: thread.clone(),
                        started,
                        started_us: now_us(),
                        hard_deadline: started + limit + HARD_LIMIT_MARGIN,
                    });
                    break (job, batch);
                }
                if st.draining {
                    st.slots[slot].alive = false;
                    drop(st);
                    retire();
                }
                st.idle += 1;
                st = shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
                st.idle -= 1;
            }
        };
        shared.send(Out::Event(WorkerEvent::Started {
            seq: job.seq,
            thread: thread.clone(),
        }));
        let device = &job.device;
        let scope = fleet_logs::device_scope(&device.name);
        log::info!(
            target: DEVICE_LOG_TARGET,
            "{}",
            Lifecycle::SessionStart {
                attempt: job.attempt,
                batch,
            }
        );
        let outcome = match run_one(shared, device) {
            Ok(outcome) => outcome,
            Err(SessionPanic { message }) => {
                // -p 0 only: a worker process aborts in its panic hook.
                log::error!("panic: {message}");
                let mut st = shared.lock();
                if st.slots[slot].generation == generation {
                    st.slots[slot].busy = None;
                    st.running -= 1;
                    shared.send(Out::Event(WorkerEvent::Panicked {
                        seq: job.seq,
                        message,
                    }));
                    shared.wake_if_finished(&st);
                }
                continue;
            }
        };
        if log::log_enabled!(log::Level::Debug) {
            let t = &outcome.timings;
            for (phase, ms) in [
                (TracePhase::Connect, t.connect),
                (TracePhase::Auth, t.auth),
                (TracePhase::Commands, t.commands),
            ] {
                log::debug!("{}", Lifecycle::Phase { phase, ms });
            }
        }
        let end = Lifecycle::SessionEnd {
            status: outcome.status,
            ms: outcome.timings.total,
            error: outcome.error.clone(),
        };
        match &outcome.error {
            None => log::info!(target: DEVICE_LOG_TARGET, "{end}"),
            Some(_) => log::warn!("{end}"),
        }
        drop(scope);

        let busy = {
            let mut st = shared.lock();
            if st.slots[slot].generation != generation {
                // The watchdog already reported this device as timed out
                // and gave the slot to a new thread.
                log::warn!(
                    "late result for {} discarded (thread was replaced)",
                    device.name
                );
                return;
            }
            // Once taken, the watchdog no longer sees this session (it is
            // over); it still counts running until reported.
            let Some(busy) = st.slots[slot].busy.take() else {
                return;
            };
            busy
        };
        // Built and handed over outside the lock, and before the session
        // counts done, so `Bye` (sent once running reaches zero) always
        // follows the last result.
        let mut result = busy.result(shared, outcome);
        for chunk in split_large_outputs(job.seq, &mut result) {
            shared.send(Out::Event(chunk));
        }
        shared.send(Out::Event(WorkerEvent::Finished {
            seq: job.seq,
            result,
        }));
        reported = true;
    }
}

/// A session that panicked. Only in the in-process pool (`-p 0`): in a
/// worker process the panic hook aborts first. The master gets the
/// message in `WorkerEvent::Panicked` and records the device's crash.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("session panicked: {message}")]
struct SessionPanic {
    /// The panic's text ([`panic_message`]).
    message: String,
}

/// Runs one session; a panic becomes a [`SessionPanic`].
fn run_one(
    shared: &Shared,
    device: &fleet_proto::Device,
) -> Result<fleet_ssh::Outcome, SessionPanic> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        shared.hooks.before_session(&device.name);
        shared.context.run(device)
    }))
    .map_err(|panic| SessionPanic {
        message: panic_message(&*panic),
    })
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Moves every output larger than [`OUTPUT_CHUNK`] out of `result` into
/// chunk events (cut at UTF-8 boundaries), so each IPC message stays small.
pub(crate) fn split_large_outputs(seq: u32, result: &mut DeviceResult) -> Vec<WorkerEvent> {
    let mut chunks = Vec::new();
    for (index, out) in result.outputs.iter_mut().enumerate() {
        for (stderr, text) in [(false, &mut out.stdout), (true, &mut out.stderr)] {
            if text.len() <= OUTPUT_CHUNK {
                continue;
            }
            let whole = std::mem::take(text);
            let mut rest = whole.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(OUTPUT_CHUNK);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                let (piece, tail) = rest.split_at(cut);
                chunks.push(WorkerEvent::OutputChunk {
                    seq,
                    index: index as u32,
                    stderr,
                    data: piece.to_string(),
                });
                rest = tail;
            }
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{CommandOutput, Status, Timings};

    #[test]
    fn a_session_panic_names_its_message() {
        let payload = std::panic::catch_unwind(|| std::panic::panic_any("boom in d7"))
            .expect_err("it panicked");
        let p = SessionPanic {
            message: panic_message(&*payload),
        };
        assert_eq!(p.to_string(), "session panicked: boom in d7");
        let owned = std::panic::catch_unwind(|| std::panic::panic_any(format!("code {}", 3)))
            .expect_err("it panicked");
        assert_eq!(panic_message(&*owned), "code 3");
        let other =
            std::panic::catch_unwind(|| std::panic::panic_any(7u8)).expect_err("it panicked");
        assert_eq!(panic_message(&*other), "non-string panic payload");
    }

    #[test]
    fn large_outputs_travel_in_bounded_chunks_that_reassemble() {
        let big = "é".repeat(OUTPUT_CHUNK); // 2 bytes each: cuts must respect UTF-8
        let mut result = DeviceResult {
            device: "d".into(),
            host: "h".into(),
            port: 22,
            status: Status::Ok,
            error: None,
            outputs: vec![CommandOutput {
                command: "c".into(),
                stdout: big.clone(),
                stderr: "small".into(),
                exit_status: Some(0),
                truncated: false,
            }],
            worker: None,
            timings_ms: Timings::default(),
            attempt: 1,
            started_us: 0,
            batch: None,
        };
        let chunks = split_large_outputs(7, &mut result);
        assert!(chunks.len() >= 2);
        let mut joined = String::new();
        for c in &chunks {
            match c {
                WorkerEvent::OutputChunk {
                    seq,
                    index,
                    stderr,
                    data,
                } => {
                    assert_eq!((*seq, *index, *stderr), (7, 0, false));
                    assert!(data.len() <= OUTPUT_CHUNK);
                    joined.push_str(data);
                }
                _ => panic!("not a chunk"),
            }
        }
        assert_eq!(joined, big);
        assert!(result.outputs[0].stdout.is_empty());
        assert_eq!(result.outputs[0].stderr, "small");
    }
}
