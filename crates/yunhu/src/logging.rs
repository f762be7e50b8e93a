//! Structured logs, with every phone-number-like run of digits masked on its way out, so no
//! code path can leak a customer's number into a log file.

use std::io::{self, Write};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use yunhu_core::mask_phone;

/// Masks runs of 7 to 15 digits (optionally after `+`): the lengths of phone numbers.
pub fn mask_numbers(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let mut j = if plus { i + 1 } else { i };
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j - if plus { i + 1 } else { i };
        let glued = start > 0 && (chars[start - 1].is_ascii_alphanumeric());
        if digits > 0 {
            let run: String = chars[start..j].iter().collect();
            if (7..=15).contains(&digits) && !glued {
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

/// Makes masking writers over stderr.
pub struct MaskingStderr;

impl<'a> MakeWriter<'a> for MaskingStderr {
    type Writer = MaskingWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter(io::stderr())
    }
}

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), text or JSON lines.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rsipstack=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(MaskingStderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

#[cfg(test)]
mod tests {
    use super::mask_numbers;

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
}
