//! What happens inside an established call leg, for both kinds (the INVITEs we send and the ones
//! we answer): the peer's re-INVITEs (hold, resume) answered here, DTMF by INFO, REFER
//! (transfer), our own re-INVITEs, and the RFC 4028 session timer that ends a leg whose peer is
//! gone. One task per leg turns rsipstack's dialog states into [`LegEvent`]s and answers every
//! in-dialog request it is handed (rsipstack answers 501 after 32 s for a request left
//! unanswered, so none may be).

use crate::sdp::{self, Direction, Versioner};
use crate::{EndedBy, SipError};
use rand::Rng;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Headers, Method, Request, Response, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What happens on a call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// 180/183 arrived (outgoing legs only).
    Ringing,
    /// 200 OK with the answer SDP (outgoing legs only).
    Answered {
        /// Answer SDP.
        sdp: String,
    },
    /// The leg is over: final status (200 when a confirmed call was hung up) and who ended it.
    Ended {
        /// SIP status code.
        status: u16,
        /// Who ended it.
        by: EndedBy,
    },
    /// The peer sent a re-INVITE (or an UPDATE with SDP), e.g. hold or resume pressed on the
    /// phone. Already answered 200 with the leg's local SDP (see [`LegControl::set_local_sdp`])
    /// whose direction mirrors the offer's. A re-INVITE repeating the peer's last SDP word for
    /// word (a session refresh) is answered but not reported.
    Reoffer {
        /// The peer's new offer.
        sdp: String,
        /// Its direction.
        direction: Direction,
    },
    /// A key sent by SIP INFO (`application/dtmf-relay` "Signal=5", or `application/dtmf` "5");
    /// answered 200.
    Dtmf {
        /// `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
    },
    /// The phone's transfer button: a REFER, answered 202 Accepted and followed by the NOTIFY
    /// "100 Trying" RFC 3515 asks for; report the outcome with [`LegControl::notify_refer`].
    Refer {
        /// The user part of Refer-To (the host when it has none).
        target: String,
        /// The dialog to replace, for an attended transfer.
        replaces: Option<Replaces>,
    },
}

/// The Replaces parameter of an attended transfer's Refer-To (RFC 3891): the dialog the
/// transferred call is to take the place of. The tags are from the side of the UA that would
/// receive the INVITE with Replaces, here yunhu: `to_tag` is our tag in that dialog and
/// `from_tag` the phone's, so it matches a leg whose [`LegControl::dialog_ids`] are
/// `(call_id, to_tag, from_tag)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// Call-ID of the dialog.
    pub call_id: String,
    /// The `to-tag` parameter.
    pub to_tag: String,
    /// The `from-tag` parameter.
    pub from_tag: String,
}

/// Session-timer settings (RFC 4028), from [`crate::SipConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimerConfig {
    pub session_expires: Duration,
    pub min_se: Duration,
}

/// A session timer agreed with the peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionTimer {
    interval: Duration,
    /// The `refresher` to name in our 2xx to the initial INVITE (a peer that named one must be
    /// answered with the same, RFC 4028 §9).
    refresher: &'static str,
    /// Whether the peer listed `timer` in Supported, so that our 2xx may Require it.
    require: bool,
}

impl SessionTimer {
    /// The Session-Expires (and Require) headers of our 2xx to the initial INVITE.
    pub(crate) fn answer_headers(&self) -> Vec<Header> {
        let mut h =
            vec![Header::SessionExpires(format!("{};refresher={}", self.interval.as_secs(), self.refresher).into())];
        if self.require {
            h.push(Header::Require("timer".into()));
        }
        h
    }
}

/// The first value of header `name` (compact forms are parsed to the full name).
fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.iter().find(|h| h.name().eq_ignore_ascii_case(name)).map(|h| h.value().trim().to_string())
}

fn lists(headers: &Headers, name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .any(|h| h.value().split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// `1800;refresher=uac` -> (1800 s, Some("uac")).
fn session_expires(headers: &Headers) -> Option<(Duration, Option<&'static str>)> {
    let value = header(headers, "Session-Expires")?;
    let mut parts = value.split(';');
    let secs: u64 = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|p| match p.trim().to_ascii_lowercase().as_str() {
        "refresher=uac" => Some("uac"),
        "refresher=uas" => Some("uas"),
        _ => None,
    });
    Some((Duration::from_secs(secs), refresher))
}

fn min_se(headers: &Headers) -> Option<Duration> {
    let v = header(headers, "Min-SE")?;
    v.split(';').next()?.trim().parse().ok().map(Duration::from_secs)
}

/// The session timer for an initial INVITE we received: `Ok(None)` when the caller does not do
/// timers (or we do none), `Err(min)` when its interval is below our minimum (answer 422 with
/// `Min-SE: min`).
pub(crate) fn timer_of_request(req: &Request, cfg: TimerConfig) -> Result<Option<SessionTimer>, Duration> {
    if cfg.session_expires.is_zero() {
        return Ok(None);
    }
    let supported = lists(&req.headers, "Supported", "timer");
    let asked = session_expires(&req.headers);
    if !supported && asked.is_none() {
        return Ok(None);
    }
    if asked.is_some_and(|(secs, _)| secs < cfg.min_se) {
        return Err(cfg.min_se);
    }
    // A UAS may shorten the interval it was offered, never lengthen it, nor go below the
    // caller's Min-SE.
    let mut interval = asked.map_or(cfg.session_expires, |(s, _)| s.min(cfg.session_expires));
    interval = interval.max(cfg.min_se).max(min_se(&req.headers).unwrap_or_default());
    let refresher = asked.and_then(|(_, r)| r).unwrap_or("uas");
    Ok(Some(SessionTimer { interval, refresher, require: supported }))
}

/// The session timer of an INVITE we sent, from its 2xx: used when the peer took it up
/// (Session-Expires in the answer, or `timer` in Supported or Require).
fn timer_of_answer(resp: &Response, cfg: TimerConfig) -> Option<SessionTimer> {
    if cfg.session_expires.is_zero() {
        return None;
    }
    let given = session_expires(&resp.headers);
    let takes_it =
        given.is_some() || lists(&resp.headers, "Supported", "timer") || lists(&resp.headers, "Require", "timer");
    takes_it.then(|| SessionTimer {
        interval: given.map_or(cfg.session_expires, |(s, _)| s).max(cfg.min_se),
        refresher: "uac",
        require: false,
    })
}

/// The headers an initial INVITE carries to offer a session timer with us as refresher.
pub(crate) fn offer_headers(cfg: TimerConfig) -> Vec<Header> {
    if cfg.session_expires.is_zero() {
        return Vec::new();
    }
    vec![
        Header::Supported("timer".into()),
        Header::SessionExpires(format!("{};refresher=uac", cfg.session_expires.as_secs()).into()),
        Header::MinSE(cfg.min_se.as_secs().to_string().into()),
    ]
}

/// State shared by a leg's handles, its event task and its refresh task.
pub(crate) struct LegShared {
    pub(crate) dialog: InviteDialog,
    /// Taken when the leg ends, so that `next()` returns `None` once `Ended` is read.
    events: Mutex<Option<mpsc::UnboundedSender<LegEvent>>>,
    /// We sent the INVITE (and so chose the Call-ID: it decides the glare backoff).
    outgoing: bool,
    local_sdp: Mutex<String>,
    sent: Mutex<Versioner>,
    remote_sdp: Mutex<String>,
    ended: AtomicBool,
    done: CancellationToken,
    timer: Mutex<Option<SessionTimer>>,
    timers: TimerConfig,
    /// One INVITE transaction of ours at a time in a dialog (RFC 3261 §14.1): the engine's
    /// re-INVITE and a session refresh wait for each other.
    invite_lock: tokio::sync::Mutex<()>,
    /// Keeps a REFER's NOTIFYs in order: the "100 Trying" goes out before the outcome.
    notify_lock: Arc<tokio::sync::Mutex<()>>,
}

impl LegShared {
    pub(crate) fn new(
        dialog: InviteDialog,
        outgoing: bool,
        timers: TimerConfig,
        timer: Option<SessionTimer>,
    ) -> (Arc<LegShared>, mpsc::UnboundedReceiver<LegEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(LegShared {
            dialog,
            events: Mutex::new(Some(tx)),
            outgoing,
            local_sdp: Mutex::new(String::new()),
            sent: Mutex::new(Versioner::default()),
            remote_sdp: Mutex::new(String::new()),
            ended: AtomicBool::new(false),
            done: CancellationToken::new(),
            timer: Mutex::new(timer),
            timers,
            invite_lock: tokio::sync::Mutex::new(()),
            notify_lock: Arc::new(tokio::sync::Mutex::new(())),
        });
        (shared, rx)
    }

    fn emit(&self, event: LegEvent) {
        if let Some(tx) = lock(&self.events).as_ref() {
            let _ = tx.send(event);
        }
    }

    /// Ends the leg once: reports `Ended` and stops its tasks. Returns whether this call did it.
    pub(crate) fn finish(&self, status: u16, by: EndedBy) -> bool {
        if self.ended.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.done.cancel();
        if let Some(tx) = lock(&self.events).take() {
            let _ = tx.send(LegEvent::Ended { status, by });
        }
        true
    }

    /// Records `sdp` as the SDP we sent first (our offer, or our answer) and the template for
    /// answering re-offers; returns it as it is to be sent.
    pub(crate) fn first_local_sdp(&self, sdp: &str) -> String {
        *lock(&self.local_sdp) = sdp.to_string();
        lock(&self.sent).stamp(sdp)
    }

    pub(crate) fn set_remote_sdp(&self, sdp: &str) {
        *lock(&self.remote_sdp) = sdp.to_string();
    }

    pub(crate) fn timer(&self) -> Option<SessionTimer> {
        *lock(&self.timer)
    }

    fn interval(&self) -> Option<Duration> {
        lock(&self.timer).map(|t| t.interval)
    }

    fn set_interval(&self, interval: Duration) {
        if let Some(t) = lock(&self.timer).as_mut() {
            t.interval = interval;
        }
    }

    /// A random wait before retrying a re-INVITE refused with 491 (RFC 3261 §14.1): 2.1-4 s for
    /// the owner of the Call-ID, 0-2 s for the other side, so the two do not collide again.
    fn glare_backoff(&self) -> Duration {
        let ms = if self.outgoing {
            rand::thread_rng().gen_range(2100..4000)
        } else {
            rand::thread_rng().gen_range(0..2000)
        };
        Duration::from_millis(ms)
    }

    /// Session-Expires of our requests while a timer runs: we refresh.
    fn refresh_headers(&self) -> Vec<Header> {
        match self.interval() {
            Some(i) => vec![
                Header::Supported("timer".into()),
                Header::SessionExpires(format!("{};refresher=uac", i.as_secs()).into()),
            ],
            None => Vec::new(),
        }
    }

    /// Session-Expires of our 2xx to the peer's re-INVITE or UPDATE while a timer runs: the
    /// peer's interval and refresher echoed (RFC 4028 §9), the interval taken up.
    fn refresh_answer_headers(&self, req: &Request) -> Vec<Header> {
        if self.timer().is_none() {
            return Vec::new();
        }
        let Some((interval, refresher)) = session_expires(&req.headers) else { return Vec::new() };
        let interval = interval.max(self.timers.min_se);
        self.set_interval(interval);
        let mut h = vec![Header::SessionExpires(
            format!("{};refresher={}", interval.as_secs(), refresher.unwrap_or("uac")).into(),
        )];
        if lists(&req.headers, "Supported", "timer") {
            h.push(Header::Require("timer".into()));
        }
        h
    }

    /// One re-INVITE of ours with `body`, retried once after a 491; `wait` bounds how long each
    /// attempt waits for its final answer (rsipstack's own limit, Timer B, is 32 s).
    async fn send_reinvite(&self, body: &str, wait: Option<Duration>) -> Result<Response, SipError> {
        let _one_at_a_time = self.invite_lock.lock().await;
        for attempt in 0..2 {
            let mut headers = vec![Header::ContentType("application/sdp".into())];
            headers.extend(self.refresh_headers());
            let request = self.dialog.reinvite(Some(headers), Some(body.as_bytes().to_vec()));
            let resp = match wait {
                Some(w) => tokio::time::timeout(w, request).await.map_err(|_| SipError::Timeout)?,
                None => request.await,
            }?;
            let Some(resp) = resp else {
                return Err(SipError::Stack("the leg is not established".into()));
            };
            match resp.status_code.code() {
                491 if attempt == 0 => tokio::time::sleep(self.glare_backoff()).await,
                // Our interval is below the peer's minimum: take its Min-SE and ask again.
                422 if attempt == 0 && self.timer().is_some() => match min_se(&resp.headers) {
                    Some(m) => self.set_interval(m.max(self.interval().unwrap_or_default())),
                    None => return Err(SipError::Status(422)),
                },
                200..=299 => {
                    if !resp.body.is_empty() {
                        self.set_remote_sdp(&String::from_utf8_lossy(&resp.body));
                    }
                    return Ok(resp);
                }
                code => return Err(SipError::Status(code)),
            }
        }
        Err(SipError::Status(491))
    }

    /// Answers the peer's re-INVITE or UPDATE; reports a new offer.
    async fn on_reoffer(&self, req: Request, handle: TransactionHandle) {
        let offer = String::from_utf8_lossy(&req.body).into_owned();
        let mut headers = self.refresh_answer_headers(&req);
        if offer.trim().is_empty() {
            // An UPDATE without SDP only refreshes the session; a re-INVITE without one asks for
            // our offer: the SDP we last sent, unchanged (the answer comes in the ACK).
            let body = if req.method == Method::Invite {
                headers.push(Header::ContentType("application/sdp".into()));
                lock(&self.sent).last().map(String::into_bytes)
            } else {
                None
            };
            let _ = handle.respond(StatusCode::OK, Some(headers), body).await;
            return;
        }
        let direction = Direction::of_sdp(&offer);
        let local = lock(&self.local_sdp).clone();
        let answer = lock(&self.sent).stamp(&sdp::with_direction(&local, direction.answer()));
        headers.push(Header::ContentType("application/sdp".into()));
        let _ = handle.respond(StatusCode::OK, Some(headers), Some(answer.into_bytes())).await;
        let previous = std::mem::replace(&mut *lock(&self.remote_sdp), offer.clone());
        if previous != offer {
            self.emit(LegEvent::Reoffer { sdp: offer, direction });
        }
    }

    async fn on_info(&self, req: Request, handle: TransactionHandle) {
        let body = String::from_utf8_lossy(&req.body);
        let content_type = header(&req.headers, "Content-Type").unwrap_or_default();
        if body.trim().is_empty() {
            // Some devices ping with an empty INFO.
            let _ = handle.reply(StatusCode::OK).await;
            return;
        }
        match dtmf_of_info(&content_type, &body) {
            Some(digit) => {
                let _ = handle.reply(StatusCode::OK).await;
                self.emit(LegEvent::Dtmf { digit });
            }
            None => {
                let _ = handle.reply(StatusCode::UnsupportedMediaType).await;
            }
        }
    }

    async fn on_refer(self: &Arc<Self>, req: Request, handle: TransactionHandle) {
        let Some((target, replaces)) = header(&req.headers, "Refer-To").as_deref().and_then(parse_refer_to) else {
            let _ = handle.reply(StatusCode::BadRequest).await;
            return;
        };
        let _ = handle.reply(StatusCode::Accepted).await;
        // Taken before the event goes up, so the engine's outcome NOTIFY waits for this one.
        let order = self.notify_lock.clone().lock_owned().await;
        let leg = self.clone();
        tokio::spawn(async move {
            leg.send_refer_notify(100).await;
            drop(order);
        });
        self.emit(LegEvent::Refer { target, replaces });
    }

    async fn send_refer_notify(&self, status: u16) {
        let code = StatusCode::from(status);
        let state = if status >= 200 { "terminated;reason=noresource" } else { "active;expires=60" };
        let headers = vec![
            Header::Event("refer".into()),
            Header::SubscriptionState(state.into()),
            Header::ContentType("message/sipfrag;version=2.0".into()),
        ];
        let body = format!("SIP/2.0 {code}\r\n").into_bytes();
        match self.dialog.request(Method::Notify, Some(headers), Some(body)).await {
            Ok(Some(r)) if r.status_code.code() < 300 => {}
            Ok(r) => tracing::debug!(status = ?r.map(|r| r.status_code.code()), "REFER NOTIFY refused"),
            Err(e) => tracing::debug!(error = %e, "REFER NOTIFY"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key an INFO carries: `application/dtmf-relay` ("Signal=5\r\nDuration=160") or
/// `application/dtmf` ("5"); some phones send the event number (10 for `*`, 11 for `#`).
pub(crate) fn dtmf_of_info(content_type: &str, body: &str) -> Option<char> {
    let kind = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let value = match kind.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    match value {
        "10" => Some('*'),
        "11" => Some('#'),
        "12" => Some('A'),
        "13" => Some('B'),
        "14" => Some('C'),
        "15" => Some('D'),
        v if v.len() == 1 => {
            let c = v.chars().next()?.to_ascii_uppercase();
            (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')).then_some(c)
        }
        _ => None,
    }
}

/// Refer-To (`"Bob" <sip:200@host;user=phone?Replaces=id%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>`) ->
/// the target's user part and the Replaces it carries.
pub(crate) fn parse_refer_to(value: &str) -> Option<(String, Option<Replaces>)> {
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value),
    }
    .trim();
    let (address, query) = uri.split_once('?').unwrap_or((uri, ""));
    let rest = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|s| address.get(..s.len()).filter(|p| p.eq_ignore_ascii_case(s)).map(|_| &address[s.len()..]))?;
    let target = match rest.split_once('@') {
        Some((user, _)) => user.split(';').next().unwrap_or(user),
        None => rest.split([';', ':']).next().unwrap_or(rest),
    };
    if target.is_empty() {
        return None;
    }
    let replaces = query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case("Replaces").then(|| parse_replaces(&percent_decode(v)))?
    });
    Some((percent_decode(target), replaces))
}

/// `call-id;to-tag=a;from-tag=b` (parameters in any order, others ignored).
fn parse_replaces(v: &str) -> Option<Replaces> {
    let mut parts = v.split(';');
    let call_id = parts.next()?.trim().to_string();
    let (mut to_tag, mut from_tag) = (None, None);
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            match k.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(v.trim().to_string()),
                "from-tag" => from_tag = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    (!call_id.is_empty()).then_some(())?;
    Some(Replaces { call_id, to_tag: to_tag?, from_tag: from_tag? })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A handle on a leg, cloneable and usable from anywhere: hang up, re-INVITE (hold, resume),
/// report a transfer's outcome.
#[derive(Clone)]
pub struct LegControl {
    pub(crate) shared: Arc<LegShared>,
}

impl LegControl {
    /// CANCEL an outgoing leg not answered yet, refuse (480) an incoming one not answered yet,
    /// BYE an answered one.
    pub async fn hangup(&self) {
        let d = &self.shared.dialog;
        let unanswered_incoming = !self.shared.outgoing
            && matches!(d.state(), DialogState::Calling(_) | DialogState::Trying(_) | DialogState::Early(_, _));
        let result = if unanswered_incoming {
            d.reject(Some(StatusCode::TemporarilyUnavailable), None)
        } else {
            d.hangup().await
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "hangup");
        }
    }

    /// Sends a re-INVITE with `sdp` (hold: a=sendonly or a=inactive; resume: a=sendrecv) and
    /// returns the answer SDP; an error for a timeout, a non-2xx answer, or 491 (glare) twice.
    /// The origin version is raised for the caller when the SDP changed.
    pub async fn reinvite(&self, sdp: &str) -> Result<String, SipError> {
        let body = lock(&self.shared.sent).stamp(sdp);
        let resp = self.shared.send_reinvite(&body, None).await?;
        Ok(String::from_utf8_lossy(&resp.body).into_owned())
    }

    /// The SDP used to answer the peer's re-INVITEs (its direction attribute is set to mirror
    /// each offer); set it when the leg is answered or bridged.
    pub fn set_local_sdp(&self, sdp: &str) {
        *lock(&self.shared.local_sdp) = sdp.to_string();
    }

    /// Reports a REFER's outcome to the phone: a NOTIFY with message/sipfrag `SIP/2.0 <status>`,
    /// ending the REFER's subscription when `status` is final (>= 200).
    pub async fn notify_refer(&self, status: u16) {
        let _in_order = self.shared.notify_lock.lock().await;
        self.shared.send_refer_notify(status).await;
    }

    /// The dialog's Call-ID, our tag and the peer's, to match an attended transfer's Replaces.
    pub fn dialog_ids(&self) -> (String, String, String) {
        let id = self.shared.dialog.id();
        (id.call_id, id.local_tag, id.remote_tag)
    }
}

/// How a terminated dialog ends the leg, by our role in it: rsipstack names the parties UAC and
/// UAS of the initial INVITE.
fn ended_by(reason: TerminatedReason, outgoing: bool) -> (u16, EndedBy) {
    let (us, them) = if outgoing { (EndedBy::Local, EndedBy::Remote) } else { (EndedBy::Remote, EndedBy::Local) };
    match reason {
        TerminatedReason::Timeout => (408, EndedBy::Network),
        TerminatedReason::UacCancel => (487, us),
        TerminatedReason::UacBye => (200, us),
        TerminatedReason::UasBye => (200, them),
        TerminatedReason::UacBusy => (486, them),
        TerminatedReason::UasBusy => (486, them),
        TerminatedReason::UasDecline if outgoing => (603, EndedBy::Remote),
        TerminatedReason::UasDecline => (603, EndedBy::Local),
        TerminatedReason::ProxyAuthRequired => (407, them),
        TerminatedReason::ProxyError(c) | TerminatedReason::UasOther(c) => (c.code(), them),
        TerminatedReason::UacOther(c) => (c.code(), us),
    }
}

/// The leg's task: dialog states in, events out, in-dialog requests answered; starts the
/// session timer once the leg is established.
pub(crate) async fn run(shared: Arc<LegShared>, mut states: DialogStateReceiver, dialogs: Arc<DialogLayer>) {
    let (mut rang, mut established) = (false, false);
    while let Some(state) = states.recv().await {
        match state {
            DialogState::Early(_, _) if shared.outgoing && !rang => {
                rang = true;
                shared.emit(LegEvent::Ringing);
            }
            // rsipstack reports Confirmed again after every in-dialog request; only the first
            // is the answer.
            DialogState::Confirmed(_, resp) if !established => {
                established = true;
                if shared.outgoing {
                    let sdp = String::from_utf8_lossy(&resp.body).into_owned();
                    shared.set_remote_sdp(&sdp);
                    *lock(&shared.timer) = timer_of_answer(&resp, shared.timers);
                    shared.emit(LegEvent::Answered { sdp });
                }
                if shared.timer().is_some() {
                    tokio::spawn(refresh(shared.clone()));
                }
            }
            DialogState::Updated(_, req, handle) => shared.on_reoffer(req, handle).await,
            DialogState::Info(_, req, handle) => shared.on_info(req, handle).await,
            DialogState::Refer(_, req, handle) => shared.on_refer(req, handle).await,
            DialogState::Notify(_, _, handle) | DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Message(_, _, handle) | DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
            }
            DialogState::Terminated(id, reason) => {
                dialogs.remove_dialog(&id);
                let (status, by) = ended_by(reason, shared.outgoing);
                shared.finish(status, by);
                break;
            }
            _ => {}
        }
    }
    shared.done.cancel();
}

/// RFC 4028 refresher: a re-INVITE (the SDP last sent, unchanged) at half the interval. A refresh
/// that times out, or is answered 408 or 481, means the peer is gone: the leg ends (408, by the
/// network) and a BYE is sent for good measure. Any other answer proves the peer is alive.
async fn refresh(shared: Arc<LegShared>) {
    loop {
        let Some(interval) = shared.interval() else { return };
        tokio::select! {
            _ = shared.done.cancelled() => return,
            _ = tokio::time::sleep(interval / 2) => {}
        }
        let Some(body) = lock(&shared.sent).last() else { return };
        // The answer must come before the session expires, and Timer B gives up at 32 s anyway.
        let wait = (interval - interval / 2).min(Duration::from_secs(32));
        let outcome = tokio::select! {
            _ = shared.done.cancelled() => return,
            r = shared.send_reinvite(&body, Some(wait)) => r,
        };
        let dead = match &outcome {
            Ok(resp) => {
                if let Some((given, _)) = session_expires(&resp.headers) {
                    shared.set_interval(given.max(shared.timers.min_se));
                }
                false
            }
            Err(SipError::Timeout | SipError::Status(408 | 481) | SipError::Stack(_)) => true,
            Err(SipError::Status(_)) => false,
        };
        if dead {
            tracing::info!(id = %shared.dialog.id(), outcome = ?outcome.err(), "session refresh failed: ending the leg");
            if shared.finish(408, EndedBy::Network) {
                let dialog = shared.dialog.clone();
                tokio::spawn(async move {
                    let _ = dialog.bye().await;
                });
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_from_both_info_bodies() {
        assert_eq!(dtmf_of_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(dtmf_of_info("Application/DTMF-Relay", "signal= #\r\n"), Some('#'));
        assert_eq!(dtmf_of_info("application/dtmf-relay", "Signal=10\r\n"), Some('*'));
        assert_eq!(dtmf_of_info("application/dtmf", "7"), Some('7'));
        assert_eq!(dtmf_of_info("application/dtmf", "b"), Some('B'));
        assert_eq!(dtmf_of_info("application/dtmf", "x"), None);
        assert_eq!(dtmf_of_info("application/media_control+xml", "Signal=5"), None);
    }

    #[test]
    fn refer_to_blind_and_attended() {
        assert_eq!(parse_refer_to("<sip:200@10.0.0.1:5060>"), Some(("200".into(), None)));
        assert_eq!(parse_refer_to("sip:13800138000@carrier;user=phone"), Some(("13800138000".into(), None)));
        assert_eq!(parse_refer_to("\"Bob\" <sips:bob@example.com>;x=1"), Some(("bob".into(), None)));
        let (target, replaces) = parse_refer_to(
            "<sip:201@yunhu?Replaces=abc%40127.0.0.1%3Bto-tag%3Dours%3Bfrom-tag%3Dtheirs&Require=replaces>",
        )
        .unwrap();
        assert_eq!(target, "201");
        assert_eq!(
            replaces,
            Some(Replaces { call_id: "abc@127.0.0.1".into(), to_tag: "ours".into(), from_tag: "theirs".into() })
        );
        let (_, swapped) =
            parse_refer_to("<sip:201@yunhu?Replaces=c%3Bfrom-tag%3Df%3Bearly-only%3Bto-tag%3Dt>").unwrap();
        assert_eq!(swapped, Some(Replaces { call_id: "c".into(), to_tag: "t".into(), from_tag: "f".into() }));
        assert_eq!(parse_refer_to("<http://example.com>"), None);
    }

    fn request(headers: &str) -> Request {
        let text = format!(
            "INVITE sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:1@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    const CFG: TimerConfig =
        TimerConfig { session_expires: Duration::from_secs(1800), min_se: Duration::from_secs(90) };

    #[test]
    fn session_timer_of_an_incoming_invite() {
        assert!(timer_of_request(&request(""), CFG).unwrap().is_none());
        let t = timer_of_request(&request("Supported: replaces, timer\r\n"), CFG).unwrap().unwrap();
        assert_eq!((t.interval.as_secs(), t.refresher, t.require), (1800, "uas", true));
        let t = timer_of_request(&request("k: timer\r\nx: 600;refresher=uac\r\n"), CFG).unwrap().unwrap();
        assert_eq!((t.interval.as_secs(), t.refresher), (600, "uac"));
        let t = timer_of_request(&request("Session-Expires: 7200\r\nMin-SE: 120\r\n"), CFG).unwrap().unwrap();
        assert_eq!((t.interval.as_secs(), t.require), (1800, false));
        assert_eq!(timer_of_request(&request("Session-Expires: 30\r\n"), CFG).unwrap_err().as_secs(), 90);
        let off = TimerConfig { session_expires: Duration::ZERO, ..CFG };
        assert!(timer_of_request(&request("Supported: timer\r\n"), off).unwrap().is_none());
    }
}
