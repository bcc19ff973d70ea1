//! Host keys (deterministic per seed and device, so reconnects see the same
//! key), the client key the lab accepts, and the lab password.

use crate::error::LabError;
use crate::files::write_atomic;
use crate::hash::seeded;
use fleet_proto::Secret;
use rand::{Rng, RngCore, SeedableRng};
use russh::keys::ssh_key::{private::Ed25519Keypair, LineEnding, PrivateKey, PublicKey};
use std::path::Path;

/// The ed25519 host key of device `name` for lab seed `seed`; `variant` 1
/// is the "changed" key that host-key-change devices show on reconnects.
pub fn host_key(seed: u64, name: &str, variant: u32) -> PrivateKey {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seeded(seed, &format!("{name}#{variant}")));
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    PrivateKey::from(Ed25519Keypair::from_seed(&bytes))
}

/// Loads the client key from `path`, or creates one (0600, plus `.pub`).
/// Reused across lab runs so a user's `ssh -i` keeps working.
pub fn client_key(path: &Path) -> Result<PublicKey, LabError> {
    let key_err = |what: &str| {
        let what = what.to_string();
        move |e: russh::keys::ssh_key::Error| LabError::Key {
            what,
            message: e.to_string(),
        }
    };
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = PrivateKey::from_openssh(text.as_bytes())
            .map_err(key_err(&format!("parse client key {}", path.display())))?;
        return Ok(key.public_key().clone());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&bytes));
    key.set_comment("fleet-lab client key");
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(key_err("encode the client key"))?;
    write_atomic(path, pem.as_bytes(), 0o600)?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(key_err("encode the client public key"))?;
    write_atomic(
        &path.with_extension("pub"),
        format!("{public}\n").as_bytes(),
        0o644,
    )?;
    Ok(key.public_key().clone())
}

/// A random 20-character alphanumeric password.
pub fn random_password() -> Secret {
    let rng = rand::rng();
    Secret::new(
        rng.sample_iter(rand::distr::Alphanumeric)
            .take(20)
            .map(char::from)
            .collect::<String>(),
    )
}

/// A host key's public half in OpenSSH format (`ssh-ed25519 AAAA...`).
pub fn public_openssh(key: &PrivateKey) -> Result<String, LabError> {
    key.public_key().to_openssh().map_err(|e| LabError::Key {
        what: "encode a host key".to_string(),
        message: e.to_string(),
    })
}

/// One `known_hosts` line for a device listening on `host:port` with the
/// OpenSSH-format public key `public`.
pub fn known_hosts_line(host: &str, port: u16, public: &str) -> String {
    let host = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    format!("{host} {public}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_deterministic_per_seed_name_and_variant() {
        let a = host_key(1, "r1", 0);
        assert_eq!(a.public_key(), host_key(1, "r1", 0).public_key());
        assert_ne!(a.public_key(), host_key(2, "r1", 0).public_key());
        assert_ne!(a.public_key(), host_key(1, "r2", 0).public_key());
        assert_ne!(a.public_key(), host_key(1, "r1", 1).public_key());
    }
}
