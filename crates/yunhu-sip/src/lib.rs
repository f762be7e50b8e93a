//! SIP for yunhu: our facade over rsipstack (pinned `=0.7.14`; nothing outside this crate names
//! it). UDP and TCP transports, a registrar with digest authentication per tenant domain, and
//! call legs for the B2BUA, both ways, with what happens inside a call (hold and resume by
//! re-INVITE, DTMF by INFO, transfer by REFER, RFC 4028 session timers). Knows nothing of HTTP or
//! of the call center's rules.

pub mod digest;
pub mod guard;
mod leg;
pub mod registrar;
mod screen;
mod sdp;

pub use leg::{LegControl, LegEvent, Replaces};

/// The parsers of what peers send that are not public otherwise, for the fuzz targets in
/// `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::sdp::{Versioner, version, with_version};

    /// The key a SIP INFO carries.
    pub fn dtmf_of_info(content_type: &str, body: &str) -> Option<char> {
        crate::leg::dtmf_of_info(content_type, body)
    }

    /// A Refer-To header's target and Replaces.
    pub fn refer_to(value: &str) -> Option<(String, Option<crate::Replaces>)> {
        crate::leg::parse_refer_to(value)
    }
}
pub use sdp::{Direction, with_direction};

use digest::{DigestFailure, NonceKeeper, parse_authorization};
use guard::{AuthGuard, GuardConfig};
use leg::{LegShared, TimerConfig};
use registrar::{Binding, Registrar, StoredBinding};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode, Uri};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::{Endpoint, EndpointBuilder};
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TcpListenerConnection, TransportLayer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Settings of the SIP side.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// How long a nonce may be used.
    pub nonce_ttl: Duration,
    /// Largest registration interval granted, seconds.
    pub max_expires: u32,
    /// RFC 4028 session interval offered and accepted (yunhu refreshes at half of it, and a
    /// refresh that fails ends the call); zero turns session timers off.
    pub session_expires: Duration,
    /// The shortest session interval accepted (Min-SE); RFC 4028 says no less than 90 s, tests
    /// go lower.
    pub min_se: Duration,
    /// Failed digest logins that ban a source or an extension for a while.
    pub auth_guard: GuardConfig,
}

impl SipConfig {
    fn timers(&self) -> TimerConfig {
        TimerConfig { session_expires: self.session_expires, min_se: self.min_se.min(self.session_expires) }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5060".parse().expect("address"),
            nonce_ttl: Duration::from_secs(300),
            max_expires: 3600,
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
            auth_guard: GuardConfig::default(),
        }
    }
}

/// What the registrar needs to know of an extension.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The tenant it belongs to.
    pub tenant: i64,
    /// MD5(user:realm:password).
    pub ha1: String,
}

/// A boxed future, for the directory callback.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the SIP layer looks up extensions; the call center implements it.
pub trait Directory: Send + Sync + 'static {
    /// The credentials of `user` in the tenant whose SIP domain is `domain`.
    fn credentials<'a>(&'a self, domain: &'a str, user: &'a str) -> BoxFuture<'a, Option<Credentials>>;

    /// The tenant and name of the trunk `source` belongs to (its address, or an address on its
    /// allow-list), if any: its calls need no digest.
    fn trunk_of(&self, source: SocketAddr) -> BoxFuture<'_, Option<(i64, String)>>;

    /// Keeps the live bindings of an extension after a REGISTER changed them (none: it has none
    /// left), so that a restart finds them; called before the REGISTER is answered. SIP knows no
    /// storage: the default keeps nothing.
    fn save_bindings<'a>(
        &'a self,
        tenant: i64,
        domain: &'a str,
        user: &'a str,
        bindings: Vec<StoredBinding>,
    ) -> BoxFuture<'a, ()> {
        let _ = (tenant, domain, user, bindings);
        Box::pin(async {})
    }

    /// The bindings kept by [`Directory::save_bindings`], read once as the stack starts.
    fn stored_bindings(&self) -> BoxFuture<'_, Vec<StoredBinding>> {
        Box::pin(async { Vec::new() })
    }
}

/// Things the SIP layer reports upwards.
pub enum SipEvent {
    /// An extension's set of contacts changed; `contacts` is how many it now has.
    Registration {
        /// Tenant.
        tenant: i64,
        /// SIP domain.
        domain: String,
        /// Extension.
        user: String,
        /// Live contacts.
        contacts: usize,
    },
    /// An authenticated extension placed a call; someone must answer or reject it.
    IncomingCall(IncomingCall),
}

/// A call placed by a registered extension.
pub struct IncomingCall {
    /// The caller's tenant.
    pub tenant: i64,
    /// Its SIP domain.
    pub domain: String,
    /// The calling extension (the authenticated user).
    pub caller: String,
    /// What was dialled (Request-URI user).
    pub dialed: String,
    /// The caller's SDP offer.
    pub sdp: String,
    /// The trunk the call came in on; `None` for a call from an extension.
    pub trunk: Option<String>,
    /// The leg, to ring, answer, reject or hang up.
    pub leg: IncomingLeg,
}

/// The server side of an incoming INVITE.
pub struct IncomingLeg {
    shared: Arc<LegShared>,
    events: mpsc::UnboundedReceiver<LegEvent>,
}

impl IncomingLeg {
    /// Sends 180 Ringing.
    pub fn ring(&self) {
        let _ = self.shared.dialog.ringing(None, None);
    }

    /// Answers with 200 OK and `sdp` (also the leg's local SDP from then on, see
    /// [`LegControl::set_local_sdp`]), agreeing to the caller's session timer if it asked.
    pub fn answer(&self, sdp: &str) {
        let body = self.shared.first_local_sdp(sdp);
        let mut headers = vec![Header::ContentType("application/sdp".into())];
        headers.extend(self.shared.timer().map(|t| t.answer_headers()).unwrap_or_default());
        let _ = self.shared.dialog.accept(Some(headers), Some(body.into_bytes()));
    }

    /// Refuses with `status` (e.g. 404, 486).
    pub fn reject(&self, status: u16) {
        let _ = self.shared.dialog.reject(Some(StatusCode::from(status)), None);
    }

    /// The next thing that happened on the leg; `None` after it ended.
    pub async fn next(&mut self) -> Option<LegEvent> {
        self.events.recv().await
    }

    /// A handle on the leg: hang up, re-INVITE, answer transfers.
    pub fn control(&self) -> LegControl {
        LegControl { shared: self.shared.clone() }
    }

    /// A handle that ends the leg (BYE once answered); the same as [`IncomingLeg::control`].
    pub fn hangup_handle(&self) -> LegHangup {
        self.control()
    }
}

/// Why the stack failed.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// From the SIP stack.
    #[error("sip: {0}")]
    Stack(String),
    /// No final answer in time.
    #[error("sip: no answer")]
    Timeout,
    /// The peer answered with this non-2xx status (491 after the glare retry).
    #[error("sip: answered {0}")]
    Status(u16),
}

impl From<rsipstack::sip::Error> for SipError {
    fn from(e: rsipstack::sip::Error) -> Self {
        SipError::Stack(e.to_string())
    }
}

impl From<rsipstack::Error> for SipError {
    fn from(e: rsipstack::Error) -> Self {
        SipError::Stack(e.to_string())
    }
}

/// The request methods counted one by one; the rest count as `other` (bounded labels).
pub const COUNTED_METHODS: [&str; 10] =
    ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "REFER", "NOTIFY", "other"];

/// What the stack counts for health figures: cheap atomics bumped as requests come and go.
#[derive(Default)]
struct Counters {
    /// Requests received (each a server transaction), by [`COUNTED_METHODS`] index.
    received: [std::sync::atomic::AtomicU64; COUNTED_METHODS.len()],
    /// INVITEs sent to start a leg.
    invites_sent: std::sync::atomic::AtomicU64,
}

fn method_index(m: &Method) -> usize {
    let name = m.to_string();
    COUNTED_METHODS.iter().position(|c| *c == name).unwrap_or(COUNTED_METHODS.len() - 1)
}

/// The SIP stack's figures now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipCounts {
    /// Transactions open now (client and server).
    pub transactions_running: u64,
    /// Requests received since the start, by method ([`COUNTED_METHODS`]).
    pub requests_received: Vec<(&'static str, u64)>,
    /// INVITEs sent to start a leg since the start.
    pub invites_sent: u64,
    /// Registered contacts now.
    pub registered_contacts: u64,
}

struct Inner {
    counters: Counters,
    endpoint: Endpoint,
    dialogs: Arc<DialogLayer>,
    registrar: Mutex<Registrar>,
    nonces: NonceKeeper,
    guard: Mutex<AuthGuard>,
    directory: Arc<dyn Directory>,
    events: mpsc::UnboundedSender<SipEvent>,
    config: SipConfig,
    token: CancellationToken,
    /// Set while the node drains: the Retry-After seconds new calls and probes are refused with.
    draining: Mutex<Option<u32>>,
}

/// The running SIP stack.
#[derive(Clone)]
pub struct SipStack {
    inner: Arc<Inner>,
}

impl SipStack {
    /// Binds UDP and TCP on the configured address and starts serving.
    pub async fn start(
        config: SipConfig,
        directory: Arc<dyn Directory>,
    ) -> Result<(SipStack, mpsc::UnboundedReceiver<SipEvent>), SipError> {
        let token = CancellationToken::new();
        let transports = TransportLayer::new(token.child_token());
        // UDP and TCP share the port. With port 0 the kernel picks a UDP port whose TCP twin may be
        // taken: pick again. The TCP listener binds when the endpoint serves; the port is checked
        // first so that a clash is an error, not a log line.
        let mut attempt = 0;
        // UDP is read through `screen`: rsipstack's parser drops or misreads malformed and
        // unusual requests that RFC 3261, RFC 4475 and RFC 5118 want answered or accepted.
        let (udp, listen) = loop {
            let socket = screen::ScreenedUdp::bind(config.listen).map_err(|e| SipError::Stack(e.to_string()))?;
            let udp = UdpConnection::from_socket(Arc::new(socket), None, Some(token.child_token())).await?;
            let listen = udp.get_addr().get_socketaddr()?;
            match std::net::TcpListener::bind(listen) {
                Ok(_) => break (udp, listen),
                Err(_) if config.listen.port() == 0 && attempt < 10 => attempt += 1,
                Err(e) => return Err(SipError::Stack(format!("TCP {listen}: {e}"))),
            }
        };
        transports.add_transport(udp.into());
        let tcp = TcpListenerConnection::new(listen, None).await?;
        transports.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_user_agent(concat!("yunhu/", env!("CARGO_PKG_VERSION")))
            .with_transport_layer(transports)
            .with_cancel_token(token.child_token())
            .build();
        let incoming = endpoint.incoming_transactions()?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let (events, events_rx) = mpsc::unbounded_channel();
        let config = SipConfig { listen, ..config };
        // Phones registered before a restart stay reachable until their registrations expire.
        let mut registrar = Registrar::default();
        let stored = directory.stored_bindings().await;
        for b in &stored {
            registrar.restore(b);
        }
        if !stored.is_empty() {
            tracing::info!(bindings = stored.len(), "registrations restored");
        }
        let inner = Arc::new(Inner {
            counters: Counters::default(),
            endpoint,
            dialogs,
            registrar: Mutex::new(registrar),
            nonces: NonceKeeper::new(config.nonce_ttl),
            guard: Mutex::new(AuthGuard::new(config.auth_guard.clone())),
            directory,
            events,
            config,
            token,
            draining: Mutex::new(None),
        });
        let serve = inner.endpoint.inner.clone();
        tokio::spawn(async move {
            let _ = serve.serve().await;
        });
        tokio::spawn(serve_incoming(inner.clone(), incoming));
        tracing::info!(%listen, "SIP listening on UDP and TCP");
        Ok((SipStack { inner }, events_rx))
    }

    /// Where SIP listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.config.listen
    }

    /// What the stack has done and has open now, for health figures.
    pub fn counts(&self) -> SipCounts {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.inner.counters;
        SipCounts {
            transactions_running: self.inner.endpoint.inner.get_stats().running_transactions as u64,
            requests_received: COUNTED_METHODS.iter().zip(&c.received).map(|(m, n)| (*m, n.load(Relaxed))).collect(),
            invites_sent: c.invites_sent.load(Relaxed),
            registered_contacts: self.inner.registrar.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
        }
    }

    /// The live contacts of an extension.
    pub fn bindings(&self, domain: &str, user: &str) -> Vec<Binding> {
        self.inner.registrar.lock().unwrap_or_else(|e| e.into_inner()).lookup(domain, user)
    }

    /// Starts draining: from now on every new INVITE (not a re-INVITE of a live call) and every
    /// OPTIONS gets 503 with `Retry-After: retry_after` seconds, whoever sends it, so phones,
    /// carriers and a dispatcher in front send their next calls elsewhere while this node's calls
    /// go on. Nothing undoes it: a draining node is on its way out.
    pub fn drain(&self, retry_after: u32) {
        *self.inner.draining.lock().unwrap_or_else(|e| e.into_inner()) = Some(retry_after.max(1));
    }

    /// Whether [`SipStack::drain`] was called.
    pub fn draining(&self) -> bool {
        self.inner.draining.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        self.inner.token.cancel();
    }

    /// Keeps an account registered at an upstream registrar (a carrier) until the stack stops,
    /// refreshing before expiry and backing off on failure; `on_result` hears each outcome
    /// (`Ok(status)` for an answer, `Err` when the registrar could not be reached).
    pub fn register_upstream(
        &self,
        server: SocketAddr,
        username: &str,
        password: &str,
        expires: u32,
        mut on_result: impl FnMut(Result<u16, String>) + Send + 'static,
    ) -> Result<(), SipError> {
        use rsipstack::dialog::authenticate::Credential;
        use rsipstack::dialog::registration::{RefreshOutcome, Registration};
        let credential = Credential {
            username: username.to_string(),
            password: password.to_string(),
            realm: None,
            auth_username: None,
        };
        let mut registration = Registration::new(self.inner.endpoint.inner.clone(), Some(credential));
        let uri = Uri::try_from(format!("sip:{server}").as_str())?;
        let token = self.inner.token.child_token();
        tokio::spawn(async move {
            registration
                .keep_alive(uri, expires, token, |outcome| match outcome {
                    RefreshOutcome::Registered(r) | RefreshOutcome::Rejected(r) => on_result(Ok(r.status_code.code())),
                    RefreshOutcome::Failed(e) => on_result(Err(e.to_string())),
                })
                .await;
        });
        Ok(())
    }

    /// Sends an INVITE and returns the leg, whose events tell how it goes.
    pub fn dial(&self, dial: Dial) -> Result<OutgoingLeg, SipError> {
        let local = self.inner.config.listen;
        let caller = Uri::try_from(format!("sip:{}@{}", dial.from_user, dial.from_domain).as_str())?;
        let callee = Uri::try_from(dial.request_uri.as_str())?;
        let contact = Uri::try_from(format!("sip:{}@{}", dial.from_user, local).as_str())?;
        let timers = self.inner.config.timers();
        let mut headers: Vec<Header> = leg::offer_headers(timers);
        headers.extend(dial.headers.into_iter().map(|(k, v)| Header::Other(k, v)));
        let offer = dial.sdp;
        let option = InviteOption {
            caller_display_name: dial.display_name,
            caller,
            callee,
            destination: Some(if dial.tcp {
                SipAddr::new(rsipstack::sip::Transport::Tcp, dial.destination.into())
            } else {
                SipAddr::from(dial.destination)
            }),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.clone().into_bytes()),
            contact,
            headers: Some(headers),
            ..Default::default()
        };
        let (state_tx, state_rx) = self.inner.dialogs.new_dialog_state_channel();
        let (dialog, join) = self.inner.dialogs.do_invite_async(option, state_tx)?;
        self.inner.counters.invites_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (shared, events) = LegShared::new(dialog, true, timers, None);
        shared.first_local_sdp(&offer);
        let failed = shared.clone();
        tokio::spawn(async move {
            if let Ok(Err(e)) = join.await {
                tracing::debug!(error = %e, "INVITE failed");
                failed.finish(503, EndedBy::Network);
            }
        });
        tokio::spawn(leg::run(shared.clone(), state_rx, self.inner.dialogs.clone()));
        Ok(OutgoingLeg { shared, events })
    }
}

/// An INVITE to send.
#[derive(Debug, Clone)]
pub struct Dial {
    /// Request-URI (a registered Contact, or `sip:number@trunk`).
    pub request_uri: String,
    /// Where to send it (the phone's source address, or the trunk).
    pub destination: SocketAddr,
    /// Over TCP instead of UDP.
    pub tcp: bool,
    /// From user (the caller ID shown).
    pub from_user: String,
    /// From domain.
    pub from_domain: String,
    /// Display name.
    pub display_name: Option<String>,
    /// SDP offer.
    pub sdp: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

/// Who ended a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The far end (BYE, busy, decline, ...).
    Remote,
    /// We did (BYE or CANCEL).
    Local,
    /// No answer from the network (timeout, unreachable).
    Network,
}

/// An outgoing call leg.
pub struct OutgoingLeg {
    shared: Arc<LegShared>,
    events: mpsc::UnboundedReceiver<LegEvent>,
}

impl OutgoingLeg {
    /// The next thing that happened on the leg; `None` after it ended.
    pub async fn next(&mut self) -> Option<LegEvent> {
        self.events.recv().await
    }

    /// A handle on the leg: hang up, re-INVITE, answer transfers.
    pub fn control(&self) -> LegControl {
        LegControl { shared: self.shared.clone() }
    }

    /// A handle that ends the leg (CANCEL before answer, BYE after); the same as
    /// [`OutgoingLeg::control`].
    pub fn hangup_handle(&self) -> LegHangup {
        self.control()
    }
}

/// Ends a leg from anywhere: the older name of [`LegControl`].
pub type LegHangup = LegControl;

async fn serve_incoming(inner: Arc<Inner>, mut incoming: rsipstack::transaction::TransactionReceiver) {
    while let Some(mut tx) = incoming.recv().await {
        inner.counters.received[method_index(&tx.original.method)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inner = inner.clone();
        tokio::spawn(async move {
            let in_dialog = tx.original.to_header().ok().and_then(|t| t.tag().ok().flatten()).is_some();
            if in_dialog {
                match inner.dialogs.match_dialog(&tx) {
                    Some(mut d) => {
                        let _ = d.handle(&mut tx).await;
                    }
                    None => {
                        let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                    }
                }
                return;
            }
            let draining = *inner.draining.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(secs) = draining
                && matches!(tx.original.method, Method::Invite | Method::Options)
            {
                // Refused before any digest work: a draining node takes no new call from anyone,
                // and the answer tells no more than that.
                let retry = Header::RetryAfter(secs.to_string().into());
                if let Err(e) = tx.reply_with(StatusCode::ServiceUnavailable, vec![retry], None).await {
                    tracing::debug!(error = %e, "503 while draining");
                }
                return;
            }
            let result = match tx.original.method {
                Method::Register => register(&inner, &mut tx).await,
                _ => other_request(&inner, &mut tx).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "request handling");
            }
        });
    }
}

fn source_of(tx: &Transaction) -> Option<SocketAddr> {
    tx.connection.as_ref().and_then(|c| c.get_remote_addr()).and_then(|a| a.get_socketaddr().ok())
}

enum AuthOutcome {
    Ok(Credentials, String, String),
    Answered,
}

/// Checks the digest of a request against the extension named in it. Unknown users, wrong
/// passwords, forged or replayed nonces and banned sources all get the same answer (403); a
/// request without credentials for our realm, or in a scheme we do not know, is challenged.
async fn authenticate(inner: &Inner, tx: &mut Transaction, proxy: bool) -> Result<AuthOutcome, SipError> {
    let (user_uri_domain, _) = {
        let uri = if proxy { tx.original.from_header()?.uri()? } else { tx.original.to_header()?.uri()? };
        (uri.host().to_string(), uri.user().map(str::to_string))
    };
    let header = if proxy { "Proxy-Authorization" } else { "Authorization" };
    let realm = user_uri_domain.clone();
    let challenge = |stale: bool| {
        let value = inner.nonces.challenge(&realm, stale);
        if proxy { Header::ProxyAuthenticate(value.into()) } else { Header::WwwAuthenticate(value.into()) }
    };
    let code = if proxy { StatusCode::ProxyAuthenticationRequired } else { StatusCode::Unauthorized };
    // RFC 3261 §22.4 and RFC 4475 `regaut01`: credentials in a scheme we do not know, or for
    // another realm, are no credentials for us, so the answer is a challenge.
    let Some(params) = tx
        .original
        .header_value(header)
        .and_then(|raw| parse_authorization(&raw))
        .filter(|p| p.realm.eq_ignore_ascii_case(&realm))
    else {
        tx.reply_with(code, vec![challenge(false)], None).await?;
        return Ok(AuthOutcome::Answered);
    };
    let source = source_of(tx).map(|s| s.ip());
    let who = format!("{}/{}", realm.to_ascii_lowercase(), params.username);
    let now = std::time::Instant::now();
    let banned = source.is_some_and(|ip| inner.guard.lock().unwrap_or_else(|e| e.into_inner()).banned(ip, &who, now));
    if banned {
        // Refused unchecked, with the answer of a wrong password: the guesser cannot tell.
        tx.reply(StatusCode::Forbidden).await?;
        return Ok(AuthOutcome::Answered);
    }
    let creds = inner.directory.credentials(&realm, &params.username).await;
    // An unknown user is checked against a throwaway HA1 so the work and the answer match a known one.
    let ha1 = creds.as_ref().map(|c| c.ha1.clone()).unwrap_or_else(|| "0".repeat(32));
    let method = tx.original.method.to_string();
    match (inner.nonces.verify(&params, &ha1, &method), creds) {
        (Ok(()), Some(c)) if !c.ha1.is_empty() => {
            if let Some(ip) = source {
                inner.guard.lock().unwrap_or_else(|e| e.into_inner()).succeeded(ip, &who, now);
            }
            Ok(AuthOutcome::Ok(c, realm, params.username))
        }
        (Err(DigestFailure::Stale), Some(_)) => {
            tx.reply_with(code, vec![challenge(true)], None).await?;
            Ok(AuthOutcome::Answered)
        }
        _ => {
            if let Some(ip) = source
                && inner.guard.lock().unwrap_or_else(|e| e.into_inner()).failed(ip, &who, now)
            {
                tracing::warn!(source = %ip, user = %who, "SIP logins failing: banned for a while");
            }
            tx.reply(StatusCode::Forbidden).await?;
            Ok(AuthOutcome::Answered)
        }
    }
}

async fn register(inner: &Inner, tx: &mut Transaction) -> Result<(), SipError> {
    let AuthOutcome::Ok(creds, domain, user) = authenticate(inner, tx, false).await? else { return Ok(()) };
    let source = source_of(tx).ok_or_else(|| SipError::Stack("request without a source".into()))?;
    let tcp = tx.connection.as_ref().is_some_and(|c| c.transport() == rsipstack::sip::Transport::Tcp);
    let default_expires: u32 = tx.original.expires_header().and_then(|e| e.value().trim().parse().ok()).unwrap_or(3600);
    let star = tx.original.header_value("Contact").is_some_and(|c| c.trim() == "*");
    let contacts = if star { Vec::new() } else { tx.original.typed_contact_headers().unwrap_or_default() };
    {
        let mut reg = inner.registrar.lock().unwrap_or_else(|e| e.into_inner());
        if star {
            reg.clear(&domain, &user);
        }
        for c in &contacts {
            let expires = c.expires().unwrap_or(default_expires).min(inner.config.max_expires);
            reg.update(&domain, &user, &c.uri.to_string(), source, tcp, expires);
        }
    }
    let live = inner.registrar.lock().unwrap_or_else(|e| e.into_inner()).lookup(&domain, &user);
    let stored = live.iter().map(|b| StoredBinding::of(&domain, &user, b)).collect();
    inner.directory.save_bindings(creds.tenant, &domain.to_ascii_lowercase(), &user, stored).await;
    let now = std::time::Instant::now();
    let headers: Vec<Header> = live
        .iter()
        .map(|b| {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            Header::Contact(format!("<{}>;expires={left}", b.contact).into())
        })
        .collect();
    tx.reply_with(StatusCode::OK, headers, None).await?;
    let _ = inner.events.send(SipEvent::Registration { tenant: creds.tenant, domain, user, contacts: live.len() });
    Ok(())
}

async fn other_request(inner: &Inner, tx: &mut Transaction) -> Result<(), SipError> {
    let trunk = match (tx.original.method, source_of(tx)) {
        (Method::Invite | Method::Options, Some(src)) => inner.directory.trunk_of(src).await,
        _ => None,
    };
    if trunk.is_some() && tx.original.method == Method::Options {
        // Carriers and proxies ping with OPTIONS to see whether yunhu is up.
        tx.reply(StatusCode::OK).await?;
        return Ok(());
    }
    let (creds, domain, caller, trunk) = match trunk {
        Some((tenant, name)) => {
            let from = tx.original.from_header()?.uri()?;
            let caller = from.user().unwrap_or_default().to_string();
            (Credentials { tenant, ha1: String::new() }, from.host().to_string(), caller, Some(name))
        }
        // Nothing is relayed or answered for a source that has not proven who it is.
        None => match authenticate(inner, tx, true).await? {
            AuthOutcome::Ok(creds, domain, caller) => (creds, domain, caller, None),
            AuthOutcome::Answered => return Ok(()),
        },
    };
    match tx.original.method {
        Method::Options => tx.reply(StatusCode::OK).await?,
        Method::Invite => {
            let timers = inner.config.timers();
            let timer = match leg::timer_of_request(&tx.original, timers) {
                Ok(timer) => timer,
                Err(min) => {
                    let min_se = Header::MinSE(min.as_secs().to_string().into());
                    tx.reply_with(StatusCode::SessionIntervalTooSmall, vec![min_se], None).await?;
                    return Ok(());
                }
            };
            let (state_tx, state_rx) = inner.dialogs.new_dialog_state_channel();
            let contact = Uri::try_from(format!("sip:yunhu@{}", inner.config.listen).as_str())?;
            let mut dialog = inner.dialogs.get_or_create_server_invite(tx, state_tx, None, Some(contact))?;
            let (shared, ev_rx) = LegShared::new(dialog.clone(), false, timers, timer);
            let offer = String::from_utf8_lossy(&tx.original.body).into_owned();
            shared.set_remote_sdp(&offer);
            tokio::spawn(leg::run(shared.clone(), state_rx, inner.dialogs.clone()));
            let call = IncomingCall {
                tenant: creds.tenant,
                domain,
                caller,
                dialed: tx.original.uri.user().unwrap_or_default().to_string(),
                sdp: offer,
                trunk,
                leg: IncomingLeg { shared, events: ev_rx },
            };
            if inner.events.send(SipEvent::IncomingCall(call)).is_err() {
                dialog.reject(Some(StatusCode::TemporarilyUnavailable), None)?;
            }
            dialog.handle(tx).await?;
        }
        _ => tx.reply(StatusCode::NotImplemented).await?,
    }
    Ok(())
}
