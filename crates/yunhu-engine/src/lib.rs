//! The call engine: a call is a set of legs joined in a media room, driven by commands.
//!
//! - [`machine`]: the pure state machine (legs, who hears whom, causes, the event log's entries),
//!   clock passed in; no IO.
//! - [`flows`]: click-to-call, customer-first, bridges and prompts as short scripts over it.
//! - [`inbound`]: a carrier's caller through the IVR ([`ivr`] menus as data), the queue and the
//!   satisfaction survey.
//! - `driver`: runs a scripted call over real SIP legs (`yunhu-sip`) and an RTP room
//!   (`yunhu-media`); knows no HTTP and no SQL.

pub mod driver;
pub mod flows;
pub mod inbound;
pub mod ivr;
pub mod machine;
