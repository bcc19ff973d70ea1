//! `fleet report`: a run directory as one HTML file you can attach to a
//! ticket, and `fleet report --serve`, a read-only browser of past runs.
//!
//! - [`model`]: reads a run directory into [`model::ReportData`], the data
//!   the page draws (run header, one lane per worker thread, every
//!   device with its timings, capped outputs and story, the workers).
//! - [`html`]: renders that data into one file: inline CSS and JS, the data
//!   as JSON in a `<script type="application/json">`, no network fetches,
//!   so it opens from `file://` on an air-gapped machine.
//! - [`serve`]: a tiny HTTP/1.1 server on loopback that lists the runs of
//!   an `--out` directory and renders each report on request; GET only,
//!   paths confined to that directory.
//! - [`story`]: `results.jsonl` indexed once so that each device's story
//!   reads only the rows it needs (the report stays linear in the run).
#![deny(missing_docs)]

pub mod error;
pub mod html;
pub mod model;
pub mod serve;
pub mod story;

pub use error::ReportError;

use std::path::Path;

/// Reads the run at `run_dir` and renders its report.
pub fn render_run(run_dir: &Path, limits: &model::Limits) -> Result<String, ReportError> {
    let data = model::read(run_dir, limits)?;
    html::render(&data)
}
