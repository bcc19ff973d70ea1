//! An Ansible-style repo (inventory directory, group_vars/ and host_vars/
//! files and directories, become, env lookups, a jump host in
//! ansible_ssh_common_args) run against the lab (#19 acceptance).

use crate::common::*;
use crate::lab::{lab_devices, LabProc};
use fleet_testkit::fleet::results;
use std::path::Path;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn ansible_repo_runs_against_the_lab_with_become_ports_and_jump_from_vars() {
    let dir = scratch();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &["--devices", "3", "--flavours", "cisco_ios", "--jump-host"],
    );
    let lab_text = std::fs::read_to_string(&lab.inventory).unwrap();
    let jump = lab_text
        .lines()
        .find_map(|l| {
            l.split_once("jump_host: ").map(|(_, j)| {
                j.split_whitespace()
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .to_string()
            })
        })
        .expect("the lab names its jump host");
    let lab_inv =
        fleet_inventory::load_str(&lab_text, &lab.inventory, fleet_inventory::Format::Fleet)
            .unwrap();
    let names: Vec<String> = lab_devices(&lab.inventory)
        .into_iter()
        .map(|d| d.0)
        .collect();
    let port = |n: &str| lab_inv.devices.iter().find(|d| d.name == n).unwrap().port;
    let password = std::fs::read_to_string(lab.state.join("password")).unwrap();
    let password = password.trim().to_string();
    let (d0, d1, d2) = (&names[0], &names[1], &names[2]);

    // The repo: ports only in host_vars, login and enable only via env
    // lookups, become only for the `priv` group, the jump host only in
    // ansible_ssh_common_args.
    let inv = dir.path().join("repo/inventories/lab");
    write(
        &inv.join("hosts"),
        &format!(
            "[ios]\n{d0} ansible_host=127.0.0.1\n{d1} ansible_host=127.0.0.1\n{d2} ansible_host=127.0.0.1\n\n[priv]\n{d0}\n{d1}\n\n[network:children]\nios\n"
        ),
    );
    write(
        &inv.join("group_vars/all.yml"),
        "---\nansible_user: admin\nansible_password: \"{{ lookup('env', 'FLEET_E2E_LAB_PW') }}\"\n",
    );
    write(
        &inv.join("group_vars/ios/connection.yml"),
        "---\nansible_network_os: cisco.ios.ios\nansible_connection: ansible.netcommon.network_cli\n",
    );
    write(
        &inv.join("group_vars/priv.yaml"),
        "---\nansible_become: true\nansible_become_method: enable\nansible_become_password: \"{{ lookup('env', 'FLEET_E2E_LAB_PW') }}\"\n",
    );
    write(
        &inv.join(format!("host_vars/{d0}.yml")),
        &format!(
            "---\nansible_port: {}\nansible_ssh_common_args: '-o ProxyJump={jump}'\n",
            port(d0)
        ),
    );
    write(
        &inv.join(format!("host_vars/{d1}/port.yml")),
        &format!("---\nansible_port: {}\n", port(d1)),
    );
    write(
        &inv.join(format!("host_vars/{d2}.json")),
        &format!("{{\"ansible_port\": {}}}", port(d2)),
    );
    let env = [("FLEET_E2E_LAB_PW", password.as_str())];

    // What fleet resolved, before anything runs.
    let show = fleet(
        dir.path(),
        &["inventory", "show", "-i", inv.to_str().unwrap(), d0],
        &env,
    );
    show.assert_code(0);
    let text = &show.stdout;
    assert!(
        text.contains(&format!("port            {}  (", port(d0))),
        "{text}"
    );
    assert!(text.contains(&format!("host_vars/{d0}.yml:2)")), "{text}");
    assert!(text.contains("enable          yes, secret set"), "{text}");
    assert!(text.contains("group_vars/priv.yaml:4)"), "{text}");
    assert!(text.contains("credentials     password  ("), "{text}");
    assert!(!text.contains(&password), "secret printed: {text}");

    // `configure terminal` works only after `enable`: the two `priv`
    // devices succeed, the third fails with the IOS error.
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(1, 3)
            .args([
                "-c",
                "configure terminal",
                "--host-key-check",
                "off",
                "--format",
                "none",
            ])
            .build(),
        &env,
    );
    run.assert_code(1);
    let res = run.results_by_device("runs");
    assert_eq!(res.len(), 3);
    assert_eq!(status(&res[d0]), "ok", "{}", res[d0]);
    assert_eq!(status(&res[d1]), "ok", "{}", res[d1]);
    assert_eq!(status(&res[d2]), "command_failed", "{}", res[d2]);
    assert!(
        res[d2].to_string().contains("% Invalid input"),
        "{}",
        res[d2]
    );
    let stats = lab.stop();
    // Three device sessions; d0's went through the jump host (one more auth).
    assert_eq!(stats["sessions_accepted"], 3, "{stats}");
    assert_eq!(stats["auth_ok"], 4, "jump host used once: {stats}");
}

/// `-K` asks for the become password on the terminal (a pty here) and
/// gives it only to hosts whose `ansible_become` is true; without a
/// terminal it is a usage error before anything runs.
#[test]
fn ask_become_pass_enables_only_where_become_says() {
    let dir = scratch();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &["--devices", "2", "--flavours", "cisco_ios"],
    );
    let lab_text = std::fs::read_to_string(&lab.inventory).unwrap();
    let lab_inv =
        fleet_inventory::load_str(&lab_text, &lab.inventory, fleet_inventory::Format::Fleet)
            .unwrap();
    let (d0, d1) = (&lab_inv.devices[0], &lab_inv.devices[1]);
    let password = std::fs::read_to_string(lab.state.join("password")).unwrap();
    let password = password.trim().to_string();
    let inv = dir.path().join("hosts.ini");
    write(
        &inv,
        &format!(
            "[ios]\n{} ansible_host=127.0.0.1 ansible_port={}\n{} ansible_host=127.0.0.1 ansible_port={}\n\n[priv]\n{}\n\n[priv:vars]\nansible_become=true\n\n[ios:vars]\nansible_user=admin\nansible_password=\"{{{{ lookup('env', 'FLEET_E2E_LAB_PW') }}}}\"\nansible_network_os=cisco.ios.ios\n",
            d0.name, d0.port, d1.name, d1.port, d0.name
        ),
    );
    let env = [("FLEET_E2E_LAB_PW", password.as_str())];
    let args = RunArgs::new(&inv)
        .arg("-K")
        .layout(1, 2)
        .command("configure terminal")
        .args(["--host-key-check", "off"])
        .format("none");
    let args = args.build();
    // Without a terminal: a clear usage error, nothing runs.
    let run = fleet(dir.path(), &args, &env);
    assert_eq!(run.code, Some(2), "{}", run.explain());
    assert!(
        run.stderr.contains("--ask-become-pass needs a terminal"),
        "{}",
        run.explain()
    );
    assert!(!dir.path().join("runs").exists(), "nothing may run");

    // With a pty: python's pty module plays the user typing the password.
    let script = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf = b""
while b"become password" not in buf.lower():
    chunk = os.read(fd, 1024)
    if not chunk:
        sys.exit(99)
    buf += chunk
os.write(fd, os.environ.pop("TYPED").encode() + b"\n")
while True:
    try:
        if not os.read(fd, 4096):
            break
    except OSError:
        break
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = std::process::Command::new("python3")
        .current_dir(dir.path())
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .env("TYPED", &password)
        .env("FLEET_E2E_LAB_PW", &password)
        .output()
        .expect("python3 with pty");
    // d1 has no become: `configure terminal` fails there (exit 1).
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rd = fleet_testkit::fleet::newest_run_dir(&dir.path().join("runs")).unwrap();
    let res = by_device(&results(&rd));
    assert_eq!(res.len(), 2);
    assert_eq!(status(&res[&d0.name]), "ok", "{}", res[&d0.name]);
    assert_eq!(
        status(&res[&d1.name]),
        "command_failed",
        "{}",
        res[&d1.name]
    );
    assert!(
        res[&d1.name].to_string().contains("% Invalid input"),
        "{}",
        res[&d1.name]
    );
    for entry in std::fs::read_dir(&rd).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(!text.contains(&password), "secret in {}", path.display());
        }
    }
}
