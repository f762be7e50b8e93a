//! Configuration: built-in defaults, then a TOML file, then `YUNHU_*` environment variables,
//! then command-line flags, each over the one before.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The settings yunhu runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite file, keys and recordings live.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// `nats://HOST:PORT` of the NATS server (JetStream) that spreads committed events between
    /// nodes; none: the in-process bus of a single node.
    pub nats_url: Option<String>,
    /// Names the JetStream stream (`<PREFIX>_EVENTS`) and its subjects (`<prefix>.events.>`):
    /// the nodes of one call center share it.
    pub nats_prefix: String,
    /// HTTP listen address.
    pub http_listen: String,
    /// Admin API token; default kept in `data_dir/admin.token`.
    pub admin_token: Option<String>,
    /// Base64 32-byte key sealing secrets that must be readable; default `data_dir/master.key`.
    pub master_key: Option<String>,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Provisioning file to apply at start.
    pub provision: Option<PathBuf>,
    /// SIP (UDP and TCP) listen address, or `off` for no telephony.
    pub sip_listen: String,
    /// RTP port range, `first-last`.
    pub rtp_ports: String,
    /// Seconds a leg may ring unanswered.
    pub ring_timeout_secs: u64,
    /// Seconds a connected leg may send no RTP before its peer counts as gone and the call ends.
    pub rtp_timeout_secs: u64,
    /// Seconds an agent desktop may stay silent while its agent is idle before the agent is put
    /// not ready ("desktop lost").
    pub desk_silence_secs: u64,
    /// Threads running the async work (SIP, HTTP, the dialer); see [`default_worker_threads`].
    pub worker_threads: usize,
    /// Failed SIP logins from one address, within `sip_auth_window_secs`, that ban it; 0: off.
    pub sip_auth_failures_per_source: u32,
    /// Failed SIP logins to one extension, within the window, that ban guessing it; 0: off.
    pub sip_auth_failures_per_extension: u32,
    /// The window SIP login failures are counted in, seconds.
    pub sip_auth_window_secs: u64,
    /// How long a SIP login ban lasts, seconds.
    pub sip_auth_ban_secs: u64,
    /// Threads that check API and desk passwords (argon2); nothing else runs on them.
    pub password_threads: usize,
    /// Password checks that may wait for those threads; past it, logins are refused as busy.
    pub password_queue: usize,
    /// Bearer token of `/metrics`; without one, `/metrics` answers loopback clients only.
    pub metrics_token: Option<String>,
    /// Seconds a stop (SIGTERM, Ctrl-C) lets live calls finish before hanging up the rest.
    pub drain_secs: u64,
    /// Bucket recordings are uploaded to, `s3://bucket/prefix`; none: they stay on local disk.
    pub s3_url: Option<String>,
    /// S3-compatible server (`http://host:port`); default AWS.
    pub s3_endpoint: Option<String>,
    /// S3 region; default `us-east-1`.
    pub s3_region: Option<String>,
    /// S3 access key id; default the `AWS_*` environment.
    pub s3_access_key: Option<String>,
    /// S3 secret access key.
    pub s3_secret_key: Option<String>,
    /// Keep a recording's local file after it is uploaded (default: delete it).
    pub s3_keep_local: bool,
}

/// Half the cores, at least one: the other half is left to the threads beside the async ones,
/// SQLite's connection threads and the media thread. On two cores one async thread measured
/// cheaper than two: fewer cross-thread wake-ups per SIP message (about 110 context switches
/// a call against 170) and a listing request 0.05-0.1 ms faster at p99.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            nats_url: None,
            nats_prefix: "yunhu".into(),
            http_listen: "127.0.0.1:8080".into(),
            admin_token: None,
            master_key: None,
            log_format: "text".into(),
            provision: None,
            sip_listen: "127.0.0.1:5060".into(),
            rtp_ports: "20000-29999".into(),
            ring_timeout_secs: 30,
            rtp_timeout_secs: 60,
            desk_silence_secs: 60,
            worker_threads: default_worker_threads(),
            sip_auth_failures_per_source: 10,
            sip_auth_failures_per_extension: 30,
            sip_auth_window_secs: 60,
            sip_auth_ban_secs: 600,
            password_threads: 1,
            password_queue: 16,
            metrics_token: None,
            drain_secs: 300,
            s3_url: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key: None,
            s3_secret_key: None,
            s3_keep_local: false,
        }
    }
}

/// The file form: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    nats_url: Option<String>,
    nats_prefix: Option<String>,
    http_listen: Option<String>,
    admin_token: Option<String>,
    master_key: Option<String>,
    log_format: Option<String>,
    provision: Option<PathBuf>,
    sip_listen: Option<String>,
    rtp_ports: Option<String>,
    ring_timeout_secs: Option<u64>,
    rtp_timeout_secs: Option<u64>,
    desk_silence_secs: Option<u64>,
    worker_threads: Option<usize>,
    sip_auth_failures_per_source: Option<u32>,
    sip_auth_failures_per_extension: Option<u32>,
    sip_auth_window_secs: Option<u64>,
    sip_auth_ban_secs: Option<u64>,
    password_threads: Option<usize>,
    password_queue: Option<usize>,
    metrics_token: Option<String>,
    drain_secs: Option<u64>,
    s3_url: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_access_key: Option<String>,
    s3_secret_key: Option<String>,
    s3_keep_local: Option<bool>,
}

/// Overrides from flags or the environment (clap fills these from both).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Configuration file (TOML).
    #[arg(long, env = "YUNHU_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory.
    #[arg(long, env = "YUNHU_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "YUNHU_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// NATS server spreading events between nodes: nats://HOST:PORT (default: none, one node).
    #[arg(long, env = "YUNHU_NATS_URL", global = true, hide_env_values = true)]
    pub nats_url: Option<String>,
    /// Prefix of the NATS stream and subjects the nodes share (default yunhu).
    #[arg(long, env = "YUNHU_NATS_PREFIX", global = true)]
    pub nats_prefix: Option<String>,
    /// HTTP listen address.
    #[arg(long, env = "YUNHU_HTTP_LISTEN", global = true)]
    pub http_listen: Option<String>,
    /// Admin API token.
    #[arg(long, env = "YUNHU_ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Secret-sealing key, base64 of 32 bytes.
    #[arg(long, env = "YUNHU_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "YUNHU_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// SIP listen address (UDP and TCP), or `off`.
    #[arg(long, env = "YUNHU_SIP_LISTEN", global = true)]
    pub sip_listen: Option<String>,
    /// RTP port range, e.g. 20000-29999.
    #[arg(long, env = "YUNHU_RTP_PORTS", global = true)]
    pub rtp_ports: Option<String>,
    /// Seconds a leg may ring unanswered.
    #[arg(long, env = "YUNHU_RING_TIMEOUT_SECS", global = true)]
    pub ring_timeout_secs: Option<u64>,
    /// Seconds a connected leg may send no RTP before the call ends (a peer gone without BYE).
    #[arg(long, env = "YUNHU_RTP_TIMEOUT_SECS", global = true)]
    pub rtp_timeout_secs: Option<u64>,
    /// Seconds an idle agent's desktop may stay silent before the agent is put not ready.
    #[arg(long, env = "YUNHU_DESK_SILENCE_SECS", global = true)]
    pub desk_silence_secs: Option<u64>,
    /// Async worker threads (default: half the cores, at least one).
    #[arg(long, env = "YUNHU_WORKER_THREADS", global = true)]
    pub worker_threads: Option<usize>,
    /// Bearer token of /metrics (without one, loopback clients only).
    #[arg(long, env = "YUNHU_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Seconds a stop lets live calls finish before hanging up the rest.
    #[arg(long, env = "YUNHU_DRAIN_SECS", global = true)]
    pub drain_secs: Option<u64>,
    /// Bucket for recordings, s3://BUCKET/PREFIX (default: local disk only).
    #[arg(long, env = "YUNHU_S3_URL", global = true)]
    pub s3_url: Option<String>,
    /// S3-compatible server, e.g. http://127.0.0.1:9000 (default: AWS).
    #[arg(long, env = "YUNHU_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 region (default us-east-1).
    #[arg(long, env = "YUNHU_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "YUNHU_S3_ACCESS_KEY", global = true, hide_env_values = true)]
    pub s3_access_key: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "YUNHU_S3_SECRET_KEY", global = true, hide_env_values = true)]
    pub s3_secret_key: Option<String>,
    /// Keep recordings on local disk after they are uploaded.
    #[arg(long, env = "YUNHU_S3_KEEP_LOCAL", global = true)]
    pub s3_keep_local: Option<bool>,
}

impl Config {
    /// Builds the configuration from defaults, the file (if any) and the overrides.
    pub fn load(o: &Overrides) -> anyhow::Result<Config> {
        let mut c = Config::default();
        let file = o.config.clone().or_else(|| Path::new("yunhu.toml").exists().then(|| "yunhu.toml".into()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
            let f: FileConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
            c.data_dir = f.data_dir.unwrap_or(c.data_dir);
            c.database_url = f.database_url.or(c.database_url);
            c.nats_url = f.nats_url.or(c.nats_url);
            c.nats_prefix = f.nats_prefix.unwrap_or(c.nats_prefix);
            c.http_listen = f.http_listen.unwrap_or(c.http_listen);
            c.admin_token = f.admin_token.or(c.admin_token);
            c.master_key = f.master_key.or(c.master_key);
            c.log_format = f.log_format.unwrap_or(c.log_format);
            c.provision = f.provision.or(c.provision);
            c.sip_listen = f.sip_listen.unwrap_or(c.sip_listen);
            c.rtp_ports = f.rtp_ports.unwrap_or(c.rtp_ports);
            c.ring_timeout_secs = f.ring_timeout_secs.unwrap_or(c.ring_timeout_secs);
            c.rtp_timeout_secs = f.rtp_timeout_secs.unwrap_or(c.rtp_timeout_secs);
            c.desk_silence_secs = f.desk_silence_secs.unwrap_or(c.desk_silence_secs);
            c.worker_threads = f.worker_threads.unwrap_or(c.worker_threads);
            c.sip_auth_failures_per_source = f.sip_auth_failures_per_source.unwrap_or(c.sip_auth_failures_per_source);
            c.sip_auth_failures_per_extension =
                f.sip_auth_failures_per_extension.unwrap_or(c.sip_auth_failures_per_extension);
            c.sip_auth_window_secs = f.sip_auth_window_secs.unwrap_or(c.sip_auth_window_secs);
            c.sip_auth_ban_secs = f.sip_auth_ban_secs.unwrap_or(c.sip_auth_ban_secs);
            c.password_threads = f.password_threads.unwrap_or(c.password_threads);
            c.password_queue = f.password_queue.unwrap_or(c.password_queue);
            c.metrics_token = f.metrics_token.or(c.metrics_token);
            c.drain_secs = f.drain_secs.unwrap_or(c.drain_secs);
            (c.s3_url, c.s3_endpoint, c.s3_region) = (f.s3_url, f.s3_endpoint, f.s3_region);
            (c.s3_access_key, c.s3_secret_key) = (f.s3_access_key, f.s3_secret_key);
            c.s3_keep_local = f.s3_keep_local.unwrap_or(c.s3_keep_local);
        }
        c.data_dir = o.data_dir.clone().unwrap_or(c.data_dir);
        c.database_url = o.database_url.clone().or(c.database_url);
        c.nats_url = o.nats_url.clone().or(c.nats_url).filter(|u| !u.is_empty());
        c.nats_prefix = o.nats_prefix.clone().unwrap_or(c.nats_prefix);
        c.http_listen = o.http_listen.clone().unwrap_or(c.http_listen);
        c.admin_token = o.admin_token.clone().or(c.admin_token);
        c.master_key = o.master_key.clone().or(c.master_key);
        c.log_format = o.log_format.clone().unwrap_or(c.log_format);
        c.sip_listen = o.sip_listen.clone().unwrap_or(c.sip_listen);
        c.rtp_ports = o.rtp_ports.clone().unwrap_or(c.rtp_ports);
        c.ring_timeout_secs = o.ring_timeout_secs.unwrap_or(c.ring_timeout_secs);
        c.rtp_timeout_secs = o.rtp_timeout_secs.unwrap_or(c.rtp_timeout_secs);
        c.desk_silence_secs = o.desk_silence_secs.unwrap_or(c.desk_silence_secs);
        c.drain_secs = o.drain_secs.unwrap_or(c.drain_secs);
        c.s3_url = o.s3_url.clone().or(c.s3_url).filter(|u| !u.is_empty());
        c.s3_endpoint = o.s3_endpoint.clone().or(c.s3_endpoint);
        c.s3_region = o.s3_region.clone().or(c.s3_region);
        c.s3_access_key = o.s3_access_key.clone().or(c.s3_access_key);
        c.s3_secret_key = o.s3_secret_key.clone().or(c.s3_secret_key);
        c.s3_keep_local = o.s3_keep_local.unwrap_or(c.s3_keep_local);
        if c.desk_silence_secs == 0 {
            anyhow::bail!("desk_silence_secs must be at least 1");
        }
        if c.rtp_timeout_secs == 0 {
            anyhow::bail!("rtp_timeout_secs must be at least 1");
        }
        c.worker_threads = o.worker_threads.unwrap_or(c.worker_threads);
        c.metrics_token = o.metrics_token.clone().or(c.metrics_token).filter(|t| !t.is_empty());
        if c.worker_threads == 0 {
            anyhow::bail!("worker_threads must be at least 1");
        }
        if c.password_threads == 0 {
            anyhow::bail!("password_threads must be at least 1");
        }
        c.rtp_range()?;
        if c.sip_listen != "off" {
            match c.sip_listen.parse::<std::net::SocketAddr>() {
                Err(_) => anyhow::bail!("sip_listen must be ip:port or \"off\", not {:?}", c.sip_listen),
                // The address also goes into SDP, where phones send their audio.
                Ok(a) if a.ip().is_unspecified() => anyhow::bail!(
                    "sip_listen must be the address phones reach (it is announced in SDP), not {}",
                    a.ip()
                ),
                Ok(_) => {}
            }
        }
        if c.log_format != "text" && c.log_format != "json" {
            anyhow::bail!("log_format must be \"text\" or \"json\", not {:?}", c.log_format);
        }
        Ok(c)
    }

    /// The RTP range as numbers.
    pub fn rtp_range(&self) -> anyhow::Result<(u16, u16)> {
        let bad = || anyhow::anyhow!("rtp_ports must be FIRST-LAST with FIRST < LAST, not {:?}", self.rtp_ports);
        let (a, b) = self.rtp_ports.split_once('-').ok_or_else(bad)?;
        let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a >= b || a < 1024 {
            return Err(bad());
        }
        Ok((a, b))
    }

    /// Where recordings live.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir.join("recordings")
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("yunhu.db").display()))
    }
}

/// A URL with its password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("yunhu-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("y.toml");
        std::fs::write(&file, "http_listen = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/yunhu\"\n").unwrap();
        let o = Overrides { config: Some(file.clone()), data_dir: Some("/srv/y".into()), ..Default::default() };
        let c = Config::load(&o).unwrap();
        assert_eq!(c.http_listen, "0.0.0.0:9000");
        assert_eq!(c.data_dir, PathBuf::from("/srv/y"));
        assert_eq!(c.database_url(), "sqlite:///srv/y/yunhu.db?mode=rwc");
        std::fs::write(&file, "http_lisen = \"x\"\n").unwrap();
        assert!(Config::load(&o).unwrap_err().to_string().contains("http_lisen"));
        let c = Config::load(&Overrides::default()).unwrap();
        assert_eq!((c.http_listen.as_str(), c.data_dir.to_str()), ("127.0.0.1:8080", Some("./data")));
    }

    #[test]
    fn worker_threads_default_to_half_the_cores_and_refuse_zero() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(Config::load(&Overrides::default()).unwrap().worker_threads, (cores / 2).max(1));
        let three = Overrides { worker_threads: Some(3), ..Default::default() };
        assert_eq!(Config::load(&three).unwrap().worker_threads, 3);
        let zero = Overrides { worker_threads: Some(0), ..Default::default() };
        assert!(Config::load(&zero).unwrap_err().to_string().contains("worker_threads"));
    }

    #[test]
    fn s3_settings_come_from_the_file_and_flags() {
        let dir = std::env::temp_dir().join(format!("yunhu-config-s3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("y.toml");
        std::fs::write(&file, "s3_url = \"s3://recs/yunhu\"\ns3_region = \"eu-west-1\"\ns3_keep_local = true\n")
            .unwrap();
        let o = Overrides {
            config: Some(file.clone()),
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            ..Default::default()
        };
        let c = Config::load(&o).unwrap();
        assert_eq!(c.s3_url.as_deref(), Some("s3://recs/yunhu"));
        assert_eq!(
            (c.s3_region.as_deref(), c.s3_endpoint.as_deref()),
            (Some("eu-west-1"), Some("http://127.0.0.1:9000"))
        );
        assert!(c.s3_keep_local && c.s3_access_key.is_none());
        let off = Overrides { s3_url: Some(String::new()), ..o };
        assert_eq!(Config::load(&off).unwrap().s3_url, None, "an empty URL means local disk only");
        assert_eq!(Config::load(&Overrides::default()).unwrap().s3_url, None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://postgres@h/db"), "postgres://postgres@h/db");
    }
}
