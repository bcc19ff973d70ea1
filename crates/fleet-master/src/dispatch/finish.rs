//! The end of a run: final accounting, run.json, workers.json, trace.json.

use super::*;

impl Master {
    pub(super) fn finish(
        mut self,
        started: Instant,
        t0_us: u64,
        started_at: &str,
    ) -> Result<RunOutcome, MasterError> {
        // Anything still unaccounted for (a worker killed at the deadline)
        // gets its final word now: nothing is ever dropped.
        let left: Vec<u32> = self.in_flight.keys().copied().collect();
        for seq in left {
            if let Some(f) = self.take_in_flight(seq) {
                self.final_without_session(&f.job, Status::Cancelled, "run interrupted");
            }
        }
        while let Some(job) = self.pending.pop_front() {
            self.final_without_session(
                &job,
                Status::Cancelled,
                "run ended before this device started",
            );
        }
        for (_, _, last) in std::mem::take(&mut self.delayed) {
            self.record_result(last);
        }
        let wall = started.elapsed();
        let io_err = |path: PathBuf| move |source| MasterError::RunDir { path, source };
        self.results
            .flush()
            .map_err(io_err(self.dir.file("results.jsonl")))?;
        let interrupted = self.stopping.is_some();
        let failed: usize = self
            .counts
            .iter()
            .filter(|(st, _)| !st.is_ok())
            .map(|(_, n)| n)
            .sum();
        let exit_code = if interrupted {
            ExitCode::Interrupted
        } else if failed > 0 {
            ExitCode::SomeFailed
        } else {
            ExitCode::AllOk
        };
        sink::write_workers_json(&self.dir, &self.records)?;
        let mut trace = Vec::with_capacity(256 * self.compact.len() + 4096);
        sink::write_trace(
            &mut trace,
            &self.compact,
            &self.marks,
            &self.records,
            std::process::id(),
            t0_us,
        )
        .and_then(|()| self.dir.write_atomic("trace.json", &trace))
        .map_err(io_err(self.dir.file("trace.json")))?;
        let outcome = RunOutcome {
            run_id: self.dir.id.clone(),
            run_dir: self.dir.path.clone(),
            counts: self.counts.clone(),
            total: self.total,
            wall,
            interrupted,
            exit_code,
        };
        write_run_json(
            &self.cfg,
            &self.dir,
            started_at,
            Some(&now_rfc3339()),
            self.total,
            Some(&outcome),
        )?;
        log::info!(
            "run {} done in {:.3} s: {} devices, exit {}",
            outcome.run_id,
            wall.as_secs_f64(),
            self.total,
            exit_code.code()
        );
        fleet_logs::flush();
        self.reporter.finish(&outcome, &self.cfg, &self.compact);
        Ok(outcome)
    }
}

/// Puts chunked outputs back: chunks hold the start of each output, in order.
pub(super) fn reassemble(result: &mut DeviceResult, chunks: Vec<(u32, bool, String)>) {
    let mut parts: BTreeMap<(u32, bool), String> = BTreeMap::new();
    for (index, stderr, data) in chunks {
        parts.entry((index, stderr)).or_default().push_str(&data);
    }
    for ((index, stderr), mut text) in parts {
        if let Some(out) = result.outputs.get_mut(index as usize) {
            let field = if stderr {
                &mut out.stderr
            } else {
                &mut out.stdout
            };
            text.push_str(field);
            *field = text;
        }
    }
}
