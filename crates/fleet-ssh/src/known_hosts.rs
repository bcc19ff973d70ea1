//! OpenSSH `known_hosts`: parsing (plain, wildcard and hashed `|1|` host
//! fields, `[host]:port` names, `@revoked` and `@cert-authority` markers),
//! checking against several files, and appending new keys.
//!
//! The files are read once per [`crate::Context`]; lookups are in memory.
//! New keys (accept-new) are appended to the first (writable) file with one
//! `write(2)` on an `O_APPEND` descriptor so concurrent worker processes
//! never interleave lines; the line is hashed as `ssh-keygen -H` would when
//! that file already holds hashed entries (Debian's `HashKnownHosts yes`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The name a host is stored under: `host` for port 22, `[host]:port` otherwise.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    }
}

/// The key type name inside an SSH public key blob (`ssh-ed25519`, ...).
pub fn key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4 + len)?).ok()
}

/// OpenSSH's fingerprint of a key blob: `SHA256:` + unpadded base64.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// What the store says about a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The key is known for this host.
    Match,
    /// No key of this type is known for this host.
    NotFound,
    /// A different key of the same type is known; holds its fingerprint.
    Changed(String),
    /// The key is marked `@revoked`.
    Revoked,
    /// No plain key is known, but a `@cert-authority` line covers this
    /// host: it expects a host certificate, which fleet cannot verify.
    CertAuthorityOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    /// Lower-cased patterns, `!` for negation, `*`/`?` wildcards.
    Patterns(Vec<String>),
    /// `|1|salt|hash`: HMAC-SHA1 of the name keyed by salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    hosts: Hosts,
    revoked: bool,
    key_type: String,
    blob: Vec<u8>,
}

/// An in-memory `known_hosts` with an optional backing file.
#[derive(Debug, Default)]
pub struct KnownHosts {
    /// Entries whose host field is a single literal name, by that name.
    exact: HashMap<String, Vec<Entry>>,
    /// Wildcard, negated, multi-name and hashed entries, scanned in order.
    other: Vec<Entry>,
    /// `@cert-authority` host patterns: recognised, not usable (see [`Check::CertAuthorityOnly`]).
    cert_authorities: Vec<Hosts>,
    path: Option<PathBuf>,
    /// The file exists and does not end in a newline: prefix the next append.
    needs_newline: bool,
    /// The writable file holds hashed entries: hash appended names too.
    hash_appends: bool,
}

impl KnownHosts {
    /// Loads `path` (a missing file is an empty store that appends create).
    pub fn load(path: Option<PathBuf>) -> io::Result<KnownHosts> {
        let mut kh = KnownHosts {
            path: path.clone(),
            ..KnownHosts::default()
        };
        if let Some(p) = &path {
            match fs::read_to_string(p) {
                Ok(text) => {
                    kh.needs_newline = !text.is_empty() && !text.ends_with('\n');
                    kh.hash_appends = text.lines().any(|l| {
                        let l = l.trim_start();
                        l.starts_with("|1|") || l.starts_with("@revoked |1|")
                    });
                    kh.parse(&text);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(kh)
    }

    /// Loads `path` (written to by accept-new) and then the read-only
    /// `extra` files (further `UserKnownHostsFile`s, the global
    /// `/etc/ssh/ssh_known_hosts`); missing files are empty, as in ssh.
    pub fn load_all(path: Option<PathBuf>, extra: &[PathBuf]) -> io::Result<KnownHosts> {
        let mut kh = KnownHosts::load(path)?;
        for p in extra {
            match fs::read_to_string(p) {
                Ok(text) => kh.parse(&text),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("failed to read {}: {e}", p.display()),
                    ))
                }
            }
        }
        Ok(kh)
    }

    /// A store from text, without a file (tests, in-memory use).
    pub fn from_text(text: &str) -> KnownHosts {
        let mut kh = KnownHosts::default();
        kh.parse(text);
        kh
    }

    /// The backing file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn parse(&mut self, text: &str) {
        for line in text.lines() {
            match parse_line(line) {
                Some(Line::Key(entry)) => self.insert(entry),
                Some(Line::CertAuthority(hosts)) => self.cert_authorities.push(hosts),
                None => {}
            }
        }
    }

    fn insert(&mut self, entry: Entry) {
        match &entry.hosts {
            Hosts::Patterns(p) if p.len() == 1 && !is_pattern(&p[0]) => {
                self.exact.entry(p[0].clone()).or_default().push(entry);
            }
            _ => self.other.push(entry),
        }
    }

    /// Checks `blob` presented by `name` (see [`host_key_name`]).
    pub fn check(&self, name: &str, blob: &[u8]) -> Check {
        let name = name.to_ascii_lowercase();
        let Some(ktype) = key_type(blob) else {
            return Check::NotFound;
        };
        let mut changed = None;
        let candidates = self
            .exact
            .get(&name)
            .into_iter()
            .flatten()
            .chain(self.other.iter().filter(|e| matches(&e.hosts, &name)));
        let mut found = false;
        for e in candidates {
            if e.blob == blob {
                if e.revoked {
                    return Check::Revoked;
                }
                found = true;
            } else if !e.revoked && e.key_type == ktype && changed.is_none() {
                changed = Some(fingerprint(&e.blob));
            }
        }
        match (found, changed) {
            (true, _) => Check::Match,
            (false, Some(fp)) => Check::Changed(fp),
            (false, None) if self.cert_authorities.iter().any(|h| matches(h, &name)) => {
                Check::CertAuthorityOnly
            }
            (false, None) => Check::NotFound,
        }
    }

    /// Key types known for `name` (non-revoked), in file order: the
    /// client prefers these host key algorithms, as OpenSSH does, so a
    /// server with several keys presents the one we know.
    pub fn key_types_for(&self, name: &str) -> Vec<String> {
        let name = name.to_ascii_lowercase();
        let mut types: Vec<String> = Vec::new();
        let entries = self
            .exact
            .get(&name)
            .into_iter()
            .flatten()
            .chain(self.other.iter().filter(|e| matches(&e.hosts, &name)));
        for e in entries.filter(|e| !e.revoked) {
            if !types.contains(&e.key_type) {
                types.push(e.key_type.clone());
            }
        }
        types
    }

    /// Stores a new key in memory and appends it to the file (if any) as
    /// `name key-type base64`, creating the file 0600 and its dir 0700.
    pub fn add(&mut self, name: &str, blob: &[u8]) -> io::Result<()> {
        let ktype = key_type(blob)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed host key"))?
            .to_string();
        let name = name.to_ascii_lowercase();
        let host_field = if self.hash_appends {
            hash_name(&name, &rand::random::<[u8; 20]>())
        } else {
            name.clone()
        };
        let line = format!("{host_field} {ktype} {}\n", STANDARD.encode(blob));
        self.insert(Entry {
            hosts: Hosts::Patterns(vec![name]),
            revoked: false,
            key_type: ktype,
            blob: blob.to_vec(),
        });
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let data = if std::mem::take(&mut self.needs_newline) {
            format!("\n{line}")
        } else {
            line
        };
        // One write on an O_APPEND descriptor: atomic for a short line.
        let n = file.write(data.as_bytes())?;
        if n != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to known_hosts",
            ));
        }
        Ok(())
    }
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `ssh-keygen -H` writes.
pub fn hash_name(name: &str, salt: &[u8]) -> String {
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(salt) {
        Ok(m) => m,
        // HMAC takes keys of any length; unreachable in practice.
        Err(_) => return name.to_string(),
    };
    mac.update(name.as_bytes());
    format!(
        "|1|{}|{}",
        STANDARD.encode(salt),
        STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// One useful line of a known_hosts file.
enum Line {
    Key(Entry),
    CertAuthority(Hosts),
}

fn parse_line(line: &str) -> Option<Line> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    let mut ca = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            "@cert-authority" => ca = true,
            _ => return None,
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?.to_string();
    let blob = STANDARD.decode(fields.next()?).ok()?;
    let hosts = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        Hosts::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        }
    } else {
        Hosts::Patterns(first.split(',').map(|p| p.to_ascii_lowercase()).collect())
    };
    if ca {
        return Some(Line::CertAuthority(hosts));
    }
    Some(Line::Key(Entry {
        hosts,
        revoked,
        key_type,
        blob,
    }))
}

fn is_pattern(p: &str) -> bool {
    p.contains(['*', '?', '!'])
}

fn matches(hosts: &Hosts, name: &str) -> bool {
    match hosts {
        Hosts::Hashed { salt, hash } => {
            let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        Hosts::Patterns(patterns) => {
            fleet_sshconfig::match_patterns(name, patterns.iter().map(String::as_str))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn line(host: &str, b: &[u8]) -> String {
        format!("{host} {} {}\n", key_type(b).unwrap(), STANDARD.encode(b))
    }

    #[test]
    fn names_follow_openssh() {
        assert_eq!(host_key_name("R1.example", 22), "r1.example");
        assert_eq!(host_key_name("127.0.0.1", 2201), "[127.0.0.1]:2201");
    }

    #[test]
    fn plain_entries_match_change_and_miss() {
        let k1 = blob("ssh-ed25519", b"one");
        let k2 = blob("ssh-ed25519", b"two");
        let rsa = blob("ssh-rsa", b"three");
        let kh = KnownHosts::from_text(&line("[127.0.0.1]:2201", &k1));
        assert_eq!(kh.check("[127.0.0.1]:2201", &k1), Check::Match);
        assert_eq!(
            kh.check("[127.0.0.1]:2201", &k2),
            Check::Changed(fingerprint(&k1))
        );
        assert_eq!(kh.check("[127.0.0.1]:2201", &rsa), Check::NotFound);
        assert_eq!(kh.check("[127.0.0.1]:2202", &k1), Check::NotFound);
    }

    #[test]
    fn hashed_wildcard_and_revoked_entries() {
        let k1 = blob("ssh-ed25519", b"one");
        // Hashed entry for "[10.0.0.1]:2222" built the way ssh-keygen -H does.
        let salt = b"0123456789abcdefghij";
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt).unwrap();
        mac.update(b"[10.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let hashed = format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash));
        let text = line(&hashed, &k1)
            + &line("*.lab,!bad.lab", &k1)
            + &format!("@revoked {}", line("evil", &k1));
        let kh = KnownHosts::from_text(&text);
        assert_eq!(kh.check("[10.0.0.1]:2222", &k1), Check::Match);
        assert_eq!(kh.check("[10.0.0.1]:2223", &k1), Check::NotFound);
        assert_eq!(kh.check("r1.lab", &k1), Check::Match);
        assert_eq!(kh.check("bad.lab", &k1), Check::NotFound);
        assert_eq!(kh.check("evil", &k1), Check::Revoked);
    }

    #[test]
    fn add_appends_a_line_and_creates_dir_and_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        let k1 = blob("ssh-ed25519", b"one");
        let mut kh = KnownHosts::load(Some(path.clone())).unwrap();
        kh.add("[127.0.0.1]:2201", &k1).unwrap();
        assert_eq!(kh.check("[127.0.0.1]:2201", &k1), Check::Match);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, line("[127.0.0.1]:2201", &k1));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let reloaded = KnownHosts::load(Some(path)).unwrap();
        assert_eq!(reloaded.check("[127.0.0.1]:2201", &k1), Check::Match);
    }

    #[test]
    fn appends_are_hashed_when_the_file_is_and_reload_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let k1 = blob("ssh-ed25519", b"one");
        let k2 = blob("ssh-ed25519", b"two");
        let first = line(&hash_name("[10.0.0.1]:22", b"salt-salt-salt-salt!"), &k1);
        fs::write(&path, &first).unwrap();
        let mut kh = KnownHosts::load(Some(path.clone())).unwrap();
        kh.add("[127.0.0.1]:2201", &k2).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let added = text.strip_prefix(first.as_str()).unwrap();
        assert!(added.starts_with("|1|"), "{added}");
        assert!(!added.contains("127.0.0.1"), "{added}");
        let reloaded = KnownHosts::load(Some(path)).unwrap();
        assert_eq!(reloaded.check("[127.0.0.1]:2201", &k2), Check::Match);
        assert_eq!(reloaded.check("[127.0.0.1]:2202", &k2), Check::NotFound);
    }

    #[test]
    fn several_files_and_cert_authority_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let k1 = blob("ssh-ed25519", b"one");
        let k2 = blob("ssh-ed25519", b"two");
        fs::write(
            &b,
            line("second", &k2) + &format!("@cert-authority {}", line("*.ca", &k1)),
        )
        .unwrap();
        let kh = KnownHosts::load_all(Some(a.clone()), &[b, dir.path().join("missing")]).unwrap();
        assert_eq!(kh.check("second", &k2), Check::Match);
        assert_eq!(kh.check("x.ca", &k2), Check::CertAuthorityOnly);
        assert_eq!(kh.check("x.other", &k2), Check::NotFound);
        assert_eq!(kh.path(), Some(a.as_path()));
    }

    #[test]
    fn wildcards() {
        let kh = |pattern: &str| Hosts::Patterns(vec![pattern.to_owned()]);
        assert!(matches(&kh("*.lab"), "r1.lab"));
        assert!(matches(&kh("r?"), "r1"));
        assert!(!matches(&kh("r?"), "r12"));
        assert!(matches(&kh("*"), ""));
        let list = Hosts::Patterns(vec!["*.lab".into(), "!r2.lab".into()]);
        assert!(matches(&list, "r1.lab") && !matches(&list, "r2.lab"));
    }
}
