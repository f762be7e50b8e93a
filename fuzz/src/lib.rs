//! yunhu's parsers of bytes that come from outside, as fuzz targets: each function takes any
//! bytes and must neither panic nor break the invariant it checks. `fuzz_targets/*.rs` hands them
//! to libFuzzer (`cargo fuzz run <target>`); [`smoke`] feeds them seeded random and mutated seed
//! inputs on the stable toolchain, for CI.

pub mod smoke;

use std::cell::RefCell;

/// A fuzz target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name `cargo fuzz run` takes.
pub const TARGETS: &[(&str, Target)] = &[
    ("media_sdp", media_sdp),
    ("sip_sdp", sip_sdp),
    ("rtp", rtp),
    ("dtmf", dtmf),
    ("dialect_params", dialect_params),
    ("number_file", number_file),
    ("recording_names", recording_names),
];

/// Splits `data` at its first `sep` byte: (before, after); all of it before when there is none.
fn split(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The SDP of an offer or answer as the media side reads it (address, port, codecs,
/// telephone-event); what it renders from a parsed description reads back the same.
pub fn media_sdp(data: &[u8]) {
    use yunhu_media::sdp;
    let Some(desc) = sdp::parse(&text(data)) else { return };
    let _ = sdp::choose(&desc);
    let rendered = sdp::render(1, &desc);
    let again = sdp::parse(&rendered).expect("yunhu's own SDP parses");
    assert_eq!(again, desc, "render then parse changes the description:\n{rendered}");
}

/// What the SIP side reads of an SDP (direction, origin version) and of a re-INVITE's
/// neighbours: INFO key bodies, Refer-To headers and digest Authorization headers.
pub fn sip_sdp(data: &[u8]) {
    use yunhu_sip::Direction;
    use yunhu_sip::fuzzing as sip;
    let (head, body) = split(data, 0);
    let body = text(body);
    let head = text(head);
    let direction = Direction::of_sdp(&body);
    let has_audio = body.lines().any(|l| l.trim().starts_with("m=audio"));
    for d in [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive] {
        if !has_audio {
            let _ = yunhu_sip::with_direction(&body, d);
            continue;
        }
        let changed = yunhu_sip::with_direction(&body, d);
        // The direction written is the one read back, unless the SDP holds with 0.0.0.0.
        let read = Direction::of_sdp(&changed);
        assert!(read == d || read == Direction::Inactive, "{d:?} written, {read:?} read:\n{changed}");
    }
    let _ = direction.answer();
    if let Some(v) = sip::version(&body) {
        let bumped = sip::with_version(&body, v.wrapping_add(1));
        assert_eq!(sip::version(&bumped), Some(v.wrapping_add(1)), "{bumped}");
    }
    let mut versioner = sip::Versioner::default();
    let first = versioner.stamp(&body);
    assert_eq!(versioner.stamp(&body), first, "the same SDP sent again changes its version");
    let _ = versioner.last();
    let _ = sip::dtmf_of_info(&head, &body);
    let _ = sip::dtmf_of_info("application/dtmf-relay", &body);
    let _ = sip::dtmf_of_info("application/dtmf", &head);
    if let Some((target, _)) = sip::refer_to(&head) {
        assert!(!target.is_empty());
    }
    let _ = yunhu_sip::digest::parse_authorization(&head);
}

/// An RTP datagram: the header read, padding and extensions skipped, the payload inside the
/// datagram; what yunhu writes from it reads back the same.
pub fn rtp(data: &[u8]) {
    use yunhu_media::rtp::{RtpPacket, is_rtcp};
    let _ = is_rtcp(data);
    let Some(p) = RtpPacket::parse(data) else { return };
    assert!(p.payload.len() <= data.len() - 12);
    let mut out = Vec::new();
    p.write(&mut out);
    let again = RtpPacket::parse(&out).expect("yunhu's own RTP parses");
    assert_eq!((again.payload_type, again.marker, again.sequence, again.timestamp, again.ssrc), {
        (p.payload_type, p.marker, p.sequence, p.timestamp, p.ssrc)
    });
    // A padded payload whose last byte is taken for the padding count may come out shorter.
    assert!(again.payload.len() <= p.payload.len());
}

/// A stream of RFC 4733 telephone-event packets (datagrams separated by length prefixes): one
/// digit per key press, and only digits.
pub fn dtmf(data: &[u8]) {
    use yunhu_media::dtmf::{DtmfDetector, event_digit};
    use yunhu_media::rtp::RtpPacket;
    let mut detector = DtmfDetector::default();
    let mut rest = data;
    let mut pressed = 0usize;
    let mut packets = 0usize;
    while let Some((&len, tail)) = rest.split_first() {
        let (datagram, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        packets += 1;
        let Some(p) = RtpPacket::parse(datagram) else { continue };
        if let Some(d) = detector.feed(p.timestamp, p.payload) {
            assert!(d.is_ascii_digit() || matches!(d, '*' | '#' | 'A'..='D'), "{d:?}");
            pressed += 1;
        }
    }
    assert!(pressed <= packets);
    for e in 0..=255u8 {
        assert_eq!(event_digit(e).is_some(), e <= 15);
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        let rt = rt.get_or_insert_with(|| tokio::runtime::Builder::new_current_thread().build().expect("runtime"));
        rt.block_on(f)
    })
}

/// The Content-Types the dialects are sent: the first byte of an input picks one.
const CONTENT_TYPES: &[&str] = &[
    "",
    "application/x-www-form-urlencoded",
    "application/json",
    "application/json; charset=utf-8",
    "application/xml",
    "text/xml; charset=utf-8",
    "text/plain",
    "multipart/form-data; boundary=X",
    "multipart/form-data",
    "application/octet-stream",
];

/// A dialect request's parameters (open95, crm, sipcdr, action, workbench all read them the same
/// way): query string, then a form, JSON, XML or multipart body. Input: a Content-Type selector
/// byte, the query, a newline, the body. Parameters read never carry control characters, and
/// the XML yunhu writes of them is well-formed.
pub fn dialect_params(data: &[u8]) {
    use axum::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
    let Some((&pick, rest)) = data.split_first() else { return };
    let (query, body) = split(rest, b'\n');
    let query = text(query);
    let mut headers = HeaderMap::new();
    let ct = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    if !ct.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let body = axum::body::Bytes::copy_from_slice(body);
    let parsed = block_on(yunhu_api::body::Params::parse(Some(&query), &headers, &body));
    let Ok(params) = parsed else { return };
    for (k, v) in &params.0 {
        assert!(!v.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{k}={v:?}");
        let _ = params.get(k);
    }
    let _ = params.access_token(&headers);
    // The flat XML a client would send of the same parameters reads back to them (names that
    // are XML names only; values as XML keeps them, edge whitespace trimmed).
    let named = |k: &str| {
        k.starts_with(|c: char| c.is_ascii_alphabetic()) && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let value: serde_json::Value = params
        .0
        .iter()
        .filter(|(k, _)| named(k))
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect();
    let xml = yunhu_api::body::to_xml("Request", &value);
    let mut again = HeaderMap::new();
    again.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    let reread = block_on(yunhu_api::body::Params::parse(None, &again, &axum::body::Bytes::from(xml.clone())));
    let reread = reread.unwrap_or_else(|e| panic!("yunhu's XML does not read back: {e:?}\n{xml}"));
    let ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    for (k, v) in params.0.iter().filter(|(k, _)| named(k)) {
        let got = reread.0.get(k).map(|s| s.trim_matches(ws));
        assert_eq!(got, Some(v.trim_matches(ws)), "{k} read back differently from\n{xml}");
    }
}

/// The names an upload may have: the first byte of an input picks one, or the input's first
/// line is the name.
const FILE_NAMES: &[&str] = &["numbers.txt", "numbers.csv", "numbers.xlsx", "numbers.xls", "号码.CSV"];

/// A number file upload (open95 `/files/upload`): .txt, .csv, .xls or .xlsx bytes, size- and
/// bomb-checked. Every number taken is a valid normalised number, listed once.
pub fn number_file(data: &[u8]) {
    use yunhu_cc::numberfile;
    let Some((&pick, rest)) = data.split_first() else { return };
    let (name, bytes) = match FILE_NAMES.get(usize::from(pick)) {
        Some(n) => ((*n).to_string(), rest),
        None => {
            let (n, b) = split(rest, b'\n');
            (text(n), b)
        }
    };
    if numberfile::check_name(&name).is_ok() {
        assert!(!name.contains(['/', '\\']) && !name.starts_with('.'), "{name:?}");
    }
    let _ = numberfile::check_zip(bytes);
    let Ok(list) = numberfile::parse(&name, bytes) else { return };
    let mut seen = std::collections::HashSet::new();
    for (number, _) in &list.numbers {
        assert_eq!(numberfile::normalize(number).as_deref(), Ok(number.as_str()), "{number:?}");
        assert!(seen.insert(number.clone()), "{number} listed twice");
    }
    assert!(list.numbers.len() <= list.rows, "{} numbers of {} rows", list.numbers.len(), list.rows);
    assert!(list.rejected.len() <= numberfile::MAX_REPORTED.min(list.rejected_total));
}

/// Names from requests that reach the disk: a recording's name built from a call's parties (a
/// caller's From user, an account), the stored-name check downloads make, and a download's
/// `Range` header. A recording name stays below the recordings directory; a range stays in the file.
pub fn recording_names(data: &[u8]) {
    let (staff, rest) = split(data, 0);
    let (customer, rest) = split(rest, 0);
    let (call_id, range) = split(rest, 0);
    let tenant = yunhu_cc::Tenant {
        id: yunhu_cc::TenantId(10001),
        corp_id: text(call_id.get(..6).unwrap_or(b"777777")),
        name: "Demo".into(),
        time_zone: "Asia/Shanghai".into(),
        sip_domain: "777777.yunhu".into(),
        created_at: 0,
    };
    let name = yunhu_cc::fuzzing::recording_name(&tenant, &text(staff), &text(customer), &text(call_id));
    assert!(yunhu_cc::fuzzing::stays_inside(&name), "{name:?}");
    assert!(!name.contains(".."), "{name:?}");
    assert_eq!(name.matches('/').count(), 2, "{name:?}");
    let asked = text(range);
    if yunhu_cc::fuzzing::stays_inside(&asked) {
        let p = std::path::Path::new(&asked);
        assert!(!p.is_absolute() && !p.components().any(|c| c == std::path::Component::ParentDir), "{asked:?}");
    }
    let len = u64::from(u16::from_le_bytes([range.first().copied().unwrap_or(0), range.get(1).copied().unwrap_or(0)]));
    if let Some(Some((start, end))) = yunhu_api::fuzzing::byte_range(Some(&asked), len) {
        assert!(start <= end && end < len, "{asked:?} of {len} gave {start}-{end}");
    }
}
