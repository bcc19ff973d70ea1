//! Statistics over repeated measurements, shared by the run readers
//! ([`crate::artifacts`]) and the per-layout summary ([`crate::summary`]).

/// Median (mean of the middle two for an even count); sorts `v`.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}
