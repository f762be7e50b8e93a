//! G.711 µ-law (PCMU) and A-law (PCMA) decoding to 16-bit linear PCM.

/// An audio codec yunhu relays and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, RTP payload type 0.
    Pcmu,
    /// G.711 A-law, RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec of a static payload type.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The SDP rtpmap name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Decodes one byte to a linear sample.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(byte),
            Codec::Pcma => alaw_to_linear(byte),
        }
    }

    /// Encodes one linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }
}

/// ITU-T G.711 µ-law expansion.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// ITU-T G.711 µ-law compression.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (0..8).rev().find(|e| s & (0x80 << e) != 0).unwrap_or(0);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// ITU-T G.711 A-law expansion.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 { (mantissa << 4) + 8 } else { ((mantissa << 4) + 0x108) << (exponent - 1) };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// ITU-T G.711 A-law compression.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    s = s.min(32767);
    let (exponent, mantissa) = if s < 256 {
        (0, (s >> 4) & 0x0f)
    } else {
        let e = (1..8).rev().find(|e| s >= (256 << (e - 1))).unwrap_or(1);
        (e, (s >> (e + 3)) & 0x0f)
    };
    ((sign | (exponent << 4) | mantissa) ^ 0x55) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_extremes_decode_as_g711_defines() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }

    #[test]
    fn encoding_round_trips_within_quantisation() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for s in (-32000i32..32000).step_by(97) {
                let back = i32::from(codec.decode(codec.encode(s as i16)));
                let tolerance = (s.abs() / 16).max(16);
                assert!((back - s).abs() <= tolerance, "{codec:?} {s} -> {back}");
            }
            for b in 0..=255u8 {
                let sample = codec.decode(b);
                assert_eq!(codec.decode(codec.encode(sample)), sample, "{codec:?} {b:#x}");
            }
        }
    }
}
