//! RTP packets (RFC 3550): just enough of the header to relay, record and detect DTMF.

/// A parsed RTP packet borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram; `None` if it is not RTP version 2 or is cut short.
    pub fn parse(buf: &'a [u8]) -> Option<RtpPacket<'a>> {
        if buf.len() < 12 || buf[0] >> 6 != 2 {
            return None;
        }
        let csrc = usize::from(buf[0] & 0x0f);
        let mut start = 12 + 4 * csrc;
        if buf[0] & 0x10 != 0 {
            let ext = buf.get(start + 2..start + 4)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*buf.last()?))?;
        }
        if start > end {
            return None;
        }
        Some(RtpPacket {
            payload_type: buf[1] & 0x7f,
            marker: buf[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[start..end],
        })
    }

    /// Writes a minimal packet (no CSRC, no extension, no padding) into `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(0x80);
        out.push(self.payload_type | if self.marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

/// Whether a datagram is RTCP rather than RTP (payload types 200-204 share the port with rtcp-mux).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (200..=204).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let p = RtpPacket { payload_type: 8, marker: true, sequence: 7, timestamp: 160, ssrc: 0xdead, payload: b"abc" };
        let mut buf = Vec::new();
        p.write(&mut buf);
        assert_eq!(RtpPacket::parse(&buf), Some(p));
        assert_eq!(RtpPacket::parse(b"short"), None);
        let mut v1 = buf.clone();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), None);
        // Padding is stripped.
        let mut padded = buf.clone();
        padded[0] |= 0x20;
        padded.extend_from_slice(&[0, 2]);
        assert_eq!(RtpPacket::parse(&padded).unwrap().payload, b"abc");
    }
}
