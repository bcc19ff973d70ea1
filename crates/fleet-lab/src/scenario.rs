//! Scripted device behaviour: which devices are slow, refuse, hang, fail
//! auth, and so on, read from a TOML scenario file.
//!
//! # Format
//!
//! ```toml
//! # Optional: seed for the share picks when `--seed` is not given.
//! seed = 7
//!
//! # Rules are tried in file order; a device takes the first rule that
//! # matches it. `devices` (globs on the device name) match by name; rules
//! # with `share` (percent of ALL lab devices) then take devices in a
//! # seeded, deterministic order among those no rule matched yet, so the
//! # counts are exact: 10% of 200 devices is exactly 20.
//! [[rule]]
//! name = "auth_fail"          # written to inventory `data.scenario`
//! share = 10                  # or: devices = ["lab-ios-00*"]
//! auth_fail = true            # reject every credential
//! # refused = true            # port bound but not listening: connect gets RST
//! # hang = true               # accept TCP, never send the SSH banner
//! # banner_delay = "2s"       # wait before sending the SSH banner
//! # latency = "200ms"         # per command (replaces --latency)
//! # jitter = "50ms"           # +- uniform, seeded (replaces --jitter)
//! # disconnect_mid_output = true  # send half the output, then disconnect
//! # large_output_bytes = 20971520 # every command answers with this many bytes
//! # host_key_change = true    # 2nd and later connections show another host key
//! # group = "core"            # role group in the inventory (default core/access)
//! # telnet = true             # serve telnet (Username:/Password:, same CLI) instead of SSH
//! # escapes = true            # banner, outputs and error lines carry terminal escape
//! #                           # sequences (ESC, BEL, CR, C1, DEL): see `fleet_lab::escapes`
//! # sticky_config_mode = true # `end` leaves config mode stuck; `exit` still works
//! ```
//!
//! Durations use humantime syntax (`150ms`, `2s`). Devices no rule matches
//! behave normally (`data.scenario: normal`).

use crate::error::LabError;
use crate::hash::seeded;
use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The scenario name of devices that no rule matched.
pub const NORMAL: &str = "normal";

/// How one device behaves; the lab's defaults plus at most one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// Scenario name, written to the inventory so tests know what to expect.
    pub name: String,
    /// Delay before each command's output.
    pub latency: Duration,
    /// Uniform +- variation of `latency`, from a seeded RNG.
    pub jitter: Duration,
    /// Delay before the SSH banner.
    pub banner_delay: Duration,
    /// Reject all credentials.
    pub auth_fail: bool,
    /// Bind the port without listening, so connects are refused.
    pub refused: bool,
    /// Accept TCP and never speak.
    pub hang: bool,
    /// Send half of a command's output, then drop the connection.
    pub disconnect_mid_output: bool,
    /// Every command answers with this many bytes (see [`crate::large_output_line`]).
    pub large_output: Option<u64>,
    /// Second and later connections present a different host key.
    pub host_key_change: bool,
    /// Role group override.
    pub group: Option<String>,
    /// Serve telnet (login prompts, then the same CLI) instead of SSH.
    pub telnet: bool,
    /// Banner, outputs and error lines carry terminal control sequences
    /// ([`crate::escapes`]).
    pub escapes: bool,
    /// `end` does not leave configuration mode (as when it lands in a
    /// pending multi-line input); `exit` still leaves one level at a time.
    pub sticky_config_mode: bool,
}

impl Behaviour {
    /// Normal behaviour with the lab-wide command latency.
    pub fn normal(latency: Duration, jitter: Duration) -> Self {
        Behaviour {
            name: NORMAL.to_string(),
            latency,
            jitter,
            banner_delay: Duration::ZERO,
            auth_fail: false,
            refused: false,
            hang: false,
            disconnect_mid_output: false,
            large_output: None,
            host_key_change: false,
            group: None,
            telnet: false,
            escapes: false,
            sticky_config_mode: false,
        }
    }
}

/// One rule as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    devices: Vec<String>,
    share: Option<f64>,
    latency: Option<String>,
    jitter: Option<String>,
    banner_delay: Option<String>,
    #[serde(default)]
    auth_fail: bool,
    #[serde(default)]
    refused: bool,
    #[serde(default)]
    hang: bool,
    #[serde(default)]
    disconnect_mid_output: bool,
    large_output_bytes: Option<u64>,
    #[serde(default)]
    host_key_change: bool,
    group: Option<String>,
    #[serde(default)]
    telnet: bool,
    #[serde(default)]
    escapes: bool,
    #[serde(default)]
    sticky_config_mode: bool,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    seed: Option<u64>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

/// A validated rule.
#[derive(Debug, Clone)]
struct Rule {
    /// Name globs; empty when the rule is share-based.
    globs: Vec<GlobMatcher>,
    /// Percent of all devices, for share-based rules.
    share: Option<f64>,
    /// Overrides applied on top of the lab defaults; `None` keeps the default.
    latency: Option<Duration>,
    jitter: Option<Duration>,
    template: Behaviour,
}

/// A parsed scenario file.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Seed from the file, used when the CLI gives none.
    pub seed: Option<u64>,
    rules: Vec<Rule>,
}

fn duration(rule: &str, field: &str, value: &Option<String>) -> Result<Option<Duration>, LabError> {
    value
        .as_deref()
        .map(|v| {
            humantime::parse_duration(v).map_err(|e| LabError::Scenario {
                message: format!("rule {rule:?}: field {field}: {e}"),
            })
        })
        .transpose()
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Io {
            what: format!("failed to read scenario {}", path.display()),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            LabError::Scenario { message } => LabError::Scenario {
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })
    }

    /// Parses scenario TOML text.
    pub fn parse(text: &str) -> Result<Self, LabError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| LabError::Scenario {
            message: e.to_string(),
        })?;
        let mut rules = Vec::new();
        for r in raw.rules {
            let bad = |message: String| LabError::Scenario { message };
            if r.devices.is_empty() == r.share.is_none() {
                return Err(bad(format!(
                    "rule {:?}: give exactly one of `devices` or `share`",
                    r.name
                )));
            }
            if let Some(share) = r.share {
                if !(0.0..=100.0).contains(&share) {
                    return Err(bad(format!("rule {:?}: share must be 0..=100", r.name)));
                }
            }
            let globs = r
                .devices
                .iter()
                .map(|g| {
                    Glob::new(g)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| bad(format!("rule {:?}: bad glob {g:?}: {e}", r.name)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut template = Behaviour::normal(Duration::ZERO, Duration::ZERO);
            template.name = r.name.clone();
            template.banner_delay =
                duration(&r.name, "banner_delay", &r.banner_delay)?.unwrap_or_default();
            template.auth_fail = r.auth_fail;
            template.refused = r.refused;
            template.hang = r.hang;
            template.disconnect_mid_output = r.disconnect_mid_output;
            template.large_output = r.large_output_bytes;
            template.host_key_change = r.host_key_change;
            template.group = r.group.clone();
            template.telnet = r.telnet;
            template.escapes = r.escapes;
            template.sticky_config_mode = r.sticky_config_mode;
            rules.push(Rule {
                globs,
                share: r.share,
                latency: duration(&r.name, "latency", &r.latency)?,
                jitter: duration(&r.name, "jitter", &r.jitter)?,
                template,
            });
        }
        Ok(Scenario {
            seed: raw.seed,
            rules,
        })
    }

    /// The behaviour of every device in `names`, in order: name rules
    /// first, then share rules over the rest in a seeded order.
    pub fn assign(
        &self,
        names: &[String],
        seed: u64,
        latency: Duration,
        jitter: Duration,
    ) -> Vec<Behaviour> {
        let mut chosen: Vec<Option<usize>> = names
            .iter()
            .map(|n| {
                self.rules
                    .iter()
                    .position(|r| r.globs.iter().any(|g| g.is_match(n)))
            })
            .collect();
        let mut order: Vec<usize> = (0..names.len()).filter(|&i| chosen[i].is_none()).collect();
        order.sort_by_key(|&i| (seeded(seed, &names[i]), i));
        let mut next = order.into_iter();
        for (index, rule) in self.rules.iter().enumerate() {
            if let Some(share) = rule.share {
                let count = (names.len() as f64 * share / 100.0).round() as usize;
                for device in next.by_ref().take(count) {
                    chosen[device] = Some(index);
                }
            }
        }
        chosen
            .into_iter()
            .map(|c| match c {
                None => Behaviour::normal(latency, jitter),
                Some(i) => {
                    let rule = &self.rules[i];
                    let mut b = rule.template.clone();
                    b.latency = rule.latency.unwrap_or(latency);
                    b.jitter = rule.jitter.unwrap_or(jitter);
                    b
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_exact_and_seeded() {
        let s = Scenario::parse(
            "[[rule]]\nname = \"a\"\nshare = 10\nauth_fail = true\n[[rule]]\nname = \"b\"\nshare = 5\nrefused = true\n[[rule]]\nname = \"pinned\"\ndevices = [\"d-000*\"]\nlatency = \"1s\"\n",
        )
        .unwrap();
        let names: Vec<String> = (0..200).map(|i| format!("d-{i:04}")).collect();
        let b1 = s.assign(&names, 1, Duration::ZERO, Duration::ZERO);
        let count = |b: &[Behaviour], n: &str| b.iter().filter(|x| x.name == n).count();
        assert_eq!(count(&b1, "a"), 20);
        assert_eq!(count(&b1, "b"), 10);
        assert_eq!(count(&b1, "pinned"), 10);
        assert_eq!(b1[3].latency, Duration::from_secs(1));
        assert_eq!(b1, s.assign(&names, 1, Duration::ZERO, Duration::ZERO));
        assert_ne!(b1, s.assign(&names, 2, Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn rejects_unknown_fields_and_bad_rules() {
        assert!(Scenario::parse("[[rule]]\nname = \"a\"\nshare = 1\nbogus = 1\n").is_err());
        assert!(Scenario::parse("[[rule]]\nname = \"a\"\n").is_err());
        assert!(
            Scenario::parse("[[rule]]\nname = \"a\"\nshare = 1\nlatency = \"soon\"\n").is_err()
        );
    }
}
