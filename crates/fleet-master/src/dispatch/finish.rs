//! The end of a run: final accounting, run.json, workers.json, trace.json.

use super::*;

impl Shell {
    pub(super) fn finish(
        mut self,
        started: Instant,
        t0_us: u64,
        started_at: &str,
    ) -> Result<RunOutcome, MasterError> {
        let wall = started.elapsed();
        // Every result is in the writer's queue: wait until it is in the
        // file (or known lost).
        let closed = self.results.close();
        if let Some(error) = closed.error {
            if self.write_error.is_none() {
                log::error!("failed to write results.jsonl: {error}");
                self.write_error = Some(std::sync::Arc::new(std::io::Error::other(error)));
            }
        }
        self.unrecorded.extend(closed.lost);
        let write_error = self.write_error.clone();
        // With results.jsonl unwritable, the other files likely are too:
        // failing on them would hide the exit code that says so.
        let lenient = |r: Result<(), MasterError>| match (&write_error, r) {
            (Some(_), Err(e)) => {
                log::error!("{e}");
                Ok(())
            }
            (_, r) => r,
        };
        let io_err = |path: PathBuf| move |source| MasterError::RunDir { path, source };
        let interrupted = matches!(self.machine.stop_cause(), Some(machine::StopCause::Signal));
        let failed: usize = self
            .counts
            .iter()
            .filter(|(st, _)| !st.is_ok())
            .map(|(_, n)| n)
            .sum();
        let exit_code = if write_error.is_some() {
            ExitCode::ResultsNotWritten
        } else if interrupted {
            ExitCode::Interrupted
        } else if failed > 0 {
            ExitCode::SomeFailed
        } else {
            ExitCode::AllOk
        };
        lenient(sink::write_workers_json(&self.dir, &self.records))?;
        // Streamed to the file: a full trace of a large run is never held
        // in memory as text.
        lenient(
            self.dir
                .write_atomic_with("trace.json", |out| {
                    sink::write_trace(
                        out,
                        &self.traced,
                        &self.marks,
                        &self.records,
                        std::process::id(),
                        t0_us,
                    )
                })
                .map_err(io_err(self.dir.file("trace.json"))),
        )?;
        self.traced = Vec::new();
        let unrecorded = self.report_unrecorded();
        let outcome = RunOutcome {
            run_id: self.dir.id.clone(),
            run_dir: self.dir.path.clone(),
            counts: self.counts.clone(),
            total: self.recorded,
            wall,
            interrupted,
            unrecorded,
            trace: self.sampler.record(),
            exit_code,
            auto: self.tuner.as_ref().map(|t| t.log().clone()),
        };
        lenient(write_run_json(
            &self.cfg,
            &self.dir,
            started_at,
            Some(&now_rfc3339()),
            outcome.total,
            Some(&outcome),
        ))?;
        log::info!(
            "run {} done in {:.3} s: {} devices, exit {}",
            outcome.run_id,
            wall.as_secs_f64(),
            outcome.total,
            exit_code.code()
        );
        fleet_logs::flush();
        let machine = &self.machine;
        self.reporter.finish(&outcome, &self.cfg, |seq| {
            machine.device_name(seq).unwrap_or("?")
        });
        Ok(outcome)
    }

    /// After a failed write: says on stderr which devices have no result
    /// in `results.jsonl`, and saves their results in a fallback file
    /// outside the run directory if one can be written.
    fn report_unrecorded(&mut self) -> Vec<String> {
        let Some(error) = &self.write_error else {
            return Vec::new();
        };
        let mut unrecorded = std::mem::take(&mut self.unrecorded);
        unrecorded.sort_by_key(|(seq, _)| *seq);
        unrecorded.dedup_by_key(|(seq, _)| *seq);
        let names: Vec<String> = unrecorded
            .iter()
            .filter_map(|&(seq, _)| self.machine.device_name(seq).map(str::to_string))
            .collect();
        let fallback = std::env::temp_dir().join(format!("fleet-{}-unrecorded.jsonl", self.dir.id));
        let mut lines = Vec::new();
        for (_, r) in &unrecorded {
            if serde_json::to_writer(&mut lines, r).is_ok() {
                lines.push(b'\n');
            }
        }
        let saved = write_private(&fallback, &lines);
        eprintln!(
            "fleet: results.jsonl could not be written ({error}); the run stopped. \
             {} device(s) have no recorded result:",
            names.len()
        );
        for name in &names {
            eprintln!("fleet:   {name}");
        }
        match saved {
            Ok(()) => eprintln!(
                "fleet: their results (without outputs) are in {}",
                fallback.display()
            ),
            Err(e) => eprintln!(
                "fleet: no fallback file either ({}: {e})",
                fallback.display()
            ),
        }
        log::error!(
            "{} devices have no recorded result: {}",
            names.len(),
            names.join(", ")
        );
        names
    }
}

/// Creates `path` 0600 (results may be sensitive) and writes `bytes`.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
