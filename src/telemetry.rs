//! Logging: human-readable on a terminal, one JSON object per line with `--log-format json`;
//! to stderr (journald captures it under systemd). `RUST_LOG` / `--log-level` filter it.
//! Off a terminal the human format's fields are written by [`PlainFields`] and its timestamp
//! by [`UtcMicros`] (same text, a fraction of the instructions).
//!
//! The file watcher's own crates (`notify`, `inotify`, `mio`) are capped at `warn` unless the
//! filter names them: with `RUST_LOG=trace` and the log file in the config's directory, their
//! trace line about each write of the log file would be a write of the log file, and so on.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

mod clock;
mod plain_fields;
pub use clock::UtcMicros;
pub use plain_fields::PlainFields;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Crates whose logs are about the watcher's events: capped at `warn` unless named.
const QUIET_UNLESS_NAMED: [&str; 3] = ["notify", "inotify", "mio"];

pub fn init(format: LogFormat, level: &str) {
    let spec = std::env::var("RUST_LOG").ok().filter(|s| !s.trim().is_empty());
    let filter = EnvFilter::try_new(filter_spec(spec.as_deref().unwrap_or(level)))
        .or_else(|_| EnvFilter::try_new(filter_spec(level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Human if std::io::stderr().is_terminal() => builder.with_ansi(true).try_init(),
        // not a terminal (a file, journald): no styling, the fields written plainly, the
        // timestamp's date and time of day formatted once a second
        LogFormat::Human => builder.with_ansi(false).fmt_fields(PlainFields).with_timer(UtcMicros).try_init(),
    };
}

/// `spec` with `crate=warn` added for each watcher crate the spec does not name itself.
pub fn filter_spec(spec: &str) -> String {
    let named = |krate: &str| {
        spec.split(',').any(|d| {
            let target = d.trim().split(['=', '[']).next().unwrap_or("");
            target == krate || target.starts_with(&format!("{krate}::"))
        })
    };
    let mut out = spec.trim().trim_end_matches(',').to_string();
    for krate in QUIET_UNLESS_NAMED.iter().filter(|k| !named(k)) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(krate);
        out.push_str("=warn");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watcher_crates_are_capped_unless_named() {
        assert_eq!(filter_spec("trace"), "trace,notify=warn,inotify=warn,mio=warn");
        assert_eq!(filter_spec("info,sidegate=debug"), "info,sidegate=debug,notify=warn,inotify=warn,mio=warn");
        // named by the operator: theirs stands
        assert_eq!(filter_spec("trace,notify=trace"), "trace,notify=trace,inotify=warn,mio=warn");
        assert_eq!(filter_spec("notify::inotify=debug"), "notify::inotify=debug,inotify=warn,mio=warn");
        // a prefix is not a name
        assert_eq!(filter_spec("notifyx=trace"), "notifyx=trace,notify=warn,inotify=warn,mio=warn");
    }

    #[test]
    fn the_capped_filter_drops_watcher_traces_and_keeps_ours() {
        use tracing::Level;
        use tracing_subscriber::layer::SubscriberExt;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let layer = tracing_subscriber::fmt::layer().with_writer(move || Capture(sink.clone())).with_ansi(false);
        let filter = EnvFilter::new(filter_spec("trace"));
        let subscriber = tracing_subscriber::registry().with(filter).with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::event!(target: "notify::inotify", Level::TRACE, "inotify event: log file modified");
            tracing::event!(target: "notify::inotify", Level::WARN, "watch removed");
            tracing::event!(target: "sidegate::config", Level::TRACE, "our own trace");
        });
        let text = seen.lock().map(|v| v.concat()).unwrap_or_default();
        assert!(!text.contains("log file modified"), "{text}");
        assert!(text.contains("watch removed"), "{text}");
        assert!(text.contains("our own trace"), "{text}");
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.push(String::from_utf8_lossy(buf).into_owned());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
