//! `fleet report`: one run as a self-contained HTML file, or `--serve` to
//! browse the runs of an `--out` directory. The work is in `fleet-report`.

use crate::cli::ReportArgs;
use anyhow::{bail, Context, Result};
use fleet_report::{model::Limits, serve};

/// Exit code for bad flags, an unreadable run or an unwritable file.
const USAGE: i32 = fleet_proto::ExitCode::Usage.code();

/// Runs `fleet report`; returns the exit code.
pub fn report(args: ReportArgs) -> i32 {
    match run(args) {
        Ok(()) => fleet_proto::ExitCode::AllOk.code(),
        Err(e) => {
            eprintln!("fleet report: error: {e:#}");
            USAGE
        }
    }
}

fn run(args: ReportArgs) -> Result<()> {
    if args.serve {
        // FLEET_REPORT_LISTEN may set the address, but only a --listen the
        // user typed may open it beyond loopback.
        let (addr, explicit) = match (&args.listen, std::env::var("FLEET_REPORT_LISTEN")) {
            (Some(a), _) => (a.clone(), true),
            (None, Ok(a)) if !a.is_empty() => (a, false),
            _ => (serve::DEFAULT_LISTEN.to_string(), false),
        };
        let listener = serve::bind(&serve::Listen { addr, explicit })?;
        let local = listener
            .local_addr()
            .context("failed to read the bound address")?;
        if !args.out.is_dir() {
            bail!("runs directory {} does not exist", args.out.display());
        }
        eprintln!(
            "fleet report: serving {} on http://{local}/ (read-only; Ctrl-C stops)",
            args.out.display()
        );
        serve::serve(listener, args.out)?;
        return Ok(());
    }
    let Some(run_dir) = args.run_dir else {
        bail!("a run directory is required")
    };
    let limits = Limits {
        output_bytes: args.output_cap,
        ..Limits::default()
    };
    let html = fleet_report::render_run(&run_dir, &limits)?;
    let out = args.output.unwrap_or_else(|| run_dir.join("report.html"));
    if out.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout()
            .write_all(html.as_bytes())
            .context("failed to write the report to stdout")?;
        return Ok(());
    }
    write_private(&out, html.as_bytes())
        .with_context(|| format!("failed to write {}", out.display()))?;
    eprintln!(
        "fleet report: {} ({} KiB)",
        out.display(),
        html.len() / 1024
    );
    Ok(())
}

/// Reports hold device outputs: written 0600, like the run directory's files.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}
