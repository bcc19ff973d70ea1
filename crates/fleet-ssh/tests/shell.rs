//! Shell mode against OpenSSH sshd with the user's bash.

mod common;

use common::*;
use fleet_proto::{Mode, Status};
use fleet_testkit::sshd::Sshd;

#[test]
fn bash_shell_mode_runs_commands_and_strips_echo_and_prompt() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut d = key_device(&sshd, &["echo hello", "printf 'a\\nb\\n'", "true"]);
    d.mode = Some(Mode::Shell);
    d.platform = Some("linux".into());
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    assert_eq!(out.outputs.len(), 3);
    assert_eq!(out.outputs[0].stdout, "hello\n");
    assert_eq!(out.outputs[1].stdout, "a\nb\n");
    assert_eq!(out.outputs[2].stdout, "");
    assert_eq!(out.outputs[0].exit_status, None);
    eprintln!("timings {:?}", out.timings);
}

#[test]
fn linux_platform_defaults_to_exec_mode() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut d = key_device(&sshd, &["exit 4"]);
    d.platform = Some("linux".into());
    let out = context(tmp.path()).run(&d);
    // Only exec mode sees exit statuses.
    assert_eq!(out.status, Status::CommandFailed);
    assert_eq!(out.outputs[0].exit_status, Some(4));
}
