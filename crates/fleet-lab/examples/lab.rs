//! Runs `fleet lab` standalone: `cargo run -p fleet-lab --example lab -- --devices 10`.

use clap::Parser;

/// `fleet lab` without the rest of fleet.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: fleet_lab::LabArgs,
}

fn main() {
    let cli = Cli::parse();
    match fleet_lab::run_cli(cli.args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("fleet lab: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            std::process::exit(fleet_proto::ExitCode::Usage.code());
        }
    }
}
