//! A real OpenSSH `sshd` on loopback, started per test and stopped on drop.
//!
//! Tests of the SSH client need a server that behaves like production ones;
//! OpenSSH is that server. Each [`Sshd`] gets its own temp dir with a fresh
//! ed25519 host key, a fresh client key authorized for the current user, a
//! config bound to `127.0.0.1` on a free port, and a log file of sshd's
//! stderr (`LogLevel VERBOSE`) to read when a test fails.

use std::fs;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long sshd gets to start listening before `start` gives up.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// Serialises useradd/chpasswd calls: they lock /etc/passwd and fail when
/// run concurrently from parallel tests.
static USER_LOCK: Mutex<()> = Mutex::new(());

/// Options for [`Sshd::start_with`].
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    /// Extra `sshd_config` lines: a line whose keyword is among the
    /// defaults replaces that default (e.g. `UsePAM yes`), others are
    /// appended (e.g. a second `HostKey`).
    pub extra_config: Vec<String>,
    /// Listen on this port instead of a free one (e.g. to restart a server
    /// with a different host key on the same address).
    pub port: Option<u16>,
    /// Also listen on `[::1]` (same port), for IPv6 tests.
    pub ipv6: bool,
}

/// A system user with a password, made for one [`Sshd`] by
/// [`Sshd::test_user`] and deleted with its home directory when that
/// server drops. Names start with `fleet-t` (then the test process id and a
/// counter), so a user left by a killed test run is easy to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// Login name.
    pub name: String,
    /// Its password, unique to this user (distinctive enough for leak
    /// checks to search for).
    pub password: String,
}

/// A running OpenSSH server; killed and reaped on drop.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    dir: TempDir,
    port: u16,
    user: String,
    /// The password user of this server, once asked for; deleted on drop.
    test_user: Mutex<Option<TestUser>>,
}

impl Sshd {
    /// Starts sshd with the default test configuration.
    pub fn start() -> io::Result<Sshd> {
        Sshd::start_with(SshdOptions::default())
    }

    /// Starts sshd with extra configuration.
    pub fn start_with(opts: SshdOptions) -> io::Result<Sshd> {
        let sshd = find_sshd()?;
        // sshd refuses to start without its privilege separation directory.
        let _ = fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new().prefix("fleet-sshd-").tempdir()?;
        keygen(&dir.path().join("host_ed25519"), "fleet-test-host")?;
        keygen(&dir.path().join("client_ed25519"), "fleet-test-client")?;
        let user = current_user()?;
        let auth_dir = dir.path().join("authorized_keys");
        fs::create_dir_all(&auth_dir)?;
        let client_pub = fs::read_to_string(dir.path().join("client_ed25519.pub"))?;
        fs::write(auth_dir.join(&user), client_pub)?;

        // A free port can be taken between probing and sshd's bind; retry
        // with a new one when that happens (not when the port was given).
        let mut last_err = None;
        for _ in 0..5 {
            let port = match opts.port {
                Some(p) => p,
                None => free_port()?,
            };
            let cfg = dir.path().join("sshd_config");
            let mut extra = opts.extra_config.clone();
            if opts.ipv6 {
                extra.push(format!("ListenAddress [::1]:{port}"));
            }
            fs::write(&cfg, config(dir.path(), port, &extra))?;
            let log = dir.path().join("sshd.log");
            let log_file = fs::File::create(&log)?;
            let mut child = Command::new(&sshd)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()?;
            let ip = if opts.ipv6 {
                std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            } else {
                std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST)
            };
            match wait_listening(&mut child, SocketAddr::new(ip, port)) {
                Ok(()) => {
                    return Ok(Sshd {
                        child,
                        dir,
                        port,
                        user,
                        test_user: Mutex::new(None),
                    })
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log_text = fs::read_to_string(&log).unwrap_or_default();
                    let err = io::Error::new(
                        e.kind(),
                        format!("sshd did not start: {e}; log:\n{log_text}"),
                    );
                    if opts.port.is_some() || !log_text.contains("Address already in use") {
                        return Err(err);
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("sshd did not start")))
    }

    /// The TCP port sshd listens on (at 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address sshd listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The current user, whose client key is authorized.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Private key accepted for [`Sshd::user`] (unencrypted ed25519).
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The server's temp dir (config, keys, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// sshd's stderr so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The host public key as `key-type base64` (a known_hosts line body).
    pub fn host_public_key(&self) -> io::Result<String> {
        let text = fs::read_to_string(self.dir.path().join("host_ed25519.pub"))?;
        Ok(text
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// Authorizes `public_key` (an OpenSSH `.pub` line) for `user`.
    pub fn authorize_key(&self, user: &str, public_key: &str) -> io::Result<()> {
        let path = self.dir.path().join("authorized_keys").join(user);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}", public_key.trim())
    }

    /// This server's password user: a fresh system user with a fresh
    /// password, made on the first call and deleted (`userdel -r`) when the
    /// server drops. Needs root (CI runs as root): otherwise an error saying
    /// so, for the test to fail with.
    pub fn test_user(&self) -> io::Result<TestUser> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let mut slot = self.test_user.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = &*slot {
            return Ok(u.clone());
        }
        let root = output_of(Command::new("id").arg("-u"))?.trim() == "0";
        if !root {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "this test logs in as a system user of its own, which only root can create \
                 (and delete afterwards): run the tests as root (CI does)",
            ));
        }
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let user = TestUser {
            name: format!("fleet-t{pid}-{n}"),
            password: format!("Fleet-Pw-{pid}-{n}-{nanos:x}"),
        };
        {
            let _guard = USER_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            run_retrying(
                Command::new("useradd").args(["-m", "-s", "/bin/bash", &user.name]),
                None,
            )?;
            // The password goes through stdin, never argv.
            let set = run_retrying(
                &mut Command::new("chpasswd"),
                Some(format!("{}:{}\n", user.name, user.password).as_bytes()),
            );
            if let Err(e) = set {
                delete_user(&user.name);
                return Err(e);
            }
        }
        *slot = Some(user.clone());
        Ok(user)
    }
}

/// Deletes a test user and its home, even with sessions still ending.
fn delete_user(name: &str) {
    let _guard = USER_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let _ = run_retrying(Command::new("userdel").args(["-f", "-r", name]), None);
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let user = self.test_user.get_mut().map(Option::take);
        if let Ok(Some(user)) = user {
            delete_user(&user.name);
        }
    }
}

fn find_sshd() -> io::Result<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "sshd not found (apt-get install openssh-server)",
            )
        })
}

fn keygen(path: &Path, comment: &str) -> io::Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Generates an ed25519 key pair at `path` (and `path.pub`), optionally
/// encrypted with `passphrase` (passed to ssh-keygen's argv: test keys only).
pub fn generate_key(path: &Path, passphrase: Option<&str>) -> io::Result<String> {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "fleet-test",
            "-N",
            passphrase.unwrap_or(""),
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    fs::read_to_string(path.with_extension("pub"))
}

fn current_user() -> io::Result<String> {
    Ok(output_of(Command::new("id").arg("-un"))?.trim().to_string())
}

fn output_of(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a user-management command, retrying while /etc/passwd is locked by
/// another process.
fn run_retrying(cmd: &mut Command, stdin: Option<&[u8]>) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{:?} failed: {}",
                cmd.get_program(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn config(dir: &Path, port: u16, extra: &[String]) -> String {
    let d = dir.display();
    let mut lines: Vec<String> = [
        format!("ListenAddress 127.0.0.1:{port}"),
        format!("HostKey {d}/host_ed25519"),
        "PidFile none".to_string(),
        format!("AuthorizedKeysFile {d}/authorized_keys/%u"),
        "StrictModes no".to_string(),
        "UsePAM no".to_string(),
        "UseDNS no".to_string(),
        "PasswordAuthentication yes".to_string(),
        "PubkeyAuthentication yes".to_string(),
        "KbdInteractiveAuthentication no".to_string(),
        "PermitRootLogin yes".to_string(),
        "MaxStartups 1000:30:1000".to_string(),
        "MaxSessions 100".to_string(),
        "MaxAuthTries 20".to_string(),
        "LoginGraceTime 60".to_string(),
        "AllowTcpForwarding yes".to_string(),
        "PrintMotd no".to_string(),
        "PrintLastLog no".to_string(),
        "LogLevel VERBOSE".to_string(),
    ]
    .into();
    let key = |l: &str| {
        l.split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    for line in extra {
        // sshd keeps the first value of a keyword: replace defaults in place.
        // HostKey and ListenAddress may repeat, so extra ones are added.
        let repeats = matches!(key(line).as_str(), "hostkey" | "listenaddress");
        match lines.iter_mut().find(|l| key(l) == key(line) && !repeats) {
            Some(existing) => *existing = line.clone(),
            None => lines.push(line.clone()),
        }
    }
    let mut cfg = lines.join("\n");
    cfg.push('\n');
    cfg
}

/// Polls until sshd accepts TCP connections, or fails if it exits first.
fn wait_listening(child: &mut Child, addr: SocketAddr) -> io::Result<()> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("sshd exited with {status}")));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("sshd not listening on {addr} after {START_DEADLINE:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
