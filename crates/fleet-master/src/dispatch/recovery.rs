//! Workers that end, crash or are killed, and signals: handing devices
//! back, retrying them, isolating a poison device, stopping the run.

use super::*;

impl Master {
    /// Hands an ended worker's devices back (requeued, retried, lost or
    /// cancelled) and, after a crash, starts a replacement.
    pub(super) fn worker_gone(&mut self, slot: u32, generation: u32, why: &str, crashed: bool) {
        let stopping = self.stopping.is_some();
        let max_restarts = self.cfg.max_worker_restarts;
        let Some(s) = self.slot_mut(slot, generation) else {
            return;
        };
        if s.lost {
            return;
        }
        s.lost = true;
        s.tx = None;
        s.want = 0;
        let pid = s.pid;
        let restarts = s.restarts;
        let record = s.record;
        self.records[record].crashed = crashed;
        let mut mine: Vec<u32> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.slot == slot)
            .map(|(seq, _)| *seq)
            .collect();
        mine.sort_unstable();
        if crashed {
            log::error!(
                "worker_crashed: worker {slot} generation {generation} pid {pid}: {why}; {} devices in flight",
                mine.len()
            );
            self.mark("worker crashed", Some(slot), why.to_string());
        } else if !mine.is_empty() {
            log::info!(
                "worker {slot} left with {} devices it never started; handing them back",
                mine.len()
            );
        }
        let running = mine
            .iter()
            .filter(|seq| self.in_flight.get(seq).is_some_and(|f| f.started))
            .count();
        let mut requeue = Vec::new();
        for seq in mine {
            let Some(f) = self.take_in_flight(seq) else {
                continue;
            };
            let mut job = f.job;
            if stopping {
                self.final_without_session(&job, Status::Cancelled, "run interrupted");
            } else if f.started && crashed && running > 1 && !self.suspects.contains(&seq) {
                // Any of the devices running may have caused the crash: each
                // gets another attempt, alone, before anyone is blamed.
                let _scope = fleet_logs::device_scope(&job.device.name);
                log::warn!(
                    "{}",
                    Lifecycle::Requeue {
                        attempt: job.attempt + 1,
                        reason: format!(
                            "running beside {} others when worker {slot} died; runs alone next",
                            running - 1
                        ),
                    }
                );
                self.suspects.insert(seq);
                job.attempt += 1;
                requeue.push(job);
            } else if f.started {
                let strikes = self.strikes.entry(seq).or_default();
                *strikes += 1;
                let strikes = *strikes;
                if strikes > self.cfg.retries {
                    let _scope = fleet_logs::device_scope(&job.device.name);
                    log::error!(
                        "worker_lost: device was running when worker {slot} died, attempt {} of {}; giving up",
                        job.attempt,
                        self.cfg.retries + 1
                    );
                    let why = format!(
                        "worker {slot} (pid {pid}) died while running this device ({why}); \
                         it crashed its worker {strikes} time(s), running alone: isolated \
                         after {} attempt(s)",
                        job.attempt
                    );
                    self.final_without_session(&job, Status::WorkerLost, &why);
                } else {
                    let _scope = fleet_logs::device_scope(&job.device.name);
                    log::warn!(
                        "{}",
                        Lifecycle::Requeue {
                            attempt: job.attempt + 1,
                            reason: format!("was running when worker {slot} died"),
                        }
                    );
                    self.suspects.insert(seq);
                    job.attempt += 1;
                    requeue.push(job);
                }
            } else {
                requeue.push(job);
            }
        }
        for job in requeue.into_iter().rev() {
            self.pending.push_front(job);
        }
        let work_left = !self.pending.is_empty();
        if crashed && !stopping && work_left && self.cfg.processes > 0 {
            if restarts < max_restarts {
                match self.spawn_worker(slot, generation + 1) {
                    Ok(mut new) => {
                        new.restarts = restarts + 1;
                        self.slots.push(new);
                        self.log_layout(format!(
                            "worker {slot} restarted as generation {} (restart {} of {max_restarts})",
                            generation + 1,
                            restarts + 1
                        ));
                    }
                    Err(e) => log::error!("failed to restart worker {slot}: {e}"),
                }
            } else {
                log::error!("worker {slot} reached --max-worker-restarts ({max_restarts})");
                self.log_layout(format!(
                    "worker {slot} not restarted: --max-worker-restarts reached"
                ));
            }
        }
        self.fail_pending_if_no_workers();
    }

    /// Logs the live layout after a change of workers.
    fn log_layout(&self, reason: String) {
        log::warn!(
            "{}",
            Lifecycle::LayoutChange {
                processes: self.slots.iter().filter(|s| s.alive).count(),
                threads: self.cfg.threads,
                reason,
            }
        );
    }

    /// With no worker left that could take work, the queue can never run.
    pub(super) fn fail_pending_if_no_workers(&mut self) {
        let any_usable = self
            .slots
            .iter()
            .any(|s| s.alive && !s.lost && !s.drain_sent);
        if any_usable || self.pending.is_empty() {
            return;
        }
        log::error!("no workers left: {} devices cannot run", self.pending.len());
        while let Some(job) = self.pending.pop_front() {
            self.final_without_session(
                &job,
                Status::WorkerLost,
                "no worker left to run this device (--max-worker-restarts reached)",
            );
        }
    }

    pub(super) fn on_signal(&mut self, sig: i32) {
        match &mut self.stopping {
            None => {
                let grace = self.cfg.grace;
                log::warn!(
                    "signal {sig}: stopping; in-flight sessions get {:.1} s",
                    grace.as_secs_f64()
                );
                self.reporter.note(&format!(
                    "interrupted: finishing in-flight sessions (up to {:.0} s); Ctrl-C again to stop now",
                    grace.as_secs_f64()
                ));
                self.stopping = Some(Stopping {
                    deadline: Instant::now() + grace,
                    killed: false,
                });
                while let Some(job) = self.pending.pop_front() {
                    self.final_without_session(
                        &job,
                        Status::Cancelled,
                        "run interrupted before this device started",
                    );
                }
                for (_, _, last) in std::mem::take(&mut self.delayed) {
                    self.record_result(last);
                }
                for s in &mut self.slots {
                    if let Some(tx) = &s.tx {
                        let _ = tx.send(MasterToWorker::Stop);
                    }
                }
            }
            Some(stop) => {
                log::warn!("signal {sig} again: stopping now");
                stop.deadline = Instant::now();
            }
        }
    }

    pub(super) fn kill_slot(&mut self, slot: u32, generation: u32) {
        let Some(s) = self.slot_mut(slot, generation) else {
            return;
        };
        if !s.alive || s.pid == std::process::id() {
            return;
        }
        let pid = s.pid;
        log::warn!("killing worker {slot} pid {pid}");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    pub(super) fn kill_all(&mut self, why: &str) {
        log::warn!("{why}: killing remaining workers");
        let live: Vec<(u32, u32)> = self
            .slots
            .iter()
            .filter(|s| s.alive)
            .map(|s| (s.id, s.generation))
            .collect();
        for (id, generation) in live {
            self.kill_slot(id, generation);
        }
        // The in-process pool cannot be killed: its unfinished devices end
        // here, and its threads die with the process.
        if self.cfg.processes == 0 {
            let seqs: Vec<u32> = self.in_flight.keys().copied().collect();
            for seq in seqs {
                if let Some(f) = self.take_in_flight(seq) {
                    self.final_without_session(&f.job, Status::Cancelled, "run interrupted");
                }
            }
            for s in &mut self.slots {
                s.alive = false;
            }
        }
    }
}
