//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4), written here — the
//! format is a few lines of rules, not worth a dependency.
//!
//! Per inbound queue (labels `tenant` = corp id, `queue` = skill group code: bounded by the
//! directory, never by callers or calls): callers waiting, the longest wait, agents by state,
//! the counters since the node started, service level both ways and ASA. Then yunhu's own
//! health: calls up, SIP requests and transactions, the event log's backlog and lag, RTP packets.
//!
//! With `metrics_token` set the scrape needs `Authorization: Bearer <token>`; without one only
//! loopback clients are answered (a scraper on the same host, or one behind a local proxy).

use crate::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write as _;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Builds one exposition: each family's HELP and TYPE, then its samples together.
#[derive(Default)]
pub(crate) struct Exposition {
    out: String,
}

/// A sample's labels, in order.
type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// Starts a family; `kind` is `gauge` or `counter`.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        // Integers print without a fraction; Rust's float formatting is exact and never uses
        // exponents Prometheus could not read.
        let _ = writeln!(self.out, " {value}");
    }

    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

async fn metrics(State(s): State<AppState>, req: Request) -> Response {
    let allowed = match &s.metrics_token {
        Some(token) => crate::body::bearer(req.headers()).is_some_and(|t| t.as_bytes().ct_eq(token.as_bytes()).into()),
        None => req.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|c| c.0.ip().is_loopback()),
    };
    if !allowed {
        let why = if s.metrics_token.is_some() { "metrics token required" } else { "loopback clients only" };
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let mut x = Exposition::default();
    if let Some(switch) = &s.switch {
        match switch.all_wallboards().await {
            Ok(all) => queues(&mut x, &all),
            Err(e) => {
                tracing::error!(error = %e, "metrics: wallboards");
                return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
            }
        }
    }
    health(&mut x, &s);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], x.out).into_response()
}

type Boards = [(yunhu_cc::Tenant, Vec<yunhu_cc::switch::QueueBoard>)];

fn queues(x: &mut Exposition, all: &Boards) {
    use yunhu_cc::switch::QueueBoard;
    type Figure = fn(&QueueBoard) -> Option<f64>;
    let families: [(&str, &str, &str, Figure); 9] = [
        ("yunhu_queue_waiting", "gauge", "Callers waiting in the queue now.", |b| Some(b.waiting as f64)),
        ("yunhu_queue_longest_wait_seconds", "gauge", "The longest wait of a caller in the queue now.", |b| {
            Some(b.longest_wait_secs as f64)
        }),
        ("yunhu_queue_callbacks_pending", "gauge", "Callbacks waiting for their turn.", |b| {
            Some(b.callbacks_pending as f64)
        }),
        ("yunhu_queue_entered_total", "counter", "Callers who entered the queue since the node started.", |b| {
            Some(b.entered as f64)
        }),
        ("yunhu_queue_answered_total", "counter", "Callers an agent answered since the node started.", |b| {
            Some(b.answered as f64)
        }),
        ("yunhu_queue_abandoned_total", "counter", "Callers who hung up waiting since the node started.", |b| {
            Some(b.abandoned as f64)
        }),
        ("yunhu_queue_overflowed_total", "counter", "Callers sent to the overflow since the node started.", |b| {
            Some(b.overflowed as f64)
        }),
        ("yunhu_queue_service_level_threshold_seconds", "gauge", "The service-level threshold T.", |b| {
            Some(b.service_level_secs as f64)
        }),
        (
            "yunhu_queue_asa_seconds",
            "gauge",
            "Average speed of answer since the node started (absent before any answer).",
            |b| b.asa_secs,
        ),
    ];
    for (name, kind, help, figure) in families {
        x.family(name, kind, help);
        for (tenant, boards) in all {
            for b in boards {
                if let Some(v) = figure(b) {
                    x.sample(name, &[("tenant", &tenant.corp_id), ("queue", &b.queue)], v);
                }
            }
        }
    }
    let name = "yunhu_queue_agents";
    x.family(name, "gauge", "Member agents of the queue by state.");
    for (tenant, boards) in all {
        for b in boards {
            let a = &b.agents;
            for (state, n) in [
                ("ready", a.ready),
                ("on_call", a.on_call),
                ("after_call_work", a.after_call_work),
                ("not_ready", a.not_ready),
                ("logged_out", a.logged_out),
            ] {
                x.sample(name, &[("tenant", &tenant.corp_id), ("queue", &b.queue), ("state", state)], n as f64);
            }
        }
    }
    let name = "yunhu_queue_service_level_ratio";
    x.family(
        name,
        "gauge",
        "Service level: answered within T of answered (formula=\"answered\"), or answered and abandoned within T \
         of both (formula=\"answered_or_abandoned\"); absent before any.",
    );
    for (tenant, boards) in all {
        for b in boards {
            for (formula, v) in
                [("answered", b.service_level), ("answered_or_abandoned", b.service_level_with_abandons)]
            {
                if let Some(v) = v {
                    x.sample(name, &[("tenant", &tenant.corp_id), ("queue", &b.queue), ("formula", formula)], v);
                }
            }
        }
    }
}

fn health(x: &mut Exposition, s: &AppState) {
    if let Some(switch) = &s.switch {
        x.single("yunhu_calls_up", "gauge", "Calls running now.", switch.calls_up() as f64);
        let sip = switch.sip_counts();
        let name = "yunhu_sip_requests_received_total";
        x.family(name, "counter", "SIP requests received (server transactions) by method.");
        for (method, n) in &sip.requests_received {
            x.sample(name, &[("method", method)], *n as f64);
        }
        x.single(
            "yunhu_sip_invites_sent_total",
            "counter",
            "INVITEs sent to start a call leg.",
            sip.invites_sent as f64,
        );
        x.single(
            "yunhu_sip_transactions_running",
            "gauge",
            "SIP transactions open now, client and server.",
            sip.transactions_running as f64,
        );
        x.single(
            "yunhu_sip_registered_contacts",
            "gauge",
            "Registered phone contacts not yet expired.",
            sip.registered_contacts as f64,
        );
    }
    let log = s.services.event_log_health();
    x.single(
        "yunhu_event_log_pending",
        "gauge",
        "Events, records and flushes queued for the event log and not yet committed.",
        log.pending as f64,
    );
    x.single(
        "yunhu_event_log_lag_seconds",
        "gauge",
        "How long the oldest entry not yet committed to the event log has waited (0 when none).",
        log.lag_secs,
    );
    x.single(
        "yunhu_event_log_events_committed_total",
        "counter",
        "Events committed to the event log since the start.",
        log.committed as f64,
    );
    x.single(
        "yunhu_event_log_failed_batches_total",
        "counter",
        "Event log batches whose commit failed.",
        log.failed_batches as f64,
    );
    let Some(switch) = &s.switch else { return };
    let rtp = switch.media_packets();
    x.single(
        "yunhu_media_packets_received_total",
        "counter",
        "RTP packets received from call legs.",
        rtp.received as f64,
    );
    x.single("yunhu_media_packets_sent_total", "counter", "RTP packets sent to call legs.", rtp.sent as f64);
    x.single(
        "yunhu_media_packets_dropped_total",
        "counter",
        "Packets thrown away: malformed, early, from a stranger, or refused by a full socket.",
        rtp.dropped as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_announce_themselves_and_label_values_are_escaped() {
        let mut x = Exposition::default();
        x.family("yunhu_queue_waiting", "gauge", "Callers waiting \\ now.\nSecond line.");
        x.sample("yunhu_queue_waiting", &[("tenant", "7\"7"), ("queue", "a\\b\nc")], 3.0);
        x.single("yunhu_calls_up", "gauge", "Calls.", 0.5);
        assert_eq!(
            x.out,
            "# HELP yunhu_queue_waiting Callers waiting \\\\ now.\\nSecond line.\n\
             # TYPE yunhu_queue_waiting gauge\n\
             yunhu_queue_waiting{tenant=\"7\\\"7\",queue=\"a\\\\b\\nc\"} 3\n\
             # HELP yunhu_calls_up Calls.\n# TYPE yunhu_calls_up gauge\nyunhu_calls_up 0.5\n"
        );
    }
}
