//! Agent authentication (its own test binary: it sets SSH_AUTH_SOCK).

mod common;

use common::*;
use fleet_proto::{Auth, Status};
use fleet_testkit::sshd::Sshd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn agent_auth_uses_the_agents_keys() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "ssh-agent did not create its socket"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let added = Command::new("ssh-add")
        .arg(sshd.client_key())
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    std::env::set_var("SSH_AUTH_SOCK", &sock);

    let mut d = key_device(&sshd, &["echo via-agent"]);
    d.auth = vec![Auth::Agent];
    let out = context(tmp.path()).run(&d);
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    assert_eq!(out.outputs[0].stdout, "via-agent\n");
}
