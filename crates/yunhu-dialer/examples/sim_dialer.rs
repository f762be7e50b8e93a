//! Prints the simulator's table; `cargo run --release -p yunhu-dialer --example sim_dialer -- [hours] [seeds]`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = yunhu_dialer::sim::SimOptions::default();
    if let Some(h) = args.first().and_then(|a| a.parse().ok()) {
        opts.hours = h;
    }
    if let Some(s) = args.get(1).and_then(|a| a.parse().ok()) {
        opts.seeds = s;
    }
    let started = std::time::Instant::now();
    print!("{}", yunhu_dialer::sim::report(&opts));
    println!("({:.1} s)", started.elapsed().as_secs_f64());
}
