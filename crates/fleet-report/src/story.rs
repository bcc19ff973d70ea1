//! The results rows each device's story needs, found through an index
//! built once per report.
//!
//! A story (`fleet_logs::explain::build`) reads the device's own rows and,
//! to count what its worker was doing meanwhile, the rows of the same
//! worker process. Handing every story all the rows of that process made a
//! report quadratic in the run's size (10,000 devices did not finish in
//! 120 s). [`StoryIndex`] hands a story its own rows plus only the rows of
//! the process whose sessions overlap the device's sessions (with a margin),
//! which gives the same story: rows that do not overlap are skipped by
//! `build` anyway.

use fleet_logs::merge::Entry;
use fleet_proto::event::Lifecycle;
use fleet_proto::DeviceResult;
use std::collections::HashMap;

/// Slack (µs) around a session's time range when looking for overlapping
/// sessions: the story round-trips times through log timestamps.
const MARGIN_US: u64 = 1_000;

/// Rows of one worker process sorted by start, with a max-end tree to list
/// the rows overlapping a time range in O(log n + k).
#[derive(Debug, Default)]
struct PidRows {
    /// `(start_us, end_us, row)` sorted by start.
    rows: Vec<(u64, u64, usize)>,
    /// Segment tree (size `2 * cap`) of the largest end in each range.
    max_end: Vec<u64>,
    /// Leaves in the tree (a power of two ≥ `rows.len()`).
    cap: usize,
    /// Every row of this process in file order (the slow path).
    all: Vec<usize>,
}

impl PidRows {
    fn finish(&mut self) {
        self.rows.sort_unstable();
        self.cap = self.rows.len().next_power_of_two().max(1);
        self.max_end = vec![0; 2 * self.cap];
        for (i, r) in self.rows.iter().enumerate() {
            self.max_end[self.cap + i] = r.1;
        }
        for i in (1..self.cap).rev() {
            self.max_end[i] = self.max_end[2 * i].max(self.max_end[2 * i + 1]);
        }
    }

    /// Rows with `start < hi && end > lo`, pushed onto `out`.
    fn overlapping(&self, lo: u64, hi: u64, out: &mut Vec<usize>, visited: &mut usize) {
        let n = self.rows.partition_point(|r| r.0 < hi);
        if n > 0 {
            self.walk(1, 0, self.cap, n, lo, out, visited);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        node: usize,
        from: usize,
        to: usize,
        n: usize,
        lo: u64,
        out: &mut Vec<usize>,
        visited: &mut usize,
    ) {
        *visited += 1;
        if from >= n || self.max_end[node] <= lo {
            return;
        }
        if to - from == 1 {
            out.push(self.rows[from].2);
            return;
        }
        let mid = (from + to) / 2;
        self.walk(2 * node, from, mid, n, lo, out, visited);
        self.walk(2 * node + 1, mid, to, n, lo, out, visited);
    }
}

/// `results.jsonl` indexed by device and by worker process, built once.
#[derive(Debug)]
pub struct StoryIndex<'a> {
    results: &'a [DeviceResult],
    by_device: HashMap<&'a str, Vec<usize>>,
    by_pid: HashMap<u32, PidRows>,
    /// Tree nodes and rows looked at by [`StoryIndex::rows_for`] so far: a
    /// test reads it to check the work grows linearly with the run.
    pub visited: usize,
}

fn span(r: &DeviceResult) -> (u64, u64) {
    let s = r.started_us;
    (s, s + (r.timings_ms.total * 1e3).round() as u64)
}

impl<'a> StoryIndex<'a> {
    /// Indexes the rows (one pass, then a sort per worker process).
    pub fn new(results: &'a [DeviceResult]) -> Self {
        let mut by_device: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_pid: HashMap<u32, PidRows> = HashMap::new();
        for (i, r) in results.iter().enumerate() {
            by_device.entry(r.device.as_str()).or_default().push(i);
            if let Some(w) = &r.worker {
                let p = by_pid.entry(w.pid).or_default();
                p.all.push(i);
                if r.started_us > 0 {
                    let (s, e) = span(r);
                    p.rows.push((s, e, i));
                }
            }
        }
        for p in by_pid.values_mut() {
            p.finish();
        }
        StoryIndex {
            results,
            by_device,
            by_pid,
            visited: 0,
        }
    }

    /// The rows (in file order) the story of `device` needs: its own rows,
    /// and the rows of the worker process of `last` (its last row) that
    /// can overlap its sessions on that process. `entries` are the log
    /// lines the story reads: a session started in the logs without a
    /// timed row on that process makes the story take its window from the
    /// logs, so then every row of the process is given, as before.
    pub fn rows_for(
        &mut self,
        device: &str,
        last: &DeviceResult,
        entries: &[Entry],
    ) -> Vec<DeviceResult> {
        let own: &[usize] = self.by_device.get(device).map_or(&[], Vec::as_slice);
        let mut rows: Vec<usize> = own.to_vec();
        self.visited += own.len();
        if let Some(pid) = last.worker.as_ref().map(|w| w.pid) {
            if let Some(p) = self.by_pid.get(&pid) {
                // The final row of each attempt decides the attempt's window.
                let mut final_row: HashMap<u32, &DeviceResult> = HashMap::new();
                for &i in own {
                    final_row.insert(self.results[i].attempt, &self.results[i]);
                }
                let timed = |r: &DeviceResult| r.worker.is_some() && r.started_us > 0;
                let logs_window = entries.iter().any(|e| {
                    matches!(e.record.event(), Some(Lifecycle::SessionStart { attempt, .. })
                        if !final_row.get(&attempt).is_some_and(|r| timed(r)))
                });
                if logs_window {
                    self.visited += p.all.len();
                    rows.extend_from_slice(&p.all);
                } else {
                    for r in final_row.values() {
                        if timed(r) && r.worker.as_ref().map(|w| w.pid) == Some(pid) {
                            let (s, e) = span(r);
                            p.overlapping(
                                s.saturating_sub(MARGIN_US),
                                e.max(s + 1) + MARGIN_US,
                                &mut rows,
                                &mut self.visited,
                            );
                        }
                    }
                }
            }
        }
        rows.sort_unstable();
        rows.dedup();
        rows.into_iter().map(|i| self.results[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_logs::explain;
    use fleet_logs::merge::parse_entries;
    use fleet_proto::result::{Status, Timings, WorkerRef};

    const T0: u64 = 1_795_000_000_000_000;

    fn row(
        device: &str,
        pid: u32,
        thread: u32,
        start_ms: u64,
        ms: f64,
        attempt: u32,
    ) -> DeviceResult {
        DeviceResult {
            device: device.to_string(),
            host: "10.0.0.1".into(),
            port: 22,
            status: Status::Ok,
            error: None,
            outputs: Vec::new(),
            worker: Some(WorkerRef {
                id: pid % 10,
                pid,
                thread: format!("w{}-t{thread}", pid % 10),
            }),
            timings_ms: Timings {
                connect: 1.0,
                auth: 1.0,
                commands: ms - 2.0,
                total: ms,
            },
            attempt,
            started_us: T0 + start_ms * 1000,
            batch: Some(0),
        }
    }

    /// `n` devices on 2 processes x 8 threads, 5 ms each, back to back on
    /// each thread, plus one session per process that spans the whole run.
    fn run(n: usize) -> Vec<DeviceResult> {
        let mut rows = Vec::new();
        for i in 0..n {
            let (pid, slot) = (100 + (i % 2) as u32, i / 2);
            let (thread, k) = ((slot % 8) as u32, (slot / 8) as u64);
            rows.push(row(&format!("d{i}"), pid, thread, k * 5, 5.0, 1));
        }
        for pid in [100, 101] {
            rows.push(row(&format!("long{pid}"), pid, 9, 0, 1e9, 1));
        }
        rows
    }

    /// Rows handed to stories and index nodes visited, over every device.
    fn work(rows: &[DeviceResult]) -> (usize, usize) {
        let mut idx = StoryIndex::new(rows);
        let mut handed = 0;
        for r in rows {
            handed += idx.rows_for(&r.device, r, &[]).len();
        }
        (handed, idx.visited)
    }

    #[test]
    fn story_rows_grow_linearly_with_the_run() {
        let (handed_1k, visited_1k) = work(&run(1_000));
        let (handed_4k, visited_4k) = work(&run(4_000));
        // Each device overlaps ~24 sessions of its process with the 1 ms margin
        // (+ the long one):
        // handing it all 2,000 rows of its process was the quadratic bug.
        assert!(
            handed_4k <= 4_002 * 40,
            "{handed_4k} rows handed to 4,002 stories"
        );
        // 4x the devices is ~4x the work (x log n for the tree), not 16x.
        assert!(
            handed_4k <= 5 * handed_1k,
            "rows handed: {handed_1k} at 1k, {handed_4k} at 4k"
        );
        assert!(
            visited_4k <= 6 * visited_1k,
            "index nodes visited: {visited_1k} at 1k, {visited_4k} at 4k"
        );
    }

    /// The story as the report told it before the index: the device's rows
    /// and every row of its last worker process.
    fn story_from_all_rows(rows: &[DeviceResult], last: &DeviceResult, es: &[Entry]) -> String {
        let pid = |x: &DeviceResult| x.worker.as_ref().map(|w| w.pid);
        let mine: Vec<DeviceResult> = rows
            .iter()
            .filter(|x| x.device == last.device || pid(x) == pid(last))
            .cloned()
            .collect();
        explain::build("r", &last.device, es, &mine).to_string()
    }

    #[test]
    fn indexed_rows_tell_the_same_story_as_all_rows() {
        let mut rows = run(200);
        // A retry on another process, after a session that overlapped many.
        rows.push(row("d3", 102, 0, 20, 400.0, 1));
        rows.push(row("d3", 101, 2, 500, 3.0, 2));
        rows.push(row("x", 101, 1, 499, 2.0, 1));
        // A row without a worker and one without a start.
        let mut lost = row("lost", 101, 0, 0, 0.0, 1);
        lost.worker = None;
        lost.started_us = 0;
        rows.push(lost);
        let mut unstarted = row("d5", 101, 0, 0, 3.0, 1);
        unstarted.started_us = 0;
        rows.push(unstarted);
        // d7: attempt 1 started in the logs on pid 101, no row (its worker
        // died); attempt 2 has a row. Its window comes from the logs.
        let log = [
            "2026-11-18T11:06:40.000000Z INFO  w1 101 w1-t0 d7 session start: h:22 attempt 1 batch 0",
            "2026-11-18T11:06:40.100000Z WARN  w1 101 w1-t0 - slow worker",
            "2026-11-18T11:06:40.200000Z INFO  master 1 main - note",
        ]
        .join("\n");
        let entries = parse_entries(&log, "x.log");
        rows.push(row("d7", 101, 3, 600, 3.0, 2));
        let mut idx = StoryIndex::new(&rows);
        let mut last: HashMap<&str, &DeviceResult> = HashMap::new();
        for r in &rows {
            last.insert(&r.device, r);
        }
        let mut with_load = 0;
        for (name, l) in &last {
            let es: Vec<Entry> = if *name == "d7" {
                entries.clone()
            } else {
                Vec::new()
            };
            let want = story_from_all_rows(&rows, l, &es);
            let got = explain::build("r", name, &es, &idx.rows_for(name, l, &es)).to_string();
            assert_eq!(got, want, "story of {name}");
            with_load += usize::from(want.contains("other session"));
        }
        assert!(with_load > 200, "the stories count overlapping sessions");
    }
}
