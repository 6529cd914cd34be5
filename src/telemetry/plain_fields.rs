//! The fields of a human-format log line when it is not styled (stderr is not a terminal):
//! the same text as tracing-subscriber's `DefaultFields` without ANSI, written straight into
//! the line. `DefaultFields` paints every field name and `=` through nu-ansi-term and
//! formats every value through `format_args!`, even with styling off: about 1,000
//! instructions per field, 16,000 for the request log line (issue 16's profile); this
//! writes a plain string or number in a few dozen.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// `DefaultFields`' output without styling, cheaper.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        PlainVisitor { writer: target, is_empty: true, result: Ok(()) }
    }
}

pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// The separating space and `name=` (an `r#` prefix dropped), or false to skip the field.
    fn start(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        let name = field.name();
        // log metadata the formatter has already written (as DefaultFields skips it)
        if name.starts_with("log.") {
            return false;
        }
        if !std::mem::replace(&mut self.is_empty, false) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result =
                self.result.and_then(|()| self.writer.write_str(name)).and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }

    fn message(&mut self, value: &dyn fmt::Debug) {
        let sanitize = self.writer.sanitizes_ansi_escapes();
        self.result =
            if sanitize { write!(Escaping(&mut self.writer), "{value:?}") } else { write!(self.writer, "{value:?}") };
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.start(field) {
            return;
        }
        if field.name() == "message" {
            return self.message(&format_args!("{value}"));
        }
        // `{:?}` of a string: quoted, escaped; most values need no escape at all
        let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        self.result = if plain {
            self.writer
                .write_char('"')
                .and_then(|()| self.writer.write_str(value))
                .and_then(|()| self.writer.write_char('"'))
        } else {
            write!(self.writer, "{value:?}")
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field) {
            let mut buf = [0u8; 20];
            let mut i = buf.len();
            let mut v = value;
            loop {
                i -= 1;
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            // only ASCII digits were written
            self.result = self.writer.write_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if value >= 0 {
            return self.record_u64(field, value.unsigned_abs());
        }
        if self.start(field) {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        // rare: the default visitor's error rendering (with its sources), unchanged
        let mut inner = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        inner.record_error(field, value);
        self.is_empty = false;
        self.result = inner.finish();
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.start(field) {
            return;
        }
        if field.name() == "message" {
            return self.message(value);
        }
        self.result = write!(self.writer, "{value:?}");
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Writes through, escaping the characters a terminal would act on (as tracing-subscriber's
/// own sanitizing does for messages).
struct Escaping<'a, 'b>(&'a mut Writer<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            match ch {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c if ('\u{80}'..='\u{9f}').contains(&c) => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::DefaultFields;

    /// The text of the same events formatted by `fields`, without styling or timestamps.
    fn lines<F>(fields: F) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = seen.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let err = std::io::Error::other("disk full");
            tracing::info!(target: "t", request_id = %"r-1", route = "fast", quoted = "a \"b\" \\ \u{e9}\n",
                n = 42u64, neg = -7i64, zero = 0u32, big = u64::MAX, ok = true, ms = 0.25f64, r#type = "x",
                dbg = ?vec![1, 2], "request {}", 3);
            tracing::warn!(error = &err as &(dyn std::error::Error + 'static), "failed \x1b[31m");
            tracing::info!(only = 1u8);
        });
        String::from_utf8(seen.lock().map(|v| v.clone()).unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn plain_fields_write_what_the_default_fields_write_without_styling() {
        let ours = lines(PlainFields);
        assert_eq!(ours, lines(DefaultFields::new()));
        assert!(ours.contains("request 3 request_id=r-1 route=\"fast\""), "{ours}");
        assert!(ours.contains("n=42 neg=-7 zero=0 big=18446744073709551615 ok=true ms=0.25 type=\"x\""), "{ours}");
        assert!(ours.contains("\\x1b[31m"), "{ours}");
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
