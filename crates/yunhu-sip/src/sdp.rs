//! The little SDP the facade has to understand to answer re-INVITEs itself: a session's direction
//! (hold and resume), and the origin line's version, which must grow whenever what we send
//! changes (RFC 3264 §8) or many phones ignore the change.

/// Which way media flows, as an SDP offer or answer states it (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways (the default when nothing is said).
    SendRecv,
    /// The sender only sends: the usual "I put you on hold".
    SendOnly,
    /// The sender only receives.
    RecvOnly,
    /// No media either way (also hold).
    Inactive,
}

impl Direction {
    /// The direction an SDP states: the first audio section's attribute, else the session-level
    /// one, else sendrecv. A connection address of 0.0.0.0 (RFC 2543 hold, still sent by older
    /// phones) counts as inactive.
    pub fn of_sdp(sdp: &str) -> Direction {
        let mut session = None;
        let mut media = None;
        let mut section = Section::Session;
        let mut null_address = false;
        let mut seen_audio = false;
        for line in sdp.lines().map(str::trim) {
            if let Some(m) = line.strip_prefix("m=") {
                // The first audio section wherever it is: a phone offering video first still
                // holds the call by the audio section's attribute.
                section = if m.starts_with("audio") && !seen_audio {
                    seen_audio = true;
                    Section::Audio
                } else {
                    Section::Other
                };
                continue;
            }
            if matches!(section, Section::Other) {
                continue;
            }
            if let Some(c) = line.strip_prefix("c=") {
                null_address |= c.split_whitespace().nth(2).is_some_and(|a| a == "0.0.0.0");
            }
            if let Some(d) = line.strip_prefix("a=").and_then(Direction::from_attribute) {
                match section {
                    Section::Session => session = Some(d),
                    _ => media = Some(d),
                }
            }
        }
        if null_address {
            return Direction::Inactive;
        }
        media.or(session).unwrap_or(Direction::SendRecv)
    }

    /// The answer's direction to an offer of this one (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// The attribute's name, as in `a=sendonly`.
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(a: &str) -> Option<Direction> {
        match a {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

enum Section {
    Session,
    Audio,
    Other,
}

/// `sdp` with every direction attribute replaced by one `a=<direction>` at the end of each media
/// section (or of the session when there is none).
pub fn with_direction(sdp: &str, direction: Direction) -> String {
    let attribute = format!("a={}", direction.attribute());
    let mut out: Vec<&str> = Vec::new();
    let mut in_media = false;
    for line in sdp.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        // Lines are recognised the way `Direction::of_sdp` reads them (edge whitespace ignored),
        // or an indented section would get its attribute in the wrong place.
        if line.trim_start().strip_prefix("a=").and_then(Direction::from_attribute).is_some() {
            continue;
        }
        if line.trim_start().starts_with("m=") {
            if in_media {
                out.push(&attribute);
            }
            in_media = true;
        }
        out.push(line);
    }
    out.push(&attribute);
    let mut s = out.join("\r\n");
    s.push_str("\r\n");
    s
}

/// The session version of the origin line (`o=user id VERSION IN IP4 addr`).
pub fn version(sdp: &str) -> Option<u64> {
    origin_fields(sdp).and_then(|f| f.get(2)?.parse().ok())
}

/// `sdp` with its session version set to `v`.
pub fn with_version(sdp: &str, v: u64) -> String {
    let mut out = String::with_capacity(sdp.len() + 8);
    for line in sdp.lines() {
        // Read the way `version` reads it (edge whitespace ignored), or a stamped version
        // would not be the version read back.
        match line.trim().strip_prefix("o=") {
            Some(o) if o.split_whitespace().count() >= 3 => {
                let mut f: Vec<String> = o.split_whitespace().map(str::to_string).collect();
                f[2] = v.to_string();
                out.push_str("o=");
                out.push_str(&f.join(" "));
            }
            _ => out.push_str(line.trim_end()),
        }
        out.push_str("\r\n");
    }
    out
}

fn origin_fields(sdp: &str) -> Option<Vec<&str>> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("o=")).map(|o| o.split_whitespace().collect())
}

/// What we last sent in this session, so that an SDP sent again unchanged keeps its version (a
/// session refresh is no change) and a changed one gets a higher version.
#[derive(Debug, Default)]
pub struct Versioner {
    last: Option<(String, u64)>,
}

impl Versioner {
    /// The SDP to send for `sdp`: its version is kept when it is the first or unchanged, raised
    /// above the last one otherwise.
    pub fn stamp(&mut self, sdp: &str) -> String {
        let own = version(sdp).unwrap_or(0);
        // Compared without the version, which the caller may not have touched.
        let key = with_version(sdp, 0);
        let v = match &self.last {
            None => own,
            Some((last_key, last_v)) if *last_key == key => *last_v,
            Some((_, last_v)) => own.max(last_v + 1),
        };
        self.last = Some((key, v));
        with_version(sdp, v)
    }

    /// The last SDP sent, as sent.
    pub fn last(&self) -> Option<String> {
        self.last.as_ref().map(|(key, v)| with_version(key, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 7 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

    #[test]
    fn direction_defaults_to_sendrecv_and_reads_media_over_session() {
        assert_eq!(Direction::of_sdp(OFFER), Direction::SendRecv);
        assert_eq!(Direction::of_sdp(&format!("{OFFER}a=sendonly\r\n")), Direction::SendOnly);
        let session_level = OFFER.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
        assert_eq!(Direction::of_sdp(&session_level), Direction::Inactive);
        assert_eq!(Direction::of_sdp(&format!("{session_level}a=recvonly\r\n")), Direction::RecvOnly);
        // A video section's attribute is not the call's.
        assert_eq!(Direction::of_sdp(&format!("{OFFER}m=video 0 RTP/AVP 96\r\na=inactive\r\n")), Direction::SendRecv);
    }

    #[test]
    fn the_audio_section_counts_when_video_comes_first() {
        // Found by the sip_sdp fuzz target: the direction of an audio section after a video one
        // was ignored, so such a phone's hold went unnoticed.
        let video_first = "v=0\r\no=- 1 7 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                           m=video 5000 RTP/AVP 96\r\na=sendrecv\r\nm=audio 4000 RTP/AVP 8\r\na=sendonly\r\n";
        assert_eq!(Direction::of_sdp(video_first), Direction::SendOnly);
        assert_eq!(Direction::of_sdp(&with_direction(video_first, Direction::Inactive)), Direction::Inactive);
    }

    #[test]
    fn a_null_address_is_hold() {
        assert_eq!(Direction::of_sdp(&OFFER.replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0")), Direction::Inactive);
    }

    #[test]
    fn the_answer_mirrors_the_offer() {
        assert_eq!(Direction::SendOnly.answer(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.answer(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.answer(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.answer(), Direction::SendRecv);
    }

    #[test]
    fn with_direction_replaces_every_attribute() {
        let held = with_direction(&format!("{OFFER}a=sendrecv\r\n"), Direction::RecvOnly);
        assert_eq!(held.matches("a=").count(), 2, "{held}");
        assert!(held.ends_with("a=rtpmap:8 PCMA/8000\r\na=recvonly\r\n"), "{held}");
        assert_eq!(Direction::of_sdp(&held), Direction::RecvOnly);
        let two = with_direction(&format!("{OFFER}m=video 0 RTP/AVP 96\r\n"), Direction::SendOnly);
        assert_eq!(two.matches("a=sendonly").count(), 2, "{two}");
    }

    #[test]
    fn the_version_grows_only_when_the_sdp_changes() {
        let mut v = Versioner::default();
        assert_eq!(version(&v.stamp(OFFER)), Some(7));
        assert_eq!(version(&v.stamp(OFFER)), Some(7));
        let held = with_direction(OFFER, Direction::SendOnly);
        assert_eq!(version(&v.stamp(&held)), Some(8));
        assert_eq!(version(&v.stamp(&held)), Some(8));
        // Back to the first body: a change again, so a new version, never an old one.
        assert_eq!(version(&v.stamp(OFFER)), Some(9));
        assert_eq!(version(&v.stamp(&with_version(OFFER, 100))), Some(9));
        assert_eq!(version(&v.last().unwrap()), Some(9));
    }

    #[test]
    fn a_version_set_is_the_version_read() {
        // Found by the sip_sdp fuzz target: an indented origin line was read but not rewritten.
        let indented = OFFER.replace("o=-", " o=-");
        assert_eq!(version(&indented), Some(7));
        assert_eq!(version(&with_version(&indented, 8)), Some(8));
    }
}
