//! What an SSH client assumes when a foreign inventory (Nornir, Ansible,
//! CSV) leaves it out: the local user, the ssh-agent; the shared last step
//! of those loaders, with one warning per gap.

use crate::secrets::Secrets;
use fleet_proto::{Auth, Device};

/// Fills an unset username with the local user (as `ssh` would) and empty
/// credentials with the ssh-agent, warning once per inventory for each;
/// jump hosts without user or credentials take the device's.
pub(crate) fn fill_gaps(d: &mut Device, secrets: &mut Secrets) {
    if d.transport == fleet_proto::Transport::Noop {
        return;
    }
    if d.username.is_empty() {
        let user = local_user();
        secrets.warn_once(
            "nouser".to_owned(),
            format!(
                "some devices (first: `{}`) have no username; using the local user `{user}` like ssh",
                d.name
            ),
        );
        d.username = user;
    }
    if d.auth.is_empty() && d.transport == fleet_proto::Transport::Ssh {
        secrets.warn_once(
            "noauth".to_owned(),
            format!(
                "some devices (first: `{}`) have no credentials; trying the ssh-agent",
                d.name
            ),
        );
        d.auth.push(Auth::Agent);
    }
    for hop in &mut d.jump {
        if hop.username.is_empty() {
            hop.username = d.username.clone();
        }
        if hop.auth.is_empty() {
            hop.auth = d.auth.clone();
        }
    }
}

fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "root".to_owned())
}
