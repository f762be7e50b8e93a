//! A check of every SIP datagram before rsipstack sees it, for RFC 3261 §7 and §18.3 and the
//! torture messages of RFC 4475 and RFC 5118.
//!
//! rsipstack's parser (pinned `=0.7.14`) drops what it cannot parse without a word, and parses
//! some invalid requests as if they were fine. Where the RFCs want a malformed request answered
//! (400, 505 for another SIP version, 416 for a Request-URI scheme we do not serve, 420 for an
//! extension we lack, 501 for a method we do not know), this module answers it itself, from the
//! raw headers, and rsipstack never sees it. Where a valid request would trip rsipstack (bare LF
//! line ends, a header section the datagram ends without closing, an RFC 2543 From without a
//! tag, the three-colon IPv6 reference of RFC 5118 §4.10) the request is rewritten into the
//! form rsipstack reads, changing nothing it means. Responses are never answered: a malformed
//! one is dropped (RFC 4475 `bigcode`, `scalarlg`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// The UDP socket rsipstack reads from: every datagram goes through [`screen`] first, and the
/// answers to malformed requests leave from it.
pub(crate) struct ScreenedUdp {
    socket: tokio::net::UdpSocket,
}

impl ScreenedUdp {
    /// Binds `listen` (no address or port reuse, as rsipstack binds).
    pub(crate) fn bind(listen: SocketAddr) -> std::io::Result<Self> {
        let socket = std::net::UdpSocket::bind(listen)?;
        socket.set_nonblocking(true)?;
        Ok(ScreenedUdp { socket: tokio::net::UdpSocket::from_std(socket)? })
    }
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for ScreenedUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (n, source) = self.socket.recv_from(buf).await?;
            match screen(&buf[..n], &format!("{:016x}", rand::random::<u64>())) {
                Verdict::Pass => return Ok((n, source)),
                Verdict::Rewrite(bytes) if bytes.len() <= buf.len() => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), source));
                }
                Verdict::Rewrite(_) => return Ok((n, source)),
                Verdict::Answer(bytes) => {
                    let status = String::from_utf8_lossy(&bytes[..bytes.len().min(12)]).into_owned();
                    tracing::debug!(%source, answer = %status.trim_end(), "malformed SIP request answered");
                    let _ = self.socket.send_to(&bytes, source).await;
                }
                Verdict::Drop => tracing::debug!(%source, "malformed SIP datagram dropped"),
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

/// What to do with a datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hand it to rsipstack as it is.
    Pass,
    /// Hand these bytes to rsipstack instead: the same message in a form it reads.
    Rewrite(Vec<u8>),
    /// Send these bytes back to the source; rsipstack never sees the request.
    Answer(Vec<u8>),
    /// Ignore it.
    Drop,
}

/// The methods rsipstack can parse; any other token is a method yunhu does not know (501).
const KNOWN_METHODS: &[&str] = &[
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// What a 501 lists in Allow: the methods yunhu serves.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, UPDATE";

/// Option tags a request may Require of yunhu: RFC 4028 session timers and RFC 3891 Replaces.
const SUPPORTED: &[&str] = &["timer", "replaces"];

/// The compact forms of RFC 3261 §7.3.3 (and RFC 3515's `r`), for the headers this check reads.
fn long_name(name: &str) -> Cow<'_, str> {
    let long = match name.to_ascii_lowercase().as_str() {
        "i" => "call-id",
        "f" => "from",
        "t" => "to",
        "v" => "via",
        "l" => "content-length",
        "m" => "contact",
        "c" => "content-type",
        "k" => "supported",
        _ => return Cow::Owned(name.to_ascii_lowercase()),
    };
    Cow::Borrowed(long)
}

/// One header field of the request, unfolded.
struct Field {
    /// Lower-case long name.
    name: String,
    /// The name as it was written.
    raw_name: String,
    /// The value, folding replaced by a space (RFC 3261 §7.3.1), trimmed.
    value: String,
    /// The same value as bytes, for the rewritten message (a value need not be UTF-8).
    raw_value: Vec<u8>,
}

/// Why a request is refused: a status and a line for the Warning header.
struct Refusal {
    status: u16,
    why: &'static str,
    extra: Vec<String>,
}

fn refuse(status: u16, why: &'static str) -> Refusal {
    Refusal { status, why, extra: Vec::new() }
}

/// Checks one datagram; `tag` makes the To tag of our answers.
pub(crate) fn screen(data: &[u8], tag: &str) -> Verdict {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Pass;
    }
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let lead = data.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    let message = &data[lead..];
    let (lines, body) = split_head(message);
    let Some((start, rest)) = lines.split_first() else { return Verdict::Drop };
    let start = String::from_utf8_lossy(start).into_owned();
    let fields = unfold(rest);
    if start.starts_with("SIP/") {
        // A response: rsipstack matches it to a transaction of ours or drops it. A status code
        // outside 100-699 (RFC 4475 `bigcode`) is dropped here.
        let code = start.split(' ').nth(1).unwrap_or_default();
        let valid = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && ("100"..="699").contains(&code);
        if !valid {
            return Verdict::Drop;
        }
        return match fields {
            Some(fields) => rebuilt(message, &start, &fields, body, None),
            None => Verdict::Pass,
        };
    }
    let Some(fields) = fields else {
        // A header line without a name and a colon: nothing can be trusted, not even the Via.
        return Verdict::Drop;
    };
    let method = start.split(' ').next().unwrap_or_default().to_string();
    match check(&start, &method, &fields, body) {
        // Nowhere to send an answer, or an ACK, which is never answered (RFC 3261 §17.1.1.3).
        Err(_) if method == "ACK" || !fields.iter().any(|f| f.name == "via") => Verdict::Drop,
        Err(refusal) => Verdict::Answer(answer(&fields, refusal, tag)),
        Ok(fix) => rebuilt(message, &start, &fields, &body[..fix.body_len.min(body.len())], fix.from_tag.as_deref()),
    }
}

/// What an acceptable request needs before rsipstack reads it.
struct Fix {
    /// Bytes of body that belong to the message (RFC 3261 §18.3: the rest of a datagram is
    /// discarded).
    body_len: usize,
    /// A From tag to add: RFC 2543 requests carry none, and rsipstack keys its transactions on
    /// it (RFC 4475 `inv2543`).
    from_tag: Option<String>,
}

fn check(start: &str, method: &str, fields: &[Field], body: &[u8]) -> Result<Fix, Refusal> {
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces, no LWS in the URI
    // (RFC 4475 `lwsstart`, `trws`, `lwsruri`).
    let parts: Vec<&str> = start.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.contains('\t')) {
        let version_last = parts.last().is_some_and(|v| v.starts_with("SIP/"));
        if !version_last && parts.iter().any(|p| p.starts_with("SIP/") && *p != "SIP/2.0") {
            return Err(refuse(505, "SIP version not supported"));
        }
        return Err(refuse(400, "malformed Request-Line"));
    }
    let (uri, version) = (parts[1], parts[2]);
    if version != "SIP/2.0" {
        return Err(if version.starts_with("SIP/") {
            refuse(505, "SIP version not supported")
        } else {
            refuse(400, "malformed SIP-Version")
        });
    }
    if !is_token(method) {
        return Err(refuse(400, "malformed Method"));
    }
    check_request_uri(uri)?;
    for single in ["to", "from", "call-id", "cseq"] {
        match fields.iter().filter(|f| f.name == single).count() {
            0 => return Err(refuse(400, "missing To, From, Call-ID or CSeq")),
            1 => {}
            _ => return Err(refuse(400, "To, From, Call-ID or CSeq given more than once")),
        }
    }
    for single in ["max-forwards", "content-length"] {
        if fields.iter().filter(|f| f.name == single).count() > 1 {
            return Err(refuse(400, "Max-Forwards or Content-Length given more than once"));
        }
    }
    let body_len = match fields.iter().find(|f| f.name == "content-length") {
        // RFC 3261 §18.3: over UDP a missing Content-Length means the rest of the datagram.
        None => body.len(),
        Some(f) => {
            let n = decimal(&f.value).ok_or_else(|| refuse(400, "malformed Content-Length"))?;
            if n > body.len() as u64 {
                return Err(refuse(400, "Content-Length larger than the datagram"));
            }
            n as usize
        }
    };
    let value = |name: &str| fields.iter().find(|f| f.name == name).map(|f| f.value.as_str()).unwrap_or_default();
    // RFC 3261 §8.1.1.5: a sequence number below 2**31, and the method of the request line.
    let cseq = value("cseq");
    let (seq, cseq_method) = cseq.split_once([' ', '\t']).unwrap_or((cseq, ""));
    if decimal(seq).is_none_or(|n| n >= 1 << 31) {
        return Err(refuse(400, "malformed CSeq number"));
    }
    for via in fields.iter().filter(|f| f.name == "via") {
        check_via(&via.value)?;
    }
    for name in ["to", "from", "contact"] {
        for f in fields.iter().filter(|f| f.name == name) {
            check_name_addrs(&f.value, name == "contact")?;
        }
    }
    if method == "REGISTER" {
        // The address of record is a SIP or SIPS URI (RFC 3261 §10.2; RFC 4475 `unksm2`).
        let to = addr_uri(value("to")).to_ascii_lowercase();
        if !(to.starts_with("sip:") || to.starts_with("sips:")) {
            return Err(refuse(400, "To of a REGISTER is not a SIP URI"));
        }
    }
    // RFC 3261 §8.2.1: a method we do not know gets 501 with what we do (RFC 4475 `intmeth`,
    // `esc02`: % is no escape in a method), before its CSeq is compared (`mismatch02`).
    if !KNOWN_METHODS.contains(&method) {
        let mut r = refuse(501, "method not implemented");
        r.extra.push(format!("Allow: {ALLOW}"));
        return Err(r);
    }
    if cseq_method.trim() != method {
        return Err(refuse(400, "CSeq method differs from the Request-Line"));
    }
    // RFC 3261 §8.2.2.3: an extension we lack, required of us, gets 420 naming it (`bext01`).
    if method != "CANCEL" {
        let unsupported: Vec<&str> = fields
            .iter()
            .filter(|f| f.name == "require")
            .flat_map(|f| f.value.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() {
            let mut r = refuse(420, "extension not supported");
            r.extra.push(format!("Unsupported: {}", unsupported.join(", ")));
            return Err(r);
        }
    }
    let from = value("from");
    let from_tag = (!has_param(header_params(from), "tag")).then(|| {
        // The same request retransmitted gets the same tag, so it meets its transaction.
        let call_id = value("call-id");
        let h =
            call_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        format!("rfc2543-{h:016x}")
    });
    Ok(Fix { body_len, from_tag })
}

/// RFC 3261 §19.1 and RFC 5118: a SIP or SIPS Request-URI has a host (an IPv6 address only
/// within brackets, RFC 5118 §4.2 `ipv6-bad`), a numeric port and no headers (RFC 4475
/// `escruri`); it is not enclosed in <> (`ltgtruri`). Other schemes than sip, sips and tel get
/// 416 (RFC 3261 §8.2.2.1; RFC 4475 `unkscm`, `novelsc`).
fn check_request_uri(uri: &str) -> Result<(), Refusal> {
    let Some((scheme, rest)) = uri.split_once(':') else { return Err(refuse(400, "malformed Request-URI")) };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(refuse(400, "malformed Request-URI"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "sip" | "sips" => {}
        "tel" => return Ok(()),
        _ => return Err(refuse(416, "Request-URI scheme not supported")),
    }
    // The user part may hold ; ? and more (RFC 4475 `intmeth`, `semiuri`), never an @.
    let after_user = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    if after_user.contains('?') {
        return Err(refuse(400, "headers in the Request-URI"));
    }
    let hostport = after_user.split(';').next().unwrap_or_default();
    let port = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(|| refuse(400, "malformed IPv6 reference"))?;
        if parse_ipv6(addr).is_none() {
            return Err(refuse(400, "malformed IPv6 reference"));
        }
        match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| refuse(400, "malformed Request-URI"))?),
        }
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
            return Err(refuse(400, "malformed Request-URI host"));
        }
        port
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(refuse(400, "malformed Request-URI port"));
    }
    Ok(())
}

/// An IPv6 address as RFC 3261's ABNF allows it, including the three colons before an embedded
/// IPv4 address that RFC 5118 §4.10 says to tolerate.
fn parse_ipv6(s: &str) -> Option<std::net::Ipv6Addr> {
    s.parse().ok().or_else(|| s.replacen(":::", "::", 1).parse().ok())
}

/// RFC 3261 §20.42: each Via value is `SIP / 2.0 / transport sent-by *(; param)`; empty
/// values and empty parameters are errors (RFC 4475 `badinv01`).
fn check_via(value: &str) -> Result<(), Refusal> {
    for one in split_outside_quotes(value, ',') {
        let mut params = split_outside_quotes(one, ';').into_iter();
        let sent = params.next().unwrap_or_default();
        let compact: String = {
            // SLASH = SWS "/" SWS: drop the whitespace around the slashes.
            let mut s = String::new();
            for (i, part) in sent.split('/').enumerate() {
                if i > 0 {
                    s.push('/');
                }
                s.push_str(part.trim());
            }
            s
        };
        let mut words = compact.split_whitespace();
        let protocol = words.next().unwrap_or_default();
        let sent_by = words.next().unwrap_or_default();
        let pieces: Vec<&str> = protocol.split('/').collect();
        let protocol_ok = pieces.len() == 3 && pieces.iter().all(|p| is_token(p));
        if !protocol_ok || sent_by.is_empty() || words.next().is_some() {
            return Err(refuse(400, "malformed Via"));
        }
        if params.any(|p| p.trim().is_empty() || p.trim().starts_with('=')) {
            return Err(refuse(400, "malformed Via parameter"));
        }
    }
    Ok(())
}

/// RFC 3261 §20.10, §20.20, §20.39: quotes balance (`quotbal`), a display name is a quoted
/// string or tokens (`baddn`), an addr-spec in <> holds no whitespace (`badaspec`), an
/// addr-spec outside <> has no headers (`regbadct`), and no parameter is empty.
fn check_name_addrs(value: &str, list: bool) -> Result<(), Refusal> {
    if value.trim() == "*" && list {
        return Ok(());
    }
    let values = if list { split_outside_quotes(value, ',') } else { vec![value] };
    for v in values {
        let v = v.trim();
        if quotes_unbalanced(v) {
            return Err(refuse(400, "unterminated quoted string"));
        }
        let (addr, params) = if let Some(open) = find_outside_quotes(v, '<') {
            let display = v[..open].trim();
            let display_ok = display.is_empty()
                || display.starts_with('"') && display.ends_with('"') && display.len() >= 2
                // Tokens, liberally: phones send unquoted names in Chinese and other scripts,
                // which the ABNF wants quoted; ASCII separators (`baddn`'s comma) still fail.
                || display.split_whitespace().all(|w| w.chars().all(|c| !c.is_ascii() || is_token(c.encode_utf8(&mut [0; 4]))));
            if !display_ok {
                return Err(refuse(400, "malformed display name"));
            }
            let close = v[open..].find('>').ok_or_else(|| refuse(400, "unclosed <"))? + open;
            let addr = &v[open + 1..close];
            if addr.is_empty() || addr.chars().any(char::is_whitespace) {
                return Err(refuse(400, "whitespace in an addr-spec"));
            }
            (addr, &v[close + 1..])
        } else {
            let (addr, params) = v.split_at(v.find(';').unwrap_or(v.len()));
            let addr = addr.trim_end();
            if addr.contains('?') || addr.chars().any(char::is_whitespace) || addr.contains(',') {
                return Err(refuse(400, "addr-spec outside <> with headers or spaces"));
            }
            (addr, params)
        };
        if !addr.contains(':') {
            return Err(refuse(400, "malformed URI"));
        }
        let params = params.trim();
        if !params.is_empty() {
            let Some(params) = params.strip_prefix(';') else { return Err(refuse(400, "text after the URI")) };
            if split_outside_quotes(params, ';').iter().any(|p| p.trim().is_empty()) {
                return Err(refuse(400, "empty header parameter"));
            }
        }
    }
    Ok(())
}

/// The URI of a To, From or Contact value.
fn addr_uri(value: &str) -> &str {
    match find_outside_quotes(value, '<') {
        Some(open) => value[open + 1..].split('>').next().unwrap_or_default().trim(),
        None => value.split(';').next().unwrap_or_default().trim(),
    }
}

/// The header parameters of a To or From value (after the URI).
fn header_params(value: &str) -> &str {
    match find_outside_quotes(value, '<') {
        Some(open) => value[open..].split_once('>').map(|(_, p)| p).unwrap_or_default(),
        None => value.split_once(';').map(|(_, p)| p).unwrap_or_default(),
    }
}

fn has_param(params: &str, name: &str) -> bool {
    split_outside_quotes(params, ';')
        .iter()
        .any(|p| p.split('=').next().unwrap_or_default().trim().eq_ignore_ascii_case(name))
}

/// RFC 3261 §25.1 token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Digits only (leading zeros allowed, RFC 4475 `wsinv`), as a number.
fn decimal(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn quotes_unbalanced(s: &str) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if inside => escaped = true,
            '"' => inside = !inside,
            _ => {}
        }
    }
    inside
}

fn find_outside_quotes(s: &str, target: char) -> Option<usize> {
    let mut inside = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if inside => escaped = true,
            '"' => inside = !inside,
            c if c == target && !inside => return Some(i),
            _ => {}
        }
    }
    None
}

/// Splits on `sep` outside quoted strings and <>.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut inside, mut escaped, mut angle, mut from) = (false, false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if inside => escaped = true,
            '"' => inside = !inside,
            '<' if !inside => angle = true,
            '>' if !inside => angle = false,
            c if c == sep && !inside && !angle => {
                out.push(&s[from..i]);
                from = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[from..]);
    out
}

/// The lines of the header section (start line first, without their CR LF or bare LF) and the
/// body. A datagram that ends inside the header section ends it (RFC 5118 §4.10's messages
/// carry no empty line).
fn split_head(message: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut lines = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let end = message[at..].iter().position(|b| *b == b'\n').map(|p| at + p);
        let (line, next) = match end {
            Some(e) => (&message[at..e], e + 1),
            None => (&message[at..], message.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at = next;
        if line.is_empty() {
            return (lines, &message[at..]);
        }
        lines.push(line);
    }
    (lines, &message[message.len()..])
}

/// Joins folded lines (RFC 3261 §7.3.1: a line starting with whitespace continues the one
/// before, the fold being one space) and splits each field at its colon (`HCOLON` allows
/// whitespace before it, RFC 4475 `wsinv`). `None` when a line is no header field.
fn unfold(lines: &[&[u8]]) -> Option<Vec<Field>> {
    let mut joined: Vec<Vec<u8>> = Vec::new();
    for line in lines {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let last = joined.last_mut()?;
            last.push(b' ');
            last.extend_from_slice(line.trim_ascii_start());
        } else {
            joined.push(line.to_vec());
        }
    }
    joined
        .iter()
        .map(|l| {
            let colon = l.iter().position(|b| *b == b':')?;
            let raw_name = std::str::from_utf8(&l[..colon]).ok()?.trim_end_matches([' ', '\t']);
            if !is_token(raw_name) {
                return None;
            }
            let raw_value = l[colon + 1..].trim_ascii().to_vec();
            let value = String::from_utf8_lossy(&raw_value).into_owned();
            Some(Field { name: long_name(raw_name).into_owned(), raw_name: raw_name.to_string(), value, raw_value })
        })
        .collect()
}

/// The message in the form rsipstack reads: CR LF line ends, folding undone, the empty line
/// after the header section, the body cut at its Content-Length, IPv6 references rsipstack
/// cannot parse written canonically, a From tag where RFC 2543 left none. `Pass` when nothing
/// changed.
fn rebuilt(original: &[u8], start: &str, fields: &[Field], body: &[u8], from_tag: Option<&str>) -> Verdict {
    let mut out = Vec::with_capacity(original.len() + 64);
    out.extend_from_slice(canonical_ipv6(start).as_bytes());
    out.extend_from_slice(b"\r\n");
    for f in fields {
        out.extend_from_slice(f.raw_name.as_bytes());
        out.extend_from_slice(b": ");
        match std::str::from_utf8(&f.raw_value) {
            Ok(v) if STRUCTURED.contains(&f.name.as_str()) => {
                out.extend_from_slice(tidy(&canonical_ipv6(v), f.name == "via").as_bytes())
            }
            Ok(v) => out.extend_from_slice(canonical_ipv6(v).as_bytes()),
            Err(_) => out.extend_from_slice(&f.raw_value),
        }
        if f.name == "from"
            && let Some(tag) = from_tag
        {
            out.extend_from_slice(format!(";tag={tag}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if out == original { Verdict::Pass } else { Verdict::Rewrite(out) }
}

/// Headers whose separators may carry whitespace (`SEMI`, `EQUAL`, `COMMA`, `SLASH` of RFC 3261
/// §25.1 are all `SWS x SWS`) that rsipstack's parser does not skip: it reads
/// `To: <sip:a@b> ;   tag    = 1` (RFC 4475 `wsinv`) as a To without a tag.
const STRUCTURED: &[&str] = &["to", "from", "contact", "via", "route", "record-route"];

/// The value with the whitespace around `;`, `=` and `,` (and `/` in a Via) removed and other
/// runs of whitespace made one space, outside quoted strings and <>: the same value as RFC 3261
/// reads it.
fn tidy(value: &str, via: bool) -> String {
    let separator = |c: char| c == ';' || c == '=' || c == ',' || via && c == '/';
    let mut out = String::with_capacity(value.len());
    let (mut inside, mut escaped, mut angle, mut pending_space) = (false, false, false, false);
    for c in value.chars() {
        if !inside && !angle && (c == ' ' || c == '\t') {
            pending_space = true;
            continue;
        }
        if pending_space && !separator(c) && !out.ends_with(separator) && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        match c {
            _ if escaped => escaped = false,
            '\\' if inside => escaped = true,
            '"' => inside = !inside,
            '<' if !inside => angle = true,
            '>' if !inside => angle = false,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Rewrites bracketed IPv6 references with three colons before an embedded IPv4 address
/// (RFC 5118 §4.10 `ipv6-bug-abnf-3-colons`, which RFC 3261's ABNF allows by mistake) into the
/// two-colon form: rsipstack's parser does not take the three-colon one, and RFC 5118 allows
/// the rewrite.
fn canonical_ipv6(text: &str) -> Cow<'_, str> {
    if !text.contains(":::") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inner = &rest[..close];
        match parse_ipv6(inner) {
            Some(addr) if inner.contains(":::") => out.push_str(&addr.to_string()),
            _ => out.push_str(inner),
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A stateless answer (RFC 3261 §8.2.6): the request's Via, From, To (with our tag), Call-ID and
/// CSeq, what went wrong in a Warning, and no body.
fn answer(fields: &[Field], refusal: Refusal, tag: &str) -> Vec<u8> {
    let reason = match refusal.status {
        400 => "Bad Request",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        501 => "Not Implemented",
        505 => "Version Not Supported",
        _ => "Error",
    };
    let mut out = format!("SIP/2.0 {} {reason}\r\n", refusal.status);
    for f in fields {
        match f.name.as_str() {
            "via" | "from" | "call-id" | "cseq" => {
                let _ = write!(out, "{}: {}\r\n", f.raw_name, f.value);
            }
            "to" if has_param(header_params(&f.value), "tag") => {
                let _ = write!(out, "{}: {}\r\n", f.raw_name, f.value);
            }
            "to" => {
                let _ = write!(out, "{}: {};tag={tag}\r\n", f.raw_name, f.value);
            }
            _ => {}
        }
    }
    for extra in &refusal.extra {
        let _ = write!(out, "{extra}\r\n");
    }
    let _ = write!(
        out,
        "Warning: 399 yunhu \"{}\"\r\nServer: yunhu/{}\r\nContent-Length: 0\r\n\r\n",
        refusal.why,
        env!("CARGO_PKG_VERSION")
    );
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(v: &Verdict) -> Option<u16> {
        match v {
            Verdict::Answer(a) => String::from_utf8_lossy(a).split(' ').nth(1)?.parse().ok(),
            _ => None,
        }
    }

    const OK: &str = "OPTIONS sip:1001@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        From: <sip:a@example.com>;tag=1\r\nTo: <sip:1001@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn a_well_formed_request_passes_untouched() {
        assert_eq!(screen(OK.as_bytes(), "t"), Verdict::Pass);
    }

    #[test]
    fn bare_lf_and_folding_are_rewritten_to_what_they_mean() {
        let lf = OK.replace("\r\n", "\n").replace("To: <sip", "To:\n <sip");
        assert_eq!(screen(lf.as_bytes(), "t"), Verdict::Rewrite(OK.as_bytes().to_vec()));
    }

    #[test]
    fn answers_carry_the_request_s_transaction_and_our_tag() {
        let bad = OK.replace("SIP/2.0\r\n", "SIP/7.0\r\n");
        let v = screen(bad.as_bytes(), "abc");
        assert_eq!(status(&v), Some(505));
        let Verdict::Answer(a) = v else { unreachable!() };
        let a = String::from_utf8(a).unwrap();
        assert!(a.starts_with("SIP/2.0 505 "), "{a}");
        assert!(a.contains("To: <sip:1001@example.com>;tag=abc\r\n"), "{a}");
        assert!(a.contains("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"), "{a}");
        assert!(a.contains("CSeq: 1 OPTIONS\r\n"), "{a}");
    }

    #[test]
    fn a_bad_ack_is_never_answered() {
        let ack = OK.replace("OPTIONS sip", "ACK sip").replace("1 OPTIONS", "1 INVITE");
        assert_eq!(screen(ack.as_bytes(), "t"), Verdict::Drop);
    }

    #[test]
    fn required_extensions_and_unknown_methods() {
        let req = OK.replace("Content-Length", "Require: timer, 100rel\r\nContent-Length");
        let v = screen(req.as_bytes(), "t");
        assert_eq!(status(&v), Some(420));
        let Verdict::Answer(a) = v else { unreachable!() };
        assert!(String::from_utf8_lossy(&a).contains("Unsupported: 100rel\r\n"));
        let m = OK.replace("OPTIONS", "FROB");
        assert_eq!(status(&screen(m.as_bytes(), "t")), Some(501));
    }

    #[test]
    fn whitespace_around_separators_goes() {
        assert_eq!(tidy("sip:a@b.c ;   tag    = 1n", false), "sip:a@b.c;tag=1n");
        assert_eq!(tidy("\"J R \\\"\"   <sip:j@e.com> ; tag = 9", false), "\"J R \\\"\" <sip:j@e.com>;tag=9");
        assert_eq!(
            tidy("SIP  / 2.0  / TCP     h.example.com   ; branch  =   z9  , SIP/2.0/UDP h2", true),
            "SIP/2.0/TCP h.example.com;branch=z9,SIP/2.0/UDP h2"
        );
        assert_eq!(tidy("\"a  ;  b\" <sip:x ; y>", false), "\"a  ;  b\" <sip:x ; y>");
    }

    #[test]
    fn unquoted_names_in_other_scripts_pass_but_not_ascii_separators() {
        let zh = OK.replace("From: <sip:a@", "From: 张三 <sip:a@");
        assert_eq!(screen(zh.as_bytes(), "t"), Verdict::Pass);
        let comma = OK.replace("From: <sip:a@", "From: Bell, Alexander <sip:a@");
        assert_eq!(status(&screen(comma.as_bytes(), "t")), Some(400));
    }

    #[test]
    fn the_three_colon_ipv6_reference_is_written_with_two() {
        assert_eq!(canonical_ipv6("sip:u@[2001:db8:::192.0.2.1]:5060"), "sip:u@[2001:db8::c000:201]:5060");
        assert_eq!(canonical_ipv6("sip:u@[2001:db8::1]"), "sip:u@[2001:db8::1]");
    }
}
