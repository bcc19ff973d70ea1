//! Ansible Vault: detecting vault-encrypted files and `!vault` values, and
//! decrypting them with the vault password, so an Ansible repo's secrets
//! work without being copied into plaintext.
//!
//! The format (`$ANSIBLE_VAULT;1.1;AES256`, or `1.2;AES256;<vault-id>`) is
//! public: the body is hex of `hex(salt)\nhex(hmac)\nhex(ciphertext)`;
//! PBKDF2-HMAC-SHA256 (10000 rounds) of the password and salt gives 80
//! bytes: an AES-256 key, an HMAC-SHA256 key and a CTR counter block; the
//! HMAC covers the ciphertext; the plaintext is PKCS#7 padded. The tests
//! decrypt files written by `ansible-vault encrypt` itself
//! (`fixtures/inventories/ansible-repo`, made by `scripts/make-vault-fixture.sh`).

use aes::cipher::{KeyIvInit, StreamCipher};
use fleet_proto::Secret;
use hmac::{KeyInit, Mac};
use std::path::{Path, PathBuf};

/// The first line of every vault payload.
pub(crate) const HEADER: &str = "$ANSIBLE_VAULT;";

/// True when `text` (a file, or a `!vault` value) is vault-encrypted.
pub(crate) fn is_vault(text: &str) -> bool {
    text.trim_start().starts_with(HEADER)
}

/// Where the vault password comes from, as Ansible looks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultPassword {
    /// No password given: vault content stops the load with an error
    /// saying how to give one.
    None,
    /// A file holding the password (first line), or an executable that
    /// prints it, as Ansible's `--vault-password-file`.
    File(PathBuf),
}

impl VaultPassword {
    /// `--vault-password-file` if given, else `ANSIBLE_VAULT_PASSWORD_FILE`.
    pub fn from_flag_or_env(flag: Option<&Path>) -> VaultPassword {
        match flag {
            Some(p) => VaultPassword::File(p.to_path_buf()),
            None => match std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE") {
                Some(p) if !p.is_empty() => VaultPassword::File(PathBuf::from(p)),
                _ => VaultPassword::None,
            },
        }
    }
}

/// Reads the password once and decrypts payloads with it.
pub(crate) struct Vault {
    source: VaultPassword,
    password: Option<Secret>,
}

impl Vault {
    pub(crate) fn new(source: VaultPassword) -> Self {
        Vault {
            source,
            password: None,
        }
    }

    fn password(&mut self) -> Result<&Secret, String> {
        if self.password.is_none() {
            let path = match &self.source {
                VaultPassword::None => return Err(
                    "vault-encrypted; give the vault password with --vault-password-file FILE or ANSIBLE_VAULT_PASSWORD_FILE"
                        .to_owned(),
                ),
                VaultPassword::File(p) => p.clone(),
            };
            self.password = Some(read_password(&path)?);
        }
        // Set just above.
        self.password
            .as_ref()
            .ok_or_else(|| "no vault password".to_owned())
    }

    /// Decrypts one vault payload (a file's text or a `!vault` value).
    pub(crate) fn decrypt(&mut self, payload: &str) -> Result<Secret, String> {
        let pw = self.password()?.expose().as_bytes().to_vec();
        decrypt(payload, &pw).map(Secret::new)
    }
}

fn read_password(path: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read vault password file {shown}: {e}"))?;
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    };
    #[cfg(not(unix))]
    let executable = false;
    let bytes = if executable {
        // Ansible runs an executable password file and reads its stdout.
        let out = std::process::Command::new(path)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run vault password script {shown}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "vault password script {shown} failed ({})",
                out.status
            ));
        }
        out.stdout
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read vault password file {shown}: {e}"))?
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("vault password file {shown} is not valid UTF-8"))?;
    let pw = text.trim_end_matches(['\r', '\n', ' ', '\t']);
    if pw.is_empty() {
        return Err(format!("vault password file {shown} is empty"));
    }
    Ok(Secret::new(pw))
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_owned());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "invalid hex".to_owned())
        })
        .collect()
}

/// Decrypts `payload` with `password`; errors say what is wrong without
/// any secret in them.
pub(crate) fn decrypt(payload: &str, password: &[u8]) -> Result<String, String> {
    let mut lines = payload.trim().lines().map(str::trim);
    let header = lines.next().unwrap_or("");
    let fields: Vec<&str> = header.split(';').collect();
    match fields.as_slice() {
        ["$ANSIBLE_VAULT", "1.1" | "1.2", cipher, ..] if cipher.trim() == "AES256" => {}
        ["$ANSIBLE_VAULT", version, cipher, ..] => {
            return Err(format!(
                "unsupported vault format {version} with cipher {cipher} (fleet reads 1.1 and 1.2 with AES256)"
            ))
        }
        _ => return Err("malformed vault header".to_owned()),
    }
    let body: String = lines.collect();
    let bad = |what: &str| format!("malformed vault payload: {what}");
    let inner = unhex(&body).map_err(|m| bad(&m))?;
    let inner = String::from_utf8(inner).map_err(|_| bad("not text inside"))?;
    let mut parts = inner.split('\n');
    let (Some(salt), Some(mac), Some(ct)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected salt, hmac and ciphertext"));
    };
    let salt = unhex(salt).map_err(|m| bad(&m))?;
    let mac = unhex(mac).map_err(|m| bad(&m))?;
    let mut data = unhex(ct).map_err(|m| bad(&m))?;

    let mut keys = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, 10_000, &mut keys);
    let (key1, rest) = keys.split_at(32);
    let (key2, iv) = rest.split_at(32);

    let mut check = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key2)
        .map_err(|_| "hmac key".to_owned())?;
    check.update(&data);
    check
        .verify_slice(&mac)
        .map_err(|_| "wrong vault password (or a corrupted vault payload)".to_owned())?;

    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new_from_slices(key1, iv)
        .map_err(|_| "cipher key".to_owned())?;
    cipher.apply_keystream(&mut data);
    let pad = usize::from(*data.last().ok_or_else(|| bad("empty plaintext"))?);
    if pad == 0
        || pad > 16
        || pad > data.len()
        || !data[data.len() - pad..]
            .iter()
            .all(|b| usize::from(*b) == pad)
    {
        return Err(bad("bad padding"));
    }
    data.truncate(data.len() - pad);
    String::from_utf8(data).map_err(|_| bad("decrypted text is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_headers_and_payloads() {
        assert!(decrypt("$ANSIBLE_VAULT;1.1;AES128\n00", b"pw")
            .unwrap_err()
            .contains("unsupported"));
        assert!(decrypt("nope", b"pw").unwrap_err().contains("header"));
        assert!(decrypt("$ANSIBLE_VAULT;1.1;AES256\nzz", b"pw")
            .unwrap_err()
            .contains("malformed"));
        assert!(is_vault("  $ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(!is_vault("all:\n"));
    }
}
