//! Jump hosts: sshd reaching itself through itself.

mod common;

use common::*;
use fleet_proto::{Auth, JumpHost, Status};
use fleet_testkit::sshd::{generate_key, Sshd};

fn hop(sshd: &Sshd) -> JumpHost {
    JumpHost {
        host: "127.0.0.1".into(),
        port: sshd.port(),
        username: sshd.user().into(),
        auth: vec![Auth::KeyFile {
            path: sshd.client_key(),
            passphrase: None,
        }],
    }
}

fn accepted(sshd: &Sshd) -> usize {
    sshd.log().matches("Accepted publickey").count()
}

#[test]
fn one_hop_is_shared_by_all_threads() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let ctx = &ctx;
                let mut d = key_device(
                    &sshd,
                    &[&format!("echo via-{i}"), "head -c 300000 /dev/zero | wc -c"],
                );
                d.jump = vec![hop(&sshd)];
                s.spawn(move || ctx.run(&d))
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let out = h.join().unwrap();
            assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
            assert_eq!(out.outputs[0].stdout, format!("via-{i}\n"));
            assert_eq!(out.outputs[1].stdout.trim(), "300000");
        }
    });
    // Six devices plus one jump session.
    assert_eq!(accepted(&sshd), 7, "{}", sshd.log());
    // The pooled hop keeps serving later devices.
    let mut d = key_device(&sshd, &["echo again"]);
    d.jump = vec![hop(&sshd)];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    assert_eq!(accepted(&sshd), 8);
}

#[test]
fn two_hops() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut d = key_device(&sshd, &["echo deep"]);
    d.jump = vec![hop(&sshd), hop(&sshd)];
    let out = context(tmp.path()).run(&d);
    assert_eq!(out.status, Status::Ok, "{:?}\n{}", out.error, sshd.log());
    assert_eq!(out.outputs[0].stdout, "deep\n");
}

#[test]
fn jump_failures_are_classified_and_named() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());

    let other = tmp.path().join("k");
    generate_key(&other, None).unwrap();
    let mut bad_hop = hop(&sshd);
    bad_hop.auth = vec![Auth::KeyFile {
        path: other,
        passphrase: None,
    }];
    let mut d = key_device(&sshd, &["true"]);
    d.jump = vec![bad_hop];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
    assert!(out.error.unwrap().starts_with("jump host 127.0.0.1:"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut d = key_device(&sshd, &["true"]);
    d.port = closed;
    d.jump = vec![hop(&sshd)];
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::ConnectFailed, "{:?}", out.error);
    assert!(out.error.unwrap().contains(&format!("127.0.0.1:{closed}")));
}
