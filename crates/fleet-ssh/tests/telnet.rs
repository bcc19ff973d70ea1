//! Telnet against a small server that negotiates options, asks for a
//! username and password, then runs the lab's IOS-like CLI.

mod common;

use common::*;
use fleet_lab::running_config::RunningConfig;
use fleet_lab::shell::{Shell, ShellEvent};
use fleet_lab::{expected_output, Flavour};
use fleet_proto::{Auth, Device, Secret, Status, Transport};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const IAC: u8 = 255;

/// Reads one line typed by the client, dropping IAC sequences it sends.
fn read_line(s: &mut TcpStream, client_bytes: &mut Vec<u8>) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        client_bytes.push(b[0]);
        match b[0] {
            IAC => {
                let mut rest = [0u8; 2];
                s.read_exact(&mut rest).ok()?;
                client_bytes.extend_from_slice(&rest);
            }
            b'\r' => {}
            b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            c => line.push(c),
        }
    }
}

/// Serves one telnet session; returns everything the client sent.
fn serve(listener: TcpListener, password: &'static str) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        // WILL ECHO, WILL SGA, DO TERMINAL-TYPE (which the client must refuse).
        s.write_all(&[IAC, 251, 1, IAC, 251, 3, IAC, 253, 24])
            .unwrap();
        s.write_all(b"\r\nUser Access Verification\r\n\r\nUsername: ")
            .unwrap();
        let Some(_user) = read_line(&mut s, &mut got) else {
            return got;
        };
        s.write_all(b"Password: ").unwrap();
        let Some(pw) = read_line(&mut s, &mut got) else {
            return got;
        };
        if pw != password {
            s.write_all(b"\r\n% Login invalid\r\n\r\nUsername: ")
                .unwrap();
            let _ = read_line(&mut s, &mut got);
            return got;
        }
        let config = Arc::new(Mutex::new(RunningConfig::initial("tn1", Flavour::CiscoIos)));
        let mut shell = Shell::new("tn1", Flavour::CiscoIos, config, Secret::new("en"));
        s.write_all(&shell.greeting()).unwrap();
        let mut buf = [0u8; 1024];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => n,
            };
            got.extend_from_slice(&buf[..n]);
            for ev in shell.feed(&buf[..n]) {
                match ev {
                    ShellEvent::Echo(b) | ShellEvent::Output(b) => {
                        if s.write_all(&b).is_err() {
                            return got;
                        }
                    }
                    ShellEvent::Close => return got,
                }
            }
        }
    })
}

fn device(port: u16, password: &str) -> Device {
    let mut d = Device::new("tn1", "127.0.0.1", port);
    d.transport = Transport::Telnet;
    d.platform = Some("cisco_ios".into());
    d.username = "admin".into();
    d.auth = vec![Auth::Password(Secret::new(password))];
    d.enable_secret = Some(Secret::new("en"));
    d.commands = vec!["show version".into()];
    d
}

#[test]
fn telnet_login_negotiation_and_cli() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve(listener, "tn-pass");
    let tmp = tempfile::tempdir().unwrap();
    let out = context(tmp.path()).run(&device(port, "tn-pass"));
    assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    assert_eq!(
        out.outputs[0].stdout,
        expected_output("tn1", Flavour::CiscoIos, "show version").unwrap()
    );
    let sent = server.join().unwrap();
    // DO ECHO, DO SGA accepted; terminal type refused.
    for want in [[IAC, 253, 1], [IAC, 253, 3], [IAC, 252, 24]] {
        assert!(
            sent.windows(3).any(|w| w == want),
            "missing {want:?} in {sent:?}"
        );
    }
    let text = String::from_utf8_lossy(&sent);
    assert!(
        text.contains("admin\r\ntn-pass\r\nterminal length 0\r\nenable\r\nen\r\nshow version\r\n"),
        "{text:?}"
    );
}

#[test]
fn telnet_wrong_password_is_auth_failed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve(listener, "tn-pass");
    let tmp = tempfile::tempdir().unwrap();
    let out = context(tmp.path()).run(&device(port, "not-it"));
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
    assert!(!out.error.unwrap().contains("not-it"));
    drop(server);
}
