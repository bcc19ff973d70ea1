//! Shared fixtures for the end-to-end tests.

pub use fleet_testkit::fleet::{by_device, read_json, status, RunArgs};
use fleet_testkit::fleet::{FleetChild, FleetRun};
use fleet_testkit::sshd::Sshd;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const BIN: &str = env!("CARGO_BIN_EXE_fleet");

/// A scratch directory for one test; kept after the test when
/// `FLEET_E2E_KEEP=1` (to read its logs).
pub fn scratch() -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix("fleet-e2e-");
    if std::env::var_os("FLEET_E2E_KEEP").is_some() {
        b.disable_cleanup(true);
    }
    b.tempdir().expect("temp dir")
}

/// Runs fleet in `dir`.
pub fn fleet(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> FleetRun {
    fleet_testkit::fleet::run(BIN, dir, args, env)
}

/// Starts fleet in `dir` in the background (to signal it or watch it).
pub fn spawn_fleet(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> FleetChild {
    fleet_testkit::fleet::spawn(BIN, dir, args, env)
}

/// A device line for a fleet YAML inventory.
pub struct Dev {
    pub name: String,
    pub port: u16,
    pub extra: String,
}

impl Dev {
    pub fn new(name: impl Into<String>, port: u16) -> Dev {
        Dev {
            name: name.into(),
            port,
            extra: String::new(),
        }
    }

    pub fn with(mut self, yaml: &str) -> Dev {
        self.extra.push_str(yaml);
        self
    }
}

/// The login user for key auth: the server's own test user when running as
/// root (root's shell start-up files on this machine image take ~0.7 s per
/// session; the user is deleted with the server), else the current user.
pub fn login_user(sshd: &Sshd) -> String {
    if let Ok(user) = sshd.test_user() {
        let key = std::fs::read_to_string(sshd.client_key().with_extension("pub"))
            .or_else(|_| std::fs::read_to_string(format!("{}.pub", sshd.client_key().display())))
            .expect("client public key");
        sshd.authorize_key(&user.name, &key).expect("authorize key");
        return user.name;
    }
    sshd.user().to_string()
}

/// A key the server does not know, for devices that must log in by
/// password only: `key_file: null` inherits the default key (authorized
/// for the login user), so such devices name this key instead.
pub fn unknown_key(dir: &Path) -> PathBuf {
    let path = dir.join("unknown_ed25519");
    if !path.exists() {
        fleet_testkit::sshd::generate_key(&path, None).expect("ssh-keygen");
    }
    path
}

/// Writes a fleet YAML inventory for devices on sshd, key auth by default.
pub fn inventory(dir: &Path, sshd: &Sshd, defaults: &str, devices: &[Dev]) -> PathBuf {
    let mut y = String::new();
    writeln!(y, "known_hosts: known_hosts").unwrap();
    writeln!(y, "defaults:").unwrap();
    writeln!(y, "  username: {}", login_user(sshd)).unwrap();
    writeln!(y, "  key_file: {}", sshd.client_key().display()).unwrap();
    y.push_str(defaults);
    writeln!(y, "devices:").unwrap();
    for d in devices {
        writeln!(y, "  - name: {}", d.name).unwrap();
        writeln!(y, "    host: 127.0.0.1").unwrap();
        writeln!(y, "    port: {}", d.port).unwrap();
        y.push_str(&d.extra);
    }
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, y).unwrap();
    path
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
