//! The recorder of a room: one lane of samples per leg, aligned on the wall clock, written as a
//! stereo WAV whose left channel is one leg and whose right channel is every other leg mixed.

use crate::g711::Codec;
use crate::wav::{RecordingInfo, WavWriter};
use std::time::{Duration, Instant};

/// Allowed lag of one lane behind the wall clock before silence is written for it.
const MAX_LAG_SAMPLES: u64 = 1600;
/// Samples every lane must hold before a packet triggers a write (rather than the next tick).
const WRITE_AT: usize = 800;

/// What one leg contributed to the recording and has not been written yet.
struct Lane {
    pending: Vec<i16>,
    /// Samples put in this lane since the recording began (written or pending).
    pushed: u64,
    /// The RTP timestamp the next packet should carry, to tell losses from late packets.
    next_ts: Option<u32>,
}

/// A recording being made.
pub(crate) struct Track {
    writer: WavWriter,
    left: usize,
    lanes: Vec<Lane>,
    started: Instant,
    last_flush: Instant,
    /// Interleaving buffer, kept between pumps.
    frames: Vec<i16>,
}

impl Track {
    /// A recording of `legs` legs (at least up to `left`), from `now` on.
    pub(crate) fn new(writer: WavWriter, left: usize, legs: usize, now: Instant) -> Track {
        let mut t = Track { writer, left, lanes: Vec::new(), started: now, last_flush: now, frames: Vec::new() };
        t.add_lane(legs.max(left + 1) - 1);
        t
    }

    /// Makes room for leg `index`, joining the room after the recording began: its lane starts at
    /// what has been written, so its first sample lines up with the others' next one.
    pub(crate) fn add_lane(&mut self, index: usize) {
        let written = self.writer.frames();
        while self.lanes.len() <= index {
            self.lanes.push(Lane { pending: Vec::new(), pushed: written, next_ts: None });
        }
    }

    /// Adds a packet of leg `leg`; `audible` false writes silence of its length instead (a leg
    /// nobody hears must not be in the file, but its lane keeps time). Returns the samples of
    /// silence inserted for lost packets.
    pub(crate) fn push(&mut self, leg: usize, timestamp: u32, codec: Codec, payload: &[u8], audible: bool) -> u64 {
        let expected = self.expected();
        let Some(lane) = self.lanes.get_mut(leg) else { return 0 };
        // A peer running more than a second ahead of the wall clock (bad timestamps, a flood)
        // is not written: the recording stays as long as the call.
        if lane.pushed > expected + 8000 {
            return 0;
        }
        let mut gap = 0;
        match lane.next_ts {
            Some(next) => {
                let ahead = timestamp.wrapping_sub(next);
                if ahead > u32::MAX / 2 {
                    return 0; // late or duplicate: already covered
                }
                if ahead > 0 && ahead <= 8000 {
                    lane.pending.extend(std::iter::repeat_n(0, ahead as usize));
                    lane.pushed += u64::from(ahead);
                    gap = u64::from(ahead);
                }
            }
            None => {
                // A leg that starts late is aligned to the wall clock.
                let behind = expected.saturating_sub(lane.pushed + MAX_LAG_SAMPLES / 2);
                lane.pending.extend(std::iter::repeat_n(0, behind as usize));
                lane.pushed += behind;
            }
        }
        lane.next_ts = Some(timestamp.wrapping_add(payload.len() as u32));
        if audible {
            lane.pending.extend(payload.iter().map(|b| codec.decode(*b)));
        } else {
            lane.pending.extend(std::iter::repeat_n(0, payload.len()));
        }
        lane.pushed += payload.len() as u64;
        gap
    }

    /// Whether every lane holds enough to be worth writing now.
    pub(crate) fn ready(&self) -> bool {
        self.lanes.iter().all(|l| l.pending.len() >= WRITE_AT)
    }

    fn expected(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 * 8
    }

    /// Writes what every lane has; a lane lagging the wall clock (a leg that sends nothing) is
    /// padded with silence first, and when `finishing`, every lane up to the longest.
    pub(crate) fn pump(&mut self, finishing: bool) -> std::io::Result<()> {
        let floor = if finishing {
            self.lanes.iter().map(|l| l.pushed).max().unwrap_or(0)
        } else {
            self.expected().saturating_sub(MAX_LAG_SAMPLES)
        };
        for lane in &mut self.lanes {
            if lane.pushed < floor {
                let pad = floor - lane.pushed;
                lane.pending.extend(std::iter::repeat_n(0, pad as usize));
                lane.pushed += pad;
            }
        }
        let n = self.lanes.iter().map(|l| l.pending.len()).min().unwrap_or(0);
        if n > 0 {
            self.frames.clear();
            for i in 0..n {
                let mut right = 0i16;
                for (j, lane) in self.lanes.iter().enumerate() {
                    if j != self.left {
                        right = right.saturating_add(lane.pending[i]);
                    }
                }
                self.frames.extend_from_slice(&[self.lanes[self.left].pending[i], right]);
            }
            for lane in &mut self.lanes {
                lane.pending.drain(..n);
            }
            self.writer.write_interleaved(&self.frames)?;
        }
        if self.last_flush.elapsed() >= Duration::from_secs(1) {
            self.writer.flush()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    /// Writes the rest and completes the file.
    pub(crate) fn finish(mut self) -> std::io::Result<RecordingInfo> {
        self.pump(true)?;
        self.writer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorder_killed_mid_call_leaves_all_but_its_last_second_on_disk() {
        let dir = std::env::temp_dir().join(format!("yunhu-track-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("call.wav");
        let part = dir.join("call.wav.part");
        // Three seconds of a call whose two legs send every packet on time, pumped as the media
        // thread does; after every packet, a crash would leave all but the last second on disk.
        let writer = WavWriter::create(&path, 2).unwrap();
        let start = Instant::now();
        let mut t = Track::new(writer, 0, 2, start);
        for i in 0..150u32 {
            std::thread::sleep(
                (start + Duration::from_millis(u64::from(i) * 20)).saturating_duration_since(Instant::now()),
            );
            for leg in 0..2 {
                t.push(leg, i * 160, Codec::Pcmu, &[0x20; 160], true);
            }
            if t.ready() {
                t.pump(false).unwrap();
            }
            let on_disk = std::fs::metadata(&part).unwrap().len().saturating_sub(44) / 4;
            let sent = u64::from(i + 1) * 160;
            assert!(sent.saturating_sub(on_disk) <= 8000, "{on_disk} of {sent} frames on disk");
        }
        std::mem::forget(t); // the crash: nothing finished, nothing flushed on the way out
        let info = crate::wav::repair(&part).unwrap();
        assert!(info.duration_ms() >= 2_000, "only {} ms of 3 s survived", info.duration_ms());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
