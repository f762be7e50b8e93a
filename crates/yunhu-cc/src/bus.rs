//! The event bus: how committed events reach whoever watches them live (agent desktops now;
//! webhooks and other nodes later). It spreads information and owns nothing: the event log is
//! the truth, and a watcher that missed something reads it back from the log by event id.
//!
//! One interface, [`EventBus`]; in one process it is a broadcast channel ([`LocalBus`]); between
//! nodes it is NATS JetStream, with the event id as the message id ([`NatsBus`]).

mod nats;
pub use nats::{NatsBus, NatsError};

use std::sync::Arc;
use tokio::sync::broadcast;
pub use yunhu_store::desk::FeedEvent;

/// Committed events, published in commit order.
pub trait EventBus: Send + Sync {
    /// Publishes events just committed, in id order.
    fn publish(&self, events: Vec<Arc<FeedEvent>>);
    /// A receiver of every event published from now on. A receiver that falls too far behind
    /// is told how many it lost (and reads them back from the log).
    fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>>;
}

/// The in-process bus of a single node.
pub struct LocalBus {
    tx: broadcast::Sender<Arc<FeedEvent>>,
}

/// How many events a slow receiver of the local bus may lag behind before it loses some.
const LOCAL_BUS_CAPACITY: usize = 16_384;

impl Default for LocalBus {
    fn default() -> Self {
        Self { tx: broadcast::channel(LOCAL_BUS_CAPACITY).0 }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, events: Vec<Arc<FeedEvent>>) {
        for e in events {
            // No receiver yet is not an error: nobody watches.
            let _ = self.tx.send(e);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.tx.subscribe()
    }
}

/// Whether the bus carries events of this stream: what agent desktops watch. Call progress
/// events stay off it; the desk learns of calls from the agent's own desk stream.
pub fn on_bus(stream: &str) -> bool {
    stream.starts_with("agent/") || stream.starts_with("desk/") || stream.starts_with("announce/")
}
