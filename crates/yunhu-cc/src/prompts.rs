//! Voice prompts: Mandarin defaults generated once with espeak-ng and built in; a tenant replaces
//! any of them with a WAV of the same name in `<data_dir>/prompts/<corp_id>/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

const BUILT_IN: &[(&str, &[u8])] = &[
    ("login_ok", include_bytes!("../../../prompts/zh/login_ok.wav")),
    ("logout_ok", include_bytes!("../../../prompts/zh/logout_ok.wav")),
    ("your_extension", include_bytes!("../../../prompts/zh/your_extension.wav")),
    ("not_found", include_bytes!("../../../prompts/zh/not_found.wav")),
    ("abandoned", include_bytes!("../../../prompts/zh/abandoned.wav")),
    ("predictive_on", include_bytes!("../../../prompts/zh/predictive_on.wav")),
    ("predictive_off", include_bytes!("../../../prompts/zh/predictive_off.wav")),
    ("queue_position", include_bytes!("../../../prompts/zh/queue_position.wav")),
    ("queue_callers", include_bytes!("../../../prompts/zh/queue_callers.wav")),
    ("queue_wait", include_bytes!("../../../prompts/zh/queue_wait.wav")),
    ("minutes", include_bytes!("../../../prompts/zh/minutes.wav")),
    ("queue_exit_keys", include_bytes!("../../../prompts/zh/queue_exit_keys.wav")),
    ("callback_ok", include_bytes!("../../../prompts/zh/callback_ok.wav")),
    ("voicemail", include_bytes!("../../../prompts/zh/voicemail.wav")),
    ("survey", include_bytes!("../../../prompts/zh/survey.wav")),
    ("survey_thanks", include_bytes!("../../../prompts/zh/survey_thanks.wav")),
    ("predictive_number", include_bytes!("../../../prompts/zh/predictive_number.wav")),
    ("welcome", include_bytes!("../../../prompts/zh/welcome.wav")),
    ("closed", include_bytes!("../../../prompts/zh/closed.wav")),
    ("digit_0", include_bytes!("../../../prompts/zh/digit_0.wav")),
    ("digit_1", include_bytes!("../../../prompts/zh/digit_1.wav")),
    ("digit_2", include_bytes!("../../../prompts/zh/digit_2.wav")),
    ("digit_3", include_bytes!("../../../prompts/zh/digit_3.wav")),
    ("digit_4", include_bytes!("../../../prompts/zh/digit_4.wav")),
    ("digit_5", include_bytes!("../../../prompts/zh/digit_5.wav")),
    ("digit_6", include_bytes!("../../../prompts/zh/digit_6.wav")),
    ("digit_7", include_bytes!("../../../prompts/zh/digit_7.wav")),
    ("digit_8", include_bytes!("../../../prompts/zh/digit_8.wav")),
    ("digit_9", include_bytes!("../../../prompts/zh/digit_9.wav")),
];

/// Finds prompts: the tenant's own first, then the built-in ones.
#[derive(Debug, Clone)]
pub struct Prompts {
    dir: PathBuf,
}

fn mono(bytes: &[u8]) -> Option<Vec<i16>> {
    let (channels, samples) = yunhu_media::wav::parse(bytes).ok()?;
    Some(samples.into_iter().step_by(usize::from(channels.max(1))).collect())
}

impl Prompts {
    /// Prompts with tenant overrides under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    /// The samples of prompt `name` for tenant `corp_id` (8 kHz mono).
    pub fn get(&self, corp_id: &str, name: &str) -> Vec<i16> {
        let own = self.dir.join(corp_id).join(format!("{name}.wav"));
        if let Some(samples) = std::fs::read(&own).ok().and_then(|b| mono(&b)) {
            return samples;
        }
        BUILT_IN.iter().find(|(n, _)| *n == name).and_then(|(_, b)| mono(b)).unwrap_or_default()
    }

    /// The tenant's music on hold (`music_on_hold.wav` among its prompts), else the built-in
    /// loop: a slow four-note chime, soft enough not to startle, made here rather than shipped.
    pub fn music_on_hold(&self, corp_id: &str) -> Arc<[i16]> {
        let own = self.dir.join(corp_id).join("music_on_hold.wav");
        if let Some(samples) = std::fs::read(&own).ok().and_then(|b| mono(&b)).filter(|s| !s.is_empty()) {
            return samples.into();
        }
        built_in_hold_music()
    }

    /// Several prompts one after the other, with a short pause between them.
    pub fn sequence(&self, corp_id: &str, names: &[String]) -> Arc<[i16]> {
        let mut out = Vec::new();
        for n in names {
            out.extend(self.get(corp_id, n));
            out.extend(std::iter::repeat_n(0, 800));
        }
        out.into()
    }
}

/// Notes of the built-in hold music (Hz): C5 E5 G5 E5, half a second each with a soft attack
/// and release, so the held party always hears that they are still connected.
pub const HOLD_NOTES: [f64; 4] = [523.25, 659.25, 783.99, 659.25];

fn built_in_hold_music() -> Arc<[i16]> {
    static MUSIC: std::sync::OnceLock<Arc<[i16]>> = std::sync::OnceLock::new();
    MUSIC
        .get_or_init(|| {
            let note_len = 4000usize;
            let mut out = Vec::with_capacity(note_len * HOLD_NOTES.len());
            for f in HOLD_NOTES {
                for i in 0..note_len {
                    let t = i as f64 / 8000.0;
                    let envelope = (i.min(note_len - i) as f64 / 400.0).min(1.0);
                    out.push((6000.0 * envelope * (2.0 * std::f64::consts::PI * f * t).sin()) as i16);
                }
            }
            out.into()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_prompts_load_and_tenants_can_replace_them() {
        let dir = std::env::temp_dir().join(format!("yunhu-prompts-{}", std::process::id()));
        let p = Prompts::new(&dir);
        for (name, _) in BUILT_IN {
            assert!(p.get("777777", name).len() > 2000, "{name} is audible");
        }
        let custom = dir.join("777777");
        std::fs::create_dir_all(&custom).unwrap();
        let path = custom.join("login_ok.wav");
        let mut w = yunhu_media::wav::WavWriter::create(&path, 1).unwrap();
        w.write_interleaved(&[7; 100]).unwrap();
        w.finish().unwrap();
        assert_eq!(p.get("777777", "login_ok"), vec![7; 100]);
        assert!(p.get("888888", "login_ok").len() > 2000);
        assert!(p.get("777777", "nonexistent").is_empty());
    }
}
