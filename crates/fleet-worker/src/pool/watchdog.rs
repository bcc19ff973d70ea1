//! The watchdog: reports sessions stuck past their hard limit (and
//! replaces their threads), and sends the heartbeat that tells the master
//! this worker is alive. A deadlocked pool stops both, which is what the
//! master's silence check catches.

use super::state::{Out, Shared};
use fleet_proto::{ThreadProgress, WorkerEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest pause between two looks at the sessions.
const TICK: Duration = Duration::from_millis(200);

/// For this long after the worker starts, every tick is a heartbeat: the
/// first beat (before any session) is the CPU baseline `-p auto` measures
/// from, and the next ones let it decide within the first second instead of
/// after two full heartbeat periods.
const EARLY_BEATS: Duration = Duration::from_secs(1);

/// When the heartbeat after one sent at `now` is due.
fn next_beat(started: Instant, now: Instant, period: Duration) -> Instant {
    if now.duration_since(started) < EARLY_BEATS {
        now
    } else {
        now + period
    }
}

/// When to look again: at the next heartbeat or the first session's hard
/// deadline, whichever comes first, and not sooner than a [`TICK`].
///
/// Waking every tick instead cost every worker five wake-ups a second
/// for nothing: a heartbeat is due once a second, and a session started
/// later has a hard deadline past the next beat (its limit plus
/// `HARD_LIMIT_MARGIN`), so nothing else can fall due before the wake-up.
fn next_wake(now: Instant, next_beat: Instant, first_deadline: Option<Instant>) -> Instant {
    let due = first_deadline.map_or(next_beat, |d| d.min(next_beat));
    due.max(now + TICK)
}

/// Runs until the pool is finished.
pub(super) fn watchdog(shared: Arc<Shared>) {
    let started = Instant::now();
    let mut next_beat = started;
    let mut wake = started;
    loop {
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
        let now = Instant::now();
        let mut replace = Vec::new();
        {
            let mut st = shared.lock();
            if st.finished() {
                return;
            }
            if now >= next_beat {
                next_beat = self::next_beat(started, now, shared.config.heartbeat);
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
            let first_deadline = st
                .slots
                .iter()
                .filter_map(|s| s.busy.as_ref().map(|b| b.hard_deadline))
                .min();
            wake = next_wake(now, next_beat, first_deadline);
        }
        for (slot, generation) in replace {
            if let Err(e) = super::spawn_session_thread(&shared, slot, generation) {
                log::error!("could not replace a stuck thread: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_on_every_tick_in_the_first_second_then_every_period() {
        let t0 = Instant::now();
        let period = Duration::from_secs(1);
        assert_eq!(
            next_beat(t0, t0, period),
            t0,
            "the baseline beat is followed at once"
        );
        let early = t0 + Duration::from_millis(800);
        assert_eq!(next_beat(t0, early, period), early);
        let later = t0 + Duration::from_millis(1200);
        assert_eq!(next_beat(t0, later, period), later + period);
    }

    #[test]
    fn wakes_for_the_next_beat_or_the_first_hard_deadline_but_not_sooner_than_a_tick() {
        let now = Instant::now();
        let beat = now + Duration::from_secs(1);
        assert_eq!(next_wake(now, beat, None), beat, "idle: once per beat");
        let deadline = now + Duration::from_millis(500);
        assert_eq!(next_wake(now, beat, Some(deadline)), deadline);
        let later = now + Duration::from_secs(5);
        assert_eq!(next_wake(now, beat, Some(later)), beat);
        // In the first second every look is a beat (`next_beat` is now),
        // and an overdue deadline is looked at again a tick later.
        assert_eq!(next_wake(now, now, None), now + TICK);
        assert_eq!(next_wake(now, beat, Some(now)), now + TICK);
    }
}
