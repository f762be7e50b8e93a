//! The predictive dialer of yunhu: a pacing engine that decides how many numbers to dial now, and a
//! discrete-event simulator that measures it against a reference model. Pure: no IO, no clock of its own.

#![warn(missing_docs)]

pub mod pacing;
pub mod sim;
