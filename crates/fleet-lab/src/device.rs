//! What the lab tells its users about each device it serves (the lab
//! itself and the inventory writer both read it).

use crate::flavour::Flavour;
use crate::scenario::Behaviour;
use std::net::SocketAddr;

/// One device as the lab serves it: what tests need to connect and to know
/// what to expect.
#[derive(Debug, Clone)]
pub struct LabDevice {
    /// Unique name (`lab-ios-0001`).
    pub name: String,
    /// CLI it imitates.
    pub flavour: Flavour,
    /// Host to connect to, as written to the inventory.
    pub host: String,
    /// Listening (or, for `refused`, bound-only) address.
    pub addr: SocketAddr,
    /// Inventory groups (the role group).
    pub groups: Vec<String>,
    /// Scripted behaviour.
    pub behaviour: Behaviour,
    /// Host key of the first connection, OpenSSH format (`ssh-ed25519 AAAA...`).
    pub host_key: String,
}
