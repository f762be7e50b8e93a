//! The bus between nodes: NATS JetStream. Each node publishes the events it commits to one
//! stream, with the event id as the message id, so a republish of the same event (after a
//! failed acknowledgement) is dropped by the stream's duplicate window; each node reads the
//! stream from "now" with an ordered consumer and hands every event, its own and the others',
//! to its local subscribers. Every node thus sees the events of every node in one order, the
//! stream's.
//!
//! The stream is `<PREFIX>_EVENTS` with subjects `<prefix>.events.<tenant>.<kind>`, kind being
//! what the event log stream starts with (`agent`, `desk`, `announce`).

use super::{EventBus, FeedEvent, LOCAL_BUS_CAPACITY};
use async_nats::jetstream::{self, consumer, context::PublishErrorKind, message::PublishMessage, stream};
use futures_util::StreamExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use yunhu_store::TenantId;

/// How long the stream remembers a message id: a republish within it is dropped. Publishing
/// retries for far less than this.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long events stay in the stream: only long enough for a consumer that lost its place to
/// pick up again (the event log keeps them for good).
const MAX_AGE: Duration = Duration::from_secs(3600);
/// Waits between attempts to publish an event NATS did not acknowledge.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// The JetStream bus.
pub struct NatsBus {
    to_publish: mpsc::UnboundedSender<Vec<Arc<FeedEvent>>>,
    tx: broadcast::Sender<Arc<FeedEvent>>,
}

/// An event as it travels on the stream.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    id: i64,
    tenant: i64,
    stream: String,
    kind: String,
    at: i64,
    data: String,
}

/// Why the bus could not start.
#[derive(Debug, thiserror::Error)]
#[error("NATS bus: {0}")]
pub struct NatsError(String);

fn err(what: &str, e: impl std::fmt::Display) -> NatsError {
    NatsError(format!("{what}: {e}"))
}

impl NatsBus {
    /// Connects to the NATS server at `url`, makes the stream of `prefix` if it is missing, and
    /// starts reading it from now on (so every event committed after this returns is seen).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, NatsError> {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(NatsError(format!("prefix {prefix:?}: letters, digits, '_' and '-' only")));
        }
        let client =
            async_nats::ConnectOptions::new().name("yunhu").connect(url).await.map_err(|e| err("connecting", e))?;
        let js = jetstream::new(client);
        let subject_root = format!("{prefix}.events");
        let stream = js
            .get_or_create_stream(stream::Config {
                name: format!("{}_EVENTS", prefix.to_ascii_uppercase()),
                subjects: vec![format!("{subject_root}.>")],
                duplicate_window: DUPLICATE_WINDOW,
                max_age: MAX_AGE,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| err("making the stream", e))?;
        let (tx, _) = broadcast::channel(LOCAL_BUS_CAPACITY);
        let messages = ordered_from(&stream, consumer::DeliverPolicy::New).await?;
        tokio::spawn(read(stream, messages, tx.clone()));
        let (to_publish, rx) = mpsc::unbounded_channel();
        tokio::spawn(publish(js, subject_root, rx));
        Ok(Self { to_publish, tx })
    }
}

async fn ordered_from(
    stream: &stream::Stream,
    deliver_policy: consumer::DeliverPolicy,
) -> Result<consumer::pull::Ordered, NatsError> {
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig { deliver_policy, ..Default::default() })
        .await
        .map_err(|e| err("making a consumer", e))?;
    consumer.messages().await.map_err(|e| err("reading the stream", e))
}

/// Publishes each batch in order, then waits for the acknowledgements; what was not
/// acknowledged goes again with the same message id, so the stream keeps it once.
async fn publish(js: jetstream::Context, root: String, mut rx: mpsc::UnboundedReceiver<Vec<Arc<FeedEvent>>>) {
    while let Some(mut batch) = rx.recv().await {
        while !batch.is_empty() {
            let mut acks = Vec::with_capacity(batch.len());
            for event in &batch {
                acks.push(send(&js, &root, event).await);
            }
            let mut failed = Vec::new();
            for (event, ack) in batch.into_iter().zip(acks) {
                let result = match ack {
                    Ok(ack) => ack.await.map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(event = event.id, error = %e, "NATS did not take an event; sending it again");
                    failed.push(event);
                }
            }
            batch = failed;
            if !batch.is_empty() {
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
}

async fn send(
    js: &jetstream::Context,
    root: &str,
    e: &FeedEvent,
) -> Result<jetstream::context::PublishAckFuture, jetstream::context::PublishError> {
    let kind = e.stream.split('/').next().unwrap_or("other");
    let wire = Wire {
        id: e.id,
        tenant: e.tenant.0,
        stream: e.stream.clone(),
        kind: e.kind.clone(),
        at: e.at,
        data: e.data.clone(),
    };
    let payload = serde_json::to_vec(&wire)
        .map_err(|x| jetstream::context::PublishError::with_source(PublishErrorKind::Other, x))?;
    let msg = PublishMessage::build().payload(payload.into()).message_id(e.id.to_string());
    js.send_publish(format!("{root}.{}.{kind}", e.tenant.0), msg).await
}

/// Hands the stream's events to the local subscribers. Should the ordered consumer give up, a
/// new one starts right after the last message seen, so nothing in between is skipped.
async fn read(stream: stream::Stream, mut messages: consumer::pull::Ordered, tx: broadcast::Sender<Arc<FeedEvent>>) {
    let mut last_seq = 0;
    loop {
        while let Some(next) = messages.next().await {
            let msg = match next {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "NATS bus consumer failed; starting another");
                    break;
                }
            };
            if let Ok(info) = msg.info() {
                last_seq = info.stream_sequence;
            }
            match serde_json::from_slice::<Wire>(&msg.payload) {
                Ok(w) => {
                    let event = FeedEvent {
                        id: w.id,
                        tenant: TenantId(w.tenant),
                        stream: w.stream,
                        kind: w.kind,
                        at: w.at,
                        data: w.data,
                    };
                    // No receiver yet is not an error: nobody watches.
                    let _ = tx.send(Arc::new(event));
                }
                Err(e) => tracing::warn!(error = %e, subject = %msg.subject, "NATS bus: not an event; skipped"),
            }
        }
        loop {
            let from = match last_seq {
                0 => consumer::DeliverPolicy::New,
                n => consumer::DeliverPolicy::ByStartSequence { start_sequence: n + 1 },
            };
            match ordered_from(&stream, from).await {
                Ok(m) => {
                    messages = m;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "NATS bus: no consumer yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

impl EventBus for NatsBus {
    fn publish(&self, events: Vec<Arc<FeedEvent>>) {
        if !events.is_empty() {
            let _ = self.to_publish.send(events);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.tx.subscribe()
    }
}
