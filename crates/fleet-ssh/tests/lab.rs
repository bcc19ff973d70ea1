//! Shell mode, exec mode and jump hosts against the fleet lab (russh).

mod common;

use common::*;
use fleet_lab::{expected_output, Flavour, Lab, LabConfig, LabDevice, USERNAME};
use fleet_proto::{Auth, Device, JumpHost, Mode, Secret, Status};

fn start(flavours: &[Flavour], jump_host: bool) -> (tempfile::TempDir, Lab) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LabConfig::new(flavours.len(), dir.path().join("state"));
    config.flavours = flavours.to_vec();
    config.threads = Some(2);
    config.jump_host = jump_host;
    (dir, Lab::start(config).unwrap())
}

fn device(lab: &Lab, dev: &LabDevice, commands: &[&str]) -> Device {
    let mut d = Device::new(&dev.name, dev.addr.ip().to_string(), dev.addr.port());
    d.username = USERNAME.to_string();
    d.auth = vec![Auth::Password(Secret::new(lab.password().expose()))];
    d.platform = Some(dev.flavour.platform().to_string());
    d.enable_secret = Some(Secret::new(lab.password().expose()));
    d.commands = commands.iter().map(|c| c.to_string()).collect();
    d
}

#[test]
fn every_flavour_in_its_default_mode_and_in_shell_mode() {
    let flavours = [
        Flavour::CiscoIos,
        Flavour::CiscoNxos,
        Flavour::AristaEos,
        Flavour::JuniperJunos,
        Flavour::Linux,
    ];
    let (dir, lab) = start(&flavours, false);
    let ctx = context(dir.path());
    for dev in lab.devices() {
        for mode in [None, Some(Mode::Shell)] {
            let mut d = device(&lab, dev, &["show version"]);
            d.mode = mode;
            let out = ctx.run(&d);
            assert_eq!(
                out.status,
                Status::Ok,
                "{} {mode:?}: {:?}",
                dev.name,
                out.error
            );
            let want = expected_output(&dev.name, dev.flavour, "show version").unwrap();
            assert_eq!(out.outputs[0].stdout, want, "{} {mode:?}", dev.name);
        }
    }
}

#[test]
fn ios_shell_errors_and_wrong_enable_secret() {
    let (dir, lab) = start(&[Flavour::CiscoIos], false);
    let ctx = context(dir.path());
    let dev = &lab.devices()[0];
    let out = ctx.run(&device(
        &lab,
        dev,
        &["show version", "show bogus", "show version"],
    ));
    assert_eq!(out.status, Status::CommandFailed, "{:?}", out.error);
    assert_eq!(out.outputs.len(), 2);
    assert!(out.error.unwrap().contains("% Invalid input"));

    let mut d = device(&lab, dev, &["show version"]);
    d.enable_secret = Some(Secret::new("not-the-secret"));
    let out = ctx.run(&d);
    assert_eq!(out.status, Status::AuthFailed, "{:?}", out.error);
    assert!(!out.error.unwrap().contains("not-the-secret"));
}

#[test]
fn through_the_labs_jump_host() {
    let (dir, lab) = start(&[Flavour::CiscoIos, Flavour::Linux], true);
    let ctx = context(dir.path());
    let jump = lab.jump_host().unwrap();
    for dev in lab.devices() {
        let mut d = device(&lab, dev, &["show version"]);
        d.jump = vec![JumpHost {
            host: jump.ip().to_string(),
            port: jump.port(),
            username: USERNAME.to_string(),
            auth: vec![Auth::Password(Secret::new(lab.password().expose()))],
        }];
        let out = ctx.run(&d);
        assert_eq!(out.status, Status::Ok, "{}: {:?}", dev.name, out.error);
        assert_eq!(
            out.outputs[0].stdout,
            expected_output(&dev.name, dev.flavour, "show version").unwrap()
        );
    }
}
