//! Routing decision cost of the inbound queues: yunhu in-process (SQLite, telephony on loopback)
//! with AGENTS agents registered (one sipp registers them all, one sipp phone answers for all),
//! QUEUED callers waiting in one queue whose agents are all not ready, and CALLERS more arriving
//! at RATE a second into a second queue served by the ready rest. For each of those it reads from
//! the event log the time from the caller entering the queue (`queue_entered`) to the INVITE to
//! the chosen agent's phone (`leg_created` of the agent side), and prints p50/p99/max against the
//! goal (p99 under 20 ms).
//!
//! `cargo run --release -p yunhu --example routing_bench -- [--agents 500] [--queued 100]
//!  [--callers 300] [--rate 10] [--ready 100]`

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use yunhu_core::agent::AgentEventKind;

struct Args {
    agents: usize,
    queued: usize,
    callers: usize,
    rate: usize,
    ready: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { agents: 500, queued: 100, callers: 300, rate: 10, ready: 100 };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).ok_or_else(|| anyhow::anyhow!("{} needs a value", pair[0]))?.parse()?;
        match pair[0].as_str() {
            "--agents" => a.agents = value,
            "--queued" => a.queued = value,
            "--callers" => a.callers = value,
            "--rate" => a.rate = value,
            "--ready" => a.ready = value,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    anyhow::ensure!(a.ready < a.agents, "--ready must leave agents for the waiting queue");
    Ok(a)
}

/// A free UDP port (and the one above it, for sipp's RTCP).
fn free_port() -> u16 {
    loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a port");
        let p = s.local_addr().expect("an address").port();
        if p < 60000 && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// A sipp process, killed and reaped when dropped (the bench may stop early on an error).
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sipp(args: &[String]) -> Peer {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let child = Command::new("sipp")
        .current_dir(dir)
        .args(args)
        .args(["-nostdin", "-timeout", "600s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is installed (Debian package sip-tester)");
    Peer(child)
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(yunhu::config::default_worker_threads())
        .enable_all()
        .build()?
        .block_on(bench(&a))
}

async fn bench(a: &Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("yunhu-routing-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let carrier = free_port();
    let config = yunhu::config::Config {
        data_dir: dir.join("data"),
        http_listen: "127.0.0.1:0".into(),
        admin_token: Some("bench-admin-token-0123456789".into()),
        log_format: "text".into(),
        sip_listen: "127.0.0.1:0".into(),
        rtp_ports: "40000-44999".into(),
        ring_timeout_secs: 30,
        rtp_timeout_secs: 120,
        worker_threads: yunhu::config::default_worker_threads(),
        ..Default::default()
    };
    let running = yunhu::start(&config).await?;
    let svc = running.services.clone();
    let sip = running.sip_addr.ok_or_else(|| anyhow::anyhow!("telephony is off"))?;

    // The tenant: two queues with their numbers, the agents (the first ones serve the waiting
    // queue, the last `ready` the measured one), a carrier that calls from any loopback port.
    let mut doc = format!(
        "[[tenant]]\ncorp_id = \"170017\"\nname = \"Routing\"\n\
         [[tenant.caller_id]]\nnumber = \"4001000001\"\n[[tenant.caller_id]]\nnumber = \"4001000002\"\n\
         [[tenant.trunk]]\nname = \"carrier\"\naddress = \"127.0.0.1:{carrier}\"\ncaller_id = \"4001000001\"\n\
         allow_ips = [\"127.0.0.1\"]\n\
         [[tenant.queue]]\ncode = \"9100\"\nname = \"waiting\"\ncaller_id = \"4001000001\"\ntip_timeout = 10\n\
         [[tenant.queue]]\ncode = \"9200\"\nname = \"measured\"\ncaller_id = \"4001000002\"\ntip_timeout = 10\n"
    );
    let codes: Vec<String> = (0..a.agents).map(|i| format!("{}", 50_000 + i)).collect();
    let measured_from = a.agents - a.ready;
    for (i, code) in codes.iter().enumerate() {
        let queue = if i < measured_from { "9100" } else { "9200" };
        doc.push_str(&format!(
            "[[tenant.staff]]\nuser_code = \"{code}\"\nname = \"Agent {code}\"\nagent_id = \"{code}\"\n\
             sip_password = \"pw-{code}\"\nqueues = [\"{queue}\"]\n"
        ));
    }
    svc.apply_provisioning(&yunhu_cc::provision::ProvisionDoc::from_toml(&doc)?).await?;
    let tenant = svc.tenant("170017").await?.id;

    // One sipp registers every agent with one Contact port; one sipp phone there answers for all.
    let phone = free_port();
    let users = dir.join("users.csv");
    let mut csv = String::from("SEQUENTIAL\n");
    for code in &codes {
        // The digest keyword comes whole from the file: sipp does not fill a field inside it.
        csv.push_str(&format!("{code};[authentication username={code} password=pw-{code}];\n"));
    }
    std::fs::write(&users, csv)?;
    let n = a.agents.to_string();
    let mut reg = sipp(&strings(&[
        &sip.to_string(),
        "-sf",
        "bench/sipp/register_many.xml",
        "-inf",
        users.to_str().unwrap_or_default(),
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-m",
        &n,
        "-r",
        "200",
        "-key",
        "domain",
        "170017.yunhu",
        "-key",
        "contact_port",
        &phone.to_string(),
    ]));
    anyhow::ensure!(reg.0.wait()?.success(), "every agent registered");
    let agents_phone = sipp(&strings(&[
        "-sf",
        "tests/sipp/answer_then_bye.xml",
        "-i",
        "127.0.0.1",
        "-p",
        &phone.to_string(),
        "-mp",
        &free_port().to_string(),
        "-m",
        "1000000",
        "-l",
        "10000",
        "-d",
        "100",
    ]));
    for (i, code) in codes.iter().enumerate() {
        svc.set_presence(tenant, code, AgentEventKind::AgentLogin { via: "api".into() }).await?;
        if i < measured_from {
            svc.set_presence(tenant, code, AgentEventKind::AgentNotReady { reason: "2".into() }).await?;
        }
    }

    // The waiting queue fills, then the measured callers arrive.
    let callers = |number: &str, count: usize, rate: usize, stay_ms: u32| {
        sipp(&strings(&[
            &sip.to_string(),
            "-sf",
            "tests/sipp/queue_caller.xml",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-mp",
            &free_port().to_string(),
            "-m",
            &count.to_string(),
            "-r",
            &rate.to_string(),
            "-l",
            "100000",
            "-d",
            &stay_ms.to_string(),
            "-key",
            "user",
            "13900000000",
            "-key",
            "dialed",
            number,
            "-key",
            "domain",
            "170017.yunhu",
        ]))
    };
    let waiting = callers("4001000001", a.queued, 50, 600_000);
    let switch = running.switch.clone().ok_or_else(|| anyhow::anyhow!("no switch"))?;
    let t = svc.tenant("170017").await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while switch.wallboard(&t, "9100").await?.waiting < a.queued {
        anyhow::ensure!(Instant::now() < deadline, "the waiting queue did not fill");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "routing: {} agents registered, {} callers waiting in 9100, {} arriving into 9200 at {}/s ({} ready agents)",
        a.agents, a.queued, a.callers, a.rate, a.ready
    );
    let mut measured = callers("4001000002", a.callers, a.rate, 1_500);
    measured.0.wait()?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still_waiting = switch.wallboard(&t, "9100").await?.waiting;

    // From the event log: queue entered → the agent's INVITE.
    let filter = yunhu_store::calls::CallRecordFilter { ascending: true, ..Default::default() };
    let records = svc.db().list_call_records(tenant, &filter, 100_000).await?;
    let mut delays = Vec::new();
    for r in records.iter().filter(|r| r.record.queue == "9200") {
        let events = svc.db().call_events(tenant, &r.call_id).await?;
        let entered = events.iter().find(|(_, kind, _, _)| kind == "queue_entered").map(|e| e.2);
        let rung =
            events.iter().find(|(_, kind, _, data)| kind == "leg_created" && data.contains("\"agent\"")).map(|e| e.2);
        if let (Some(a), Some(b)) = (entered, rung) {
            delays.push(b - a);
        }
    }
    drop((waiting, agents_phone));
    delays.sort_unstable();
    anyhow::ensure!(!delays.is_empty(), "no measured call reached an agent");
    let at = |q: f64| delays[((delays.len() as f64 * q).ceil() as usize).clamp(1, delays.len()) - 1];
    let (p50, p99, max) = (at(0.5), at(0.99), *delays.last().unwrap_or(&0));
    println!(
        "routing: {} of {} measured callers rung to an agent; queue entered → agent's INVITE: p50 {p50} ms, p99 {p99} ms, max {max} ms ({} still waiting in 9100)",
        delays.len(),
        a.callers,
        still_waiting
    );
    println!("routing: goal p99 < 20 ms: {}", if p99 < 20 { "met" } else { "not met" });
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
