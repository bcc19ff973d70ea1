//! The credentials ssh tries when none are configured: the agent's keys,
//! then the identity files (`IdentityFile`, else the defaults in `~/.ssh`).
//! Computed in the master (workers run with an empty environment) and
//! stored in each device's `auth` list.

use fleet_proto::Auth;
use std::path::{Path, PathBuf};

/// Default identity files, in the order `ssh -G` lists them on OpenSSH 9.2,
/// limited to key types libssh2 can use (no `_sk`, `xmss` or `dsa`).
pub const DEFAULT_IDENTITIES: [&str; 3] = ["id_rsa", "id_ecdsa", "id_ed25519"];

/// What ssh would try for one host.
#[derive(Debug, Clone, Default)]
pub struct IdentityPolicy<'a> {
    /// `SSH_AUTH_SOCK` is set: an agent may hold keys.
    pub agent: bool,
    /// `IdentityFile` values, already expanded.
    pub identity_files: &'a [PathBuf],
    /// `IdentitiesOnly yes`: only the configured files, not every agent key.
    pub identities_only: bool,
}

/// The auth list ssh would try: the agent (unless `IdentitiesOnly`), then
/// the configured files, or the default files that exist in `home/.ssh`
/// when none are configured.
pub fn ssh_auth(home: &Path, p: &IdentityPolicy<'_>) -> Vec<Auth> {
    ssh_auth_with_defaults(&default_identities(home), p)
}

/// The default identity files that exist in `home/.ssh`, in ssh's order:
/// look them up once, not once per device (a million `stat` calls).
pub fn default_identities(home: &Path) -> Vec<PathBuf> {
    DEFAULT_IDENTITIES
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|f| f.is_file())
        .collect()
}

/// [`ssh_auth`] with the default files already looked up
/// ([`default_identities`]).
pub fn ssh_auth_with_defaults(defaults: &[PathBuf], p: &IdentityPolicy<'_>) -> Vec<Auth> {
    let mut auth = Vec::new();
    if p.agent && !p.identities_only {
        auth.push(Auth::Agent);
    }
    let files: Vec<PathBuf> = if p.identity_files.is_empty() {
        defaults.to_vec()
    } else {
        p.identity_files.to_vec()
    };
    auth.extend(files.into_iter().map(|path| Auth::KeyFile {
        path,
        passphrase: None,
    }));
    auth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(a: &[Auth]) -> Vec<String> {
        a.iter()
            .map(|a| match a {
                Auth::Agent => "agent".to_string(),
                Auth::KeyFile { path, .. } => path.file_name().unwrap().to_string_lossy().into(),
                Auth::Password(_) => "password".to_string(),
            })
            .collect()
    }

    #[test]
    fn agent_then_existing_defaults_in_ssh_order() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        for f in ["id_ed25519", "id_rsa", "id_dsa"] {
            std::fs::write(home.path().join(".ssh").join(f), "k").unwrap();
        }
        let p = IdentityPolicy {
            agent: true,
            ..Default::default()
        };
        assert_eq!(
            kinds(&ssh_auth(home.path(), &p)),
            ["agent", "id_rsa", "id_ed25519"]
        );
        let none = IdentityPolicy::default();
        assert_eq!(
            kinds(&ssh_auth(home.path(), &none)),
            ["id_rsa", "id_ed25519"]
        );
    }

    #[test]
    fn configured_files_replace_defaults_and_identities_only_drops_the_agent() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/id_rsa"), "k").unwrap();
        let files = [PathBuf::from("/keys/lab")];
        let p = IdentityPolicy {
            agent: true,
            identity_files: &files,
            identities_only: false,
        };
        assert_eq!(kinds(&ssh_auth(home.path(), &p)), ["agent", "lab"]);
        let only = IdentityPolicy {
            identities_only: true,
            ..p
        };
        assert_eq!(kinds(&ssh_auth(home.path(), &only)), ["lab"]);
        let only_defaults = IdentityPolicy {
            agent: true,
            identity_files: &[],
            identities_only: true,
        };
        assert_eq!(kinds(&ssh_auth(home.path(), &only_defaults)), ["id_rsa"]);
    }
}
