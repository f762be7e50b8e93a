//! `yunhu sim dialer`: the command runs the pacer against the reference model and prints its
//! table (a short shift here; the figures of full shifts are in the README).

use std::process::Command;

#[test]
fn sim_dialer_prints_occupancy_and_abandonment_beside_progressive() {
    let out = Command::new(env!("CARGO_BIN_EXE_yunhu"))
        .args(["sim", "dialer", "--hours", "0.5", "--seeds", "1", "--agents", "10", "--targets", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let row = |policy: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.contains(policy)).unwrap_or_else(|| panic!("a {policy} row: {text}"));
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    let (progressive, predictive) = (row("progressive"), row("predictive"));
    let number = |cells: &[String], i: usize| cells[i].trim_end_matches('%').parse::<f64>().unwrap();
    assert_eq!((progressive[0].as_str(), predictive[0].as_str()), ("10", "10"));
    // Occupancy is a share of the shift; predictive keeps agents busier than one dial per idle agent.
    let (occ_prog, occ_pred) = (number(&progressive, 3), number(&predictive, 3));
    assert!(occ_prog > 0.3 && occ_pred > occ_prog && occ_pred < 1.0, "{text}");
    assert!(number(&predictive, 4) <= 3.0, "abandonment within the 3 % cap: {text}");
    // ... and at every moment of the shift, not only at its end.
    assert!(number(&predictive, 6) <= 3.0, "peak share within the cap: {text}");
    // Busier agents take more live answers; the abandoned ones stay within the cap of those.
    let (live, abandoned) = (number(&predictive, 8), number(&predictive, 9));
    assert!(live > number(&progressive, 8) && abandoned <= 0.03 * live, "{text}");
}
