//! Structured logs, with every phone-number-like run of digits masked on its way out, so no
//! code path can leak a customer's number into a log file.

use std::io::{self, Write};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use yunhu_core::mask_phone;

/// Masks runs of 7 to 15 digits (optionally after `+`): the lengths of phone numbers. A run is
/// masked whatever stands before or after it (a letter, a quote, the `m` ending a colour code);
/// terminal escape sequences pass through untouched and never join a run.
pub fn mask_numbers(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\u{1b}' && chars.get(i + 1) == Some(&'[') {
            // A CSI sequence: parameters and intermediates, then one final byte in @..~.
            let mut j = i + 2;
            while j < chars.len() && !('@'..='~').contains(&chars[j]) {
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        let start = i;
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let mut j = if plus { i + 1 } else { i };
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j - if plus { i + 1 } else { i };
        if digits > 0 {
            let run: String = chars[start..j].iter().collect();
            if (7..=15).contains(&digits) {
                out.push_str(&mask_phone(&run));
            } else {
                out.push_str(&run);
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A writer that masks numbers in what it is given before passing it on.
pub struct MaskingWriter<W: Write>(W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(mask_numbers(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Makes masking writers over the writers another maker makes (stderr in production).
pub struct Masking<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masking<M> {
    type Writer = MaskingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter(self.0.make_writer())
    }
}

/// The subscriber yunhu logs through: `filter`, text (`ansi` colours or none) or JSON lines,
/// every line masked on its way to `writer`.
pub fn subscriber<M>(
    format: &str,
    ansi: bool,
    filter: EnvFilter,
    writer: M,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(Masking(writer));
    if format == "json" { Box::new(builder.json().finish()) } else { Box::new(builder.finish()) }
}

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), text (coloured unless
/// `NO_COLOR` is set) or JSON lines on stderr.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rsipstack=warn"));
    let ansi = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = subscriber(format, ansi, filter, io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn masks_numbers_but_not_times_ports_or_ids() {
        assert_eq!(mask_numbers("dial 13812345678 now"), "dial 138****5678 now");
        assert_eq!(mask_numbers("caller=+8613812345678"), "caller=+86*******5678");
        assert_eq!(
            mask_numbers("2026-11-21T05:19:58 127.0.0.1:8080 ext 1001"),
            "2026-11-21T05:19:58 127.0.0.1:8080 ext 1001"
        );
        assert_eq!(mask_numbers("stream 1eed51b1f20f401bb512e70c0a9504ad"), "stream 1eed51b1f20f401bb512e70c0a9504ad");
    }

    /// The runs of 7 to 15 ASCII digits in `text`: none may be left.
    fn digit_runs(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_ascii_digit()).filter(|r| (7..=15).contains(&r.len())).map(str::to_string).collect()
    }

    /// What one subscriber setup writes, into memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_number_reaches_the_log_in_any_format() {
        for (format, ansi) in [("text", true), ("text", false), ("json", true), ("json", false)] {
            let buffer = Buffer::default();
            let out = buffer.clone();
            let sub = subscriber(format, ansi, EnvFilter::new("info"), move || out.clone());
            tracing::subscriber::with_default(sub, || {
                let span = tracing::info_span!("call", caller = "013800138000", id = 13_912_345_678_u64);
                let _in = span.enter();
                tracing::info!(dialed = "013800138000", to = %"+8613800138000", n = 13_800_138_000_u64, "inbound");
                tracing::info!(sip = "sip:013800138000@10.0.0.1", "tel x13800138000y in the message");
                tracing::warn!(debug = ?("013800138000",), "call from 013800138000");
            });
            let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            assert!(text.contains("013*****8000"), "{format} ansi={ansi}: nothing logged? {text}");
            assert_eq!(text.contains('\u{1b}'), ansi && format == "text", "{format} ansi={ansi}: {text}");
            assert_eq!(digit_runs(&text), Vec::<String>::new(), "{format} ansi={ansi}: {text}");
        }
    }
}
