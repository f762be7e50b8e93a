//! Looks up every number on standard input (one a line) and prints the time per lookup; used by
//! `bench/geo.sh`, which measures libphonenumber's Python geocoder on the same numbers.

use std::io::BufRead;
use std::time::Instant;

fn main() {
    let numbers: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).collect();
    // The table is parsed on first use; measure lookups, not that.
    let _ = yunhu_core::geo::cn_region("13800138000");
    let start = Instant::now();
    let mut found = 0usize;
    for n in &numbers {
        if yunhu_core::geo::cn_region(n).is_some() {
            found += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / numbers.len().max(1) as f64;
    println!("{ns:.0} {found}");
}
