//! Load shedding at the connection limit. While a listener has no free slot, a connection that
//! holds one without using it (waiting for its first byte, idle between HTTP requests or still
//! sending a request head, a native connection with nothing in flight that has sent nothing
//! for a while) is closed once it has waited [`SHED_AFTER`],
//! instead of its full `first_byte_timeout` or `idle_timeout`: an idle flood then delays new
//! connections by a fraction of a second, not by the whole timeout. (Envoy's overload manager
//! cuts its idle timeouts the same way.) A request in flight is never shed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long an unused connection may hold its slot while others wait for one.
pub const SHED_AFTER: Duration = Duration::from_millis(250);

/// One listener's "no free slot" state.
#[derive(Default)]
pub struct Pressure {
    on: AtomicBool,
    changed: Notify,
}

impl Pressure {
    /// Set by the accept loop: on while it waits for a slot, off once it has one.
    pub fn set(&self, on: bool) {
        if self.on.swap(on, Ordering::Relaxed) != on && on {
            self.changed.notify_waiters();
        }
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Resolves when a connection unused since `since` should give its slot back: at once when
    /// the listener is full and it waited [`SHED_AFTER`], else when that becomes true.
    pub async fn shed(&self, since: Instant) {
        loop {
            let changed = self.changed.notified();
            if self.is_on() {
                tokio::time::sleep_until(since + SHED_AFTER).await;
                if self.is_on() {
                    return;
                }
                continue;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unused_connection_is_shed_only_while_the_listener_is_full() {
        let p = std::sync::Arc::new(Pressure::default());
        let since = Instant::now();
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.shed(since).await }
        });
        // (however slow the machine, nothing sheds it without pressure)
        tokio::time::sleep(SHED_AFTER * 2).await;
        assert!(!waiting.is_finished(), "shed without pressure");
        p.set(true);
        tokio::time::timeout(Duration::from_secs(30), waiting).await.unwrap().unwrap();
        p.set(false);
        assert!(!p.is_on());
    }
}
