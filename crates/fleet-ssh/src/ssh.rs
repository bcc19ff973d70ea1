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
    // `[host]:port` as known_hosts names it; only the checks need it.
    let name = (keys.check != HostKeyCheck::Off).then(|| host_key_name(host, port));
    if let Some(name) = &name {
        prefer_known_key_types(&sess, name, keys);
    }
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
    if let Some(name) = &name {
        check_host_key(&sess, name, keys)?;
    }
    Ok(Connected { sess, fd })
}

/// Puts the host key algorithms of keys already known for this host
/// first, so the server presents a key we can check.
fn prefer_known_key_types(sess: &Session, name: &str, keys: &HostKeys<'_>) {
    let known = match keys.store.read() {
        Ok(store) => store.key_types_for(name),
        Err(poisoned) => poisoned.into_inner().key_types_for(name),
    };
    if known.is_empty() {
        return;
    }
    let Some(supported) = supported_host_key_algs(sess) else {
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
    for &a in supported {
        if a != "ssh-dss" && !prefs.contains(&a) {
            prefs.push(a);
        }
    }
    if let Err(e) = sess.method_pref(MethodType::HostKey, &prefs.join(",")) {
        log::debug!("host key algorithm preference not set: {e}");
    }
}

/// The host key algorithms this libssh2 build supports, in its order
/// of preference (asked once: the list never changes in a process).
fn supported_host_key_algs(sess: &Session) -> Option<&'static [&'static str]> {
    static SUPPORTED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    if let Some(algs) = SUPPORTED.get() {
        return Some(algs);
    }
    let algs = sess.supported_algs(MethodType::HostKey).ok()?;
    Some(SUPPORTED.get_or_init(|| algs))
}

fn check_host_key(sess: &Session, name: &str, keys: &HostKeys<'_>) -> Result<(), Failure> {
    let Some((blob, _)) = sess.host_key() else {
        return Err(Failure::new(
            Status::ProtocolError,
            "server sent no host key",
        ));
    };
    let ktype = key_type(blob).unwrap_or("unknown");
    let verdict = match keys.store.read() {
        Ok(store) => store.check(name, blob),
        Err(poisoned) => poisoned.into_inner().check(name, blob),
    };
    // The fingerprint is a SHA-256 and a base64 encoding: made only for a
    // line that shows it.
    let fp = || fingerprint(blob);
    match verdict {
        Check::Match => {
            log::debug!("host key {ktype} {} known for {name}", fp());
            Ok(())
        }
        Check::Revoked => Err(Failure::new(
            Status::HostKeyMismatch,
            format!("host key {ktype} {} for {name} is marked @revoked in known_hosts", fp()),
        )),
        Check::Changed(old) => Err(Failure::new(
            Status::HostKeyMismatch,
            format!(
                "host key for {name} has changed: known_hosts has {ktype} {old}, server presented {}",
                fp()
            ),
        )),
        Check::CertAuthorityOnly => Err(Failure::new(
            Status::HostKeyMismatch,
            format!(
                "known_hosts has only a @cert-authority line for {name}: host certificates are not \
                 supported by fleet; add the host's plain key ({ktype} {}) to known_hosts",
                fp()
            ),
        )),
        Check::NotFound if keys.check == HostKeyCheck::Strict => Err(Failure::new(
            Status::HostKeyMismatch,
            format!("no {ktype} host key known for {name} (server presented {}) and host key checking is strict", fp()),
        )),
        Check::NotFound => {
            let mut store = match keys.store.write() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            // Another thread may have stored it (or a different one) meanwhile.
            match store.check(name, blob) {
                Check::Match => Ok(()),
                Check::Changed(old) => Err(Failure::new(
                    Status::HostKeyMismatch,
                    format!("host key for {name} has changed: known_hosts has {ktype} {old}, server presented {}", fp()),
                )),
                _ => {
                    if let Err(e) = store.add(name, blob) {
                        // The key is trusted for this run even if it could not be saved.
                        log::warn!(
                            "could not append host key for {name} to {}: {e}",
                            store.path().map(|p| p.display().to_string()).unwrap_or_default()
                        );
                    }
                    log::info!("new host key {ktype} {} for {name} stored (accept-new)", fp());
                    Ok(())
                }
            }
        }
    }
}

/// Whether a libssh2 error from an auth attempt is the server saying no
/// (or a credential we cannot use), as opposed to the connection failing.
fn is_rejection(e: &ssh2::Error, f: &Failure) -> bool {
    match f.status {
        Status::Timeout => false,
        Status::ProtocolError => matches!(
            e.code(),
            ssh2::ErrorCode::Session(-16 | -42 | -34 | -33 | -36)
        ),
        _ => true,
    }
}

/// The first credential, sent before asking the server which methods it
/// offers, when it is a password or an existing key file.
///
/// Listing the methods is a `none` request: one more round trip (and
/// packets both sides encrypt) on every session, a tenth of a short exec
/// session's CPU. When this first try works, which is the common case,
/// the list is never asked for; when it fails, [`authenticate`] asks and
/// goes on exactly as it would have, reusing this answer instead of
/// sending the credential twice. The one difference: a server that does
/// not offer the method saw one more failed attempt (it counts towards
/// OpenSSH's `MaxAuthTries`).
struct FirstTry {
    method: &'static str,
    result: Result<(), ssh2::Error>,
    started: Instant,
}

fn first_try(sess: &Session, username: &str, auths: &[Auth]) -> Option<FirstTry> {
    let started = Instant::now();
    let (method, result) = match auths.first()? {
        Auth::Password(pw) => ("password", sess.userauth_password(username, pw.expose())),
        Auth::KeyFile { path, passphrase } if path.exists() => (
            "publickey",
            sess.userauth_pubkey_file(
                username,
                None,
                path,
                passphrase.as_ref().map(|p| p.expose()),
            ),
        ),
        _ => return None,
    };
    Some(FirstTry {
        method,
        result,
        started,
    })
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
    let ok = |method: &'static str, started: Instant| {
        log::info!(
            target: fleet_proto::event::DEVICE_LOG_TARGET,
            "auth ok ({method}) in {:.1} ms",
            ms(started.elapsed())
        );
        Ok(method)
    };
    let mut first = first_try(sess, username, auths);
    match &first {
        Some(t) if t.result.is_ok() && sess.authenticated() => return ok(t.method, t.started),
        Some(FirstTry {
            result: Err(e),
            method,
            ..
        }) => {
            let f = ssh_failure(e, method);
            if !is_rejection(e, &f) {
                // Timed out or the connection failed: listing would too.
                return Err(match f.status {
                    Status::Timeout => limit.expired("authentication"),
                    _ => Failure::new(
                        Status::ProtocolError,
                        format!("authentication ({method}): {}", e.message()),
                    ),
                });
            }
        }
        _ => {}
    }
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
    for (i, auth) in auths.iter().enumerate() {
        // The answer of the first try, if this is that credential sent
        // the same way.
        let mut answered = |method: &str| {
            if i == 0 && first.as_ref().is_some_and(|t| t.method == method) {
                first.take().map(|t| (t.result, t.started))
            } else {
                None
            }
        };
        let t0 = Instant::now();
        let (method, label, result, t0) = match auth {
            Auth::Password(pw) if has("password") => {
                let (result, t0) = answered("password")
                    .unwrap_or_else(|| (sess.userauth_password(username, pw.expose()), t0));
                ("password", "password".to_string(), result, t0)
            }
            Auth::Password(pw) if has("keyboard-interactive") => {
                let mut prompter = PasswordPrompter {
                    password: pw.expose(),
                };
                (
                    "keyboard-interactive",
                    "keyboard-interactive".to_string(),
                    sess.userauth_keyboard_interactive(username, &mut prompter),
                    t0,
                )
            }
            Auth::KeyFile { path, passphrase } if has("publickey") => {
                if !path.exists() {
                    tried.push(format!("key {} (file not found)", path.display()));
                    continue;
                }
                let (result, t0) = answered("publickey").unwrap_or_else(|| {
                    (
                        sess.userauth_pubkey_file(
                            username,
                            None,
                            path,
                            passphrase.as_ref().map(|p| p.expose()),
                        ),
                        t0,
                    )
                });
                ("publickey", format!("key {}", path.display()), result, t0)
            }
            Auth::Agent if has("publickey") => (
                "publickey",
                "agent".to_string(),
                sess.userauth_agent(username),
                t0,
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
            Ok(()) if sess.authenticated() => return ok(method, t0),
            Ok(()) => tried.push(format!("{label} (partial success only)")),
            Err(e) => {
                let f = ssh_failure(&e, &label);
                if is_rejection(&e, &f) {
                    log::debug!("auth {label} rejected: {}", e.message());
                    tried.push(format!("{label} rejected: {}", e.message()));
                } else if f.status == Status::Timeout {
                    return Err(limit.expired("authentication"));
                } else {
                    return Err(Failure::new(
                        Status::ProtocolError,
                        format!("authentication ({label}): {}", e.message()),
                    ));
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

/// Answers keyboard-interactive prompts: the password to a password prompt
/// only; any other prompt (a one-time code, a new password, a question)
/// gets an empty answer, so the password never goes where it does not
/// belong and such a login fails as `auth_failed`.
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
            .map(|p| answer(&p.text, self.password))
            .collect()
    }
}

/// The answer to one keyboard-interactive prompt.
fn answer(prompt: &str, password: &str) -> String {
    if is_password_prompt(prompt) {
        password.to_string()
    } else {
        String::new()
    }
}

/// `Password:`, `user@host's password:`, `Password for admin:`; not
/// `New password:`, `Retype new password:`, `One-time password:`,
/// `Verification code:`.
fn is_password_prompt(prompt: &str) -> bool {
    let p = prompt.to_ascii_lowercase();
    p.contains("password")
        && ![
            "new", "retype", "again", "confirm", "one-time", "one time", "otp", "token",
        ]
        .iter()
        .any(|w| p.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_password_prompts_get_the_password() {
        for p in ["Password: ", "admin@r1's password:", "Password for admin: "] {
            assert_eq!(answer(p, "pw"), "pw", "{p}");
        }
        for p in [
            "Verification code: ",
            "New password: ",
            "Retype new password: ",
            "One-time password (OATH) for `admin': ",
            "Enter PASSCODE: ",
            "Do you accept? ",
        ] {
            assert_eq!(answer(p, "pw"), "", "{p}");
        }
    }
}
