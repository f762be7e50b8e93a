//! Domain types shared by every layer of yunhu. Pure: no tokio, no IO.

pub mod agent;
pub mod call;
pub mod clock;
pub mod geo;
pub mod phone;
pub mod role;
pub mod time;

pub use clock::{Clock, ManualClock, SystemClock};
pub use phone::mask_phone;
pub use role::Role;
