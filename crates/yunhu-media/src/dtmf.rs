//! RFC 4733 telephone-events: digits pressed on a phone, reported once per key press.

/// The digit of an RFC 4733 event code.
pub fn event_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// Turns a stream of telephone-event payloads into one report per key press: the event's RTP
/// timestamp identifies it, however many (redundant, end-marked) packets carry it.
#[derive(Debug, Default)]
pub struct DtmfDetector {
    last_timestamp: Option<u32>,
}

impl DtmfDetector {
    /// Feeds one telephone-event payload with its RTP timestamp; returns the digit the first time
    /// a key press is seen.
    pub fn feed(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        if payload.len() < 4 || self.last_timestamp == Some(timestamp) {
            return None;
        }
        let digit = event_digit(payload[0])?;
        self.last_timestamp = Some(timestamp);
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_key_press() {
        let mut d = DtmfDetector::default();
        // Digit 5: start, continuation and three end packets share timestamp 1000.
        assert_eq!(d.feed(1000, &[5, 0x0a, 0, 160]), Some('5'));
        assert_eq!(d.feed(1000, &[5, 0x0a, 1, 64]), None);
        assert_eq!(d.feed(1000, &[5, 0x8a, 3, 32]), None);
        assert_eq!(d.feed(2600, &[11, 0x0a, 0, 160]), Some('#'));
        assert_eq!(d.feed(3000, &[200, 0, 0, 0]), None);
        assert_eq!(d.feed(3200, &[1]), None);
    }
}
