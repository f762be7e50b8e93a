//! Media for yunhu: RTP between two legs, anchored here so it can be recorded and inspected.
//! Knows nothing of SIP; the signaling layer hands it addresses and codecs from SDP.

pub mod dtmf;
mod engine;
pub mod g711;
pub mod ports;
mod recv;
pub mod relay;
pub mod rtp;
pub mod sdp;
pub mod wav;
