use super::*;

fn facts(devices: u64) -> Facts {
    Facts {
        cores: 2,
        fd_limit: 1024,
        devices_left: devices,
        connect_rate: None,
        group_cap_sum: None,
        fixed_processes: None,
        fixed_threads: None,
    }
}

fn sample(cpu_s: f64, wall_s: f64) -> Sample {
    Sample {
        sessions: 20,
        cpu_s,
        wall_s,
        machine_cpu_s: None,
    }
}

#[test]
fn latency_bound_sessions_get_many_slots() {
    // 2 s sessions costing 1.6 ms CPU: the cores allow ~2,250 slots, so the
    // ceiling is the 1,000 devices.
    let d = decide(&facts(1_000), sample(0.0016, 2.0));
    assert_eq!(d.bottleneck, Bottleneck::Devices);
    assert_eq!(d.slots, 1_000);
    assert!(d.total() >= 1_000);
    // 1,000 slots at 320 per process (fd 1024) need 4 workers.
    assert_eq!(d.processes_reason, ProcessReason::PerProcessLimit);
    assert!(d.threads <= facts(1).threads_per_process_cap());
}

#[test]
fn latency_bound_large_inventory_is_cpu_limited() {
    let d = decide(&facts(100_000), sample(0.0016, 0.5));
    // 0.9 × 2 × 0.5 / 0.0016 = 562.5 → 563.
    assert_eq!(d.bottleneck, Bottleneck::Cpu);
    assert_eq!(d.slots, 563);
    assert_eq!(d.limits.cpu, Some(563));
}

#[test]
fn cpu_bound_sessions_get_few_slots() {
    // Zero-latency: wall barely above CPU.
    let d = decide(&facts(2_000), sample(0.0015, 0.003));
    assert_eq!(d.bottleneck, Bottleneck::Cpu);
    assert_eq!(d.slots, 4); // 0.9 × 2 × 2 = 3.6 → 4
    assert_eq!(d.processes, 1);
    assert_eq!(d.processes_reason, ProcessReason::Single);
    assert_eq!(d.threads, 4);
}

#[test]
fn fd_limited_splits_into_more_processes() {
    let mut f = facts(10_000);
    f.fd_limit = 256; // (256 - 64) / 3 = 64 threads per process
    assert_eq!(f.threads_per_process_cap(), 64);
    let d = decide(&f, sample(0.001, 5.0));
    assert_eq!(d.processes_reason, ProcessReason::PerProcessLimit);
    assert!(d.threads <= 64, "{d:?}");
    assert!(d.total() >= d.slots);
}

#[test]
fn fd_limited_with_fixed_processes_is_the_bottleneck() {
    let mut f = facts(10_000);
    f.fd_limit = 256;
    f.fixed_processes = Some(2);
    let d = decide(&f, sample(0.001, 5.0));
    assert_eq!(d.bottleneck, Bottleneck::FdBudget);
    assert_eq!(d.slots, 128);
    assert_eq!((d.processes, d.threads), (2, 64));
    assert_eq!(d.processes_reason, ProcessReason::Fixed);
}

#[test]
fn rate_limited_needs_rate_times_wall_slots() {
    let mut f = facts(10_000);
    f.connect_rate = Some(20.0);
    let d = decide(&f, sample(0.001, 2.0));
    assert_eq!(d.bottleneck, Bottleneck::ConnectRate);
    assert_eq!(d.slots, 41);
}

#[test]
fn group_capped_total_is_the_sum_of_caps() {
    let mut f = facts(10_000);
    f.group_cap_sum = Some(30);
    let d = decide(&f, sample(0.001, 2.0));
    assert_eq!(d.bottleneck, Bottleneck::GroupCaps);
    assert_eq!(d.slots, 30);
    assert_eq!(d.processes, 2);
    assert_eq!(d.processes_reason, ProcessReason::Isolation);
    assert_eq!(d.threads, 15);
}

#[test]
fn tiny_inventory_never_starts_more_threads_than_devices() {
    let d = decide(&facts(1), sample(0.001, 2.0));
    assert_eq!((d.processes, d.threads, d.slots), (1, 1, 1));
    assert_eq!(d.bottleneck, Bottleneck::Devices);
    let d = decide(&facts(3), sample(0.001, 2.0));
    assert_eq!((d.processes, d.threads), (1, 3));
    let p = probe(&facts(1));
    assert_eq!((p.processes, p.threads), (1, 1));
}

#[test]
fn fewer_devices_than_cores() {
    let mut f = facts(3);
    f.cores = 8;
    let d = decide(&f, sample(0.5, 0.5));
    assert_eq!(d.slots, 3);
    assert_eq!(d.threads * d.processes, 3);
}

#[test]
fn fixed_values_are_respected() {
    let mut f = facts(1_000);
    f.fixed_processes = Some(4);
    f.fixed_threads = Some(7);
    let d = decide(&f, sample(0.001, 2.0));
    assert_eq!((d.processes, d.threads), (4, 7));
    f.fixed_processes = None;
    let d = decide(&f, sample(0.001, 2.0));
    assert_eq!(d.threads, 7);
    assert_eq!(d.processes, 143); // ceil(1000 / 7)
    f.fixed_threads = None;
    f.fixed_processes = Some(0);
    let d = decide(&f, sample(0.001, 2.0));
    assert_eq!(d.processes, 0, "-p 0 stays in the master");
    assert!(d.threads >= 1);
}

#[test]
fn probe_is_a_few_slots_per_core() {
    let p = probe(&facts(10_000));
    assert_eq!(p.bottleneck, Bottleneck::Probe);
    assert_eq!(p.slots, 32);
    assert_eq!(p.total(), 32);
    assert!(p.sample.is_none());
}

#[test]
fn huge_or_degenerate_samples_are_bounded() {
    let d = decide(&facts(1_000_000), sample(0.0, 1e9));
    assert!(d.slots <= MAX_AUTO_SLOTS);
    let d = decide(&facts(1_000_000), sample(f64::NAN, f64::NAN));
    assert!(d.slots >= 1 && d.slots <= MAX_AUTO_SLOTS);
}

#[test]
fn hysteresis_ignores_small_changes() {
    let d = decide(&facts(100_000), sample(0.0016, 0.5));
    assert!(!should_change(d.slots, &d));
    assert!(!should_change(d.slots + d.slots / 10, &d));
    assert!(should_change(d.slots * 2, &d));
    assert!(should_change(d.slots / 2, &d));
}

#[test]
fn explain_names_the_numbers() {
    let f = facts(100_000);
    let d = decide(&f, sample(0.0016, 2.0));
    let line = d.explain(&f);
    assert!(
        line.starts_with(&format!("auto: {}×{}: ", d.processes, d.threads)),
        "{line}"
    );
    assert!(line.contains("2.0 s") && line.contains("1.6 ms"), "{line}");
    assert!(line.contains("fd budget 1024"), "{line}");
}

#[test]
fn decision_round_trips_as_json_record() {
    // run.json records decisions; the shape must be stable data.
    let d = decide(&facts(10), sample(0.001, 1.0));
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["bottleneck"], "devices");
    let back: Decision = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);
}

#[test]
fn the_machine_cpu_bounds_the_slots_when_something_else_shares_the_cores() {
    // fleet uses 1 ms a session, a loopback lab 1.5 ms more: the cores
    // serve 2.5 ms a session, not 1 ms.
    let alone = decide(&facts(100_000), sample(0.001, 0.05));
    let shared = decide(
        &facts(100_000),
        Sample {
            machine_cpu_s: Some(0.0025),
            ..sample(0.001, 0.05)
        },
    );
    assert_eq!(alone.bottleneck, Bottleneck::Cpu);
    assert_eq!(shared.bottleneck, Bottleneck::Cpu);
    // 0.9 × 2 × 0.05 / 0.001 = 90 (91 after rounding up a float); / 0.0025 = 36.
    assert!((90..=91).contains(&alone.slots), "{alone:?}");
    assert_eq!(shared.slots, 36);
    // A machine figure below fleet's own (a clock skew, a short window)
    // never raises the slots.
    let low = decide(
        &facts(100_000),
        Sample {
            machine_cpu_s: Some(0.0001),
            ..sample(0.001, 0.05)
        },
    );
    assert_eq!(low.slots, alone.slots);
    // A machine ten times busier than fleet's sessions explain: something
    // else runs there, and fleet's own CPU decides.
    let busy = decide(
        &facts(100_000),
        Sample {
            machine_cpu_s: Some(0.010),
            ..sample(0.001, 0.05)
        },
    );
    assert_eq!(busy.slots, alone.slots);
}

#[test]
fn saturated_cores_keep_the_slots_where_they_are() {
    // 32 slots, the cores full: each session's wall time is 32 × 2.5 ms /
    // 2 cores = 40 ms of queueing for a core. Little's law on the machine's
    // CPU gives back about the slots in use (0.9 × 32), not more.
    let d = decide(
        &facts(100_000),
        Sample {
            machine_cpu_s: Some(0.0025),
            ..sample(0.001, 0.040)
        },
    );
    assert_eq!(d.slots, 29);
    assert!(!should_change(32, &d), "{d:?}");
}
