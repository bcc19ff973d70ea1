//! `--config FILE` / `--config-line LINE`: push configuration lines through
//! each device's configuration mode, dry-run unless `--commit`.

use anyhow::{bail, Context, Result};
use fleet_proto::{Device, Mode};
use std::path::Path;

/// What to push.
pub struct ConfigPush {
    /// Configuration lines, in order.
    pub lines: Vec<String>,
    /// Save the configuration afterwards (`write memory` or the platform's
    /// equivalent).
    pub save: bool,
}

impl ConfigPush {
    /// Collects lines from `--config FILE` (blank lines and `!`/`#`
    /// comments skipped) and `--config-line`.
    pub fn from_args(file: Option<&Path>, lines: &[String], save: bool) -> Result<Option<Self>> {
        let mut all = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            all.extend(
                text.lines()
                    .map(str::trim_end)
                    .filter(|l| {
                        let t = l.trim_start();
                        !t.is_empty() && !t.starts_with('!') && !t.starts_with('#')
                    })
                    .map(String::from),
            );
        }
        all.extend(lines.iter().cloned());
        if all.is_empty() {
            if save {
                bail!("--save-config needs --config or --config-line");
            }
            return Ok(None);
        }
        Ok(Some(ConfigPush { lines: all, save }))
    }

    /// The whole command sequence for `device`: enter config mode, the
    /// lines, leave, save, then the device's own commands (e.g. a `show`
    /// to verify). Forces shell mode: config mode is a CLI state.
    pub fn apply(&self, device: &mut Device) -> Result<()> {
        let platform = device.platform.as_deref();
        let spec = fleet_ssh::platform::Platform::for_device(platform)
            .map(|p| p.spec)
            .with_context(|| {
                format!(
                    "device `{}`: unknown platform {:?}; config mode needs a known platform",
                    device.name,
                    platform.unwrap_or("-")
                )
            })?;
        let (Some(enter), Some(exit)) = (spec.config_enter, spec.config_exit) else {
            bail!(
                "device `{}`: platform {} has no configuration mode",
                device.name,
                spec.name
            );
        };
        let mut commands = vec![enter.to_string()];
        commands.extend(self.lines.iter().cloned());
        commands.push(exit.to_string());
        if self.save {
            match save_command(spec.name) {
                Some(save) => commands.push(save.to_string()),
                None => bail!(
                    "device `{}`: don't know how to save the configuration on {}",
                    device.name,
                    spec.name
                ),
            }
        }
        commands.append(&mut device.commands);
        device.commands = commands;
        device.mode = Some(Mode::Shell);
        Ok(())
    }
}

fn save_command(platform: &str) -> Option<&'static str> {
    match platform {
        "cisco_ios" | "arista_eos" => Some("write memory"),
        "cisco_nxos" => Some("copy running-config startup-config"),
        _ => None,
    }
}

/// Prints what a dry run would send, per device.
pub fn print_dry_run(devices: &[Device], policy: fleet_escape::Policy) {
    for d in devices {
        println!(
            "--- {} ({}:{})",
            policy.line(&d.name),
            policy.line(&d.host),
            d.port
        );
        for c in &d.commands {
            println!("{}", policy.line(c));
        }
    }
    eprintln!(
        "fleet: dry run: nothing was sent to {} devices; add --commit to apply",
        devices.len()
    );
}
