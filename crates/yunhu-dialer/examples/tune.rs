//! Tuning harness, one line per policy with every seed's abandonment:
//! `tune <agents> <hours> <seeds> <policy>...` where a policy is `p<cap %>` (predictive),
//! `f<threshold>` (the model with a fixed risk threshold, to map its frontier) or `prog`.
//! `WORLD=<p live>,<mean talk s>[,<answer from s>,<answer to s>]` simulates another world.
use yunhu_dialer::sim::{Policy, SimOptions, run_policies};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let agents: u32 = args[0].parse().unwrap();
    let hours: f64 = args[1].parse().unwrap();
    let seeds: u32 = args[2].parse().unwrap();
    let configs: Vec<(u32, Policy)> = args[3..]
        .iter()
        .map(|a| {
            let p = if a == "prog" {
                Policy::Progressive
            } else if let Some(t) = a.strip_prefix('p') {
                Policy::Predictive { target_pct: t.parse().unwrap() }
            } else {
                Policy::FixedThreshold { threshold: a[1..].parse().unwrap() }
            };
            (agents, p)
        })
        .collect();
    let mut opts = SimOptions { hours, seeds, ..SimOptions::default() };
    if let Some(s) = std::env::var("FIRST_SEED").ok().and_then(|s| s.parse().ok()) {
        opts.first_seed = s;
    }
    if let Ok(w) = std::env::var("WORLD") {
        let v: Vec<f64> = w.split(',').map(|x| x.parse().unwrap()).collect();
        opts.world.live_p = v[0];
        opts.world.talk_mean_ms = v[1] * 1000.0;
        if v.len() > 3 {
            opts.world.answer_ms = ((v[2] * 1000.0) as u64, (v[3] * 1000.0) as u64);
        }
    }
    let t = std::time::Instant::now();
    for s in run_policies(&opts, &configs) {
        let per: Vec<String> =
            s.runs.iter().map(|r| format!("{:.3}({}/{})", r.abandonment() * 100.0, r.abandoned, r.live)).collect();
        println!(
            "{:>4} {:<40} occ {:.4} ab {:.2}% worst {:.2}% peak {:.1}% dials {:.0} live {:.0} drop {:.0} [{}]",
            s.agents,
            format!("{:?}", s.policy),
            s.occupancy(),
            s.abandonment() * 100.0,
            s.worst_abandonment() * 100.0,
            s.peak_share() * 100.0,
            s.dials(),
            s.live(),
            s.dropped(),
            per.join(" ")
        );
    }
    eprintln!("{:.1}s", t.elapsed().as_secs_f64());
}
