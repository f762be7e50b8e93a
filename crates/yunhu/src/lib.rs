//! The yunhu binary's library half: configuration, wiring and the server, so tests can start
//! the real thing in-process.

pub mod config;
pub mod demo;
pub mod logging;
pub mod memory;

use anyhow::Context;
use config::Config;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use yunhu_api::AppState;
use yunhu_cc::Services;
use yunhu_cc::secrets::Sealer;
use yunhu_core::{Clock, SystemClock};
use yunhu_store::Db;

/// Reads a secret kept in the data directory, creating it (mode 0600) the first time.
fn data_secret(dir: &Path, name: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_string());
    }
    let value = make();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut f = options.open(&path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(value.as_bytes())?;
    f.sync_all()?;
    tracing::info!(path = %path.display(), "created {name}");
    Ok(value)
}

/// Opens the store and builds the services for `config`, with time from `clock`.
pub async fn open_services(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Services> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let url = config.database_url();
    let db = Db::open(&url).await.with_context(|| format!("opening database {}", config::redact_url(&url)))?;
    let key = match &config.master_key {
        Some(k) => k.clone(),
        None => data_secret(&config.data_dir, "master.key", Sealer::generate_key)?,
    };
    let sealer = Sealer::from_base64(&key).context("master key must be 32 bytes, base64")?;
    let bus: Arc<dyn yunhu_cc::bus::EventBus> = match &config.nats_url {
        Some(nats) => {
            let bus = yunhu_cc::bus::NatsBus::connect(nats, &config.nats_prefix)
                .await
                .with_context(|| format!("event bus at {}", config::redact_url(nats)))?;
            tracing::info!(url = %config::redact_url(nats), prefix = %config.nats_prefix, "event bus: NATS JetStream");
            Arc::new(bus)
        }
        None => Arc::new(yunhu_cc::bus::LocalBus::default()),
    };
    Ok(Services::with_bus(db, clock, sealer, bus))
}

/// The admin API token: configured, or kept in the data directory.
pub fn admin_token(config: &Config) -> anyhow::Result<String> {
    match &config.admin_token {
        Some(t) => Ok(t.clone()),
        None => data_secret(&config.data_dir, "admin.token", yunhu_cc::secrets::new_stream_id),
    }
}

/// A started server.
pub struct Running {
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// The services behind it.
    pub services: Services,
    /// Where SIP listens, when telephony runs.
    pub sip_addr: Option<SocketAddr>,
    /// The switch, when telephony runs.
    pub switch: Option<yunhu_cc::switch::Switch>,
    /// The outbound dialer, when telephony runs.
    pub dialer: Option<yunhu_cc::dialer::Dialer>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, writes the events still queued, returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
        flush_events(&self.services).await;
    }

    /// The first half of a graceful stop: refuses new calls (SIP INVITE and OPTIONS get 503 with
    /// `Retry-After`, click-to-call is refused, predictive and preview tasks dial no new number)
    /// while HTTP keeps serving, and waits for the live calls to end and the dialer to settle
    /// their outcomes. Calls still up after `limit` are hung up, so each still ends with its
    /// record and a closed recording. [`Running::stop`] then finishes the stop.
    pub async fn drain(&self, limit: std::time::Duration) {
        let Some(switch) = &self.switch else { return };
        // Retry-After tells a phone or a dispatcher how long to keep away: the window this node
        // may still need.
        switch.drain(limit.as_secs().clamp(1, u32::MAX as u64) as u32);
        if let Some(dialer) = &self.dialer {
            dialer.drain();
        }
        let started = tokio::time::Instant::now();
        let mut hung_up = false;
        let mut next_note = started;
        loop {
            let live = switch.live_calls();
            let unsettled = match &self.dialer {
                Some(d) => d.unsettled().await,
                None => 0,
            };
            if live == 0 && unsettled == 0 {
                tracing::info!(secs = started.elapsed().as_secs(), "drained: no call is up");
                return;
            }
            let now = tokio::time::Instant::now();
            if !hung_up && now >= started + limit {
                let n = switch.hang_up_all();
                tracing::warn!(calls = n, limit_secs = limit.as_secs(), "drain limit reached: hanging up the rest");
                hung_up = true;
            }
            // Hung-up calls end within a few seconds; one that does not is rebuilt at next start.
            if hung_up && now >= started + limit + std::time::Duration::from_secs(10) {
                tracing::error!(
                    live,
                    unsettled,
                    "calls did not end after hang-up; their records are rebuilt at the next start"
                );
                return;
            }
            if now >= next_note {
                tracing::info!(live, unsettled, "draining: waiting for calls to end");
                next_note = now + std::time::Duration::from_secs(10);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Runs until the server ends (after `shutdown` resolves).
    pub async fn wait(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        shutdown.await;
        let _ = self.shutdown.send(());
        let served = self.task.await;
        flush_events(&self.services).await;
        served??;
        Ok(())
    }
}

/// The event log's queued progress events, written before the process goes: the records of calls
/// cut by the stop are rebuilt from them on the next start.
async fn flush_events(services: &Services) {
    if let Err(e) = services.flush_events().await {
        tracing::error!(error = %e, "queued call events could not be written at shutdown");
    }
}

/// Starts the server on the system clock.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Starts the server with time from `clock` (tests move it to expire tokens).
pub async fn start_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let services = open_services(config, clock).await?;
    services.set_password_limits(config.password_threads, config.password_queue);
    if let Some(url) = &config.s3_url {
        let settings = yunhu_cc::recording_store::S3Settings {
            url: url.clone(),
            endpoint: config.s3_endpoint.clone(),
            region: config.s3_region.clone(),
            access_key: config.s3_access_key.clone(),
            secret_key: config.s3_secret_key.clone(),
            keep_local: config.s3_keep_local,
        };
        services
            .set_recording_store(yunhu_cc::recording_store::RecordingStore::new(&settings, config.recordings_dir())?);
    }
    if let Some(file) = &config.provision {
        let report = provision_file(&services, file).await?;
        tracing::info!(
            created = report.created.len(),
            updated = report.updated.len(),
            unchanged = report.unchanged,
            "provisioning applied"
        );
    }
    services.set_desk_silence_limit(std::time::Duration::from_secs(config.desk_silence_secs));
    services.agents_ready().await?;
    let switch = if config.sip_listen == "off" {
        None
    } else {
        let listen: SocketAddr = config.sip_listen.parse().context("sip_listen")?;
        let switch_config = yunhu_cc::switch::SwitchConfig {
            sip: yunhu_sip::SipConfig {
                listen,
                auth_guard: yunhu_sip::guard::GuardConfig {
                    source_failures: config.sip_auth_failures_per_source,
                    user_failures: config.sip_auth_failures_per_extension,
                    window: std::time::Duration::from_secs(config.sip_auth_window_secs),
                    ban: std::time::Duration::from_secs(config.sip_auth_ban_secs),
                    ..Default::default()
                },
                ..Default::default()
            },
            rtp_ports: config.rtp_range()?,
            media_ip: listen.ip(),
            recordings_dir: config.recordings_dir(),
            ring_timeout: std::time::Duration::from_secs(config.ring_timeout_secs),
            prompts_dir: config.data_dir.join("prompts"),
            rtp_inactivity: std::time::Duration::from_secs(config.rtp_timeout_secs),
        };
        Some(yunhu_cc::switch::Switch::start(services.clone(), switch_config).await?)
    };
    // After the switch's crash recovery has given interrupted calls their records.
    let sweep = services.clone();
    tokio::spawn(async move {
        match sweep.upload_spooled_recordings().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploaded = n, "recordings left in the spool uploaded"),
            Err(e) => tracing::error!(error = %e, "spooled recordings could not be listed for upload"),
        }
    });
    let sip_addr = switch.as_ref().map(|s| s.sip_addr());
    let dialer = switch
        .as_ref()
        .map(|s| yunhu_cc::dialer::Dialer::start(services.clone(), s.clone(), std::time::Duration::from_millis(500)));
    let state = AppState {
        services: services.clone(),
        admin_token: admin_token(config)?.into(),
        switch: switch.clone(),
        dialer: dialer.clone(),
        recordings_dir: config.recordings_dir(),
        files_dir: config.data_dir.join("numberfiles"),
        metrics_token: config.metrics_token.as_deref().map(Into::into),
    };
    let listener = tokio::net::TcpListener::bind(&config.http_listen)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_listen))?;
    let http_addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = yunhu_api::router(state);
    let task = tokio::spawn(async move {
        // Connection info gives logins the source address their failures are counted by, and lets
        // `/metrics` without a token answer loopback clients only.
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%http_addr, "yunhu HTTP listening");
    Ok(Running { http_addr, services, sip_addr, switch, dialer, shutdown: tx, task })
}

/// Applies a provisioning file.
pub async fn provision_file(services: &Services, file: &Path) -> anyhow::Result<yunhu_cc::provision::ProvisionReport> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = yunhu_cc::provision::ProvisionDoc::from_toml(&text)?;
    Ok(services.apply_provisioning(&doc).await?)
}
