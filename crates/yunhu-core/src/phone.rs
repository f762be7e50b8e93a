//! Phone-number handling that every layer needs.

/// Masks a phone number for logs: keeps the first three and last four digits of numbers long
/// enough to carry them (`13812345678` → `138****5678`), stars out the middle of shorter ones.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0..=3 => (0, 0),
        4..=6 => (1, 1),
        7..=10 => (2, 2),
        _ => (3, 4),
    };
    chars.iter().enumerate().map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn masks_mobile_numbers_like_the_design_says() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "+86*******5678");
        assert_eq!(mask_phone("53541815"), "53****15");
        assert_eq!(mask_phone("1001"), "1**1");
        assert_eq!(mask_phone("110"), "***");
    }
}
