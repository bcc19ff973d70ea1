//! Handing devices to workers: pull-based batches under the connection
//! policy (rate, group caps) and the isolation of suspect devices.

use super::*;

impl Master {
    /// Takes up to `n` devices from the queue that the policy lets start
    /// now: in queue order, skipping devices whose group is at its cap,
    /// stopping when the rate limit has no token left.
    ///
    /// A suspect device (see `suspects`) goes only to an idle worker, alone;
    /// `solo` then says which one it is.
    pub(super) fn pick(&mut self, n: usize, idle: bool) -> (Vec<Job>, Option<u32>) {
        if self.rate.is_none() && !self.gate.is_active() && self.suspects.is_empty() {
            let n = n.min(self.pending.len());
            return (self.pending.drain(..n).collect(), None);
        }
        let now = Instant::now();
        let mut jobs = Vec::new();
        let mut i = 0;
        while jobs.len() < n && i < self.pending.len() {
            let seq = self.pending[i].seq;
            let suspect = self.suspects.contains(&seq);
            if (suspect && !(idle && jobs.is_empty())) || !self.gate.admits(&self.pending[i].device)
            {
                i += 1;
                continue;
            }
            if let Some(rate) = &mut self.rate {
                if !rate.try_take(now) {
                    self.wake_at = Some(rate.next_token());
                    break;
                }
            }
            if let Some(job) = self.pending.remove(i) {
                self.gate.enter(&job.device);
                jobs.push(job);
            }
            if suspect {
                return (jobs, Some(seq));
            }
        }
        (jobs, None)
    }

    /// Sends batches to workers that asked, and `Drain` when all is done.
    pub(super) fn dispatch(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        for i in 0..self.slots.len() {
            if self.pending.is_empty() {
                break;
            }
            let s = &self.slots[i];
            if s.want == 0 || s.tx.is_none() || s.lost || s.drain_sent || s.solo.is_some() {
                continue;
            }
            let n = s.want.min(self.cfg.batch_size).min(self.pending.len());
            let slot = s.id;
            let record = s.record;
            let idle =
                !self.suspects.is_empty() && !self.in_flight.values().any(|f| f.slot == slot);
            let (jobs, solo) = self.pick(n, idle);
            self.slots[i].solo = solo;
            if jobs.is_empty() {
                continue;
            }
            let n = jobs.len();
            let id = self.next_batch;
            self.next_batch += 1;
            for job in &jobs {
                let _scope = fleet_logs::device_scope(&job.device.name);
                log::info!(
                    "{}",
                    Lifecycle::Dispatch {
                        batch: id,
                        worker: slot,
                        attempt: job.attempt,
                    }
                );
                self.in_flight.insert(
                    job.seq,
                    InFlight {
                        job: job.clone(),
                        slot,
                        started: false,
                    },
                );
            }
            self.mark("batch", Some(slot), format!("batch {id}: {n} devices"));
            let s = &mut self.slots[i];
            s.want = s.want.saturating_sub(n);
            let sent =
                s.tx.as_ref()
                    .map(|tx| tx.send(MasterToWorker::Batch { id, jobs }));
            match sent {
                Some(Ok(bytes)) => {
                    let r = &mut self.records[record];
                    r.batches += 1;
                    r.ipc_messages_out += 1;
                    r.ipc_bytes_out += bytes as u64;
                }
                Some(Err(e)) => {
                    // The Disconnected/Exited event will hand these back.
                    log::warn!("failed to send batch {id} to worker {slot}: {e}");
                }
                None => {}
            }
        }
        if self.pending.is_empty() && self.in_flight.is_empty() && self.delayed.is_empty() {
            let mut any = false;
            for s in &mut self.slots {
                if s.alive && !s.drain_sent {
                    if let Some(tx) = &s.tx {
                        let _ = tx.send(MasterToWorker::Drain);
                        s.drain_sent = true;
                        any = true;
                    }
                }
            }
            if any && self.drain_deadline.is_none() {
                self.drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
            }
        }
    }
}
