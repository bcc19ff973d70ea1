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
        let workers_json = serde_json::to_vec_pretty(&self.records).unwrap_or_default();
        self.dir
            .write_atomic("workers.json", &workers_json)
            .map_err(io_err(self.dir.file("workers.json")))?;
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

pub(super) fn write_run_json(
    cfg: &RunConfig,
    dir: &RunDir,
    started_at: &str,
    ended_at: Option<&str>,
    devices: usize,
    outcome: Option<&RunOutcome>,
) -> Result<(), MasterError> {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let totals: BTreeMap<String, usize> = outcome
        .map(|o| {
            o.counts
                .iter()
                .map(|(s, n)| (s.as_str().to_string(), *n))
                .collect()
        })
        .unwrap_or_default();
    let doc = serde_json::json!({
        "run_id": dir.id,
        "fleet_version": env!("CARGO_PKG_VERSION"),
        "host": host,
        "command_line": cfg.command_line,
        "inventory": cfg.inventory,
        "layout": {
            "processes": cfg.processes,
            "threads": cfg.threads,
            "batch_size": cfg.batch_size,
        },
        "timeouts_ms": {
            "connect": cfg.timeouts.connect.map(|d| d.as_millis() as u64),
            "command": cfg.timeouts.command.map(|d| d.as_millis() as u64),
            "session": cfg.timeouts.session.map(|d| d.as_millis() as u64),
        },
        "started_at": started_at,
        "ended_at": ended_at,
        "devices": devices,
        "wall_ms": outcome.map(|o| o.wall.as_secs_f64() * 1e3),
        "totals": totals,
        "interrupted": outcome.map(|o| o.interrupted),
        "exit_code": outcome.map(|o| o.exit_code.code()),
        "resumed": cfg.resume_dir.is_some(),
        "shard": cfg.shard,
    });
    let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    let name = if cfg.resume_dir.is_some() && outcome.is_none() {
        // Keep the original run.json until the resumed run ends.
        return Ok(());
    } else {
        "run.json"
    };
    dir.write_atomic(name, &bytes)
        .map_err(|source| MasterError::RunDir {
            path: dir.file(name),
            source,
        })
}
