//! A short shift in the reference world: the predictive pacer must beat progressive dialling and
//! keep its abandonment cap. Short enough for a debug build.

use yunhu_dialer::sim::{Policy, SimOptions, World, render, run_one, run_policies};

#[test]
fn predictive_beats_progressive_within_the_cap() {
    let world = World::default();
    let progressive = run_one(&world, 25, Policy::Progressive, 1.0, 7);
    let predictive = run_one(&world, 25, Policy::Predictive { target_pct: 3.0 }, 1.0, 7);
    assert_eq!(progressive.abandoned, 0);
    assert!(
        predictive.occupancy() > progressive.occupancy() + 0.08,
        "predictive {:.3} vs progressive {:.3}",
        predictive.occupancy(),
        progressive.occupancy()
    );
    assert!(predictive.abandonment() <= 0.03, "abandonment {:.4}", predictive.abandonment());
    assert!(predictive.live > 500 && predictive.dials > predictive.live);
}

#[test]
fn the_report_lists_every_configuration() {
    let opts = SimOptions { hours: 0.25, seeds: 2, agents: vec![5], targets_pct: vec![3.0], ..SimOptions::default() };
    let summaries = run_policies(&opts, &[(5, Policy::Progressive), (5, Policy::Predictive { target_pct: 3.0 })]);
    assert_eq!(summaries.len(), 2);
    assert!(summaries.iter().all(|s| s.runs.len() == 2));
    let text = render(&opts, &summaries);
    assert!(text.contains("occupancy") && text.contains("abandonment") && text.contains("dials"));
    assert!(text.contains("progressive") && text.contains("predictive"));
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with("5 |")).count(), 2);
}
