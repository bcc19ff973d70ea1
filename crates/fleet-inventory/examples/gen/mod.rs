//! Writes large synthetic inventories in every format, for the 100k-device
//! benchmark (`examples/bench_100k.rs`) and the ignored scale test.

use fleet_inventory::Format;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const GROUPS: [&str; 4] = ["core", "edge", "access", "lab"];
const SITES: [&str; 5] = ["ams", "fra", "lon", "par", "nyc"];

/// Writes an inventory of `n` devices in `format` under `dir`; returns the
/// path to pass to `load`. Devices need the env var `FLEET_BENCH_PW`.
pub fn write(dir: &Path, format: Format, n: usize) -> std::io::Result<PathBuf> {
    let mut s = String::with_capacity(n * 120);
    let path = match format {
        Format::Fleet => {
            s.push_str("defaults:\n  username: admin\n  password_env: FLEET_BENCH_PW\n  platform: cisco_ios\n  commands: [\"show version\"]\n  connect_timeout: 5s\ngroups:\n");
            for g in GROUPS {
                let _ = writeln!(s, "  {g}:\n    data: {{role: {g}}}");
            }
            s.push_str("devices:\n");
            for i in 0..n {
                let _ = writeln!(
                    s,
                    "  - name: dev{i:06}\n    host: 10.{}.{}.{}\n    port: {}\n    groups: [{}]\n    data: {{site: {}}}",
                    i >> 16 & 255, i >> 8 & 255, i & 255, 2200 + i % 1000, GROUPS[i % 4], SITES[i % 5]
                );
            }
            dir.join("inventory.yaml")
        }
        Format::Nornir => {
            let mut g = String::new();
            for name in GROUPS {
                let _ = writeln!(g, "{name}:\n  platform: ios\n  data:\n    role: {name}");
            }
            std::fs::write(dir.join("groups.yaml"), g)?;
            std::fs::write(
                dir.join("defaults.yaml"),
                "username: admin\npassword: bench\nport: 22\n",
            )?;
            for i in 0..n {
                let _ = writeln!(
                    s,
                    "dev{i:06}:\n  hostname: 10.{}.{}.{}\n  port: {}\n  groups: [{}]\n  data:\n    site: {}",
                    i >> 16 & 255, i >> 8 & 255, i & 255, 2200 + i % 1000, GROUPS[i % 4], SITES[i % 5]
                );
            }
            dir.join("hosts.yaml")
        }
        Format::AnsibleIni => {
            s.push_str("[all:vars]\nansible_user=admin\nansible_password=bench\nansible_network_os=cisco.ios.ios\n");
            for (gi, g) in GROUPS.iter().enumerate() {
                let _ = writeln!(s, "[{g}:vars]\nrole={g}\n[{g}]");
                for i in (gi..n).step_by(4) {
                    let _ = writeln!(
                        s,
                        "dev{i:06} ansible_host=10.{}.{}.{} ansible_port={} site={}",
                        i >> 16 & 255,
                        i >> 8 & 255,
                        i & 255,
                        2200 + i % 1000,
                        SITES[i % 5]
                    );
                }
            }
            dir.join("hosts.ini")
        }
        Format::AnsibleYaml => {
            s.push_str("all:\n  vars:\n    ansible_user: admin\n    ansible_password: bench\n    ansible_network_os: cisco.ios.ios\n  children:\n");
            for (gi, g) in GROUPS.iter().enumerate() {
                let _ = writeln!(s, "    {g}:\n      vars:\n        role: {g}\n      hosts:");
                for i in (gi..n).step_by(4) {
                    let _ = writeln!(
                        s,
                        "        dev{i:06}:\n          ansible_host: 10.{}.{}.{}\n          ansible_port: {}\n          site: {}",
                        i >> 16 & 255, i >> 8 & 255, i & 255, 2200 + i % 1000, SITES[i % 5]
                    );
                }
            }
            dir.join("hosts.yaml")
        }
        Format::Csv => {
            s.push_str("name,host,port,username,platform,groups,password_env,commands,site\n");
            for i in 0..n {
                let _ = writeln!(
                    s,
                    "dev{i:06},10.{}.{}.{},{},admin,cisco_ios,{},FLEET_BENCH_PW,show version,{}",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i & 255,
                    2200 + i % 1000,
                    GROUPS[i % 4],
                    SITES[i % 5]
                );
            }
            dir.join("devices.csv")
        }
    };
    std::fs::write(&path, s)?;
    Ok(path)
}
