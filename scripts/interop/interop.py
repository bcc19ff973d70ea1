#!/usr/bin/env python3
"""Netmiko as the oracle for fleet's lab and shell engine.

Starts a `fleet lab` with every flavour, then:
  1. Netmiko (a client fleet did not write) connects to every device,
     prepares its session, runs show commands and keeps the outputs.
  2. `fleet run` runs the same commands on the same devices; each output
     must equal Netmiko's byte for byte, modulo trailing whitespace on
     each line and trailing blank lines (Netmiko strips the prompt line).
  3. Netmiko pushes a config line on every network device (with commit on
     Junos, save elsewhere) and a new Netmiko session must see it.
  4. `fleet run --config-line ... --commit --save-config` pushes another
     line; a new Netmiko session must see it in the running and, where the
     platform saves, the startup configuration.

Exit status 0 only if every check passed; every failure is printed.
Usage: interop.py FLEET_BINARY WORK_DIR
"""

import json
import os
import signal
import subprocess
import sys
import time

import yaml
from netmiko import ConnectHandler

FLAVOURS = ["cisco_ios", "cisco_nxos", "arista_eos", "juniper_junos", "linux"]
DEVICES = 10  # two of each flavour

SHOW = {
    "cisco_ios": [
        "show version",
        "show ip interface brief",
        "show interfaces",
        "show running-config",
        "show startup-config",
    ],
    "cisco_nxos": [
        "show version",
        "show ip interface brief",
        "show interfaces",
        "show running-config",
    ],
    "arista_eos": [
        "show version",
        "show ip interface brief",
        "show interfaces",
        "show running-config",
    ],
    "juniper_junos": [
        "show version",
        "show interfaces terse",
        "show configuration",
        "show configuration | display set",
    ],
    "linux": ["uname -a", "hostname", "uptime", "cat /etc/os-release"],
}

# Config lines: (pushed by Netmiko, pushed by fleet), and how to read them back.
PUSH = {
    "cisco_ios": ("ntp server 192.0.2.101", "ntp server 198.51.100.7"),
    "cisco_nxos": ("ntp server 192.0.2.101", "ntp server 198.51.100.7"),
    "arista_eos": ("ntp server 192.0.2.101", "ntp server 198.51.100.7"),
    "juniper_junos": (
        "set system ntp server 192.0.2.101",
        "set system ntp server 198.51.100.7",
    ),
}
READ_BACK = {
    "cisco_ios": ["show running-config", "show startup-config"],
    "cisco_nxos": ["show running-config", "show startup-config"],
    "arista_eos": ["show running-config", "show startup-config"],
    "juniper_junos": ["show configuration | display set"],
}

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL {what}", flush=True)


def normalize(text):
    """Trailing whitespace per line and trailing blank lines don't count."""
    lines = [l.rstrip() for l in text.replace("\r\n", "\n").split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def start_lab(fleet, work):
    state = os.path.join(work, "lab")
    proc = subprocess.Popen(
        [
            fleet,
            "lab",
            "--devices",
            str(DEVICES),
            "--flavours",
            ",".join(FLAVOURS),
            "--state-dir",
            state,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"interop: fleet lab exited before it was ready (status {proc.wait()})")
        if line.startswith("lab ready"):
            return proc, state
    proc.kill()
    raise SystemExit("interop: fleet lab not ready after 60 s")


def netmiko_session(dev, password):
    params = dict(
        device_type=dev["platform"],
        host=dev["host"],
        port=dev["port"],
        username="admin",
        password=password,
        secret=password,
        use_keys=False,
        allow_agent=False,
        ssh_strict=False,
        system_host_keys=False,
        alt_host_keys=False,
        conn_timeout=20,
        read_timeout_override=30,
        fast_cli=False,
    )
    conn = ConnectHandler(**params)
    if dev["platform"] in ("cisco_ios", "arista_eos"):
        conn.enable()
    return conn


def fleet_run(fleet, work, inventory, args, label):
    out = os.path.join(work, "runs")
    cmd = [fleet, "run", "-i", inventory, "--out", out, "-p", "1", "-t", "4", "--format", "none"] + args
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    if r.returncode != 0:
        fail(f"{label}: fleet run exited {r.returncode}\n{r.stderr}")
    runs = sorted(
        (os.path.join(out, d) for d in os.listdir(out)),
        key=os.path.getmtime,
    )
    results = {}
    with open(os.path.join(runs[-1], "results.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            results[rec["device"]] = rec
    return results


def write_inventory(path, inventory, devices):
    doc = dict(inventory)
    doc["devices"] = devices
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    fleet, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    lab, state = start_lab(fleet, work)
    try:
        run_checks(fleet, work, state)
    finally:
        lab.send_signal(signal.SIGTERM)
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
    checked = ", ".join(FLAVOURS)
    if failures:
        print(f"interop: {len(failures)} check(s) failed ({checked})")
        sys.exit(1)
    print(f"interop: Netmiko {__import__('netmiko').__version__} and fleet agree on {checked}")


def run_checks(fleet, work, state):
    with open(os.path.join(state, "password")) as f:
        password = f.read().strip()
    inv_path = os.path.join(state, "inventory.yaml")
    with open(inv_path) as f:
        inventory = yaml.safe_load(f)
    devices = inventory["devices"]
    by_platform = {p: [d for d in devices if d["platform"] == p] for p in FLAVOURS}
    for p, ds in by_platform.items():
        if not ds:
            fail(f"the lab serves no {p} device")

    # 1. Netmiko runs the show commands.
    oracle = {}
    for dev in devices:
        cmds = SHOW[dev["platform"]]
        try:
            conn = netmiko_session(dev, password)
            oracle[dev["name"]] = [conn.send_command(c) for c in cmds]
            conn.disconnect()
            print(f"ok   netmiko {dev['platform']:<14} {dev['name']}: {len(cmds)} commands", flush=True)
        except Exception as e:  # noqa: BLE001 -- every failure is reported
            fail(f"netmiko {dev['platform']} {dev['name']}: {type(e).__name__}: {e}")

    # 2. fleet runs the same commands (per platform: one run each).
    for platform, ds in by_platform.items():
        if not ds:
            continue
        inv = os.path.join(work, f"inventory-{platform}.yaml")
        write_inventory(inv, inventory, ds)
        args = []
        for c in SHOW[platform]:
            args += ["-c", c]
        results = fleet_run(fleet, work, inv, args, f"fleet show {platform}")
        for dev in ds:
            name = dev["name"]
            rec = results.get(name)
            if rec is None or rec.get("status") != "ok":
                fail(f"fleet {platform} {name}: {rec and rec.get('status')} {rec and rec.get('error')}")
                continue
            if name not in oracle:
                continue
            for i, cmd in enumerate(SHOW[platform]):
                mine = normalize(rec["outputs"][i]["stdout"])
                theirs = normalize(oracle[name][i])
                if not theirs:
                    fail(f"{platform} {name} '{cmd}': Netmiko got no output")
                elif mine != theirs:
                    fail(
                        f"{platform} {name} '{cmd}': fleet and Netmiko differ\n"
                        f"--- netmiko\n{theirs}\n--- fleet\n{mine}\n---"
                    )
            print(f"ok   fleet   {platform:<14} {name}: outputs equal Netmiko's", flush=True)

    # 3. Netmiko pushes config (commit on Junos, save elsewhere).
    network = [d for d in devices if d["platform"] in PUSH]
    for dev in network:
        platform, name = dev["platform"], dev["name"]
        line = PUSH[platform][0]
        try:
            conn = netmiko_session(dev, password)
            conn.send_config_set([line], exit_config_mode=False)
            if platform == "juniper_junos":
                conn.commit()
            conn.exit_config_mode()
            if platform != "juniper_junos":
                conn.save_config()
            conn.disconnect()
        except Exception as e:  # noqa: BLE001
            fail(f"netmiko push {platform} {name}: {type(e).__name__}: {e}")
    check_visible(network, password, 0, "Netmiko's push")

    # 4. fleet pushes config; Netmiko must see it.
    for platform in PUSH:
        ds = by_platform[platform]
        if not ds:
            continue
        inv = os.path.join(work, f"inventory-{platform}.yaml")
        args = ["--config-line", PUSH[platform][1], "--commit", "--save-config"]
        results = fleet_run(fleet, work, inv, args, f"fleet push {platform}")
        for dev in ds:
            rec = results.get(dev["name"], {})
            if rec.get("status") != "ok":
                fail(f"fleet push {platform} {dev['name']}: {rec.get('status')} {rec.get('error')}")
    check_visible(network, password, 1, "fleet's push")


def check_visible(devices, password, which, label):
    for dev in devices:
        platform, name = dev["platform"], dev["name"]
        line = PUSH[platform][which]
        # `display set` prints the statement as typed; IOS-like configs the line.
        want = line + "\n"
        try:
            conn = netmiko_session(dev, password)
            for cmd in READ_BACK[platform]:
                text = conn.send_command(cmd) + "\n"
                if want not in text:
                    fail(f"{label} on {platform} {name}: {line!r} not in '{cmd}':\n{text}")
            conn.disconnect()
            print(f"ok   {label} visible to Netmiko on {platform} {name}", flush=True)
        except Exception as e:  # noqa: BLE001
            fail(f"netmiko read-back {platform} {name}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
