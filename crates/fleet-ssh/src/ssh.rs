//! One SSH connection up to an authenticated session: handshake, host-key
//! check and authentication. Used for devices and for jump hosts alike.

use crate::budget::{ms, Budget};
use crate::error::{ssh_failure, Failure};
use crate::known_hosts::{fingerprint, host_key_name, key_type, Check, KnownHosts};
use fleet_proto::device::host_port;
use fleet_proto::{Auth, HostKeyCheck, Status};
use ssh2::{KeyboardInteractivePrompt, MethodType, Prompt, Session};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::RwLock;
use std::time::Instant;

/// An SSH session and the descriptor of its socket (for poll).
pub(crate) struct Connected {
    pub sess: Session,
    pub fd: RawFd,
}

/// Host-key policy and store, shared by all sessions of a context.
pub(crate) struct HostKeys<'a> {
    pub check: HostKeyCheck,
    pub store: &'a RwLock<KnownHosts>,
}

/// Runs the SSH handshake over `stream` and checks the host key of `host:port`.
pub(crate) fn handshake<S: AsRawFd + 'static>(
    stream: S,
    host: &str,
    port: u16,
    budget: &Budget,
    keys: &HostKeys<'_>,
) -> Result<Connected, Failure> {
    let fd = stream.as_raw_fd();
    let mut sess = Session::new().map_err(|e| ssh_failure(&e, "create ssh session"))?;
    sess.set_tcp_stream(stream);
    prefer_known_key_types(&sess, host, port, keys);
    let limit = budget.command();
    sess.set_timeout(limit.libssh2_ms("ssh handshake")?);
    if let Err(e) = sess.handshake() {
        let f = ssh_failure(&e, &format!("ssh handshake with {}", host_port(host, port)));
        return Err(if f.status == Status::Timeout {
            limit.expired(&format!("ssh handshake with {}", host_port(host, port)))
        } else {
            f
        });
    }
    check_host_key(&sess, host, port, keys)?;
    Ok(Connected { sess, fd })
}

/// Puts the host key algorithms of keys already known for this host
/// first, so the server presents a key we can check.
fn prefer_known_key_types(sess: &Session, host: &str, port: u16, keys: &HostKeys<'_>) {
    if keys.check == HostKeyCheck::Off {
        return;
    }
    let known = match keys.store.read() {
        Ok(store) => store.key_types_for(&host_key_name(host, port)),
        Err(poisoned) => poisoned
            .into_inner()
            .key_types_for(&host_key_name(host, port)),
    };
    if known.is_empty() {
        return;
    }
    let Ok(supported) = sess.supported_algs(MethodType::HostKey) else {
        return;
    };
    let mut prefs: Vec<&str> = Vec::new();
    for t in &known {
        let algs: Vec<&str> = if t == "ssh-rsa" {
            vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            vec![t.as_str()]
        };
        for a in algs {
            if supported.contains(&a) && !prefs.contains(&a) {
                prefs.push(a);
            }
        }
    }
    for a in supported {
        if a != "ssh-dss" && !prefs.contains(&a) {
            prefs.push(a);
        }
    }
    if let Err(e) = sess.method_pref(MethodType::HostKey, &prefs.join(",")) {
        log::debug!("host key algorithm preference not set: {e}");
    }
}

fn check_host_key(
    sess: &Session,
    host: &str,
    port: u16,
    keys: &HostKeys<'_>,
) -> Result<(), Failure> {
    if keys.check == HostKeyCheck::Off {
        return Ok(());
    }
    let Some((blob, _)) = sess.host_key() else {
        return Err(Failure::new(
            Status::ProtocolError,
            "server sent no host key",
        ));
    };
    let name = host_key_name(host, port);
    let ktype = key_type(blob).unwrap_or("unknown");
    let fp = fingerprint(blob);
    let verdict = match keys.store.read() {
        Ok(store) => store.check(&name, blob),
        Err(poisoned) => poisoned.into_inner().check(&name, blob),
    };
    match verdict {
        Check::Match => {
            log::debug!("host key {ktype} {fp} known for {name}");
            Ok(())
        }
        Check::Revoked => Err(Failure::new(
            Status::HostKeyMismatch,
            format!("host key {ktype} {fp} for {name} is marked @revoked in known_hosts"),
        )),
        Check::Changed(old) => Err(Failure::new(
            Status::HostKeyMismatch,
            format!(
                "host key for {name} has changed: known_hosts has {ktype} {old}, server presented {fp}"
            ),
        )),
        Check::CertAuthorityOnly => Err(Failure::new(
            Status::HostKeyMismatch,
            format!(
                "known_hosts has only a @cert-authority line for {name}: host certificates are not \
                 supported by fleet; add the host's plain key ({ktype} {fp}) to known_hosts"
            ),
        )),
        Check::NotFound if keys.check == HostKeyCheck::Strict => Err(Failure::new(
            Status::HostKeyMismatch,
            format!("no {ktype} host key known for {name} (server presented {fp}) and host key checking is strict"),
        )),
        Check::NotFound => {
            let mut store = match keys.store.write() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            // Another thread may have stored it (or a different one) meanwhile.
            match store.check(&name, blob) {
                Check::Match => Ok(()),
                Check::Changed(old) => Err(Failure::new(
                    Status::HostKeyMismatch,
                    format!("host key for {name} has changed: known_hosts has {ktype} {old}, server presented {fp}"),
                )),
                _ => {
                    if let Err(e) = store.add(&name, blob) {
                        // The key is trusted for this run even if it could not be saved.
                        log::warn!(
                            "could not append host key for {name} to {}: {e}",
                            store.path().map(|p| p.display().to_string()).unwrap_or_default()
                        );
                    }
                    log::info!("new host key {ktype} {fp} for {name} stored (accept-new)");
                    Ok(())
                }
            }
        }
    }
}

/// Tries each credential in order; returns the method that worked.
pub(crate) fn authenticate(
    conn: &Connected,
    username: &str,
    auths: &[Auth],
    budget: &Budget,
) -> Result<&'static str, Failure> {
    let sess = &conn.sess;
    let limit = budget.command();
    sess.set_timeout(limit.libssh2_ms("authentication")?);
    let timed = |f: Failure| {
        if f.status == Status::Timeout {
            limit.expired("authentication")
        } else {
            f
        }
    };
    // Also performs "none" authentication, which some servers accept.
    let offered = match sess.auth_methods(username) {
        Ok(m) => m.to_string(),
        Err(e) => {
            if sess.authenticated() {
                return Ok("none");
            }
            return Err(timed(ssh_failure(&e, "list authentication methods")));
        }
    };
    if sess.authenticated() {
        return Ok("none");
    }
    let has = |m: &str| offered.split(',').any(|o| o == m);
    let mut tried: Vec<String> = Vec::new();
    for auth in auths {
        let t0 = Instant::now();
        let (method, label, result) = match auth {
            Auth::Password(pw) if has("password") => (
                "password",
                "password".to_string(),
                sess.userauth_password(username, pw.expose()),
            ),
            Auth::Password(pw) if has("keyboard-interactive") => {
                let mut prompter = PasswordPrompter {
                    password: pw.expose(),
                };
                (
                    "keyboard-interactive",
                    "keyboard-interactive".to_string(),
                    sess.userauth_keyboard_interactive(username, &mut prompter),
                )
            }
            Auth::KeyFile { path, passphrase } if has("publickey") => {
                if !path.exists() {
                    tried.push(format!("key {} (file not found)", path.display()));
                    continue;
                }
                (
                    "publickey",
                    format!("key {}", path.display()),
                    sess.userauth_pubkey_file(
                        username,
                        None,
                        path,
                        passphrase.as_ref().map(|p| p.expose()),
                    ),
                )
            }
            Auth::Agent if has("publickey") => (
                "publickey",
                "agent".to_string(),
                sess.userauth_agent(username),
            ),
            other => {
                let name = match other {
                    Auth::Password(_) => "password",
                    Auth::KeyFile { .. } => "key",
                    Auth::Agent => "agent",
                };
                tried.push(format!("{name} (not offered)"));
                continue;
            }
        };
        match result {
            Ok(()) if sess.authenticated() => {
                log::info!(
                    target: fleet_proto::event::DEVICE_LOG_TARGET,
                    "auth ok ({method}) in {:.1} ms",
                    ms(t0.elapsed())
                );
                return Ok(method);
            }
            Ok(()) => tried.push(format!("{label} (partial success only)")),
            Err(e) => {
                let f = ssh_failure(&e, &label);
                match f.status {
                    Status::Timeout => return Err(limit.expired("authentication")),
                    Status::ProtocolError
                        if !matches!(
                            e.code(),
                            ssh2::ErrorCode::Session(-16 | -42 | -34 | -33 | -36)
                        ) =>
                    {
                        return Err(Failure::new(
                            Status::ProtocolError,
                            format!("authentication ({label}): {}", e.message()),
                        ))
                    }
                    _ => {
                        log::debug!("auth {label} rejected: {}", e.message());
                        tried.push(format!("{label} rejected: {}", e.message()));
                    }
                }
            }
        }
    }
    if auths.is_empty() {
        tried.push("no credentials configured".to_string());
    }
    Err(Failure::new(
        Status::AuthFailed,
        format!(
            "authentication failed for user '{username}' (tried: {}; server offers: {offered})",
            tried.join(", ")
        ),
    ))
}

/// Answers keyboard-interactive prompts with the password (the common
/// single "Password:" challenge); other prompts get empty answers.
struct PasswordPrompter<'a> {
    password: &'a str,
}

impl KeyboardInteractivePrompt for PasswordPrompter<'_> {
    fn prompt<'b>(
        &mut self,
        _user: &str,
        _instructions: &str,
        prompts: &[Prompt<'b>],
    ) -> Vec<String> {
        prompts
            .iter()
            .map(|p| {
                if prompts.len() == 1 || p.text.to_ascii_lowercase().contains("password") {
                    self.password.to_string()
                } else {
                    String::new()
                }
            })
            .collect()
    }
}
