//! Agent desktop fan-out benchmark: starts yunhu in-process (SQLite, no telephony) with a tenant
//! of AGENTS agents, each logged in from its desk, connects one `/agent/monitor` websocket per
//! agent, and changes RATE agents' presence a second (not ready, ready, not ready, ...; each
//! change one event of that agent's feed, one `notice` frame on its desktop) for SECS seconds.
//! Halfway (STORM_AT) every socket is dropped at once while the changes go on, and after OFFLINE
//! seconds every desktop reconnects at once with `&seq=<last seen>`.
//!
//! It prints the time from each change being asked of the services (`Services::set_presence`,
//! which returns once the event is committed) to its frame reaching the desktop, whether every
//! desktop got every event of its feed (read back from the log at the end) exactly once and in
//! order, and how long after the reconnect every desktop had everything up to that moment.
//!
//! `cargo run --release -p yunhu --example desk_load -- [--agents 1000] [--rate 1000] [--secs 30]
//!  [--storm-at 15] [--offline 1] [--dir DIR] [--csv FILE]`
//!
//! `--csv` writes each event's times (asked at, commit, frame arrival, which connection) for a
//! closer look, such as the latency second by second beside the commit's.
//!
//! The server runs on the runtime the binary builds (half the cores); the desktops run on a
//! runtime of their own with one thread, as clients in another process would.

use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use yunhu_core::agent::AgentEventKind;

/// Phases the desktops follow.
const LIVE: u8 = 0;
const DROPPED: u8 = 1;
const RECONNECT: u8 = 2;
const STOP: u8 = 3;

struct Args {
    agents: usize,
    rate: f64,
    secs: f64,
    storm_at: f64,
    offline: f64,
    dir: std::path::PathBuf,
    /// Where to write every event's times (for a closer look), if anywhere.
    csv: Option<std::path::PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        agents: 1000,
        rate: 1000.0,
        secs: 30.0,
        storm_at: f64::NAN,
        offline: 1.0,
        dir: std::env::temp_dir().join(format!("yunhu-desk-load-{}", std::process::id())),
        csv: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.chunks(2);
    for pair in &mut it {
        let [key, value] = pair else { anyhow::bail!("{pair:?}: every option takes a value") };
        match key.as_str() {
            "--agents" => a.agents = value.parse()?,
            "--rate" => a.rate = value.parse()?,
            "--secs" => a.secs = value.parse()?,
            "--storm-at" => a.storm_at = value.parse()?,
            "--offline" => a.offline = value.parse()?,
            "--dir" => a.dir = value.into(),
            "--csv" => a.csv = Some(value.into()),
            other => anyhow::bail!(
                "unknown option {other}; options: --agents N --rate EVENTS_PER_SEC --secs S --storm-at S --offline S --dir DIR --csv FILE"
            ),
        }
    }
    if a.storm_at.is_nan() {
        a.storm_at = a.secs / 2.0;
    }
    anyhow::ensure!(a.agents > 0 && a.rate > 0.0 && a.secs > 0.0, "agents, rate and secs must be positive");
    anyhow::ensure!(a.storm_at + a.offline < a.secs, "the storm (storm-at + offline) must end before secs");
    Ok(a)
}

/// A frame as a desktop saw it.
struct Arrival {
    seq: i64,
    at: Instant,
    /// 0: the first connection; 1: the one after the storm.
    conn: u8,
    snapshot: bool,
}

#[derive(Default)]
struct DeskLog {
    arrivals: Vec<Arrival>,
    /// When each connection was asked for and when its upgrade was answered.
    connects: Vec<(Instant, Instant)>,
    /// What went wrong on the way (failed connects, sockets the server closed).
    errors: Vec<String>,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One desktop: connects, reads frames until the storm, drops its socket, reconnects with the last
/// `seq` it saw when told, and reads until the end.
async fn desk(
    url: String,
    mut phase: watch::Receiver<u8>,
    frames: Arc<AtomicUsize>,
    ready: Arc<AtomicUsize>,
) -> DeskLog {
    let mut log = DeskLog::default();
    let mut last: Option<i64> = None;
    for conn in 0..2u8 {
        if conn == 1 && phase.wait_for(|p| *p >= RECONNECT).await.is_err() {
            break;
        }
        let url = match last {
            Some(seq) => format!("{url}&seq={seq}"),
            None => url.clone(),
        };
        let asked = Instant::now();
        let mut ws: Socket = match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => ws,
            Err(e) => {
                log.errors.push(format!("connection {conn}: {e}"));
                continue;
            }
        };
        log.connects.push((asked, Instant::now()));
        let until = if conn == 0 { DROPPED } else { STOP };
        loop {
            tokio::select! {
                biased;
                _ = phase.wait_for(|p| *p >= until) => break,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        let at = Instant::now();
                        let v: serde_json::Value = match serde_json::from_str(&text) {
                            Ok(v) => v,
                            Err(e) => {
                                log.errors.push(format!("frame {text}: {e}"));
                                continue;
                            }
                        };
                        let Some(seq) = v["seq"].as_i64() else {
                            log.errors.push(format!("frame without seq: {text}"));
                            continue;
                        };
                        let snapshot = v["snapshot"] == true;
                        if !snapshot {
                            frames.fetch_add(1, Ordering::Relaxed);
                        } else if conn == 0 {
                            ready.fetch_add(1, Ordering::Relaxed);
                        }
                        last = Some(last.map_or(seq, |l| l.max(seq)));
                        log.arrivals.push(Arrival { seq, at, conn, snapshot });
                    }
                    Some(Ok(_)) => {}
                    other => {
                        log.errors.push(format!("connection {conn} ended by the server: {other:?}"));
                        break;
                    }
                },
            }
        }
        // Dropped, not closed: the socket just goes, as when a network or a browser fails.
        drop(ws);
    }
    log
}

/// One agent's presence changes, each at its slot: the `k`-th at `start + (k * agents + i) / rate`.
/// They are sequential, so the agent's events are in the log in the order asked. Returns when
/// each was asked and when it returned (committed).
async fn agent_load(
    svc: yunhu_cc::Services,
    tenant: yunhu_store::TenantId,
    code: String,
    i: usize,
    a: (usize, f64, f64),
    start: tokio::time::Instant,
) -> (Vec<(Instant, Instant)>, usize) {
    let (agents, rate, secs) = a;
    let mut out = Vec::new();
    let mut failed = 0;
    for k in 0.. {
        let slot = (k * agents + i) as f64 / rate;
        if slot >= secs {
            break;
        }
        tokio::time::sleep_until(start + Duration::from_secs_f64(slot)).await;
        let event =
            if k % 2 == 0 { AgentEventKind::AgentNotReady { reason: "1".into() } } else { AgentEventKind::AgentReady };
        let asked = Instant::now();
        match svc.set_presence(tenant, &code, event).await {
            Ok(()) => out.push((asked, Instant::now())),
            Err(e) => {
                failed += 1;
                tracing::error!(error = %e, "presence change failed");
            }
        }
    }
    (out, failed)
}

/// p50, p99 and max of `samples` in ms.
fn stats(mut samples: Vec<f64>) -> Option<(f64, f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Some((at(0.50), at(0.99), samples[samples.len() - 1]))
}

fn row(name: &str, samples: Vec<f64>) -> Option<(f64, f64, f64)> {
    let n = samples.len();
    let s = stats(samples);
    match s {
        Some((p50, p99, max)) => println!("{name:<40} {n:>8} {p50:>9.2} {p99:>9.2} {max:>9.2}"),
        None => println!("{name:<40} {n:>8} {:>9} {:>9} {:>9}", "-", "-", "-"),
    }
    s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time of this process (user + system) so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of this process's threads so far, by thread name (threads that ended are left out).
fn cpu_by_thread() -> HashMap<String, Duration> {
    // SAFETY: sysconf only reads a configuration value.
    let tick = 1.0 / (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64);
    let mut out: HashMap<String, Duration> = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let (Ok(name), Ok(stat)) =
            (std::fs::read_to_string(task.path().join("comm")), std::fs::read_to_string(task.path().join("stat")))
        else {
            continue;
        };
        // utime and stime are the 14th and 15th fields; the name (2nd, in parentheses) may hold spaces.
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        *out.entry(name.trim().to_string()).or_default() += Duration::from_secs_f64(ticks * tick);
    }
    out
}

/// Two sockets per desktop (its end and the server's) and the database's files.
fn raise_open_files(want: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    yunhu::logging::init("text");
    raise_open_files(2 * a.agents as u64 + 1024);
    // The desktops' own runtime: one thread, beside the server's.
    let clients =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("desktops").enable_all().build()?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(yunhu::config::default_worker_threads())
        .enable_all()
        .build()?
        .block_on(bench(&a, clients.handle().clone()));
    clients.shutdown_background();
    let _ = std::fs::remove_dir_all(&a.dir);
    result
}

async fn bench(a: &Args, clients: tokio::runtime::Handle) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.dir)?;
    let config = yunhu::config::Config {
        data_dir: a.dir.join("data"),
        database_url: None,
        http_listen: "127.0.0.1:0".into(),
        admin_token: Some("bench-admin-token-0123456789".into()),
        master_key: None,
        log_format: "text".into(),
        provision: None,
        sip_listen: "off".into(),
        rtp_ports: "40000-40999".into(),
        ring_timeout_secs: 30,
        rtp_timeout_secs: 60,
        desk_silence_secs: 60,
        worker_threads: yunhu::config::default_worker_threads(),
        ..Default::default()
    };
    let running = yunhu::start(&config).await?;
    let svc = running.services.clone();

    // The tenant and its agents, provisioned as a file would be.
    let setup = Instant::now();
    let mut doc = String::from("[[tenant]]\ncorp_id = \"160016\"\nname = \"Desk load\"\n");
    let codes: Vec<String> = (0..a.agents).map(|i| format!("{}", 20_000 + i)).collect();
    for code in &codes {
        doc.push_str(&format!(
            "\n  [[tenant.staff]]\n  user_code = \"{code}\"\n  name = \"Agent {code}\"\n  agent_id = \"{code}\"\n"
        ));
    }
    svc.apply_provisioning(&yunhu_cc::provision::ProvisionDoc::from_toml(&doc)?).await?;
    let tenant = svc.tenant("160016").await?.id;
    // A desk token each, and each logged in from its desk.
    let mut tokens = Vec::with_capacity(a.agents);
    for chunk in codes.chunks(100) {
        let mut set = tokio::task::JoinSet::new();
        for (n, code) in chunk.iter().enumerate() {
            let (svc, code) = (svc.clone(), code.clone());
            set.spawn(async move {
                let token = svc.desk_token_for(tenant, &code, Duration::from_secs(3600)).await;
                svc.set_presence(tenant, &code, AgentEventKind::AgentLogin { via: "desk".into() }).await?;
                Ok::<_, yunhu_cc::CcError>((n, token?.0))
            });
        }
        let mut got = set.join_all().await.into_iter().collect::<Result<Vec<_>, _>>()?;
        got.sort();
        tokens.extend(got.into_iter().map(|(_, t)| t));
    }
    println!(
        "desk_load: {} agents provisioned, given desk tokens and logged in ({:.1} s)",
        a.agents,
        setup.elapsed().as_secs_f64()
    );

    // Every desktop connects at once.
    let (phase_tx, phase) = watch::channel(LIVE);
    let frames = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(AtomicUsize::new(0));
    let base = format!("ws://{}/agent/monitor?access_token=", running.http_addr);
    let connecting = Instant::now();
    let desks: Vec<_> = tokens
        .iter()
        .map(|t| clients.spawn(desk(format!("{base}{t}"), phase.clone(), frames.clone(), ready.clone())))
        .collect();
    // Every desktop has its snapshot before the load begins.
    let ready_by = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < a.agents && Instant::now() < ready_by {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connected_in = connecting.elapsed();
    anyhow::ensure!(
        ready.load(Ordering::Relaxed) == a.agents,
        "only {} of {} desktops had their snapshot after 60 s",
        ready.load(Ordering::Relaxed),
        a.agents
    );

    // The load, and the storm in its midst.
    let cpu_before = cpu_time();
    let threads_before = cpu_by_thread();
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let load: Vec<_> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            tokio::spawn(agent_load(svc.clone(), tenant, code.clone(), i, (a.agents, a.rate, a.secs), start))
        })
        .collect();
    tokio::time::sleep_until(start + Duration::from_secs_f64(a.storm_at)).await;
    let dropped_at = Instant::now();
    phase_tx.send_replace(DROPPED);
    tokio::time::sleep(Duration::from_secs_f64(a.offline)).await;
    let reconnect_at = Instant::now();
    phase_tx.send_replace(RECONNECT);
    let mut asked = Vec::with_capacity(a.agents);
    let mut failed = 0;
    for l in load {
        let (times, f) = l.await?;
        asked.push(times);
        failed += f;
    }
    let load_took = start.elapsed();
    let generated: usize = asked.iter().map(Vec::len).sum();
    // Whatever is still on its way arrives within a few seconds, or is lost.
    let drain_by = Instant::now() + Duration::from_secs(10);
    while frames.load(Ordering::Relaxed) < generated && Instant::now() < drain_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = cpu_time() - cpu_before;
    let mut threads: Vec<(String, Duration)> = cpu_by_thread()
        .into_iter()
        .map(|(name, t)| {
            let before = threads_before.get(&name).copied().unwrap_or_default();
            (name, t.saturating_sub(before))
        })
        .filter(|(_, t)| !t.is_zero())
        .collect();
    threads.sort_by_key(|t| std::cmp::Reverse(t.1));
    phase_tx.send_replace(STOP);
    let mut logs = Vec::with_capacity(a.agents);
    for d in desks {
        logs.push(d.await?);
    }

    // What each desktop should have had: its feed in the log after its first snapshot.
    let mut expected_total = 0;
    let mut received_total = 0;
    let (mut dups, mut gaps, mut disorder, mut unexpected, mut reconnect_snapshots) = (0, 0, 0, 0, 0);
    let (mut per_desk_min, mut per_desk_max) = (usize::MAX, 0);
    let mut mismatched_counts = 0;
    let (mut steady, mut storm, mut committed, mut after_commit) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut caught_up = Vec::with_capacity(a.agents);
    let mut replayed = 0;
    let mut errors: Vec<String> = Vec::new();
    let mut reconnects = Vec::new();
    let mut first_connects = Vec::new();
    // A frame delivered live before the drop is steady state; so is everything asked once the
    // storm had settled. The rest (from 0.5 s before the drop until every desktop caught up)
    // is the storm's.
    let mut settled_at = reconnect_at;
    let mut per_agent = Vec::with_capacity(a.agents);
    for (i, log) in logs.iter().enumerate() {
        errors.extend(log.errors.iter().map(|e| format!("desktop {}: {e}", codes[i])));
        if let Some(&(asked, open)) = log.connects.first() {
            first_connects.push(ms(open - asked));
        }
        if let Some(&(_, open)) = log.connects.get(1) {
            reconnects.push(ms(open.saturating_duration_since(reconnect_at)));
        }
        let head = log.arrivals.iter().find(|f| f.conn == 0 && f.snapshot).map(|f| f.seq);
        let Some(head) = head else {
            errors.push(format!("desktop {}: no snapshot on connecting", codes[i]));
            per_agent.push(None);
            continue;
        };
        let feed = svc.desk_feed(tenant, &codes[i], head, i64::MAX).await?;
        let expected: Vec<i64> = feed.iter().map(|e| e.id).collect();
        reconnect_snapshots += log.arrivals.iter().filter(|f| f.conn == 1 && f.snapshot).count();
        let got: Vec<&Arrival> = log.arrivals.iter().filter(|f| !f.snapshot).collect();
        expected_total += expected.len();
        received_total += got.len();
        per_desk_min = per_desk_min.min(got.len());
        per_desk_max = per_desk_max.max(got.len());
        let mut first: HashMap<i64, &Arrival> = HashMap::with_capacity(got.len());
        let mut prev = head;
        for f in &got {
            if f.seq <= prev {
                if first.contains_key(&f.seq) {
                    dups += 1;
                } else {
                    disorder += 1;
                }
            }
            prev = prev.max(f.seq);
            first.entry(f.seq).or_insert(*f);
        }
        let expected_set: std::collections::HashSet<i64> = expected.iter().copied().collect();
        unexpected += first.keys().filter(|s| !expected_set.contains(s)).count();
        gaps += expected.iter().filter(|s| !first.contains_key(s)).count();
        // The k-th event of the agent's feed is its k-th change (its only events after login).
        if expected.len() != asked[i].len() {
            mismatched_counts += 1;
        }
        // Caught up: has every event asked before the reconnect.
        let before = asked[i].iter().filter(|(t, _)| *t < reconnect_at).count();
        if before > 0 {
            match expected.get(before - 1).and_then(|id| first.get(id)) {
                Some(f) => {
                    let t = f.at.max(reconnect_at);
                    caught_up.push(ms(t - reconnect_at));
                    settled_at = settled_at.max(t);
                }
                None => caught_up.push(f64::INFINITY),
            }
        }
        replayed +=
            got.iter().filter(|f| f.conn == 1 && asked_before(&expected, &asked[i], f.seq, reconnect_at)).count();
        per_agent
            .push(Some((expected, first.into_iter().map(|(s, f)| (s, (f.at, f.conn))).collect::<HashMap<_, _>>())));
    }
    let storm_from = dropped_at - Duration::from_millis(500);
    let mut csv = String::from("agent,seq,asked_ms,committed_ms,frame_ms,connection\n");
    let t0 = start.into_std();
    for (i, entry) in per_agent.iter().enumerate() {
        let Some((expected, first)) = entry else { continue };
        for (k, id) in expected.iter().enumerate() {
            let Some(&(asked_at, returned)) = asked[i].get(k) else { continue };
            committed.push(ms(returned - asked_at));
            let arrival = first.get(id);
            if a.csv.is_some() {
                csv.push_str(&format!(
                    "{},{id},{:.3},{:.3},{},{}\n",
                    codes[i],
                    ms(asked_at.saturating_duration_since(t0)),
                    ms(returned - asked_at),
                    arrival
                        .map_or(String::new(), |(at, _)| format!("{:.3}", ms(at.saturating_duration_since(asked_at)))),
                    arrival.map_or(String::new(), |(_, c)| c.to_string()),
                ));
            }
            let Some(&(at, _)) = arrival else { continue };
            let latency = ms(at.saturating_duration_since(asked_at));
            if asked_at < storm_from || asked_at > settled_at {
                steady.push(latency);
                // Signed: the bus has the event before the waiter hears of its commit.
                after_commit.push(if at >= returned { ms(at - returned) } else { -ms(returned - at) });
            } else {
                storm.push(latency);
            }
        }
    }

    if let Some(path) = &a.csv {
        std::fs::write(path, csv)?;
    }
    println!(
        "desk_load: {} desktops on /agent/monitor (all connected in {:.2} s; upgrade p50/p99/max {}), \
         {} presence changes a second for {:.0} s: {} asked in {:.2} s ({:.0}/s), {} failed",
        a.agents,
        connected_in.as_secs_f64(),
        fmt3(stats(first_connects)),
        a.rate,
        a.secs,
        generated,
        load_took.as_secs_f64(),
        generated as f64 / load_took.as_secs_f64(),
        failed
    );
    println!("{:<40} {:>8} {:>9} {:>9} {:>9}", "latency (ms)", "events", "p50", "p99", "max");
    let steady_stats = row("append -> frame, steady", steady);
    row("append -> frame, storm window", storm);
    row("  append committed (set_presence)", committed);
    row("  set_presence returned -> frame, steady", after_commit);
    println!(
        "frames: {expected_total} expected, {received_total} received (per desktop {}..{}); \
         duplicates {dups}, gaps {gaps}, out of order {disorder}, not in the feed {unexpected}, \
         snapshots on reconnect {reconnect_snapshots}",
        if per_desk_min == usize::MAX { 0 } else { per_desk_min },
        per_desk_max
    );
    if mismatched_counts > 0 {
        println!(
            "  {mismatched_counts} desktops' feeds hold other events than the changes asked (latency pairs them by order)"
        );
    }
    let settle = stats(caught_up.clone());
    println!(
        "storm: {} sockets dropped at {:.1} s, {:.1} s offline, all reconnected with &seq (upgrade after the \
         reconnect p50/p99/max {} ms); {} frames replayed; caught up after the reconnect p50/p99/max {} ms",
        a.agents,
        a.storm_at,
        a.offline,
        fmt3(stats(reconnects)),
        replayed,
        fmt3(settle),
    );
    println!(
        "cpu: {:.2} s of this process (server and desktops) over {:.1} s of load and the storm; by thread: {}",
        cpu.as_secs_f64(),
        load_took.as_secs_f64(),
        threads.iter().map(|(n, t)| format!("{n} {:.2} s", t.as_secs_f64())).collect::<Vec<_>>().join(", ")
    );
    for e in errors.iter().take(10) {
        println!("  error: {e}");
    }
    if errors.len() > 10 {
        println!("  ... {} errors in all", errors.len());
    }

    let p99 = steady_stats.map_or(f64::INFINITY, |s| s.1);
    let once = dups + gaps + disorder + unexpected + reconnect_snapshots == 0 && errors.is_empty() && failed == 0;
    let settle_ms = settle.map_or(f64::INFINITY, |s| s.2);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("goal: p99 append -> frame under 50 ms: {} ({p99:.1} ms)", verdict(p99 < 50.0));
    println!(
        "goal: every frame exactly once per desktop: {} ({received_total} of {expected_total}, {dups} duplicates, \
         {gaps} gaps, {disorder} out of order)",
        verdict(once && received_total == expected_total)
    );
    println!("goal: storm settled within 5 s: {} ({:.2} s)", verdict(settle_ms < 5000.0), settle_ms / 1e3);
    running.stop().await;
    Ok(())
}

/// Whether the event `seq` of a feed was asked before `t` (so a reconnect at `t` replays it).
fn asked_before(expected: &[i64], asked: &[(Instant, Instant)], seq: i64, t: Instant) -> bool {
    expected.iter().position(|&s| s == seq).and_then(|k| asked.get(k)).is_some_and(|(at, _)| *at < t)
}

fn fmt3(s: Option<(f64, f64, f64)>) -> String {
    s.map_or("-".into(), |(a, b, c)| format!("{a:.0}/{b:.0}/{c:.0}"))
}
