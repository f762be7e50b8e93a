//! 号码归属地: the province and city of a Chinese phone number, from a table generated out of
//! libphonenumber's geocoding data (Apache-2.0; see `data/cn_geo.txt` and `tools/gen_cn_geo.py`).

use std::sync::OnceLock;

const TABLE: &str = include_str!("../data/cn_geo.txt");

/// Where a number is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Province (省), autonomous region or municipality, e.g. `广东省`, `北京市`, `新疆`.
    pub province: &'static str,
    /// City (市, 地区, 自治州), e.g. `深圳市`; for a municipality the municipality again.
    pub city: &'static str,
}

struct Table {
    places: Vec<Region>,
    /// Per prefix length (index = digits), runs `(first prefix, count, place)` sorted by start.
    runs: Vec<Vec<(u64, u64, u16)>>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut places = Vec::new();
        let mut runs: Vec<Vec<(u64, u64, u16)>> = vec![Vec::new(); 16];
        let mut len = 0usize;
        let mut prev = 0u64;
        for line in TABLE.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            if let Some(place) = line.strip_prefix("P ") {
                let (province, city) = place.split_once('|').unwrap_or((place, ""));
                places.push(Region { province, city });
            } else if let Some(n) = line.strip_prefix("L ") {
                len = n.parse().unwrap_or(0).min(15);
                prev = 0;
            } else {
                let mut f = line.split(' ').map(|x| u64::from_str_radix(x, 36).unwrap_or(0));
                let (gap, count, place) = (f.next().unwrap_or(0), f.next().unwrap_or(0), f.next().unwrap_or(0));
                prev += gap;
                runs[len].push((prev, count, place as u16));
            }
        }
        Table { places, runs }
    })
}

/// The national significant number of a Chinese number: `+86`/`0086`/`86` and a trunk `0` removed.
fn national(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let d = digits.strip_prefix("0086").unwrap_or(&digits);
    let d = if d.len() > 11 { d.strip_prefix("86").unwrap_or(d) } else { d };
    let d = d.strip_prefix('0').unwrap_or(d);
    // Mobiles have 11 digits; landlines an area code and a subscriber number, 9 to 11 digits
    // (Beijing's area code 10 starts with 1 too).
    let plausible = match d.len() {
        11 => true,
        10 => true,
        9 => !d.starts_with('1'),
        _ => false,
    };
    plausible.then(|| d.to_string())
}

/// The province and city of a mobile number (by its 7-digit prefix) or a landline (by its area
/// code); `None` when the number is not Chinese or not in the table.
pub fn cn_region(number: &str) -> Option<Region> {
    let n = national(number)?;
    let t = table();
    for len in (1..=n.len().min(15)).rev() {
        let Some(runs) = t.runs.get(len).filter(|r| !r.is_empty()) else { continue };
        let Ok(key) = n[..len].parse::<u64>() else { continue };
        let i = runs.partition_point(|(start, _, _)| *start <= key);
        if i > 0 {
            let (start, count, place) = runs[i - 1];
            if key < start + count {
                return t.places.get(usize::from(place)).copied();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: &str) -> Option<(&'static str, &'static str)> {
        cn_region(n).map(|r| (r.province, r.city))
    }

    #[test]
    fn mobiles_and_landlines_resolve_like_libphonenumber() {
        // Expected values are what libphonenumber's own geocoder answers for these numbers.
        assert_eq!(at("13800138000"), Some(("北京市", "北京市")));
        assert_eq!(at("+86 139 1234 5678"), Some(("江苏省", "常州市")));
        assert_eq!(at("8613000001234"), Some(("山东省", "济南市")));
        assert_eq!(at("0755-12345678"), Some(("广东省", "深圳市")));
        assert_eq!(at("02161234567"), Some(("上海市", "上海市")));
        assert_eq!(at("008618612345678"), Some(("北京市", "北京市")));
        assert_eq!(at("1001"), None);
        assert_eq!(at(""), None);
        assert_eq!(at("abc"), None);
    }

    #[test]
    fn every_place_has_a_province() {
        let t = table();
        assert!(t.places.len() > 300 && t.runs.iter().map(Vec::len).sum::<usize>() > 70_000);
        assert!(t.places.iter().all(|p| !p.province.is_empty()));
        assert!(t.places.contains(&Region { province: "贵州省", city: "黔南" }));
    }
}
