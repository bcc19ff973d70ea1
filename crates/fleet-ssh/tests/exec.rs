//! Exec-mode sessions against a real OpenSSH sshd.

mod common;

use common::*;
use fleet_proto::{Auth, Device, HostKeyCheck, Secret, Status, Transport};
use fleet_ssh::{Context, SessionSettings};
use fleet_testkit::sshd::{generate_key, Sshd};
use std::net::TcpListener;

#[test]
fn key_auth_runs_commands_with_exact_output() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let out = ctx.run(&key_device(&sshd, &["echo hello", "printf 'a\\nb'"]));
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    assert_eq!(out.error, None);
    assert_eq!(out.outputs.len(), 2);
    assert_eq!(out.outputs[0].command, "echo hello");
    assert_eq!(out.outputs[0].stdout, "hello\n");
    assert_eq!(out.outputs[0].exit_status, Some(0));
    assert_eq!(out.outputs[1].stdout, "a\nb");
    assert!(out.timings.total >= out.timings.connect + out.timings.auth);
    assert!(out.started_us > 0);
}

#[test]
fn nonzero_exit_is_command_failed_and_stops_the_session() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = context(tmp.path()).run(&key_device(&sshd, &["echo before; exit 3", "echo never"]));
    assert_eq!(out.status, Status::CommandFailed);
    assert_eq!(out.outputs.len(), 1);
    assert_eq!(out.outputs[0].exit_status, Some(3));
    assert_eq!(out.outputs[0].stdout, "before\n");
    let err = out.error.unwrap();
    assert!(
        err.contains("echo before; exit 3") && err.contains('3'),
        "{err}"
    );
}

#[test]
fn stderr_is_captured_separately() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = context(tmp.path()).run(&key_device(&sshd, &["echo out; echo err >&2"]));
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    assert_eq!(out.outputs[0].stdout, "out\n");
    assert_eq!(out.outputs[0].stderr, "err\n");
}

#[test]
fn large_output_on_both_streams_is_capped_without_deadlock() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(&tmp.path().join("known_hosts"), HostKeyCheck::AcceptNew);
    s.max_output = 1000;
    let ctx = Context::new(s).unwrap();
    // 4 MiB on each stream, more than any SSH window.
    let cmd =
        "head -c 4194304 /dev/zero | tr '\\0' x >&2 & head -c 4194304 /dev/zero | tr '\\0' y; wait";
    let out = ctx.run(&key_device(&sshd, &[cmd, "echo small"]));
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    let o = &out.outputs[0];
    assert!(o.truncated);
    assert_eq!(o.stdout, "y".repeat(1000));
    assert_eq!(o.stderr, "x".repeat(1000));
    assert!(!out.outputs[1].truncated);
    assert_eq!(out.outputs[1].stdout, "small\n");
}

#[test]
fn closed_port_is_connect_failed() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Device::new("d", "127.0.0.1", port);
    d.username = "x".into();
    d.commands = vec!["true".into()];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::ConnectFailed);
    let err = out.error.unwrap();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn unresolvable_host_is_connect_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Device::new("d", "no-such-host.invalid", 22);
    d.commands = vec!["true".into()];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::ConnectFailed, "{:?}", out.error);
}

#[test]
fn silent_server_times_out_within_the_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts (the kernel does) and never says a word.
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let mut d = Device::new("d", "127.0.0.1", port);
    d.username = "x".into();
    d.commands = vec!["true".into()];
    d.timeouts = timeouts(1000, 300, 2000);
    let out = ctx.run(&d);
    drop(listener);
    assert_eq!(out.status, Status::Timeout, "{:?}", out.error);
    assert!(out.error.unwrap().contains("handshake"));
}

#[test]
fn slow_command_hits_the_command_timeout() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut d = key_device(&sshd, &["echo partial; sleep 20"]);
    d.timeouts = timeouts(5000, 500, 10_000);
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Timeout, "{:?}", out.error);
    let err = out.error.unwrap();
    assert!(
        err.contains("command time limit") && err.contains("sleep 20"),
        "{err}"
    );
}

#[test]
fn session_limit_bounds_everything() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut d = key_device(
        &sshd,
        &[
            "sleep 0.3",
            "sleep 0.3",
            "sleep 0.3",
            "sleep 0.3",
            "sleep 20",
        ],
    );
    d.timeouts = timeouts(5000, 10_000, 1000);
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Timeout, "{:?}", out.error);
    assert!(out.error.unwrap().contains("session time limit"));
}

#[test]
fn noop_transport_answers_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Device::new("d", "198.51.100.1", 1);
    d.transport = Transport::Noop;
    d.commands = vec!["a".into(), "b".into()];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Ok);
    assert_eq!(out.outputs.len(), 2);
    assert_eq!(out.outputs[1].command, "b");
    assert_eq!(out.outputs[1].exit_status, Some(0));
    assert!(out.outputs[1].stdout.is_empty());
}

#[test]
fn password_auth_ok_and_wrong_password_rejected() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.test_user().expect("the password test user");
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let mut d = Device::new("d", "127.0.0.1", sshd.port());
    d.username = user.name.clone();
    d.auth = vec![Auth::Password(Secret::new(user.password.clone()))];
    d.commands = vec!["id -un".into()];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    assert_eq!(out.outputs[0].stdout, format!("{}\n", user.name));

    d.auth = vec![Auth::Password(Secret::new("wrong-Pa55"))];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
    let err = out.error.unwrap();
    assert!(
        err.contains("password") && !err.contains("wrong-Pa55"),
        "{err}"
    );
    assert!(!format!("{d:?}").contains("wrong-Pa55"));
}

#[test]
fn credentials_are_tried_in_order() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other_key");
    generate_key(&other, None).unwrap();
    let mut d = key_device(&sshd, &["echo ok"]);
    d.auth.insert(0, Auth::Password(Secret::new("nope-secret")));
    d.auth.insert(
        0,
        Auth::KeyFile {
            path: other,
            passphrase: None,
        },
    );
    d.auth.insert(
        0,
        Auth::KeyFile {
            path: tmp.path().join("missing"),
            passphrase: None,
        },
    );
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    // sshd saw them in the inventory's order: the unauthorized key, the
    // wrong password, then the right key (the missing file never left).
    let fingerprint = |key: &std::path::Path| {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_string()
    };
    let log = sshd.log();
    let at = |needle: &str| {
        log.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in the sshd log:\n{log}"))
    };
    let other_fp = fingerprint(&tmp.path().join("other_key"));
    let right_fp = fingerprint(&sshd.client_key());
    let other = log
        .lines()
        .position(|l| l.contains("publickey") && l.contains(&other_fp))
        .unwrap_or_else(|| panic!("the other key was not offered:\n{log}"));
    let password = at("Failed password");
    let accepted = log
        .lines()
        .position(|l| l.contains("Accepted publickey") && l.contains(&right_fp))
        .unwrap_or_else(|| panic!("the right key was not accepted:\n{log}"));
    assert!(other < password && password < accepted, "order in:\n{log}");
}

#[test]
fn unauthorized_key_is_auth_failed() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other_key");
    generate_key(&other, None).unwrap();
    let mut d = key_device(&sshd, &["true"]);
    d.auth = vec![Auth::KeyFile {
        path: other,
        passphrase: None,
    }];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
}

#[test]
fn encrypted_key_with_passphrase() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("enc_key");
    let public = generate_key(&key, Some("k3y-passphrase")).unwrap();
    sshd.authorize_key(sshd.user(), &public).unwrap();
    let ctx = context(tmp.path());
    let mut d = key_device(&sshd, &["echo enc"]);
    d.auth = vec![Auth::KeyFile {
        path: key.clone(),
        passphrase: Some(Secret::new("k3y-passphrase")),
    }];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    assert_eq!(out.outputs[0].stdout, "enc\n");

    d.auth = vec![Auth::KeyFile {
        path: key,
        passphrase: Some(Secret::new("bad-passphrase")),
    }];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
    assert!(!out.error.unwrap().contains("bad-passphrase"));
}

#[test]
fn accept_new_stores_the_key_then_detects_a_change() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("ssh/known_hosts");
    let ctx = Context::new(settings(&kh, HostKeyCheck::AcceptNew)).unwrap();
    let out = ctx.run(&key_device(&sshd, &["true"]));
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    let text = std::fs::read_to_string(&kh).unwrap();
    let expected = format!(
        "[127.0.0.1]:{} {}\n",
        sshd.port(),
        sshd.host_public_key().unwrap()
    );
    assert_eq!(text, expected);

    // A new server with another host key on the same port.
    let port = sshd.port();
    drop(sshd);
    let other = Sshd::start_with(fleet_testkit::sshd::SshdOptions {
        port: Some(port),
        ..Default::default()
    })
    .unwrap();
    for ctx in [
        ctx,
        Context::new(settings(&kh, HostKeyCheck::AcceptNew)).unwrap(),
    ] {
        let out = ctx.run(&key_device(&other, &["true"]));
        assert_eq!(out.status, Status::HostKeyMismatch, "{:?}", out.error);
        let err = out.error.unwrap();
        assert!(
            err.contains("changed") && err.matches("SHA256:").count() == 2,
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        expected,
        "known_hosts unchanged"
    );
}

#[test]
fn strict_rejects_unknown_and_accepts_known() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("known_hosts");
    let out = Context::new(settings(&kh, HostKeyCheck::Strict))
        .unwrap()
        .run(&key_device(&sshd, &["true"]));
    assert_eq!(out.status, Status::HostKeyMismatch, "{:?}", out.error);
    assert!(out.error.unwrap().contains("strict"));
    assert!(!kh.exists());

    std::fs::write(
        &kh,
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port(),
            sshd.host_public_key().unwrap()
        ),
    )
    .unwrap();
    let out = Context::new(settings(&kh, HostKeyCheck::Strict))
        .unwrap()
        .run(&key_device(&sshd, &["true"]));
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
}

#[test]
fn off_ignores_a_wrong_known_key() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("known_hosts");
    let other = tmp.path().join("k");
    let public = generate_key(&other, None).unwrap();
    std::fs::write(&kh, format!("[127.0.0.1]:{} {}\n", sshd.port(), public)).unwrap();
    let strict = Context::new(settings(&kh, HostKeyCheck::AcceptNew)).unwrap();
    assert_eq!(
        strict.run(&key_device(&sshd, &["true"])).status,
        Status::HostKeyMismatch
    );
    let off = Context::new(SessionSettings {
        host_key_check: HostKeyCheck::Off,
        ..settings(&kh, HostKeyCheck::Off)
    })
    .unwrap();
    assert_eq!(off.run(&key_device(&sshd, &["true"])).status, Status::Ok);
}

#[test]
fn many_threads_share_one_context() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let ctx = &ctx;
                let d = key_device(&sshd, &[&format!("echo {i}")]);
                s.spawn(move || ctx.run(&d))
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let out = h.join().unwrap();
            assert_eq!(out.status, Status::Ok, "{:?}", out.error);
            assert_eq!(out.outputs[0].stdout, format!("{i}\n"));
        }
    });
    // accept-new stored the key once.
    let text = std::fs::read_to_string(tmp.path().join("known_hosts")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
#[ignore = "prints error messages for review"]
fn show_error_messages() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let mut d = key_device(&sshd, &["exit 3"]);
    println!("{:?}", ctx.run(&d).error);
    d.auth = vec![Auth::Password(Secret::new("x"))];
    println!("{:?}", ctx.run(&d).error);
    d.port = 1;
    println!("{:?}", ctx.run(&d).error);
}

#[test]
#[ignore = "prints timings for review"]
fn show_timings() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let out = ctx.run(&key_device(&sshd, &["true"]));
        println!("{:?} {:?} wall {:?}", out.status, out.timings, t.elapsed());
    }
}

#[test]
fn known_key_type_is_preferred_when_the_server_has_several() {
    let tmp = tempfile::tempdir().unwrap();
    let ecdsa = tmp.path().join("host_ecdsa");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "", "-f"])
        .arg(&ecdsa)
        .status()
        .unwrap();
    assert!(ok.success());
    let sshd = Sshd::start_with(fleet_testkit::sshd::SshdOptions {
        extra_config: vec![format!("HostKey {}", ecdsa.display())],
        ..Default::default()
    })
    .unwrap();
    // Only the ECDSA key is known; libssh2 on its own prefers ed25519.
    let public = std::fs::read_to_string(ecdsa.with_extension("pub")).unwrap();
    let body: Vec<&str> = public.split_whitespace().take(2).collect();
    let kh = tmp.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", sshd.port(), body.join(" ")),
    )
    .unwrap();
    let ctx = Context::new(settings(&kh, HostKeyCheck::Strict)).unwrap();
    let out = ctx.run(&key_device(&sshd, &["true"]));
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
}

#[test]
fn password_falls_back_to_keyboard_interactive() {
    // With PAM, sshd offers the password only as a keyboard-interactive prompt.
    let sshd = Sshd::start_with(fleet_testkit::sshd::SshdOptions {
        extra_config: vec![
            "UsePAM yes".into(),
            "PasswordAuthentication no".into(),
            "KbdInteractiveAuthentication yes".into(),
        ],
        ..Default::default()
    })
    .unwrap();
    let user = sshd.test_user().expect("the password test user");
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Device::new("d", "127.0.0.1", sshd.port());
    d.username = user.name.clone();
    d.auth = vec![Auth::Password(Secret::new(user.password.clone()))];
    d.commands = vec!["echo kbd".into()];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    assert_eq!(out.outputs[0].stdout, "kbd\n");
}

#[test]
fn connection_lost_mid_command_is_protocol_error() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // The shell kills its sshd session process: the TCP connection drops.
    let out = context(tmp.path()).run(&key_device(&sshd, &["echo start; kill -9 $PPID; sleep 5"]));
    assert_eq!(out.status, Status::ProtocolError, "{:?}", out.error);
    let err = out.error.unwrap();
    assert!(err.contains("kill -9"), "{err}");
}

#[test]
fn a_credential_that_works_is_sent_without_listing_methods_first() {
    // Listing methods is a `none` request: a round trip per session that
    // an accepted first credential makes unnecessary.
    let sshd = Sshd::start_with(fleet_testkit::sshd::SshdOptions {
        extra_config: vec!["LogLevel DEBUG1".into()],
        ..Default::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = context(tmp.path()).run(&key_device(&sshd, &["true"]));
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    let log = sshd.log();
    assert!(log.contains("Accepted publickey"), "{log}");
    assert!(
        !log.lines().any(|l| l.contains("method none")),
        "a `none` request was sent:\n{log}"
    );
}

#[test]
fn a_rejected_first_credential_still_reports_what_the_server_offers() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut d = key_device(&sshd, &["true"]);
    d.auth = vec![Auth::Password(Secret::new("wrong"))];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
    // The answer to the first try is reused: the password is sent once.
    let err = out.error.unwrap();
    assert_eq!(err.matches("password rejected").count(), 1, "{err}");
    let log = sshd.log();
    assert_eq!(log.matches("Failed password").count(), 1, "{log}");
    let offers = err.split("server offers: ").nth(1).unwrap_or_default();
    assert!(offers.contains("publickey"), "{err}");
}
