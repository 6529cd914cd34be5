//! `sidegate status --fleet` and `sidegate usage --fleet`: the fleet read straight from the
//! shared Redis the config names (the daemon need not run on this host).

use std::process::ExitCode;

use super::connect::Link;
use crate::config::Snapshot;

fn runtime_and_link(snapshot: &Snapshot) -> Result<(tokio::runtime::Runtime, Link), ExitCode> {
    let Some(redis) = &snapshot.shared.redis else {
        eprintln!("sidegate: the config names no shared Redis ([shared] redis)");
        return Err(ExitCode::from(1));
    };
    let mut settings = redis.clone();
    // A CLI may wait longer than a request would.
    settings.timeout = settings.timeout.max(std::time::Duration::from_secs(2));
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Ok((rt, Link::new(&settings))),
        Err(e) => {
            eprintln!("sidegate: {e}");
            Err(ExitCode::from(1))
        }
    }
}

pub fn status(snapshot: &Snapshot, json: bool) -> ExitCode {
    let (rt, link) = match runtime_and_link(snapshot) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match rt.block_on(super::report::fleet_report(&link)) {
        Ok(r) if json => {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print!("{}", super::report::table(&r));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sidegate: cannot read the fleet from Redis: {}", redis_shown(snapshot, &e.to_string()));
            ExitCode::from(1)
        }
    }
}

pub fn usage(snapshot: &Snapshot, since: &str, by: &str, json: bool, csv: bool) -> ExitCode {
    let since = match humantime::parse_duration(since) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sidegate: --since {since}: {e}");
            return ExitCode::from(2);
        }
    };
    if !snapshot.shared.fleet.usage_stream {
        eprintln!("sidegate: note: this config does not append usage to the stream ([shared] usage_stream = false)");
    }
    let (rt, link) = match runtime_and_link(snapshot) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let by: Vec<String> = by.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    match rt.block_on(super::report::fleet_usage(&link, since, &by)) {
        Ok(rows) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else if csv {
                print!("{}", crate::usage::report::csv(&by, &rows));
            } else {
                print!("{}", crate::usage::report::table(&by, &rows));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sidegate: {}", redis_shown(snapshot, &e));
            ExitCode::from(1)
        }
    }
}

fn redis_shown(snapshot: &Snapshot, text: &str) -> String {
    snapshot.shared.redis.as_ref().map_or_else(|| text.to_string(), |r| r.url.redact(text))
}
