//! `yunhu`: the call center in one binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use yunhu::config::{Config, Overrides};
use yunhu_cc::objects::Kind;
use yunhu_core::SystemClock;

#[derive(Parser)]
#[command(name = "yunhu", version, about = "yunhu (云呼): a self-hosted cloud call center")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Apply this provisioning file before serving.
        #[arg(long, env = "YUNHU_PROVISION")]
        provision: Option<PathBuf>,
    },
    /// Apply a provisioning file (idempotent) and exit.
    Provision {
        /// The TOML file.
        file: PathBuf,
    },
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Administer tenants and their directory directly in the database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Show calls flowing: a demo tenant, simulated agents and a simulated carrier (sipp, real SIP
    /// and RTP on loopback) and a predictive task whose progress is printed until stopped.
    Demo {
        /// Simulated agents.
        #[arg(long, default_value_t = 5)]
        agents: u32,
        /// Mobile numbers the task dials.
        #[arg(long, default_value_t = 200)]
        numbers: u32,
        /// Stop after this many minutes (default: when every number is done, or Ctrl-C).
        #[arg(long)]
        minutes: Option<f64>,
        /// Percent of calls the simulated carrier answers (10 % more are busy, the rest ring out).
        #[arg(long, default_value_t = 30.0)]
        answer_percent: f64,
    },
    /// Run simulations of yunhu's own code.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum SimCommand {
    /// The predictive pacer against the reference model (live answers 30 % after 4-20 s of
    /// ringing, failures after 5-30 s, talk exponential with mean 120 s, 2 s to reach an agent):
    /// occupancy and abandonment per floor size, beside progressive dialing.
    Dialer {
        /// Simulated hours per shift.
        #[arg(long, default_value_t = 8.0)]
        hours: f64,
        /// Seeds per configuration.
        #[arg(long, default_value_t = 5)]
        seeds: u32,
        /// Floor sizes, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![10u32, 25, 50, 100])]
        agents: Vec<u32>,
        /// Abandonment caps in percent, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![3.0f64, 1.0])]
        targets: Vec<f64>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// List tenants.
    Tenants,
    /// Create or update a tenant and everything its spec lists (a `[[tenant]]` table as JSON).
    PutTenant {
        /// The spec, e.g. '{"corp_id":"999999","name":"Third Co"}'.
        #[arg(long)]
        json: String,
    },
    /// Mark a tenant deleted (its data stays).
    DeleteTenant {
        /// 企业号.
        corp_id: String,
    },
    /// List a tenant's objects of one kind (api-clients, teams, queues, staff, caller-ids, scripts,
    /// data-objects, projects) as JSON.
    List {
        /// Object kind.
        kind: String,
        /// 企业号.
        #[arg(long)]
        corp: String,
    },
    /// Create or update one object from its JSON spec (the provisioning keys).
    Put {
        /// Object kind.
        kind: String,
        /// 企业号.
        #[arg(long)]
        corp: String,
        /// The spec, e.g. '{"user_code":"1002","name":"李四","agent_id":"1002","sip_password":"pw12"}'.
        #[arg(long)]
        json: String,
    },
    /// Mark one object deleted.
    Delete {
        /// Object kind.
        kind: String,
        /// Its key (user_code, code, id, number, name or client_id).
        key: String,
        /// 企业号.
        #[arg(long)]
        corp: String,
    },
}

fn kind(name: &str) -> anyhow::Result<Kind> {
    Kind::parse(name).with_context(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown kind {name:?}; known: {}", known.join(", "))
    })
}

fn main() -> anyhow::Result<()> {
    yunhu::memory::tune_allocator();
    let cli = Cli::parse();
    let config = Config::load(&cli.overrides)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(cli, config))
}

async fn run(cli: Cli, mut config: Config) -> anyhow::Result<()> {
    // The demo keeps the terminal for its progress lines and logs to a file instead.
    if !matches!(cli.command, Command::Demo { .. }) {
        yunhu::logging::init(&config.log_format);
    }
    if matches!(cli.command, Command::Demo { .. } | Command::Serve { .. }) {
        yunhu::memory::spawn_releaser();
    }
    match cli.command {
        Command::Demo { agents, numbers, minutes, answer_percent } => {
            let log = yunhu::demo::init_logging(&yunhu::demo::demo_dir(&config), &config.log_format)?;
            tracing::info!(log = %log.display(), "yunhu demo");
            let run_for = match minutes {
                Some(m) if m.is_finite() && m > 0.0 => Some(std::time::Duration::from_secs_f64(m * 60.0)),
                Some(m) => anyhow::bail!("--minutes must be more than 0, not {m}"),
                None => None,
            };
            let opts = yunhu::demo::DemoOptions { agents, numbers, run_for, answer_share: answer_percent / 100.0 };
            yunhu::demo::run(&config, &opts, shutdown_signal()).await?;
        }
        Command::Serve { provision } => {
            config.provision = provision.or(config.provision);
            let running = yunhu::start(&config).await?;
            shutdown_signal().await;
            // A stop drains first: no new calls, live ones finish (up to drain_secs). A second
            // signal does not wait for them: queued events are written and the process ends; the
            // calls still up are recorded at the next start, as after a crash.
            let drain = running.drain(std::time::Duration::from_secs(config.drain_secs));
            tokio::select! {
                _ = drain => {}
                _ = shutdown_signal() => {
                    tracing::warn!("second signal: stopping now without waiting for calls");
                    let flush = running.services.flush_events();
                    if tokio::time::timeout(std::time::Duration::from_secs(2), flush).await.is_err() {
                        tracing::error!("queued call events could not be written in time");
                    }
                    std::process::exit(1);
                }
            }
            running.stop().await;
        }
        Command::Provision { file } => {
            let services = yunhu::open_services(&config, Arc::new(SystemClock)).await?;
            let report = yunhu::provision_file(&services, &file).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Sim(SimCommand::Dialer { hours, seeds, agents, targets }) => {
            let opts =
                yunhu_dialer::sim::SimOptions { hours, seeds, agents, targets_pct: targets, ..Default::default() };
            let report = tokio::task::spawn_blocking(move || yunhu_dialer::sim::report(&opts)).await?;
            println!("{report}");
        }
        Command::Migrate => {
            yunhu::open_services(&config, Arc::new(SystemClock)).await?;
            println!("database is up to date");
        }
        Command::Admin(cmd) => {
            let s = yunhu::open_services(&config, Arc::new(SystemClock)).await?;
            match cmd {
                AdminCommand::Tenants => {
                    for t in s.db().list_tenants().await? {
                        println!("{}\t{}\t{}\t{}", t.corp_id, t.id.0, t.name, t.sip_domain);
                    }
                }
                AdminCommand::PutTenant { json } => {
                    let spec = serde_json::from_str(&json).context("--json is not a tenant spec")?;
                    let doc = yunhu_cc::provision::ProvisionDoc { tenant: vec![spec] };
                    println!("{}", serde_json::to_string_pretty(&s.apply_provisioning(&doc).await?)?);
                }
                AdminCommand::DeleteTenant { corp_id } => s.delete_tenant(&corp_id).await?,
                AdminCommand::List { kind: k, corp } => {
                    let items = s.list_objects(&corp, kind(&k)?).await?;
                    println!("{}", serde_json::to_string_pretty(&items)?);
                }
                AdminCommand::Put { kind: k, corp, json } => {
                    let spec = serde_json::from_str(&json).context("--json is not valid JSON")?;
                    let change = s.put_object(&corp, kind(&k)?, spec).await?;
                    println!("{change:?}");
                }
                AdminCommand::Delete { kind: k, key, corp } => s.delete_object(&corp, kind(&k)?, &key).await?,
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
