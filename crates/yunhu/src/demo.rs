//! `yunhu demo`: calls flowing on one machine. Starts yunhu on the configured data directory with
//! a demo tenant, simulated agents and a simulated carrier (sipp child processes speaking real SIP
//! and RTP on loopback), runs a predictive task over generated mobile numbers and prints its
//! progress until stopped. The call records and recordings stay in the data directory, where the
//! APIs serve them like any other.

use anyhow::{Context, bail};
use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing_subscriber::fmt::MakeWriter;
use yunhu_cc::outbound::{NumberState, TaskOp, TaskRequest, TaskSettings, TaskStatus};
use yunhu_cc::provision::{ProvisionDoc, TenantSpec};
use yunhu_cc::switch::{CallCommand, PhoneState, Switch};
use yunhu_cc::{Services, Tenant};
use yunhu_core::agent::Presence;
use yunhu_store::calls::CallRecordFilter;

use crate::config::Config;

/// The demo tenant's 企业号.
pub const CORP_ID: &str = "666666";
/// The demo tenant's name.
pub const TENANT_NAME: &str = "Demo Outbound Co";
/// Its open95 client, for the example requests.
pub const API_CLIENT: (&str, &str) = ("demo-outbound", "demo-outbound-secret");
/// Its action-dialect company id and auth code, for the example requests.
pub const ACTION_COMPANY: (i64, &str) = (6, "demo-outbound-auth");
const SIP_DOMAIN: &str = "666666.yunhu";
const CALLER_ID: &str = "66660000";
const PROJECT: &str = "DEMO01";
/// Agents get extensions from here up.
const FIRST_EXTENSION: u32 = 6001;
/// Share of calls the simulated carrier answers busy.
const BUSY_SHARE: f64 = 0.1;
/// How often a progress line is printed, and how often agents are sampled for occupancy.
const PRINT_EVERY: Duration = Duration::from_millis(2500);
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// Registrations last 300 s (register.xml); renewed well before.
const REREGISTER_EVERY: Duration = Duration::from_secs(240);
/// How long stopping waits for calls in progress to settle.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

// The scenarios go into the binary, so the demo runs from any directory.
const CARRIER_XML: &str = include_str!("../../../tests/sipp/demo_carrier.xml");
const AGENT_XML: &str = include_str!("../../../tests/sipp/demo_agent.xml");
const REGISTER_XML: &str = include_str!("../../../tests/sipp/register.xml");
const DIAL_XML: &str = include_str!("../../../tests/sipp/dial.xml");

/// What `yunhu demo` is asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated agents (1-50).
    pub agents: u32,
    /// Customer numbers the task dials (1-10000).
    pub numbers: u32,
    /// Stop after this long; `None`: when every number is done, or on the stop signal.
    pub run_for: Option<Duration>,
    /// Share of calls the simulated carrier answers, 0-0.9 (10 % more are busy).
    pub answer_share: f64,
}

/// Sends the demo's logs to `dir/yunhu.log` (`RUST_LOG` filter, default `info`), numbers masked
/// as everywhere else, so the terminal keeps to the progress lines.
pub fn init_logging(dir: &Path, format: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("yunhu.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,rsipstack=warn"));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(MaskedFile(Mutex::new(file)));
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
    Ok(path)
}

/// The log file, each write masked.
struct MaskedFile(Mutex<std::fs::File>);

/// One write to the log file.
struct MaskedWrite<'a>(&'a Mutex<std::fs::File>);

impl Write for MaskedWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = crate::logging::mask_numbers(&String::from_utf8_lossy(buf));
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<'a> MakeWriter<'a> for MaskedFile {
    type Writer = MaskedWrite<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedWrite(&self.0)
    }
}

/// The demo's working directory: scenarios, sipp error logs, yunhu's log.
pub fn demo_dir(config: &Config) -> PathBuf {
    config.data_dir.join("demo")
}

/// Runs the demo until `stop` resolves, `opts.run_for` passes or every number is done; then
/// ends the calls, stops the simulated peers and the server, and prints a summary.
pub async fn run(
    config: &Config,
    opts: &DemoOptions,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !(1..=50).contains(&opts.agents) {
        bail!("--agents must be 1-50, not {}", opts.agents);
    }
    if !(1..=10_000).contains(&opts.numbers) {
        bail!("--numbers must be 1-10000, not {}", opts.numbers);
    }
    if !(0.0..=1.0 - BUSY_SHARE).contains(&opts.answer_share) {
        bail!("the carrier's answer share must be 0-90 %, not {:.0} %", opts.answer_share * 100.0);
    }
    if config.sip_listen == "off" {
        bail!("the demo needs telephony: sip_listen is \"off\"");
    }
    check_sipp()?;
    // Listen for the stop signal from the start, so a Ctrl-C during setup still cleans up.
    let (stop_tx, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    let dir = demo_dir(config);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in [
        ("demo_carrier.xml", CARRIER_XML),
        ("demo_agent.xml", AGENT_XML),
        ("register.xml", REGISTER_XML),
        ("dial.xml", DIAL_XML),
    ] {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    let mut ports = Ports::new(config.rtp_range()?);
    let running = crate::start(config).await?;
    let mut peers = Peers::new(dir);
    let outcome = demo(config, opts, &running, &mut ports, &mut peers, stopped).await;
    peers.stop_all();
    running.stop().await;
    outcome
}

/// Whether sipp can be run; a clear message when it cannot.
fn check_sipp() -> anyhow::Result<()> {
    let probe =
        Command::new("sipp").arg("-v").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    match probe {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the demo's simulated agents and carrier are sipp processes, and sipp is not installed: \
             run scripts/setup, or install it yourself (Debian/Ubuntu: apt-get install sip-tester)"
        ),
        Err(e) => bail!("cannot run sipp: {e}"),
    }
}

/// What the demo set up and watches.
struct Floor {
    tenant: Tenant,
    task_id: i64,
    task_code: String,
    /// Accounts (= extensions) of the agents.
    agents: Vec<String>,
    http: SocketAddr,
}

async fn demo(
    config: &Config,
    opts: &DemoOptions,
    running: &crate::Running,
    ports: &mut Ports,
    peers: &mut Peers,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let svc = &running.services;
    let sip = running.sip_addr.context("telephony did not start")?;
    let switch = running.switch.clone().context("telephony did not start")?;
    let carrier = SocketAddr::from(([127, 0, 0, 1], ports.take()?));
    let agents: Vec<String> = (0..opts.agents).map(|i| (FIRST_EXTENSION + i).to_string()).collect();
    let doc = ProvisionDoc { tenant: vec![tenant_spec(&agents, carrier)?] };
    svc.apply_provisioning(&doc).await.context("provisioning the demo tenant")?;
    let tenant = svc.tenant(CORP_ID).await?;
    // A demo killed outright leaves its task running; only this run's task should dial.
    for old in svc.running_tasks(tenant.id).await? {
        let _ = svc.change_task(tenant.id, old.id, TaskOp::Stop).await;
    }

    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let answer = format!("{:.3}", opts.answer_share);
    let busy = format!("{:.3}", opts.answer_share + BUSY_SHARE);
    let media = ports.take()?.to_string();
    let carrier_args = [
        "-sf",
        "demo_carrier.xml",
        "-i",
        "127.0.0.1",
        "-p",
        &carrier.port().to_string(),
        "-mp",
        &media,
        "-m",
        "10000000",
        "-set",
        "answer_share",
        &answer,
        "-set",
        "busy_share",
        &busy,
    ];
    peers.spawn("carrier", &carrier_args, &[("GSL_RNG_SEED", &(seed % 1_000_000_007).to_string())])?;
    let mut contacts = Vec::new();
    for ext in &agents {
        let (port, media) = (ports.take()?, ports.take()?);
        let args = ["-sf", "demo_agent.xml", "-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media.to_string()];
        peers.spawn(&format!("agent-{ext}"), &[&args[..], &["-m", "10000000"]].concat(), &[])?;
        contacts.push(port);
    }
    print!("Starting {} simulated agents: registering", agents.len());
    let _ = std::io::stdout().flush();
    for (ext, contact) in agents.iter().zip(&contacts) {
        let port = ports.take()?;
        peers.run_once(&format!("register-{ext}"), &register_args(sip, ext, port, *contact)).await?;
    }
    print!(", logging in (000)");
    let _ = std::io::stdout().flush();
    for ext in &agents {
        let (port, media) = (ports.take()?, ports.take()?);
        peers.run_once(&format!("login-{ext}"), &login_args(sip, ext, port, media)).await?;
    }
    println!(".");
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(ext) = agents.iter().find(|a| switch.presence(tenant.id, a) != Presence::Ready) {
        if Instant::now() > deadline {
            bail!("agent {ext} is not ready after logging in with 000; see {}", demo_dir(config).display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (task_id, task_code) = start_task(svc, &tenant, &agents, opts.numbers, seed).await?;
    let floor = Floor { tenant, task_id, task_code, agents, http: running.http_addr };
    println!(
        "yunhu demo: tenant {CORP_ID} \"{TENANT_NAME}\", {} agents (extensions {}-{}), predictive task {} \
         (ratio 3) over {} numbers.",
        floor.agents.len(),
        floor.agents[0],
        floor.agents[floor.agents.len() - 1],
        floor.task_code,
        opts.numbers
    );
    println!(
        "  carrier: sipp on {carrier} answers {:.0} % after 4-20 s of ringing (talk: exponential, mean 20 s), \
         {:.0} % busy, the rest ring 5-30 s unanswered",
        opts.answer_share * 100.0,
        BUSY_SHARE * 100.0
    );
    println!(
        "  yunhu: HTTP http://{}, SIP {sip}, data {}, log {}",
        floor.http,
        config.data_dir.display(),
        demo_dir(config).join("yunhu.log").display()
    );
    match opts.run_for {
        Some(d) => println!("  running for {} (Ctrl-C stops sooner)", clock(d)),
        None => println!("  Ctrl-C stops it"),
    }

    let started = Instant::now();
    let why = watch(svc, &switch, &floor, opts.run_for, sip, ports, peers, stopped, started).await?;
    println!("Stopping ({why}): ending calls in progress...");
    let _ = svc.change_task(floor.tenant.id, floor.task_id, TaskOp::Stop).await;
    // Stopping the task has the dialer hang up its dials still ringing (ORIGINATOR_CANCEL), each
    // ending with a call record; calls already answered are ended here as they reach an agent, so
    // they leave a record and a recording too.
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        for code in &floor.agents {
            switch.command(&floor.tenant, code, CallCommand::Hangup);
        }
        if Instant::now() >= deadline || count_state(svc, &floor, NumberState::Dialing).await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last = measure(svc, &switch, &floor).await?;
    summary(config, &floor, &last, started.elapsed(), peers.occupancy());
    Ok(())
}

/// Prints progress until a reason to stop; returns the reason.
#[allow(clippy::too_many_arguments)]
async fn watch(
    svc: &Services,
    switch: &Switch,
    floor: &Floor,
    run_for: Option<Duration>,
    sip: SocketAddr,
    ports: &mut Ports,
    peers: &mut Peers,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    started: Instant,
) -> anyhow::Result<&'static str> {
    let mut last_print = started;
    let mut last_register = started;
    loop {
        tokio::select! {
            _ = stopped.changed() => return Ok("stop requested"),
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
        if *stopped.borrow() {
            return Ok("stop requested");
        }
        peers.check_alive()?;
        let talking = talking_agents(switch, floor).await;
        peers.talk_samples += talking as u64;
        peers.agent_samples += floor.agents.len() as u64;
        if last_register.elapsed() >= REREGISTER_EVERY {
            last_register = Instant::now();
            for ext in &floor.agents {
                let contact = peers.contact_of(ext);
                let args = register_args(sip, ext, ports.take()?, contact);
                peers.spawn_background(&format!("register-{ext}"), &args)?;
            }
        }
        if last_print.elapsed() >= PRINT_EVERY {
            last_print = Instant::now();
            let m = measure(svc, switch, floor).await?;
            println!("{}", m.line(started.elapsed(), peers.occupancy(), floor.agents.len()));
        }
        if run_for.is_some_and(|d| started.elapsed() >= d) {
            return Ok("time is up");
        }
        let task = svc.task(floor.tenant.id, floor.task_id).await?;
        if TaskStatus::from_code(task.status) == Some(TaskStatus::Ended) {
            return Ok("every number is done");
        }
    }
}

/// The demo tenant: its API credentials, caller ID, project, the trunk to the simulated carrier
/// and one agent per extension (password `demo<ext>`).
fn tenant_spec(agents: &[String], carrier: SocketAddr) -> anyhow::Result<TenantSpec> {
    let staff: Vec<serde_json::Value> = agents
        .iter()
        .map(|ext| {
            serde_json::json!({
                "user_code": ext, "name": format!("坐席{ext}"), "agent_id": ext,
                "sip_password": password(ext), "role": "agent",
            })
        })
        .collect();
    let spec = serde_json::json!({
        "corp_id": CORP_ID,
        "name": TENANT_NAME,
        "api_client": [{"client_id": API_CLIENT.0, "client_secret": API_CLIENT.1, "scopes": ["read", "write"]}],
        "action": {"company_id": ACTION_COMPANY.0, "auth": ACTION_COMPANY.1},
        "caller_id": [{"number": CALLER_ID}],
        "project": [{"code": PROJECT, "name": "演示预测外呼"}],
        "trunk": [{"name": "simulated-carrier", "address": carrier.to_string(), "transport": "udp", "caller_id": CALLER_ID}],
        "staff": staff,
    });
    serde_json::from_value(spec).context("the demo tenant's spec")
}

fn password(ext: &str) -> String {
    format!("demo{ext}")
}

/// sipp arguments for extension `ext` with `scenario`, once, from `port`, with digest auth.
fn extension_args(sip: SocketAddr, ext: &str, scenario: &str, port: u16) -> Vec<String> {
    let args = [
        &sip.to_string() as &str,
        "-sf",
        scenario,
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-au",
        ext,
        "-ap",
        &password(ext),
        "-key",
        "user",
        ext,
        "-key",
        "domain",
        SIP_DOMAIN,
    ];
    args.iter().map(|a| a.to_string()).collect()
}

/// Registers `ext` with its phone (the answering sipp) at `contact`.
fn register_args(sip: SocketAddr, ext: &str, port: u16, contact: u16) -> Vec<String> {
    let mut args = extension_args(sip, ext, "register.xml", port);
    args.extend(["-key".into(), "contact_port".into(), contact.to_string()]);
    args
}

/// Logs `ext` in by dialing the feature code 000.
fn login_args(sip: SocketAddr, ext: &str, port: u16, media: u16) -> Vec<String> {
    let mut args = extension_args(sip, ext, "dial.xml", port);
    args.extend(["-mp".into(), media.to_string(), "-key".into(), "dialed".into(), "000".into()]);
    args
}

/// Creates and starts the predictive task with `n` generated mobile numbers and every agent as a
/// member; returns its id and code.
async fn start_task(
    svc: &Services,
    tenant: &Tenant,
    agents: &[String],
    n: u32,
    seed: u64,
) -> anyhow::Result<(i64, String)> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let code = format!("DEMO{secs}");
    let req = TaskRequest {
        code: code.clone(),
        project: PROJECT.into(),
        create_type: "input".into(),
        settings: TaskSettings {
            name: format!("演示外呼 {code}"),
            caller_id: CALLER_ID.into(),
            time_from: "00:00".into(),
            time_to: "23:59".into(),
            data_object: String::new(),
            call_type: 0,
            ratio: 3,
            idle_time: 8000,
            script: String::new(),
            remark: "yunhu demo".into(),
        },
    };
    let numbers: Vec<(String, String)> = mobiles(n as usize, seed).into_iter().map(|m| (m, String::new())).collect();
    let task = svc.create_task(tenant.id, &req, &numbers).await.context("creating the demo task")?;
    svc.add_members(tenant.id, &task.queue_code, task.queue_id, agents).await.context("adding the agents")?;
    svc.change_task(tenant.id, task.id, TaskOp::Start).await.context("starting the demo task")?;
    Ok((task.id, code))
}

/// `n` distinct made-up mainland mobile numbers (11 digits, 13x-19x).
fn mobiles(n: usize, seed: u64) -> Vec<String> {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64: plenty for made-up numbers.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = next();
        let prefix = ["13", "15", "17", "18", "19"][(r % 5) as usize];
        let number = format!("{prefix}{:09}", (r >> 8) % 1_000_000_000);
        if seen.insert(number.clone()) {
            out.push(number);
        }
    }
    out
}

/// Agents whose phone is in a call now.
async fn talking_agents(switch: &Switch, floor: &Floor) -> usize {
    let mut n = 0;
    for code in &floor.agents {
        if let Ok((_, PhoneState::InCall { .. })) = switch.phone_state(&floor.tenant, code).await {
            n += 1;
        }
    }
    n
}

async fn count_state(svc: &Services, floor: &Floor, state: NumberState) -> anyhow::Result<i64> {
    let counts = svc.db().number_state_counts(floor.tenant.id, floor.task_id).await?;
    Ok(counts.iter().filter(|(s, _)| *s == state).map(|(_, n)| n).sum())
}

/// The task's numbers so far.
#[derive(Debug, Default)]
struct Measure {
    /// Calls that ended (one call record each).
    ended: i64,
    /// Numbers being dialed now: calls ringing, waiting for an agent or talking.
    live: i64,
    /// Ended calls the customer answered, and calls being talked now.
    answered: i64,
    /// Ended calls that reached an agent, and calls being talked now.
    connected: i64,
    /// Answered, no agent free in time: the customer heard who called and the call ended.
    abandoned: i64,
    /// Agents talking now.
    talking: usize,
    /// Numbers waiting to be dialed (first time or again).
    left: i64,
    /// Talk seconds of the ended calls.
    talk_secs: i64,
    /// Some recordings of ended connected calls: (call id, file relative to the recordings).
    recordings: Vec<(String, String)>,
    recorded: usize,
}

impl Measure {
    fn line(&self, elapsed: Duration, occupancy: f64, agents: usize) -> String {
        format!(
            "[{}] calls {} placed, {} live | answered {}, connected {}, abandoned {} ({:.1} %) | \
             occupancy {:.0} %, talking {}/{} | numbers left {}",
            clock(elapsed),
            self.ended + self.live,
            self.live,
            self.answered,
            self.connected,
            self.abandoned,
            self.abandonment_pct(),
            occupancy * 100.0,
            self.talking,
            agents,
            self.left
        )
    }

    fn abandonment_pct(&self) -> f64 {
        if self.answered == 0 { 0.0 } else { self.abandoned as f64 * 100.0 / self.answered as f64 }
    }
}

async fn measure(svc: &Services, switch: &Switch, floor: &Floor) -> anyhow::Result<Measure> {
    let counts = svc.db().number_state_counts(floor.tenant.id, floor.task_id).await?;
    let of = |state: NumberState| counts.iter().filter(|(s, _)| *s == state).map(|(_, n)| n).sum::<i64>();
    let mut m = Measure { live: of(NumberState::Dialing), left: of(NumberState::Pending), ..Default::default() };
    // The demo tenant is the demo's own, and its records of this task are the ones to count.
    let filter = CallRecordFilter { ascending: true, ..Default::default() };
    let records = svc.db().list_call_records(floor.tenant.id, &filter, i64::from(u32::MAX)).await?;
    for r in records.iter().filter(|r| r.record.task_id == floor.task_code) {
        m.ended += 1;
        if r.record.customer_leg.answer.is_some() {
            m.answered += 1;
            if r.record.connected() {
                m.connected += 1;
                m.talk_secs += r.record.talk_secs;
                if !r.record.recording.is_empty() {
                    m.recorded += 1;
                    if m.recordings.len() < 3 {
                        m.recordings.push((r.call_id.clone(), r.record.recording.clone()));
                    }
                }
            } else {
                m.abandoned += 1;
            }
        }
    }
    m.talking = talking_agents(switch, floor).await;
    m.answered += m.talking as i64;
    m.connected += m.talking as i64;
    Ok(m)
}

fn summary(config: &Config, floor: &Floor, m: &Measure, elapsed: Duration, occupancy: f64) {
    println!();
    println!(
        "Summary after {}: {} calls ended, {} answered, {} connected to an agent ({} of talk), {} abandoned \
         ({:.1} % of answers), agent occupancy {:.0} %; {} numbers left.",
        clock(elapsed),
        m.ended,
        m.answered,
        m.connected,
        clock(Duration::from_secs(m.talk_secs.max(0) as u64)),
        m.abandoned,
        m.abandonment_pct(),
        occupancy * 100.0,
        m.left
    );
    if m.live > 0 {
        // Only a carrier that never answered the cancel leaves a call open this long; the event
        // log holds it, and the next start of yunhu on this data completes its record.
        println!(
            "Calls not settled by the end ({}): their records are completed the next time yunhu starts on this data.",
            m.live
        );
    }
    let recordings = config.recordings_dir();
    println!(
        "Call records of task {} and {} recordings stay in {} (recordings under {}).",
        floor.task_code,
        m.recorded,
        config.data_dir.display(),
        recordings.join(CORP_ID).display()
    );
    if let Some((_, file)) = m.recordings.first() {
        println!("  e.g. {}", recordings.join(file).display());
    }
    // The addresses of a later `yunhu serve` on this configuration; this run's when it took a free port.
    let host = if config.http_listen.ends_with(":0") { floor.http.to_string() } else { config.http_listen.clone() };
    let uniqueid = m.recordings.first().map(|(id, _)| id.as_str()).unwrap_or("<call id>");
    let data_dir = config.data_dir.display();
    println!();
    println!("See them through the APIs while yunhu serves this data (yunhu --data-dir {data_dir} serve):");
    println!(
        "  TOKEN=$(curl -s -d 'client_id={}&client_secret={}&grant_type=client_credentials&scope=read,write' \\\n    \
         http://{host}/oauth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')",
        API_CLIENT.0, API_CLIENT.1
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $TOKEN\" 'http://{host}/callHistory/pageSearchCallHistory?pageSize=5'"
    );
    println!("  curl -s -H \"Authorization: Bearer $TOKEN\" 'http://{host}/record/pageSearch4Record?pageSize=5'");
    println!(
        "  curl -s 'http://{host}/action?companyid={}&auth={}&action=GetCDRList&Limit=5'",
        ACTION_COMPANY.0, ACTION_COMPANY.1
    );
    println!(
        "  curl -s 'http://{host}/action?companyid={}&auth={}&action=GetRecord&uniqueid={uniqueid}'",
        ACTION_COMPANY.0, ACTION_COMPANY.1
    );
}

/// `m:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// Where the simulated phones' ports are looked for.
const FIRST_PORT: u16 = 40_000;
const LAST_PORT: u16 = 65_000;

/// Free loopback ports for sipp, outside yunhu's RTP range.
struct Ports {
    next: u16,
    rtp: (u16, u16),
}

impl Ports {
    fn new(rtp: (u16, u16)) -> Ports {
        // Where the search starts is spread by process id, so two demos rarely race for a port.
        Ports { next: FIRST_PORT + (std::process::id() % 500) as u16 * 8, rtp }
    }

    /// A port with the three above it free too (sipp binds RTP, RTCP and video next to its media
    /// port), on UDP, and the port itself on TCP.
    fn take(&mut self) -> anyhow::Result<u16> {
        // Registrations are renewed from fresh ports all day long: wrap around, freed ports are
        // found free again.
        for _ in 0..(LAST_PORT - FIRST_PORT) / 4 {
            if self.next >= LAST_PORT {
                self.next = FIRST_PORT;
            }
            let p = self.next;
            self.next += 4;
            if p + 3 >= self.rtp.0 && p <= self.rtp.1 {
                continue;
            }
            let free = (p..p + 4).all(|q| std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok())
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
            if free {
                return Ok(p);
            }
        }
        bail!("no free loopback ports left for the simulated phones")
    }
}

/// A sipp child process.
struct Peer {
    name: String,
    child: Child,
    log: PathBuf,
    /// Its SIP port, for the phones agents register.
    port: Option<u16>,
}

/// The sipp processes of the demo; killed when dropped.
struct Peers {
    dir: PathBuf,
    children: Vec<Peer>,
    /// Background registrations under way.
    background: Vec<Peer>,
    talk_samples: u64,
    agent_samples: u64,
}

impl Peers {
    fn new(dir: PathBuf) -> Peers {
        Peers { dir, children: Vec::new(), background: Vec::new(), talk_samples: 0, agent_samples: 0 }
    }

    fn command(&self, name: &str, args: &[String]) -> (Command, PathBuf) {
        let log = self.dir.join(format!("{name}.errors.log"));
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new("sipp");
        cmd.current_dir(&self.dir)
            .args(args)
            .args(["-nostdin", "-trace_err", "-error_file"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Their own process group: Ctrl-C in the terminal reaches the demo, which ends the calls
        // first and then stops them.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        (cmd, log)
    }

    /// Starts a long-running peer.
    fn spawn(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (mut cmd, log) = self.command(name, &args);
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().context("starting sipp")?;
        let port = args.iter().position(|a| a == "-p").and_then(|i| args.get(i + 1)).and_then(|p| p.parse().ok());
        self.children.push(Peer { name: name.into(), child, log, port });
        Ok(())
    }

    /// Runs a one-call peer (registration, login) to its end.
    async fn run_once(&mut self, name: &str, args: &[String]) -> anyhow::Result<()> {
        let (mut cmd, log) = self.command(name, args);
        let mut child = cmd.spawn().context("starting sipp")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("sipp {name} did not finish in 20 s; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !status.success() {
            bail!("sipp {name} failed ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default().trim());
        }
        Ok(())
    }

    /// Starts a one-call peer and leaves it; it is reaped later.
    fn spawn_background(&mut self, name: &str, args: &[String]) -> anyhow::Result<()> {
        let (mut cmd, log) = self.command(name, args);
        let child = cmd.spawn().context("starting sipp")?;
        self.background.push(Peer { name: name.into(), child, log, port: None });
        Ok(())
    }

    /// The SIP port of `ext`'s phone.
    fn contact_of(&self, ext: &str) -> u16 {
        let name = format!("agent-{ext}");
        self.children.iter().find(|p| p.name == name).and_then(|p| p.port).unwrap_or_default()
    }

    /// Fails when a long-running peer has exited or a registration failed.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.children {
            if let Some(status) = p.child.try_wait()? {
                bail!("sipp {} exited ({status}); see {}", p.name, p.log.display());
            }
        }
        let mut failed = None;
        self.background.retain_mut(|p| match p.child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                if !status.success() {
                    failed = Some(format!("sipp {} failed ({status}); see {}", p.name, p.log.display()));
                }
                false
            }
            Err(_) => false,
        });
        if let Some(why) = failed {
            bail!(why);
        }
        Ok(())
    }

    /// Talking agents over logged-in agents, sampled through the run.
    fn occupancy(&self) -> f64 {
        if self.agent_samples == 0 { 0.0 } else { self.talk_samples as f64 / self.agent_samples as f64 }
    }

    fn stop_all(&mut self) {
        for p in self.children.iter_mut().chain(self.background.iter_mut()) {
            let _ = p.child.kill();
            let _: std::io::Result<ExitStatus> = p.child.wait();
        }
        self.children.clear();
        self.background.clear();
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_mobiles() {
        let n = mobiles(500, 42);
        assert_eq!(n.iter().collect::<HashSet<_>>().len(), 500);
        assert!(n.iter().all(|m| m.len() == 11 && m.starts_with('1') && m.chars().all(|c| c.is_ascii_digit())));
        assert_eq!(mobiles(5, 7), mobiles(5, 7));
    }

    #[test]
    fn the_tenant_spec_is_valid() {
        let spec = tenant_spec(&["6001".into(), "6002".into()], "127.0.0.1:41000".parse().unwrap()).unwrap();
        assert_eq!((spec.corp_id.as_str(), spec.staff.len(), spec.trunk.len()), (CORP_ID, 2, 1));
    }

    #[test]
    fn ports_stay_out_of_the_rtp_range() {
        let mut ports = Ports { next: 40_990, rtp: (41_000, 41_100) };
        for _ in 0..5 {
            let p = ports.take().unwrap();
            assert!(p + 3 < 41_000 || p > 41_100, "{p}");
        }
        let mut ports = Ports { next: LAST_PORT - 4, rtp: (20_000, 29_999) };
        ports.take().unwrap();
        assert!(ports.take().unwrap() < LAST_PORT - 4, "wraps around");
    }
}
