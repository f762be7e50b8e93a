//! A JSON object writer for the widest listing rows. serde's field-by-field path escapes every
//! field name and costs a call per field; here names (and runs of constant fields) are written
//! as literal bytes and only values are spelt, strings through serde_json so they escape exactly
//! as everywhere else.

use serde::Serialize;
use yunhu_core::time::LocalStamp;

/// Writes one JSON object's members into a buffer.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object in `out`; [`Obj::end`] closes it.
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }

    fn key(&mut self, name: &str) {
        // Names are the dialect's own identifiers, none of which needs escaping.
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{name}");
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Members whose values never change, given as their JSON text without the leading comma
    /// (`"a":null,"b":-1`).
    pub fn constants(&mut self, members: &str) {
        debug_assert!(!members.starts_with(','), "{members}");
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.extend_from_slice(members.as_bytes());
    }

    /// A member spelt by serde_json (strings, numbers, options, chars).
    pub fn field(&mut self, name: &str, value: &(impl Serialize + ?Sized)) {
        self.key(name);
        spell(self.out, value);
    }

    /// A local time, or null.
    pub fn stamp(&mut self, name: &str, value: &Option<LocalStamp>) {
        self.key(name);
        match value {
            // Stamps hold only digits, signs, dashes, colons and a space: nothing to escape.
            Some(t) => {
                self.out.push(b'"');
                self.out.extend_from_slice(t.as_str().as_bytes());
                self.out.push(b'"');
            }
            None => self.out.extend_from_slice(b"null"),
        }
    }

    /// A string made of a number and text (`"<prefix><text>"`), spelt without an interim string.
    pub fn prefixed(&mut self, name: &str, prefix: i64, text: &str) {
        self.key(name);
        self.out.push(b'"');
        spell(self.out, &prefix);
        // The text's own opening quote goes: the string began before the number.
        let quote = self.out.len();
        spell(self.out, text);
        self.out.remove(quote);
    }
}

/// Appends `value` as serde_json spells it.
pub(crate) fn spell(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    // Writing into memory fails only on non-string map keys, which no value here has.
    if let Err(e) = value.serialize(&mut serde_json::Serializer::new(&mut *out)) {
        tracing::error!(error = %e, "JSON answer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_what_serde_json_spells() {
        let mut out = Vec::new();
        let mut o = Obj::begin(&mut out);
        o.field("a", &"x\"\\\u{1}中");
        o.constants("\"b\":null,\"c\":-1");
        o.field("d", &Some('"'));
        o.field("e", &None::<&str>);
        o.stamp("f", &Some(yunhu_core::time::local_stamp(0, chrono_tz::UTC, yunhu_core::time::Style::Dashed)));
        o.stamp("g", &None);
        o.prefixed("h", 10001, "10\"1");
        o.field("i", &-7_i64);
        o.end();
        let want = serde_json::json!({
            "a": "x\"\\\u{1}中", "b": null, "c": -1, "d": "\"", "e": null,
            "f": "1970-01-01 00:00:00", "g": null, "h": "1000110\"1", "i": -7,
        });
        assert_eq!(String::from_utf8(out).unwrap(), want.to_string());
        let mut out = Vec::new();
        let mut o = Obj::begin(&mut out);
        o.constants("\"b\":null");
        o.field("a", &1);
        o.end();
        assert_eq!(out, br#"{"b":null,"a":1}"#);
    }
}
