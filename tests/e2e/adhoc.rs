//! Without an inventory: `-w` host lists, the OpenSSH client config (`-F`),
//! known_hosts as OpenSSH writes it (checked with `ssh-keygen -H` and `ssh`
//! itself), and ProxyJump from the config through the lab's jump host.

use crate::common::*;
use crate::lab::LabProc;
use fleet_testkit::fleet::FleetRun;
use fleet_testkit::sshd::Sshd;
use std::path::Path;
use std::process::Command;

/// Runs fleet with HOME set to `dir` (no ~/.ssh of the machine's user) and
/// no agent, so only what the test configures is used.
fn fleet_isolated(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> FleetRun {
    let mut cmd = fleet_testkit::fleet::command(BIN, dir);
    cmd.args(args).env("HOME", dir).env_remove("SSH_AUTH_SOCK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run fleet");
    FleetRun::from_output(format!("fleet {}", args.join(" ")), dir, out)
}

/// `[127.0.0.1]:PORT <host key>`, the line ssh would store.
fn known_line(sshd: &Sshd) -> String {
    format!(
        "[127.0.0.1]:{} {}\n",
        sshd.port(),
        sshd.host_public_key().unwrap().trim()
    )
}

fn ssh_keygen_hash(file: &Path) {
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(file)
        .output()
        .expect("ssh-keygen (openssh-client) must be installed");
    assert!(out.status.success(), "ssh-keygen -H: {out:?}");
    let _ = std::fs::remove_file(file.with_extension("old"));
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.lines().all(|l| l.starts_with("|1|")),
        "ssh-keygen -H hashes every line: {text}"
    );
}

#[test]
fn hostlist_with_ssh_config_runs_dev1_to_dev3() {
    let dir = scratch();
    let sshd = Sshd::start().unwrap();
    let user = login_user(&sshd);
    let cfg = dir.path().join("cfg");
    std::fs::write(
        &cfg,
        format!(
            "Host dev*\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  StrictHostKeyChecking accept-new\n  \
             UserKnownHostsFile {}/known_hosts\n",
            sshd.port(),
            sshd.client_key().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let args = RunArgs::targets("dev[1-3]")
        .args(["-F", "cfg"])
        .command("echo adhoc-$USER")
        .layout(1, 3)
        .format("none");
    let run = fleet_isolated(dir.path(), &args.build(), &[]);
    run.assert_code(0);
    let res = run.results_by_device("runs");
    assert_eq!(res.keys().collect::<Vec<_>>(), ["dev1", "dev2", "dev3"]);
    for r in res.values() {
        assert_eq!(status(r), "ok", "{r}");
        assert_eq!(r["outputs"][0]["stdout"], format!("adhoc-{user}\n"));
    }
    // accept-new stored the key in the config's UserKnownHostsFile.
    let kh = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
    assert!(kh.contains(&format!("[127.0.0.1]:{}", sshd.port())), "{kh}");

    // The resolution, without running; -x drops dev2.
    let list = fleet_isolated(
        dir.path(),
        &[
            "inventory",
            "list",
            "-w",
            "dev[1-3]",
            "-x",
            "dev2",
            "-F",
            "cfg",
        ],
        &[],
    );
    list.assert_code(0);
    let want = |n: &str| {
        format!(
            "{n}\t{user}@127.0.0.1:{}\t-\tvia -\tauth key:{}",
            sshd.port(),
            sshd.client_key().display()
        )
    };
    assert_eq!(
        list.stdout.lines().collect::<Vec<_>>(),
        [want("dev1"), want("dev3")],
        "{}",
        list.explain()
    );
}

#[test]
fn malformed_ssh_config_is_an_error_with_file_and_line_and_nothing_runs() {
    let dir = scratch();
    std::fs::write(dir.path().join("cfg"), "Host dev*\n  Port twenty\n").unwrap();
    let args = RunArgs::targets("dev1")
        .args(["-F", "cfg"])
        .command("true")
        .format("none");
    let run = fleet_isolated(dir.path(), &args.build(), &[]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("cfg:2: Port: bad port `twenty`"),
        "{}",
        run.explain()
    );
    assert!(!dir.path().join("runs").exists(), "nothing ran");
    let args = RunArgs::targets("web[3-1]").command("true");
    let bad_list = fleet_isolated(dir.path(), &args.build(), &[]);
    bad_list.assert_code(2);
    assert!(
        bad_list.stderr.contains("goes down"),
        "{}",
        bad_list.explain()
    );
}

#[test]
fn strict_accepts_a_known_hosts_file_hashed_by_ssh_keygen() {
    let dir = scratch();
    let sshd = Sshd::start().unwrap();
    let user = login_user(&sshd);
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, known_line(&sshd)).unwrap();
    ssh_keygen_hash(&kh);
    let target = format!("{user}@127.0.0.1:{}", sshd.port());
    let key = sshd.client_key().display().to_string();
    let args = |kh: &str| {
        RunArgs::targets(&target)
            .args([
                "-F",
                "none",
                "--key-file",
                key.as_str(),
                "--known-hosts",
                kh,
            ])
            .args(["--host-key-check", "strict"])
            .command("echo strict-ok")
            .format("none")
    };
    let run = fleet_isolated(dir.path(), &args("known_hosts").build(), &[]);
    run.assert_code(0);
    let res = run.results("runs");
    assert_eq!(status(&res[0]), "ok", "{}", res[0]);
    assert_eq!(res[0]["outputs"][0]["stdout"], "strict-ok\n");

    // Control: the same run with an empty file is refused, so strict did check.
    std::fs::write(dir.path().join("empty"), "").unwrap();
    let run = fleet_isolated(dir.path(), &args("empty").build(), &[]);
    let res = run.results("runs");
    assert_eq!(status(&res[0]), "host_key_mismatch", "{}", res[0]);
}

#[test]
fn accept_new_appends_a_hashed_line_that_ssh_then_accepts() {
    let dir = scratch();
    let sshd = Sshd::start().unwrap();
    let user = login_user(&sshd);
    // A hashed file, as Debian's HashKnownHosts writes, holding another host.
    let kh = dir.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!("other.example {}\n", sshd.host_public_key().unwrap().trim()),
    )
    .unwrap();
    ssh_keygen_hash(&kh);
    let before = std::fs::read_to_string(&kh).unwrap();
    std::fs::write(
        dir.path().join("cfg"),
        format!(
            "Host target\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n  \
             StrictHostKeyChecking accept-new\n  UserKnownHostsFile {}\n",
            sshd.port(),
            sshd.client_key().display(),
            kh.display()
        ),
    )
    .unwrap();
    let args = RunArgs::targets("target")
        .args(["-F", "cfg"])
        .command("true")
        .format("none");
    let run = fleet_isolated(dir.path(), &args.build(), &[]);
    run.assert_code(0);
    let after = std::fs::read_to_string(&kh).unwrap();
    let added = after.strip_prefix(before.as_str()).expect("appended");
    assert_eq!(added.lines().count(), 1, "{after}");
    assert!(added.starts_with("|1|"), "hashed: {added}");
    assert!(!added.contains("127.0.0.1"), "no clear name: {added}");

    // OpenSSH itself accepts the appended line under strict checking.
    let out = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-i")
        .arg(sshd.client_key())
        .arg("-p")
        .arg(sshd.port().to_string())
        .arg(format!("{user}@127.0.0.1"))
        .arg("echo ssh-accepted")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh (openssh-client) must be installed");
    assert!(
        out.status.success(),
        "ssh -o StrictHostKeyChecking=yes refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ssh-accepted\n");
}

#[test]
fn proxy_jump_from_the_ssh_config_through_the_lab_jump_host() {
    let dir = scratch();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &["--devices", "3", "--flavours", "linux", "--jump-host"],
    );
    let text = std::fs::read_to_string(&lab.inventory).unwrap();
    let jump = text
        .lines()
        .find_map(|l| l.split_once("jump_host: \"admin@"))
        .and_then(|(_, j)| j.split('"').next())
        .expect("the lab names its jump host");
    let (jhost, jport) = jump.rsplit_once(':').expect("host:port");
    let inv =
        fleet_inventory::load_str(&text, &lab.inventory, fleet_inventory::Format::Fleet).unwrap();
    let password = inv.devices[0]
        .auth
        .iter()
        .find_map(|a| match a {
            fleet_proto::Auth::Password(p) => Some(p.expose().to_string()),
            _ => None,
        })
        .expect("lab password");
    // Every device by its name, through `labjump`, strict against the lab's known_hosts.
    let mut cfg = format!("Host labjump\n  HostName {jhost}\n  Port {jport}\n  ProxyJump none\n");
    for d in &inv.devices {
        cfg.push_str(&format!(
            "Host {}\n  HostName {}\n  Port {}\n",
            d.name, d.host, d.port
        ));
    }
    cfg.push_str(&format!(
        "Host *\n  User admin\n  ProxyJump labjump\n  StrictHostKeyChecking yes\n  \
         UserKnownHostsFile {}\n",
        inv.known_hosts.as_ref().unwrap().display()
    ));
    std::fs::write(dir.path().join("cfg"), cfg).unwrap();
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    let hosts = names.join(",");
    let list = fleet_isolated(
        dir.path(),
        &[
            "inventory",
            "list",
            "-w",
            &hosts,
            "-F",
            "cfg",
            "--password-env",
            "LAB_PW",
        ],
        &[("LAB_PW", &password)],
    );
    list.assert_code(0);
    assert!(
        list.stdout
            .lines()
            .all(|l| l.contains(&format!("via admin@{jhost}:{jport}"))),
        "{}",
        list.explain()
    );
    assert!(!list.stdout.contains(&password), "no secret in the listing");
    let run = fleet_isolated(
        dir.path(),
        &RunArgs::targets(&hosts)
            .args(["-F", "cfg", "--password-env", "LAB_PW"])
            .layout(1, 3)
            .command("hostname")
            .format("none")
            .build(),
        &[("LAB_PW", &password)],
    );
    run.assert_code(0);
    let res = run.results_by_device("runs");
    assert_eq!(res.len(), 3);
    for (name, r) in &res {
        assert_eq!(r["outputs"][0]["stdout"], format!("{name}\n"), "{r}");
    }
    let stats = lab.stop();
    // Three device auths plus one shared jump session.
    assert_eq!(stats["auth_ok"], 4, "went through the jump host: {stats}");
}
