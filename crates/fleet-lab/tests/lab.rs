//! End-to-end tests of the lab over real SSH (libssh2 client).

use fleet_lab::{
    expected_output, large_output_line, unknown_command_error, Flavour, Lab, LabConfig, LabDevice,
    Scenario, MORE_PROMPT,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TIMEOUT_MS: u32 = 10_000;

fn start(devices: usize, flavours: &[Flavour], scenario: Option<&str>) -> (tempfile::TempDir, Lab) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = LabConfig::new(devices, dir.path().join("state"));
    config.flavours = flavours.to_vec();
    config.scenario = scenario.map(|s| Scenario::parse(s).expect("scenario"));
    config.threads = Some(2);
    let lab = Lab::start(config).expect("lab starts");
    (dir, lab)
}

fn connect(dev: &LabDevice) -> ssh2::Session {
    let tcp = TcpStream::connect(dev.addr).expect("connect");
    let mut sess = ssh2::Session::new().expect("session");
    sess.set_tcp_stream(tcp);
    sess.set_timeout(TIMEOUT_MS);
    sess.handshake().expect("handshake");
    sess
}

fn login(lab: &Lab, dev: &LabDevice) -> ssh2::Session {
    let sess = connect(dev);
    sess.userauth_password("admin", lab.password().expose())
        .expect("password auth");
    sess
}

fn exec(sess: &ssh2::Session, command: &str) -> (String, String, i32) {
    let mut ch = sess.channel_session().expect("channel");
    ch.exec(command).expect("exec");
    let mut out = String::new();
    ch.read_to_string(&mut out).expect("stdout");
    let mut err = String::new();
    ch.stderr().read_to_string(&mut err).expect("stderr");
    ch.wait_close().expect("close");
    (out, err, ch.exit_status().expect("status"))
}

/// Reads from a shell channel until the text ends with `suffix`.
fn read_until(ch: &mut ssh2::Channel, suffix: &str) -> String {
    read_until_any(ch, &[suffix])
}

/// Reads until the text ends with one of `suffixes`.
fn read_until_any(ch: &mut ssh2::Channel, suffixes: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !suffixes.iter().any(|s| text.ends_with(s)) {
        assert!(Instant::now() < deadline, "no {suffixes:?} in {text:?}");
        let n = ch.read(&mut buf).expect("shell read");
        assert!(n > 0, "shell closed; got {text:?}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

fn shell(sess: &ssh2::Session) -> ssh2::Channel {
    let mut ch = sess.channel_session().expect("channel");
    ch.request_pty("vt100", None, None).expect("pty");
    ch.shell().expect("shell");
    ch
}

fn send(ch: &mut ssh2::Channel, line: &str) {
    ch.write_all(line.as_bytes()).expect("write");
    ch.flush().expect("flush");
}

#[test]
fn exec_output_equals_expected_output_on_every_flavour() {
    let (_dir, lab) = start(5, &Flavour::ALL, None);
    let commands: &[(Flavour, &[&str])] = &[
        (
            Flavour::CiscoIos,
            &[
                "show version",
                "show running-config",
                "show interfaces",
                "show ip interface brief",
            ],
        ),
        (
            Flavour::Linux,
            &[
                "show version",
                "uname -a",
                "hostname",
                "uptime",
                "cat /etc/os-release",
                "echo hello 'big  world'",
            ],
        ),
        (
            Flavour::CiscoNxos,
            &["show version", "show ip interface brief"],
        ),
        (Flavour::AristaEos, &["show version", "show running-config"]),
        (
            Flavour::JuniperJunos,
            &[
                "show version",
                "show configuration",
                "show interfaces terse",
            ],
        ),
    ];
    for dev in lab.devices() {
        let sess = login(&lab, dev);
        let (_, list) = commands
            .iter()
            .find(|(f, _)| *f == dev.flavour)
            .expect("flavour listed");
        for command in *list {
            let (out, err, status) = exec(&sess, command);
            let want = expected_output(&dev.name, dev.flavour, command).expect("known command");
            assert_eq!(out, want, "{} {command}", dev.name);
            assert_eq!((err.as_str(), status), ("", 0));
        }
    }
}

#[test]
fn public_key_auth_with_the_generated_client_key() {
    let (_dir, lab) = start(1, &[Flavour::CiscoIos], None);
    let dev = &lab.devices()[0];
    let sess = connect(dev);
    sess.userauth_pubkey_file("admin", None, lab.client_key_path(), None)
        .expect("key auth");
    assert!(sess.authenticated());
}

#[test]
fn unknown_commands_fail_like_the_real_thing() {
    let (_dir, lab) = start(2, &[Flavour::CiscoIos, Flavour::Linux], None);
    let ios = login(&lab, &lab.devices()[0]);
    let (out, err, status) = exec(&ios, "show bogus");
    assert_eq!(
        out,
        format!(
            "{}\n",
            unknown_command_error(Flavour::CiscoIos, "show bogus")
        )
    );
    assert_eq!(out, "% Invalid input detected at '^' marker.\n");
    assert_eq!((err.as_str(), status), ("", 1));
    let linux = login(&lab, &lab.devices()[1]);
    let (out, err, status) = exec(&linux, "frobnicate now");
    assert_eq!(out, "");
    assert_eq!(err, "bash: frobnicate: command not found\n");
    assert_eq!(status, 127);
}

#[test]
fn auth_fail_scenario_rejects_the_right_password() {
    let (_dir, lab) = start(
        2,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"auth_fail\"\ndevices = [\"lab-ios-0001\"]\nauth_fail = true\n"),
    );
    let bad = lab.device("lab-ios-0001").expect("device");
    assert_eq!(bad.behaviour.name, "auth_fail");
    let sess = connect(bad);
    assert!(sess
        .userauth_password("admin", lab.password().expose())
        .is_err());
    assert!(sess
        .userauth_pubkey_file("admin", None, lab.client_key_path(), None)
        .is_err());
    let good = login(&lab, lab.device("lab-ios-0002").expect("device"));
    assert!(good.authenticated());
    let c = lab.counters();
    assert!(c.auth_failed >= 1, "{c:?}");
    assert_eq!(c.auth_ok, 1);
}

#[test]
fn refused_scenario_refuses_connections() {
    let (_dir, lab) = start(
        1,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"refused\"\nshare = 100\nrefused = true\n"),
    );
    let err = TcpStream::connect(lab.devices()[0].addr).expect_err("must be refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn hang_scenario_times_out_the_handshake() {
    let (_dir, lab) = start(
        1,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"hang\"\nshare = 100\nhang = true\n"),
    );
    let tcp = TcpStream::connect(lab.devices()[0].addr).expect("TCP is accepted");
    let mut sess = ssh2::Session::new().expect("session");
    sess.set_tcp_stream(tcp);
    sess.set_timeout(300);
    let err = sess.handshake().expect_err("no banner");
    assert!(
        matches!(
            err.code(),
            ssh2::ErrorCode::Session(-9)
                | ssh2::ErrorCode::Session(-43)
                | ssh2::ErrorCode::Session(-37)
        ),
        "expected a timeout, got {err:?}"
    );
    assert_eq!(lab.counters().handshakes_completed, 0);
}

#[test]
fn host_key_changes_on_reconnect() {
    let (_dir, lab) = start(
        1,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"rekeyed\"\nshare = 100\nhost_key_change = true\n"),
    );
    let dev = &lab.devices()[0];
    let key = |s: &ssh2::Session| s.host_key().expect("host key").0.to_vec();
    let first = key(&connect(dev));
    let second = key(&connect(dev));
    let third = key(&connect(dev));
    assert_ne!(first, second);
    assert_eq!(second, third);
    let advertised = dev.host_key.split_whitespace().nth(1).expect("base64");
    let b64 = base64_encode(&first);
    assert_eq!(advertised, b64);
}

/// Minimal standard base64 (tests only), to compare with the OpenSSH line.
fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn large_output_has_the_configured_size() {
    let size: u64 = 8 * 1024 * 1024 + 17;
    let (_dir, lab) = start(
        1,
        &[Flavour::Linux],
        Some(&format!(
            "[[rule]]\nname = \"big\"\nshare = 100\nlarge_output_bytes = {size}\n"
        )),
    );
    let dev = &lab.devices()[0];
    let sess = login(&lab, dev);
    let mut ch = sess.channel_session().expect("channel");
    ch.exec("show version").expect("exec");
    let mut out = Vec::new();
    ch.read_to_end(&mut out).expect("read");
    ch.wait_close().expect("close");
    assert_eq!(out.len() as u64, size);
    assert!(out.starts_with(large_output_line(&dev.name, 0).as_bytes()));
    assert_eq!(ch.exit_status().expect("status"), 0);
}

#[test]
fn disconnect_mid_output_drops_the_connection() {
    let (_dir, lab) = start(
        1,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"drop\"\nshare = 100\ndisconnect_mid_output = true\n"),
    );
    let dev = &lab.devices()[0];
    let sess = login(&lab, dev);
    let mut ch = sess.channel_session().expect("channel");
    ch.exec("show running-config").expect("exec");
    let mut out = Vec::new();
    let _ = ch.read_to_end(&mut out);
    let full = expected_output(&dev.name, dev.flavour, "show running-config").expect("known");
    assert!(out.len() < full.len(), "got the whole output");
    assert!(ch.exit_status().unwrap_or(0) == 0 && sess.channel_session().is_err());
}

#[test]
fn shell_paging_enable_and_config_mode_persist_across_sessions() {
    let (_dir, lab) = start(1, &[Flavour::CiscoIos], None);
    let dev = &lab.devices()[0];
    let host = &dev.name;
    {
        let sess = login(&lab, dev);
        let mut ch = shell(&sess);
        read_until(&mut ch, &format!("{host}>"));
        send(&mut ch, "show interfaces\r");
        let page = read_until(&mut ch, MORE_PROMPT);
        assert!(page.starts_with("show interfaces\r\n"), "echo: {page:?}");
        // Space shows the next page; the output ends at the prompt.
        send(&mut ch, " ");
        let mut pages = 1;
        loop {
            let text = read_until_any(&mut ch, &[MORE_PROMPT, &format!("{host}>")]);
            pages += 1;
            if text.ends_with(MORE_PROMPT) {
                send(&mut ch, " ");
            } else {
                break;
            }
        }
        let lines = expected_output(host, dev.flavour, "show interfaces")
            .expect("known")
            .lines()
            .count();
        assert_eq!(pages, lines.div_ceil(fleet_lab::PAGE_LINES - 1));
        send(&mut ch, "enable\r");
        read_until(&mut ch, "Password: ");
        send(&mut ch, &format!("{}\r", lab.password().expose()));
        let after = read_until(&mut ch, &format!("{host}#"));
        assert!(!after.contains(lab.password().expose()), "secret echoed");
        send(&mut ch, "terminal length 0\r");
        read_until(&mut ch, &format!("{host}#"));
        send(&mut ch, "show interfaces\r");
        let all = read_until(&mut ch, &format!("{host}#"));
        assert!(!all.contains(MORE_PROMPT));
        let want = expected_output(host, dev.flavour, "show interfaces").expect("known");
        assert!(all.contains(&want.replace('\n', "\r\n")));
        send(&mut ch, "configure terminal\r");
        read_until(&mut ch, &format!("{host}(config)#"));
        send(&mut ch, "interface GigabitEthernet0/3\r");
        read_until(&mut ch, &format!("{host}(config-if)#"));
        send(&mut ch, "description set by the test\r");
        read_until(&mut ch, &format!("{host}(config-if)#"));
        send(&mut ch, "end\r");
        read_until(&mut ch, &format!("{host}#"));
        send(&mut ch, "write memory\r");
        read_until(&mut ch, &format!("[OK]\r\n{host}#"));
        send(&mut ch, "exit\r");
        let mut tail = String::new();
        let _ = ch.read_to_string(&mut tail);
        ch.wait_close().expect("close");
    }
    let sess = login(&lab, dev);
    let (out, _, _) = exec(&sess, "show running-config");
    assert!(
        out.contains("interface GigabitEthernet0/3\n description set by the test\n"),
        "{out}"
    );
}

#[test]
fn wrong_enable_secret_is_denied() {
    let (_dir, lab) = start(1, &[Flavour::CiscoIos], None);
    let dev = &lab.devices()[0];
    let sess = login(&lab, dev);
    let mut ch = shell(&sess);
    read_until(&mut ch, &format!("{}>", dev.name));
    send(&mut ch, "enable\r");
    read_until(&mut ch, "Password: ");
    send(&mut ch, "wrong\r");
    read_until(&mut ch, &format!("% Access denied\r\n\r\n{}>", dev.name));
}

#[test]
fn counters_match_the_sessions_made() {
    let (_dir, lab) = start(3, &[Flavour::CiscoIos], None);
    for dev in lab.devices() {
        for _ in 0..2 {
            let sess = login(&lab, dev);
            exec(&sess, "show version");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = loop {
        let c = lab.counters();
        if c.current_sessions == 0 || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(c.sessions_accepted, 6);
    assert_eq!(c.handshakes_completed, 6);
    assert_eq!(c.auth_ok, 6);
    assert_eq!(c.auth_failed, 0);
    assert_eq!(c.channels, 6);
    assert_eq!(c.commands, 6);
    assert_eq!(c.current_sessions, 0);
    assert!(c.peak_sessions >= 1);
    assert_eq!(c.new_sessions_per_second.iter().sum::<u64>(), 6);
    assert!(c.max_new_sessions_per_1s_window >= 1);
    let want_bytes: usize = lab
        .devices()
        .iter()
        .map(|d| 2 * expected_output(&d.name, d.flavour, "show version").map_or(0, |s| s.len()))
        .sum();
    assert_eq!(c.bytes_sent, want_bytes as u64);
    for dev in lab.devices() {
        assert_eq!(c.sessions_per_device.get(&dev.name), Some(&2));
    }
    let written = lab.write_stats().expect("stats");
    let text = std::fs::read_to_string(lab.stats_path()).expect("stats file");
    let parsed: fleet_lab::Counters = serde_json_from(&text);
    assert_eq!(parsed.sessions_accepted, written.sessions_accepted);
    let final_counters = lab.shutdown().expect("shutdown");
    assert_eq!(final_counters.sessions_accepted, 6);
}

fn serde_json_from(text: &str) -> fleet_lab::Counters {
    // The stats file is JSON; YAML is a superset, so marked-yaml checks the
    // shape without another dev-dependency.
    let node = marked_yaml::parse_yaml(0, text).expect("stats JSON parses");
    let map = node.as_mapping().expect("object");
    let get = |k: &str| -> u64 {
        map.get_scalar(k)
            .and_then(|s| s.as_str().parse().ok())
            .unwrap_or_else(|| panic!("field {k}"))
    };
    fleet_lab::Counters {
        sessions_accepted: get("sessions_accepted"),
        auth_ok: get("auth_ok"),
        ..Default::default()
    }
}

#[test]
fn inventory_is_fleet_yaml_with_the_lab_devices() {
    let (_dir, lab) = start(
        20,
        &[Flavour::CiscoIos, Flavour::Linux],
        Some("[[rule]]\nname = \"slow\"\nshare = 10\nlatency = \"1ms\"\n"),
    );
    let text = std::fs::read_to_string(lab.inventory_path()).expect("inventory");
    let root = marked_yaml::parse_yaml(0, &text).expect("YAML");
    let root = root.as_mapping().expect("mapping");
    let scalar = |m: &marked_yaml::types::MarkedMappingNode, k: &str| {
        m.get_scalar(k)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| panic!("{k}"))
    };
    assert_eq!(scalar(root, "host_key_check"), "accept-new");
    assert_eq!(
        scalar(root, "known_hosts"),
        lab.state_dir().join("known_hosts").display().to_string()
    );
    let defaults = root.get_mapping("defaults").expect("defaults");
    assert_eq!(scalar(defaults, "username"), "admin");
    let pw_file = scalar(defaults, "password_file");
    assert_eq!(
        std::fs::read_to_string(&pw_file).expect("pw").trim_end(),
        lab.password().expose()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pw_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let devices = root.get_sequence("devices").expect("devices");
    assert_eq!(devices.len(), 20);
    let mut slow = 0;
    for (node, dev) in devices.iter().zip(lab.devices()) {
        let m = node.as_mapping().expect("device mapping");
        assert_eq!(scalar(m, "name"), dev.name);
        assert_eq!(scalar(m, "host"), "127.0.0.1");
        assert_eq!(scalar(m, "port"), dev.addr.port().to_string());
        assert_eq!(scalar(m, "platform"), dev.flavour.platform());
        let groups = m.get_sequence("groups").expect("groups");
        assert_eq!(groups.len(), 1);
        let data = m.get_mapping("data").expect("data");
        assert_eq!(scalar(data, "flavour"), dev.flavour.platform());
        let scenario = scalar(data, "scenario");
        assert_eq!(scenario, dev.behaviour.name);
        slow += usize::from(scenario == "slow");
    }
    assert_eq!(slow, 2);
    assert!(lab.devices()[0].groups == ["core"] && lab.devices()[1].groups == ["access"]);
}

#[test]
fn jump_host_forwards_only_to_lab_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = LabConfig::new(1, dir.path());
    config.jump_host = true;
    let lab = Lab::start(config).expect("lab");
    let jump = lab.jump_host().expect("jump host");
    let tcp = TcpStream::connect(jump).expect("connect");
    let mut sess = ssh2::Session::new().expect("session");
    sess.set_tcp_stream(tcp);
    sess.set_timeout(TIMEOUT_MS);
    sess.handshake().expect("handshake");
    sess.userauth_password("admin", lab.password().expose())
        .expect("auth");
    let port = lab.devices()[0].addr.port();
    let mut ch = sess
        .channel_direct_tcpip("127.0.0.1", port, None)
        .expect("forward");
    let mut banner = [0u8; 8];
    ch.read_exact(&mut banner).expect("banner");
    assert_eq!(&banner, b"SSH-2.0-");
    assert!(sess.channel_direct_tcpip("127.0.0.1", 1, None).is_err());
}

#[test]
fn non_loopback_bind_needs_explicit_permission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = LabConfig::new(1, dir.path());
    config.bind = "0.0.0.0".parse().expect("ip");
    assert!(matches!(
        Lab::start(config),
        Err(fleet_lab::LabError::Config { .. })
    ));
}

#[test]
fn telnet_devices_log_in_and_share_the_cli() {
    let (_dir, lab) = start(
        1,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"telnet\"\nshare = 100\ntelnet = true\n"),
    );
    let dev = &lab.devices()[0];
    let inventory = std::fs::read_to_string(lab.inventory_path()).expect("inventory");
    assert!(inventory.contains("transport: telnet"));
    let mut tcp = TcpStream::connect(dev.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut text = Vec::new();
    let mut read_until = |tcp: &mut TcpStream, suffix: &str| {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&text).ends_with(suffix) {
            let n = tcp.read(&mut buf).expect("read");
            assert!(
                n > 0,
                "closed before {suffix:?}: {:?}",
                String::from_utf8_lossy(&text)
            );
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&std::mem::take(&mut text)).into_owned()
    };
    let hello = read_until(&mut tcp, "Username: ");
    assert!(hello.as_bytes().starts_with(&[255, 251, 1]) || hello.starts_with('\u{fffd}'));
    tcp.write_all(b"admin\r\n").expect("user");
    read_until(&mut tcp, "Password: ");
    tcp.write_all(format!("{}\r\0", lab.password().expose()).as_bytes())
        .expect("pw");
    let prompt = format!("{}>", dev.name);
    read_until(&mut tcp, &prompt);
    tcp.write_all(b"show version\r\n").expect("cmd");
    let out = read_until(&mut tcp, &prompt);
    let want = expected_output(&dev.name, dev.flavour, "show version").expect("known");
    assert_eq!(
        out,
        format!("show version\r\n{}{prompt}", want.replace('\n', "\r\n"))
    );
    tcp.write_all(b"exit\r\n").expect("exit");
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    let c = lab.counters();
    assert_eq!((c.auth_ok, c.commands), (1, 1));
}

#[test]
fn inventory_loads_with_fleet_inventory() {
    let (_dir, lab) = start(
        10,
        &[Flavour::CiscoIos, Flavour::Linux],
        Some("[[rule]]\nname = \"telnet\"\nshare = 20\ntelnet = true\n"),
    );
    let inv =
        fleet_inventory::load(lab.inventory_path(), None).expect("fleet loads the lab inventory");
    assert_eq!(inv.devices.len(), 10);
    assert_eq!(
        inv.host_key_check,
        Some(fleet_proto::HostKeyCheck::AcceptNew)
    );
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    for (d, lab_dev) in inv.devices.iter().zip(lab.devices()) {
        assert_eq!(d.name, lab_dev.name);
        assert_eq!(d.port, lab_dev.addr.port());
        assert_eq!(d.username, "admin");
        assert_eq!(d.commands, ["show version"]);
        assert_eq!(d.platform.as_deref(), Some(lab_dev.flavour.platform()));
        assert_eq!(d.data.get("scenario"), Some(&lab_dev.behaviour.name));
        let telnet = d.transport == fleet_proto::Transport::Telnet;
        assert_eq!(telnet, lab_dev.behaviour.telnet);
        assert_eq!(
            d.enable_secret.as_ref().map(|s| s.expose()),
            Some(lab.password().expose())
        );
        assert!(d
            .auth
            .contains(&fleet_proto::Auth::Password(lab.password().clone())));
    }
}

#[test]
fn slow_banner_devices_still_serve() {
    let (_dir, lab) = start(
        1,
        &[Flavour::CiscoIos],
        Some("[[rule]]\nname = \"slow_banner\"\nshare = 100\nbanner_delay = \"200ms\"\nlatency = \"20ms\"\njitter = \"10ms\"\n"),
    );
    let dev = &lab.devices()[0];
    let sess = login(&lab, dev);
    let (out, _, status) = exec(&sess, "show ip interface brief");
    assert_eq!(
        Some(out),
        expected_output(&dev.name, dev.flavour, "show ip interface brief")
    );
    assert_eq!(status, 0);
}

#[test]
fn fixture_scenarios_parse_and_pick_exact_shares() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab");
    let names: Vec<String> = (1..=100).map(|i| format!("lab-ios-{i:04}")).collect();
    let faults = Scenario::load(&fixtures.join("faults.toml")).expect("faults.toml");
    let seed = faults.seed.expect("faults.toml has a seed");
    let b = faults.assign(&names, seed, Duration::ZERO, Duration::ZERO);
    let count = |n: &str| b.iter().filter(|x| x.name == n).count();
    assert_eq!(
        (count("auth_fail"), count("refused"), count("hang")),
        (10, 5, 5)
    );
    assert_eq!(count("normal"), 80);
    for file in ["mixed.toml", "telnet.toml"] {
        let s = Scenario::load(&fixtures.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let b = s.assign(&names, s.seed.unwrap_or(0), Duration::ZERO, Duration::ZERO);
        assert!(
            b.iter().any(|x| x.name != "normal"),
            "{file} changes nothing"
        );
    }
}
