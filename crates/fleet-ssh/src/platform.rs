//! The platform table: how to talk to each kind of CLI. To support a new
//! platform, add one entry to [`TABLE`].

use fleet_proto::Mode;
use regex::bytes::Regex;
use std::sync::OnceLock;

/// Static description of a platform's CLI.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Inventory name (`platform:` key).
    pub name: &'static str,
    /// Regex for a prompt line (the last, unterminated line of output).
    pub prompt: &'static str,
    /// Regex for the part of a prompt after the host-specific base that
    /// may change during a session (`>`, `#`, `(config)#`); the base is
    /// learned from the first prompt and matched literally afterwards.
    pub prompt_suffix: &'static str,
    /// Command that turns paging off.
    pub paging_off: Option<&'static str>,
    /// Command that enters privileged mode (asks `Password:`).
    pub enable: Option<&'static str>,
    /// Command that enters configuration mode.
    pub config_enter: Option<&'static str>,
    /// Command that leaves configuration mode.
    pub config_exit: Option<&'static str>,
    /// Output lines containing one of these mean the command failed.
    pub error_markers: &'static [&'static str],
    /// Mode when the device does not say.
    pub default_mode: Mode,
    /// Regex for a prompt line that is still in configuration mode; after
    /// `config_exit`, such a prompt makes the session send `exit` until it
    /// leaves (as Netmiko's `exit_config_mode` checks).
    pub config_prompt: Option<&'static str>,
    /// Questions the device asks mid-command (regex on the unterminated
    /// last line) and the line that answers each; answered, never waited
    /// on until the timeout.
    pub answers: &'static [(&'static str, &'static str)],
    /// Command that makes configuration changes take effect (Junos
    /// `commit`); `None` when changes apply line by line.
    pub commit: Option<&'static str>,
    /// How to commit with automatic rollback unless confirmed.
    pub confirmed_commit: Option<ConfirmedCommit>,
    /// Command that saves the running configuration (`write memory`);
    /// `None` where a commit already persists it.
    pub save: Option<&'static str>,
}

/// A commit that the device rolls back unless it is confirmed in time
/// (Junos `commit confirmed N`, EOS `configure session` + `commit timer`).
#[derive(Debug, Clone, Copy)]
pub struct ConfirmedCommit {
    /// Command that enters configuration mode for it.
    pub enter: &'static str,
    /// The commit command; `{minutes}` or `{hms}` (`hh:mm:ss`) is replaced.
    pub commit: &'static str,
    /// Whether the commit command already leaves configuration mode.
    pub leaves_config_mode: bool,
}

impl ConfirmedCommit {
    /// The commit command for a rollback after `minutes`.
    pub fn command(&self, minutes: u32) -> String {
        let hms = format!("{:02}:{:02}:00", minutes / 60, minutes % 60);
        self.commit
            .replace("{minutes}", &minutes.to_string())
            .replace("{hms}", &hms)
    }
}

// ASCII classes, not `\w`: Unicode classes are slow to compile, and the
// learned prompt is compiled once per session.
const IOS_PROMPT: &str = r"^[A-Za-z0-9_.\-@/:]{1,63}(\([A-Za-z0-9_.\-]+\))?[>#] ?$";
const IOS_SUFFIX: &str = r"(\([A-Za-z0-9_.\-]+\))?[>#] ?$";
const IOS_CONFIG: &str = r"\(config[A-Za-z0-9_.\-]*\)# ?$";
/// `[confirm]` (IOS `clear counters`, `reload`) takes Enter.
const CONFIRM: (&str, &str) = (r"\[confirm\] ?$", "");

/// Every known platform. `generic` is used in shell mode for devices whose
/// platform is unknown.
pub const TABLE: &[Spec] = &[
    Spec {
        name: "cisco_ios",
        prompt: IOS_PROMPT,
        prompt_suffix: IOS_SUFFIX,
        paging_off: Some("terminal length 0"),
        enable: Some("enable"),
        config_enter: Some("configure terminal"),
        config_exit: Some("end"),
        error_markers: &[
            "% Invalid input",
            "% Incomplete command",
            "% Ambiguous command",
            "% Unknown command",
        ],
        default_mode: Mode::Shell,
        config_prompt: Some(IOS_CONFIG),
        answers: &[CONFIRM, (r"Destination filename \[[^\]\n]*\]\? ?$", "")],
        commit: None,
        confirmed_commit: None,
        save: Some("write memory"),
    },
    Spec {
        name: "cisco_nxos",
        prompt: IOS_PROMPT,
        prompt_suffix: IOS_SUFFIX,
        paging_off: Some("terminal length 0"),
        enable: Some("enable"),
        config_enter: Some("configure terminal"),
        config_exit: Some("end"),
        error_markers: &[
            "% Invalid command",
            "% Invalid input",
            "% Incomplete command",
            "% Ambiguous command",
        ],
        default_mode: Mode::Shell,
        config_prompt: Some(IOS_CONFIG),
        answers: &[CONFIRM],
        commit: None,
        confirmed_commit: None,
        save: Some("copy running-config startup-config"),
    },
    Spec {
        name: "arista_eos",
        prompt: IOS_PROMPT,
        prompt_suffix: IOS_SUFFIX,
        paging_off: Some("terminal length 0"),
        enable: Some("enable"),
        config_enter: Some("configure terminal"),
        config_exit: Some("end"),
        error_markers: &[
            "% Invalid input",
            "% Incomplete command",
            "% Ambiguous command",
            "% Unrecognized command",
        ],
        default_mode: Mode::Shell,
        config_prompt: Some(IOS_CONFIG),
        answers: &[CONFIRM],
        commit: None,
        confirmed_commit: Some(ConfirmedCommit {
            enter: "configure session fleet",
            commit: "commit timer {hms}",
            leaves_config_mode: true,
        }),
        save: Some("write memory"),
    },
    Spec {
        name: "juniper_junos",
        prompt: r"^([A-Za-z0-9_.\-]+@)?[A-Za-z0-9_.\-]+[>#%] ?$",
        prompt_suffix: r"[>#%] ?$",
        paging_off: Some("set cli screen-length 0"),
        enable: None,
        config_enter: Some("configure"),
        config_exit: Some("exit configuration-mode"),
        error_markers: &["syntax error", "unknown command", "error: "],
        default_mode: Mode::Shell,
        config_prompt: Some(r"# ?$"),
        answers: &[(
            r"Exit with uncommitted changes\? \[yes,no\] \(yes\) ?$",
            "yes",
        )],
        commit: Some("commit"),
        confirmed_commit: Some(ConfirmedCommit {
            enter: "configure",
            commit: "commit confirmed {minutes}",
            leaves_config_mode: false,
        }),
        save: None,
    },
    Spec {
        name: "linux",
        prompt: r"^[^\n]*[$#] ?$",
        prompt_suffix: r"[$#] ?$",
        paging_off: None,
        enable: None,
        config_enter: None,
        config_exit: None,
        error_markers: &[],
        default_mode: Mode::Exec,
        config_prompt: None,
        answers: &[],
        commit: None,
        confirmed_commit: None,
        save: None,
    },
    Spec {
        name: "generic",
        prompt: r"^[^\n]*[>#$%] ?$",
        prompt_suffix: r"[>#$%] ?$",
        paging_off: None,
        enable: None,
        config_enter: None,
        config_exit: None,
        error_markers: &[],
        default_mode: Mode::Shell,
        config_prompt: None,
        answers: &[],
        commit: None,
        confirmed_commit: None,
        save: None,
    },
];

/// Pager markers of all platforms (`--More--`, `---(more 45%)---`).
const MORE: &str = r"(?i)\s*-+ ?\(?more[^\n]*?\)? ?-*\s*$";

/// A platform with its patterns compiled.
#[derive(Debug)]
pub struct Platform {
    /// The static description.
    pub spec: &'static Spec,
    /// Compiled [`Spec::prompt`].
    pub prompt: Regex,
    /// Compiled pager marker (anchored at the end of output).
    pub more: Regex,
    /// Compiled [`Spec::prompt_suffix`].
    suffix: Regex,
    /// The compiled default for `default_mode` of known platforms.
    pub default_mode: Option<Mode>,
    /// Compiled [`Spec::config_prompt`].
    pub config_prompt: Option<Regex>,
    /// Compiled [`Spec::answers`] patterns, with their answers.
    pub answers: Vec<(Regex, &'static str)>,
}

impl Platform {
    /// The platform named `name`; `None` for no or an unknown name (its
    /// mode then comes from the run's default).
    pub fn for_device(name: Option<&str>) -> Option<&'static Platform> {
        let name = name?;
        all()
            .iter()
            .find(|p| p.spec.name == name && name != "generic")
    }

    /// The fallback for shell mode on unknown platforms.
    pub fn generic() -> &'static Platform {
        all()
            .iter()
            .find(|p| p.spec.name == "generic")
            .unwrap_or(&all()[0])
    }

    /// The exact prompt pattern learned from the first prompt line: its
    /// base literally, then the platform's variable suffix.
    pub fn learned_prompt(&self, first_prompt: &str) -> Regex {
        let base = self
            .suffix
            .find(first_prompt.as_bytes())
            .map(|m| &first_prompt[..m.start()])
            .unwrap_or(first_prompt);
        let pattern = format!("^{}{}", regex::escape(base), self.spec.prompt_suffix);
        Regex::new(&pattern).unwrap_or_else(|_| self.prompt.clone())
    }
}

fn all() -> &'static [Platform] {
    static ALL: OnceLock<Vec<Platform>> = OnceLock::new();
    ALL.get_or_init(|| {
        TABLE
            .iter()
            .filter_map(|spec| {
                // The table is static and tested; an entry whose pattern
                // does not compile is skipped rather than panicking.
                Some(Platform {
                    spec,
                    prompt: Regex::new(spec.prompt).ok()?,
                    more: Regex::new(MORE).ok()?,
                    suffix: Regex::new(spec.prompt_suffix).ok()?,
                    default_mode: Some(spec.default_mode),
                    config_prompt: match spec.config_prompt {
                        Some(p) => Some(Regex::new(p).ok()?),
                        None => None,
                    },
                    answers: spec
                        .answers
                        .iter()
                        .map(|(p, a)| Regex::new(p).ok().map(|re| (re, *a)))
                        .collect::<Option<_>>()?,
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_compiles() {
        assert_eq!(all().len(), TABLE.len());
        for spec in TABLE {
            Regex::new(spec.prompt_suffix).unwrap();
        }
    }

    #[test]
    fn ios_prompts_and_learning() {
        let p = Platform::for_device(Some("cisco_ios")).unwrap();
        assert!(p.prompt.is_match(b"r1>"));
        assert!(p.prompt.is_match(b"r1#"));
        assert!(p.prompt.is_match(b"r1(config-if)#"));
        assert!(!p.prompt.is_match(b"Building configuration..."));
        let learned = p.learned_prompt("r1>");
        assert!(learned.is_match(b"r1#"));
        assert!(learned.is_match(b"r1(config)#"));
        assert!(!learned.is_match(b"r2#"));
    }

    #[test]
    fn linux_and_junos_prompts() {
        let l = Platform::for_device(Some("linux")).unwrap();
        let learned = l.learned_prompt("root@box:~# ");
        assert!(learned.is_match(b"root@box:~# "));
        assert!(!learned.is_match(b"echo root@box:~# "));
        let j = Platform::for_device(Some("juniper_junos")).unwrap();
        assert!(j.learned_prompt("admin@mx1> ").is_match(b"admin@mx1# "));
        assert_eq!(l.default_mode, Some(Mode::Exec));
        assert_eq!(
            Platform::for_device(Some("cisco_ios"))
                .unwrap()
                .default_mode,
            Some(Mode::Shell)
        );
        assert!(Platform::for_device(Some("nope")).is_none());
    }

    #[test]
    fn config_prompts_and_answers() {
        let ios = Platform::for_device(Some("cisco_ios")).unwrap();
        let cfg = ios.config_prompt.as_ref().unwrap();
        assert!(cfg.is_match(b"r1(config)#"));
        assert!(cfg.is_match(b"r1(config-if)#"));
        assert!(cfg.is_match(b"r1(config-s-fleet)#"));
        assert!(!cfg.is_match(b"r1#"));
        let answer = |p: &Platform, line: &[u8]| {
            p.answers
                .iter()
                .find(|(re, _)| re.is_match(line))
                .map(|(_, a)| *a)
        };
        assert_eq!(
            answer(ios, b"Destination filename [startup-config]? "),
            Some("")
        );
        assert_eq!(answer(ios, b"Proceed with reload? [confirm]"), Some(""));
        assert_eq!(answer(ios, b"r1#"), None);
        let junos = Platform::for_device(Some("juniper_junos")).unwrap();
        assert_eq!(
            answer(junos, b"Exit with uncommitted changes? [yes,no] (yes) "),
            Some("yes")
        );
        assert!(junos
            .config_prompt
            .as_ref()
            .unwrap()
            .is_match(b"admin@mx1# "));
        assert!(!junos
            .config_prompt
            .as_ref()
            .unwrap()
            .is_match(b"admin@mx1> "));
        let eos = TABLE.iter().find(|s| s.name == "arista_eos").unwrap();
        assert_eq!(
            eos.confirmed_commit.unwrap().command(5),
            "commit timer 00:05:00"
        );
        assert_eq!(
            eos.confirmed_commit.unwrap().command(90),
            "commit timer 01:30:00"
        );
        let j = TABLE.iter().find(|s| s.name == "juniper_junos").unwrap();
        assert_eq!(j.confirmed_commit.unwrap().command(5), "commit confirmed 5");
    }

    #[test]
    fn more_markers() {
        let p = Platform::generic();
        assert!(p.more.is_match(b"line\n --More-- "));
        assert!(p.more.is_match(b"line\n---(more 45%)---"));
        assert!(!p.more.is_match(b"more lines follow\n"));
    }
}
