//! `fleet lab`: the command-line front end of [`Lab`].

use crate::error::LabError;
use crate::flavour::Flavour;
use crate::lab::{summary_json, Lab, LabConfig};
use crate::scenario::Scenario;
use fleet_proto::Secret;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// CLI arguments of `fleet lab`.
#[derive(clap::Args, Debug, Clone)]
pub struct LabArgs {
    /// Number of simulated devices.
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Address to listen on (default 127.0.0.1; a non-loopback address is
    /// only accepted when given here explicitly).
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// First port: device i listens on PORT+i (0: OS-assigned ports).
    #[arg(long, default_value_t = 0)]
    pub start_port: u16,
    /// Delay before each command's output (e.g. 200ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Uniform +- variation of --latency (e.g. 50ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub jitter: Duration,
    /// Scenario file (TOML) scripting faults per device; see fixtures/lab/.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Seed for host keys, scenario picks and jitter.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory for keys, password, known_hosts, inventory and stats.
    #[arg(long, default_value = "./lab")]
    pub state_dir: PathBuf,
    /// Inventory to write (default STATE_DIR/inventory.yaml).
    #[arg(long)]
    pub write_inventory: Option<PathBuf>,
    /// Stats file written on SIGUSR1 and exit (default STATE_DIR/stats.json).
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Device flavours, assigned round-robin (cisco_ios, linux, cisco_nxos,
    /// arista_eos, juniper_junos, or ios, nxos, eos, junos).
    #[arg(long, value_delimiter = ',', default_value = "cisco_ios,linux")]
    pub flavours: Vec<Flavour>,
    /// Environment variable holding the lab password (else a random one).
    #[arg(long)]
    pub password_env: Option<String>,
    /// Also serve an SSH jump host (address in the inventory's comments).
    #[arg(long)]
    pub jump_host: bool,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl LabArgs {
    /// The library configuration these flags describe (reads the scenario
    /// file and the password variable).
    pub fn to_config(&self) -> Result<LabConfig, LabError> {
        let mut config = LabConfig::new(self.devices, &self.state_dir);
        config.bind = self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        config.allow_non_loopback = self.bind.is_some();
        config.start_port = self.start_port;
        config.latency = self.latency;
        config.jitter = self.jitter;
        config.scenario = self.scenario.as_deref().map(Scenario::load).transpose()?;
        config.seed = self.seed;
        config.inventory_path = self.write_inventory.clone();
        config.stats_path = self.stats_file.clone();
        config.flavours = self.flavours.clone();
        config.jump_host = self.jump_host;
        config.threads = self.threads;
        if let Some(var) = &self.password_env {
            let value = std::env::var(var).map_err(|_| LabError::Config {
                message: format!("--password-env {var}: the variable is not set or not UTF-8"),
            })?;
            config.password = Some(Secret::new(value));
        }
        Ok(config)
    }
}

/// Runs the lab until SIGINT/SIGTERM; returns the process exit code.
///
/// Prints one `lab ready: N devices, inventory PATH` line to stdout once the
/// inventory is written, and the JSON counters to stderr on SIGUSR1 and exit.
pub fn run_cli(args: LabArgs) -> Result<i32, LabError> {
    let lab = Lab::start(args.to_config()?)?;
    let mut ready = format!(
        "lab ready: {} devices, inventory {}",
        lab.devices().len(),
        lab.inventory_path().display()
    );
    if let Some(jump) = lab.jump_host() {
        ready.push_str(&format!(", jump host {jump}"));
    }
    lab.run_until_signal(|| {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{ready}")
            .and_then(|()| stdout.flush())
            .map_err(LabError::io("failed to write the ready line"))
    })?;
    let counters = lab.shutdown()?;
    eprintln!("{}", summary_json(&counters));
    Ok(fleet_proto::ExitCode::AllOk.code())
}
