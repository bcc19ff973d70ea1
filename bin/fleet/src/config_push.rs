//! `--config FILE` / `--config-line LINE`: push configuration lines through
//! each device's configuration mode, dry-run unless `--commit`. Platforms
//! with a candidate configuration (Junos) get their `commit`; with
//! `--commit-confirmed MINUTES`, a commit the device rolls back unless
//! confirmed in time (Junos, EOS configuration sessions).

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
    /// Commit with automatic rollback after this many minutes unless
    /// confirmed (`--commit-confirmed`).
    pub confirmed_minutes: Option<u32>,
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
        Ok(Some(ConfigPush {
            lines: all,
            save,
            confirmed_minutes: None,
        }))
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
        let confirmed = match self.confirmed_minutes {
            None => None,
            Some(minutes) => match spec.confirmed_commit {
                Some(c) => Some((c, minutes)),
                None => bail!(
                    "device `{}`: platform {} has no confirmed commit (--commit-confirmed works on juniper_junos and arista_eos)",
                    device.name,
                    spec.name
                ),
            },
        };
        let mut commands = vec![confirmed.map_or(enter, |(c, _)| c.enter).to_string()];
        commands.extend(self.lines.iter().cloned());
        match confirmed {
            Some((c, minutes)) => {
                commands.push(c.command(minutes));
                if !c.leaves_config_mode {
                    commands.push(exit.to_string());
                }
            }
            None => {
                commands.extend(spec.commit.map(String::from));
                commands.push(exit.to_string());
            }
        }
        if self.save {
            match (spec.save, spec.commit) {
                (Some(save), _) => commands.push(save.to_string()),
                // A commit already made the change persistent.
                (None, Some(_)) => {}
                (None, None) => bail!(
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

/// Prints what a dry run would send, per device.
pub fn print_dry_run(devices: &[Device]) {
    for d in devices {
        println!("--- {} ({}:{})", d.name, d.host, d.port);
        for c in &d.commands {
            println!("{c}");
        }
    }
    eprintln!(
        "fleet: dry run: nothing was sent to {} devices; add --commit to apply",
        devices.len()
    );
}
