//! Crash-safe WAV recording: samples go in buffered chunks to `<name>.part`; when the call ends the
//! header gets its sizes, the file is fsynced and renamed to its final name. A `.part` left by a
//! crash is repaired at start: its header is fixed from the file's length and it is renamed.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Sample rate of recordings (G.711 narrowband).
pub const SAMPLE_RATE: u32 = 8000;
const HEADER_LEN: u64 = 44;
const PART_SUFFIX: &str = ".part";
/// Frames a recording may hold in memory before they are handed to the OS (half a second): a
/// crash of the process loses at most this much of what was written. With the recorder's own
/// lag (a lane waits at most 0.2 s for a late leg, pumped every 0.1 s) a crash loses under one
/// second of a call's audio.
pub const FLUSH_FRAMES: u64 = SAMPLE_RATE as u64 / 2;

fn header(channels: u16, data_len: u32) -> [u8; 44] {
    let block_align = channels * 2;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

fn part_path(final_path: &Path) -> PathBuf {
    let mut p = final_path.as_os_str().to_owned();
    p.push(PART_SUFFIX);
    PathBuf::from(p)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// What a finished or repaired recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The final file.
    pub path: PathBuf,
    /// Channels (1 or 2).
    pub channels: u16,
    /// Sample frames (one sample per channel each).
    pub frames: u64,
}

impl RecordingInfo {
    /// Length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.frames * 1000 / u64::from(SAMPLE_RATE)
    }
}

/// A recording being written.
pub struct WavWriter {
    out: BufWriter<File>,
    final_path: PathBuf,
    channels: u16,
    frames: u64,
    /// Frames written since the last flush.
    unflushed: u64,
}

impl WavWriter {
    /// Starts a recording that will be named `final_path` when finished.
    pub fn create(final_path: &Path, channels: u16) -> io::Result<WavWriter> {
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().write(true).create_new(true).open(part_path(final_path))?;
        file.write_all(&header(channels, 0))?;
        Ok(WavWriter {
            out: BufWriter::with_capacity(64 * 1024, file),
            final_path: final_path.into(),
            channels,
            frames: 0,
            unflushed: 0,
        })
    }

    /// Appends interleaved frames (`samples.len()` must be a multiple of the channel count);
    /// flushes once [`FLUSH_FRAMES`] are waiting.
    pub fn write_interleaved(&mut self, samples: &[i16]) -> io::Result<()> {
        // Through a stack buffer: the media thread calls this for every call ten times a second.
        let mut bytes = [0u8; 1024];
        for chunk in samples.chunks(bytes.len() / 2) {
            for (b, s) in bytes.chunks_exact_mut(2).zip(chunk) {
                b.copy_from_slice(&s.to_le_bytes());
            }
            self.out.write_all(&bytes[..chunk.len() * 2])?;
        }
        let frames = (samples.len() / usize::from(self.channels)) as u64;
        self.frames += frames;
        self.unflushed += frames;
        if self.unflushed >= FLUSH_FRAMES {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands buffered samples to the OS, so a crash of the process loses none of them.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.unflushed = 0;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Completes the header, fsyncs, renames to the final name.
    pub fn finish(self) -> io::Result<RecordingInfo> {
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        let data_len = (self.frames * u64::from(self.channels) * 2).min(u64::from(u32::MAX - 36)) as u32;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header(self.channels, data_len))?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(part_path(&self.final_path), &self.final_path)?;
        sync_dir(&self.final_path);
        Ok(RecordingInfo { path: self.final_path, channels: self.channels, frames: self.frames })
    }
}

/// Repairs every `.part` recording under `dir` (recursively): sizes fixed from the file length,
/// a torn last frame cut, fsynced, renamed. Returns what was repaired.
pub fn repair_all(dir: &Path) -> io::Result<Vec<RecordingInfo>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(PART_SUFFIX) {
                // One damaged file must not keep the others (or the server) from coming back.
                match repair(&path) {
                    Ok(info) => out.push(info),
                    Err(e) => tracing::error!(path = %path.display(), error = %e, "recording could not be repaired"),
                }
            }
        }
    }
    Ok(out)
}

/// Repairs one `.part` file left by a crash.
pub fn repair(part: &Path) -> io::Result<RecordingInfo> {
    let mut file = OpenOptions::new().read(true).write(true).open(part)?;
    let mut head = [0u8; 44];
    let len = file.metadata()?.len();
    let channels = if len >= HEADER_LEN {
        file.read_exact(&mut head)?;
        match u16::from_le_bytes([head[22], head[23]]) {
            c @ 1..=2 => c,
            _ => 2,
        }
    } else {
        2
    };
    let frame = u64::from(channels) * 2;
    let data_len = len.saturating_sub(HEADER_LEN) / frame * frame;
    file.set_len(HEADER_LEN + data_len)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header(channels, data_len.min(u64::from(u32::MAX - 36)) as u32))?;
    file.sync_all()?;
    drop(file);
    let s = part.to_string_lossy();
    let final_path = PathBuf::from(&s[..s.len() - PART_SUFFIX.len()]);
    std::fs::rename(part, &final_path)?;
    sync_dir(&final_path);
    Ok(RecordingInfo { path: final_path, channels, frames: data_len / frame })
}

/// Reads a 16-bit PCM WAV file: channel count and interleaved samples.
pub fn read(path: &Path) -> io::Result<(u16, Vec<i16>)> {
    parse(&std::fs::read(path)?)
}

/// Parses 16-bit PCM WAV bytes, walking the RIFF chunks (`fmt `, `data`, and any others).
pub fn parse(bytes: &[u8]) -> io::Result<(u16, Vec<i16>)> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file"));
    }
    let mut at = 12;
    let mut channels = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let body = bytes.get(at + 8..(at + 8 + len).min(bytes.len())).ok_or_else(|| bad("chunk past the end"))?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let bits = u16::from_le_bytes([body[14], body[15]]);
                if bits != 16 {
                    return Err(bad("only 16-bit PCM is supported"));
                }
                channels = Some(u16::from_le_bytes([body[2], body[3]]));
            }
            b"data" => {
                let ch = channels.ok_or_else(|| bad("data before fmt"))?;
                return Ok((ch, body.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()));
            }
            _ => {}
        }
        at += 8 + len + len % 2;
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("yunhu-wav-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn finished_recordings_have_true_sizes_and_final_names() {
        let dir = tmp("finish");
        let path = dir.join("a/call.wav");
        let mut w = WavWriter::create(&path, 2).unwrap();
        assert!(dir.join("a/call.wav.part").exists());
        w.write_interleaved(&[1, -1, 2, -2, 3, -3]).unwrap();
        let info = w.finish().unwrap();
        assert_eq!(info.frames, 3);
        assert!(!dir.join("a/call.wav.part").exists());
        assert_eq!(read(&path).unwrap(), (2, vec![1, -1, 2, -2, 3, -3]));
    }

    #[test]
    fn a_crashed_recording_is_repaired_not_lost() {
        let dir = tmp("repair");
        let path = dir.join("call.wav");
        let mut w = WavWriter::create(&path, 2).unwrap();
        w.write_interleaved(&vec![100; 16000]).unwrap();
        w.flush().unwrap();
        std::mem::forget(w); // as if the process died here: header still says 0 bytes
        // A torn half frame at the end.
        let mut f = OpenOptions::new().append(true).open(dir.join("call.wav.part")).unwrap();
        f.write_all(&[1, 2]).unwrap();
        let repaired = repair_all(&dir).unwrap();
        assert_eq!(repaired, vec![RecordingInfo { path: path.clone(), channels: 2, frames: 8000 }]);
        assert_eq!(repaired[0].duration_ms(), 1000);
        let (ch, samples) = read(&path).unwrap();
        assert_eq!((ch, samples.len()), (2, 16000));
        assert!(repair_all(&dir).unwrap().is_empty());
    }

    /// The frames of audio a `.part` holds on disk right now (what a crash would leave).
    fn on_disk_frames(part: &Path) -> u64 {
        std::fs::metadata(part).unwrap().len().saturating_sub(HEADER_LEN) / 4
    }

    #[test]
    fn a_crash_at_any_moment_loses_at_most_the_flush_bound() {
        let dir = tmp("bound");
        let path = dir.join("call.wav");
        let part = dir.join("call.wav.part");
        let mut w = WavWriter::create(&path, 2).unwrap();
        // Six seconds in 20 ms packets, never flushed by hand: at every moment what a crash
        // would leave on disk lags what was written by at most the bound.
        for _ in 0..300 {
            w.write_interleaved(&[700; 320]).unwrap();
            let lost = w.frames() - on_disk_frames(&part);
            assert!(lost <= FLUSH_FRAMES, "{lost} frames would be lost after {} written", w.frames());
        }
        let written = w.frames();
        std::mem::forget(w); // the crash
        let info = repair(&part).unwrap();
        assert!(written - info.frames <= u64::from(SAMPLE_RATE), "{} of {written} frames survived", info.frames);
        assert!(info.duration_ms() >= 5_000, "{} ms", info.duration_ms());
    }
}
