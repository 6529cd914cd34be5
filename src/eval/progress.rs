//! The run's progress on stderr: a bar redrawn in place when stderr is a terminal, else a
//! plain line every tenth of the run (logs stay readable).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

pub struct Progress {
    total: usize,
    tty: bool,
    state: Mutex<(usize, usize)>,
    started: Instant,
    /// Silent (tests of the runner, `--json` to a terminal still shows it).
    quiet: bool,
}

const WIDTH: usize = 30;

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            state: Mutex::new((0, 0)),
            started: Instant::now(),
            quiet,
        }
    }

    /// One more item done (`failed`: its call failed).
    pub fn tick(&self, failed: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += 1;
        s.1 += usize::from(failed);
        let (done, errors) = *s;
        drop(s);
        if self.quiet {
            return;
        }
        let every = (self.total / 10).max(1);
        if self.tty {
            let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
            let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled.min(WIDTH)));
            eprint!("\r[{bar}] {done}/{} {:.1}/s {errors} failed ", self.total, self.rate(done));
            let _ = std::io::stderr().flush();
        } else if done % every == 0 || done == self.total {
            eprintln!("eval: {done}/{} items, {:.1}/s, {errors} failed", self.total, self.rate(done));
        }
    }

    fn rate(&self, done: usize) -> f64 {
        done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    pub fn finish(&self) {
        if self.tty && !self.quiet {
            eprintln!();
        }
    }
}
