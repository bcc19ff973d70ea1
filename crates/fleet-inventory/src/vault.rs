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

/// Why vault content could not be decrypted. Never holds a secret: the
/// password and the plaintext stay out of every message. The loaders
/// put it in an [`InventoryError`](crate::InventoryError) with the file
/// (and field) at fault, its causes rendered by [`crate::error::chain`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum VaultError {
    /// Vault content, and no password source given.
    #[error(
        "vault-encrypted; give the vault password with --vault-password-file FILE or ANSIBLE_VAULT_PASSWORD_FILE"
    )]
    NoPassword,
    /// The password file could not be read.
    #[error("failed to read vault password file {}", path.display())]
    ReadPassword {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The executable password file could not be started.
    #[error("failed to run vault password script {}", path.display())]
    RunScript {
        /// The script.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The executable password file exited unsuccessfully.
    #[error("vault password script {} failed ({status})", path.display())]
    ScriptFailed {
        /// The script.
        path: PathBuf,
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// The password is not text.
    #[error("vault password file {} is not valid UTF-8", path.display())]
    PasswordNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The password file holds only white space.
    #[error("vault password file {} is empty", path.display())]
    PasswordEmpty {
        /// The file.
        path: PathBuf,
    },
    /// A header fleet does not decrypt.
    #[error(
        "unsupported vault format {version} with cipher {cipher} (fleet reads 1.1 and 1.2 with AES256)"
    )]
    Unsupported {
        /// The format version field.
        version: String,
        /// The cipher field.
        cipher: String,
    },
    /// Not a `$ANSIBLE_VAULT;VERSION;CIPHER` header.
    #[error("malformed vault header")]
    Header,
    /// The payload's structure is broken.
    #[error("malformed vault payload: {0}")]
    Payload(&'static str),
    /// The HMAC does not match: another password, or a damaged payload.
    #[error("wrong vault password (or a corrupted vault payload)")]
    WrongPassword,
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

    fn password(&mut self) -> Result<&Secret, VaultError> {
        if self.password.is_none() {
            let path = match &self.source {
                VaultPassword::None => return Err(VaultError::NoPassword),
                VaultPassword::File(p) => p.clone(),
            };
            self.password = Some(read_password(&path)?);
        }
        // Set just above.
        self.password.as_ref().ok_or(VaultError::NoPassword)
    }

    /// A whole file's text (an inventory, a vars file), decrypted when it
    /// is vault-encrypted, and whether it was; a failure names the file.
    pub(crate) fn open_file(
        &mut self,
        path: &Path,
        text: String,
    ) -> Result<(String, bool), crate::InventoryError> {
        if !is_vault(&text) {
            return Ok((text, false));
        }
        let plain = self.decrypt(&text).map_err(|e| {
            crate::InventoryError::file(path, crate::ErrorKind::Secret, crate::error::chain(&e))
        })?;
        Ok((plain.expose().to_owned(), true))
    }

    /// Decrypts one vault payload (a file's text or a `!vault` value).
    pub(crate) fn decrypt(&mut self, payload: &str) -> Result<Secret, VaultError> {
        let pw = self.password()?.expose().as_bytes().to_vec();
        decrypt(payload, &pw).map(Secret::new)
    }
}

fn read_password(path: &Path) -> Result<Secret, VaultError> {
    let read_failed = |source| VaultError::ReadPassword {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_failed)?;
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
            .map_err(|source| VaultError::RunScript {
                path: path.to_path_buf(),
                source,
            })?;
        if !out.status.success() {
            return Err(VaultError::ScriptFailed {
                path: path.to_path_buf(),
                status: out.status,
            });
        }
        out.stdout
    } else {
        std::fs::read(path).map_err(read_failed)?
    };
    let text = String::from_utf8(bytes).map_err(|_| VaultError::PasswordNotUtf8 {
        path: path.to_path_buf(),
    })?;
    let pw = text.trim_end_matches(['\r', '\n', ' ', '\t']);
    if pw.is_empty() {
        return Err(VaultError::PasswordEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(pw))
}

fn unhex(s: &str) -> Result<Vec<u8>, VaultError> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err(VaultError::Payload("odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(VaultError::Payload("invalid hex"))
        })
        .collect()
}

/// Decrypts `payload` with `password`; errors say what is wrong without
/// any secret in them.
pub(crate) fn decrypt(payload: &str, password: &[u8]) -> Result<String, VaultError> {
    let mut lines = payload.trim().lines().map(str::trim);
    let header = lines.next().unwrap_or("");
    let fields: Vec<&str> = header.split(';').collect();
    match fields.as_slice() {
        ["$ANSIBLE_VAULT", "1.1" | "1.2", cipher, ..] if cipher.trim() == "AES256" => {}
        ["$ANSIBLE_VAULT", version, cipher, ..] => {
            return Err(VaultError::Unsupported {
                version: (*version).to_owned(),
                cipher: (*cipher).to_owned(),
            })
        }
        _ => return Err(VaultError::Header),
    }
    let body: String = lines.collect();
    let bad = VaultError::Payload;
    let inner = unhex(&body)?;
    let inner = String::from_utf8(inner).map_err(|_| bad("not text inside"))?;
    let mut parts = inner.split('\n');
    let (Some(salt), Some(mac), Some(ct)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected salt, hmac and ciphertext"));
    };
    let salt = unhex(salt)?;
    let mac = unhex(mac)?;
    let mut data = unhex(ct)?;

    let mut keys = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, 10_000, &mut keys);
    let (key1, rest) = keys.split_at(32);
    let (key2, iv) = rest.split_at(32);

    let mut check =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key2).map_err(|_| bad("hmac key"))?;
    check.update(&data);
    check
        .verify_slice(&mac)
        .map_err(|_| VaultError::WrongPassword)?;

    let mut cipher =
        ctr::Ctr128BE::<aes::Aes256>::new_from_slices(key1, iv).map_err(|_| bad("cipher key"))?;
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
    fn password_errors_name_the_file_and_keep_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-file");
        let e = read_password(&missing).unwrap_err();
        assert!(matches!(e, VaultError::ReadPassword { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("failed to read vault password file {}", missing.display())
        );
        let cause = std::error::Error::source(&e).expect("the I/O error is kept");
        let io = cause
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(crate::error::chain(&e).ends_with(&io.to_string()));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let e = read_password(&empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("vault password file {} is empty", empty.display())
        );
        let e = Vault::new(VaultPassword::None)
            .decrypt("$ANSIBLE_VAULT;1.1;AES256\n00")
            .unwrap_err();
        assert!(e.to_string().contains("--vault-password-file"), "{e}");
    }

    #[test]
    fn refuses_bad_headers_and_payloads() {
        assert!(decrypt("$ANSIBLE_VAULT;1.1;AES128\n00", b"pw")
            .unwrap_err()
            .to_string()
            .contains("unsupported vault format 1.1 with cipher AES128"));
        assert!(matches!(
            decrypt("nope", b"pw").unwrap_err(),
            VaultError::Header
        ));
        assert_eq!(
            decrypt("$ANSIBLE_VAULT;1.1;AES256\nzz", b"pw")
                .unwrap_err()
                .to_string(),
            "malformed vault payload: invalid hex"
        );
        assert!(is_vault("  $ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(!is_vault("all:\n"));
    }
}
