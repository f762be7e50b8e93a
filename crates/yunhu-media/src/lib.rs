//! Media for yunhu: RTP legs anchored here in rooms (who hears whom set per leg: relayed packets
//! for two, a mix for more, prompts and music on hold in place of the room), recorded and
//! inspected. Knows nothing of SIP; the signaling layer hands it addresses and codecs from SDP.

pub mod counters;
pub mod dtmf;
mod engine;
pub mod g711;
pub mod ports;
mod recv;
pub mod relay;
pub mod rtp;
pub mod sdp;
mod track;
pub mod wav;
