//! The audio part of SDP (RFC 4566) offer/answer: where to send, which codecs, DTMF.

use crate::g711::Codec;
use std::net::IpAddr;

/// What one side's SDP says about its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDescription {
    /// Connection address.
    pub addr: IpAddr,
    /// RTP port.
    pub port: u16,
    /// Codecs yunhu supports, in the side's order of preference.
    pub codecs: Vec<Codec>,
    /// Payload type of RFC 4733 telephone-event, if offered.
    pub telephone_event: Option<u8>,
}

/// Reads the first audio stream of an SDP body.
pub fn parse(sdp: &str) -> Option<AudioDescription> {
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut port = None;
    let mut formats: Vec<u8> = Vec::new();
    let mut te = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            in_audio = rest.starts_with("audio ") && !seen_audio;
            if in_audio {
                seen_audio = true;
                let mut parts = rest.split_whitespace();
                port = parts.nth(1).and_then(|p| p.parse::<u16>().ok());
                formats = parts.skip(1).filter_map(|f| f.parse().ok()).collect();
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let addr = rest.split_whitespace().nth(2).and_then(|a| a.split('/').next()?.parse().ok());
            if !seen_audio {
                session_addr = addr;
            } else if in_audio {
                media_addr = addr;
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:")
            && in_audio
        {
            let mut parts = rest.split_whitespace();
            let pt: Option<u8> = parts.next().and_then(|p| p.parse().ok());
            if parts.next().is_some_and(|n| n.to_ascii_lowercase().starts_with("telephone-event/8000")) {
                te = pt;
            }
        }
    }
    // A payload type listed twice counts once; telephone-event mapped onto a static codec's
    // payload type is a contradiction the codec wins.
    let mut codecs: Vec<Codec> = Vec::new();
    for c in formats.iter().filter_map(|pt| Codec::from_payload_type(*pt)) {
        if !codecs.contains(&c) {
            codecs.push(c);
        }
    }
    if te.is_some_and(|pt| Codec::from_payload_type(pt).is_some()) {
        te = None;
    }
    Some(AudioDescription { addr: media_addr.or(session_addr)?, port: port?, codecs, telephone_event: te })
}

/// Writes an SDP body for one audio stream.
pub fn render(session_id: u64, desc: &AudioDescription) -> String {
    let ip_kind = if desc.addr.is_ipv4() { "IP4" } else { "IP6" };
    let mut formats: Vec<String> = desc.codecs.iter().map(|c| c.payload_type().to_string()).collect();
    if let Some(te) = desc.telephone_event {
        formats.push(te.to_string());
    }
    let mut s = format!(
        "v=0\r\no=yunhu {session_id} {session_id} IN {ip_kind} {addr}\r\ns=yunhu\r\nc=IN {ip_kind} {addr}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats}\r\n",
        addr = desc.addr,
        port = desc.port,
        formats = formats.join(" ")
    );
    for c in &desc.codecs {
        s.push_str(&format!("a=rtpmap:{} {}/8000\r\n", c.payload_type(), c.name()));
    }
    if let Some(te) = desc.telephone_event {
        s.push_str(&format!("a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"));
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s
}

/// The codec an answer picks: the offerer's first that yunhu supports.
pub fn choose(offer: &AudioDescription) -> Option<Codec> {
    offer.codecs.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 6000 RTP/AVP 18 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn reads_offers_and_writes_answers() {
        let d = parse(SIPP_OFFER).unwrap();
        assert_eq!(d.addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((d.port, d.codecs.clone(), d.telephone_event), (6000, vec![Codec::Pcma, Codec::Pcmu], Some(101)));
        assert_eq!(choose(&d), Some(Codec::Pcma));
        let answer = AudioDescription { port: 20000, codecs: vec![Codec::Pcma], ..d };
        let text = render(7, &answer);
        assert!(text.contains("m=audio 20000 RTP/AVP 8 101\r\n"));
        assert_eq!(parse(&text), Some(answer));
        assert_eq!(parse("v=0\r\nm=video 1 RTP/AVP 96\r\n"), None);
    }
}
