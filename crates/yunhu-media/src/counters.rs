//! Process-wide packet counters for health figures. The media thread is one per process
//! (`engine`), so its counters are too; relaxed atomics cost next to nothing per packet.

use std::sync::atomic::{AtomicU64, Ordering};

static RECEIVED: AtomicU64 = AtomicU64::new(0);
static SENT: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Packet counts since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketCounts {
    /// RTP packets taken from a leg's peer.
    pub received: u64,
    /// RTP packets sent to a leg's peer (relayed, mixed, prompts and music).
    pub sent: u64,
    /// Packets thrown away: not RTP, before the leg's SDP, from another source than the latched
    /// peer, or a send the socket refused (a full buffer drops, as the network would).
    pub dropped: u64,
}

/// The counts now.
pub fn packets() -> PacketCounts {
    PacketCounts {
        received: RECEIVED.load(Ordering::Relaxed),
        sent: SENT.load(Ordering::Relaxed),
        dropped: DROPPED.load(Ordering::Relaxed),
    }
}

pub(crate) fn received() {
    RECEIVED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn sent(ok: bool) {
    if ok { &SENT } else { &DROPPED }.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn dropped() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}
