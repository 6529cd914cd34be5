//! Coalescing: identical requests in flight at once share one answer.
//!
//! The first request for a key (the leader) creates a `Flight` and starts one task that
//! produces the answer (lower cache tiers, else the vendor) and publishes it through the
//! flight: the stream's chunks as they arrive, then the whole answer or the failure. Every
//! request for that key, the leader included, is a `Waiter`: it reads what was published so
//! far and then follows, so a latecomer gets the chunks it missed and then the live ones.
//!
//! The task belongs to no single caller: a waiter that goes away (a cancelled request, a
//! closed connection) leaves the others untouched. Only when the last waiter is gone is the
//! task aborted, which cancels the vendor call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::Stream;
use tokio::sync::watch;

use super::entry::{Entry, Origin};
use super::key::CacheKey;
use crate::api::ChatChunk;
use crate::api::error::AttemptRecord;
use crate::api::error::GatewayError;
use crate::config::ModelSettings;

/// Where a flight's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Vendor,
    /// A lower cache tier (`disk` or `redis`).
    Tier(&'static str),
}

/// Who answered and how.
#[derive(Debug)]
pub struct Answered {
    pub origin: Origin,
    /// The vendor calls the flight made (empty for a tier hit).
    pub attempts: Vec<AttemptRecord>,
    pub source: Source,
    /// The deployment that answered, when a vendor did (for pricing the call).
    pub deployment: Option<Arc<ModelSettings>>,
}

#[derive(Clone)]
pub enum Phase {
    Pending,
    /// A committed vendor stream: chunks are being published.
    Streaming(Arc<Answered>),
    /// The whole answer (for a stream: every chunk was published before this).
    Done(Arc<Answered>, Arc<Entry>),
    Failed(GatewayError),
}

struct State {
    phase: Phase,
    chunks: Vec<ChatChunk>,
}

pub struct Flight {
    key: CacheKey,
    registered: bool,
    /// Changed only under the `Flights` lock.
    waiters: AtomicUsize,
    state: Mutex<State>,
    version: watch::Sender<u64>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Flight {
    fn finished(&self) -> bool {
        matches!(lock(&self.state).phase, Phase::Done(..) | Phase::Failed(_))
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut lock(&self.state));
        self.version.send_modify(|v| *v += 1);
    }

    /// Lets the last waiter to leave cancel the task.
    pub fn set_task(&self, handle: tokio::task::AbortHandle) {
        *lock(&self.task) = Some(handle);
    }
}

#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<CacheKey, Arc<Flight>>>,
}

impl Flights {
    /// Joins the flight for `key`, or starts one (then the caller gets the `Publisher` and
    /// must start the task). An unregistered flight (`register = false`, for `no-cache`) is
    /// private: nobody else can join it.
    pub fn join_or_lead(self: &Arc<Self>, key: CacheKey, register: bool) -> (Waiter, Option<Publisher>) {
        let mut map = lock(&self.map);
        if register && let Some(f) = map.get(&key) {
            f.waiters.fetch_add(1, Ordering::Relaxed);
            let w = Waiter::new(f.clone(), self.clone(), false);
            return (w, None);
        }
        let (version, _) = watch::channel(0);
        let flight = Arc::new(Flight {
            key,
            registered: register,
            waiters: AtomicUsize::new(1),
            state: Mutex::new(State { phase: Phase::Pending, chunks: Vec::new() }),
            version,
            task: Mutex::new(None),
        });
        if register {
            map.insert(key, flight.clone());
        }
        drop(map);
        let publisher = Publisher { flight: flight.clone(), flights: self.clone(), finished: false };
        (Waiter::new(flight, self.clone(), true), Some(publisher))
    }

    /// Shared flights in progress, and the requests waiting on them (for status).
    pub fn in_flight(&self) -> (usize, usize) {
        let map = lock(&self.map);
        (map.len(), map.values().map(|f| f.waiters.load(Ordering::Relaxed)).sum())
    }

    fn forget(&self, flight: &Arc<Flight>) {
        if !flight.registered {
            return;
        }
        let mut map = lock(&self.map);
        if map.get(&flight.key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(&flight.key);
        }
    }

    fn leave(&self, flight: &Arc<Flight>) {
        let mut map = lock(&self.map);
        if flight.waiters.fetch_sub(1, Ordering::Relaxed) != 1 || flight.finished() {
            return;
        }
        // The last waiter left before the answer: nobody wants it any more.
        if flight.registered && map.get(&flight.key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(&flight.key);
        }
        drop(map);
        if let Some(task) = lock(&flight.task).take() {
            task.abort();
        }
    }
}

/// The producing side of a flight, owned by its task. Dropped without an answer (the task
/// panicked or was aborted), it publishes a failure, so no waiter hangs.
pub struct Publisher {
    flight: Arc<Flight>,
    flights: Arc<Flights>,
    finished: bool,
}

impl Publisher {
    pub fn flight(&self) -> &Arc<Flight> {
        &self.flight
    }

    /// The vendor's stream is committed; chunks follow.
    pub fn streaming(&self, answered: Arc<Answered>) {
        self.flight.update(|s| s.phase = Phase::Streaming(answered));
    }

    pub fn chunk(&self, c: ChatChunk) {
        self.flight.update(|s| s.chunks.push(c));
    }

    /// The chunks published so far.
    pub fn chunks(&self) -> Vec<ChatChunk> {
        lock(&self.flight.state).chunks.clone()
    }

    pub fn done(mut self, answered: Arc<Answered>, entry: Arc<Entry>) {
        self.finish(Phase::Done(answered, entry));
    }

    pub fn failed(mut self, e: GatewayError) {
        self.finish(Phase::Failed(e));
    }

    fn finish(&mut self, phase: Phase) {
        self.finished = true;
        self.flight.update(|s| s.phase = phase);
        self.flights.forget(&self.flight);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(Phase::Failed(GatewayError::internal("the shared vendor call ended without an answer")));
        }
    }
}

/// One request waiting on a flight.
pub struct Waiter {
    flight: Arc<Flight>,
    flights: Arc<Flights>,
    rx: watch::Receiver<u64>,
    /// Whether this request started the flight.
    pub leader: bool,
}

impl Waiter {
    fn new(flight: Arc<Flight>, flights: Arc<Flights>, leader: bool) -> Self {
        let rx = flight.version.subscribe();
        Waiter { flight, flights, rx, leader }
    }

    /// The first phase past `Pending`: a stream started, or the flight ended.
    pub async fn started(&mut self) -> Phase {
        self.wait(|s| (!matches!(s.phase, Phase::Pending)).then(|| s.phase.clone())).await
    }

    /// The flight's end: `Done` or `Failed`.
    pub async fn finished(&mut self) -> Phase {
        self.wait(|s| matches!(s.phase, Phase::Done(..) | Phase::Failed(_)).then(|| s.phase.clone())).await
    }

    async fn wait<R>(&mut self, mut f: impl FnMut(&State) -> Option<R>) -> R {
        loop {
            self.rx.borrow_and_update();
            if let Some(r) = f(&lock(&self.flight.state)) {
                return r;
            }
            // The sender lives in the flight, which this waiter holds: it never closes.
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Every chunk of a streaming flight from the first, then the live ones; ends after the
    /// last chunk, or with the flight's failure as the final item.
    pub fn into_chunks(self) -> impl Stream<Item = Result<ChatChunk, GatewayError>> + Send + 'static {
        futures_util::stream::unfold((self, 0usize, false), |(mut w, cursor, ended)| async move {
            if ended {
                return None;
            }
            let item = w
                .wait(|s| {
                    if let Some(c) = s.chunks.get(cursor) {
                        return Some(Some(Ok(c.clone())));
                    }
                    match &s.phase {
                        Phase::Done(..) => Some(None),
                        Phase::Failed(e) => Some(Some(Err(e.clone()))),
                        _ => None,
                    }
                })
                .await;
            match item {
                Some(Ok(c)) => Some((Ok(c), (w, cursor + 1, false))),
                Some(Err(e)) => Some((Err(e), (w, cursor, true))),
                None => None,
            }
        })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.flights.leave(&self.flight);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn answered() -> Arc<Answered> {
        Arc::new(Answered {
            origin: Origin { provider: "p".into(), deployment: "d".into(), vendor_model: "m".into() },
            attempts: Vec::new(),
            source: Source::Vendor,
            deployment: None,
        })
    }

    fn chunk(text: &str) -> ChatChunk {
        ChatChunk::text("id", 0, "m", false, text)
    }

    #[tokio::test]
    async fn latecomers_get_what_they_missed_then_the_rest() {
        let flights = Arc::new(Flights::default());
        let key = CacheKey([3; 32]);
        let (mut lead, publisher) = flights.join_or_lead(key, true);
        let publisher = publisher.unwrap();
        assert!(lead.leader);
        publisher.streaming(answered());
        publisher.chunk(chunk("a"));
        let (mut late, none) = flights.join_or_lead(key, true);
        assert!(none.is_none() && !late.leader);
        assert!(matches!(lead.started().await, Phase::Streaming(_)));
        assert!(matches!(late.started().await, Phase::Streaming(_)));
        let reader = tokio::spawn(
            late.into_chunks().map(|c| c.unwrap().content().unwrap_or("").to_string()).collect::<Vec<_>>(),
        );
        publisher.chunk(chunk("b"));
        let (entry, _) =
            Entry::new(answered().origin.clone(), crate::cache::entry::Body::Embeddings(serde_json::Value::Null), 1000);
        publisher.done(answered(), Arc::new(entry));
        assert_eq!(reader.await.unwrap(), vec!["a", "b"]);
        assert!(matches!(lead.finished().await, Phase::Done(..)));
        assert_eq!(flights.in_flight().0, 0);
    }

    #[tokio::test]
    async fn the_last_waiter_leaving_aborts_the_task_and_not_before() {
        let flights = Arc::new(Flights::default());
        let key = CacheKey([4; 32]);
        let (a, publisher) = flights.join_or_lead(key, true);
        let publisher = publisher.unwrap();
        let flight = publisher.flight().clone();
        let task = tokio::spawn(async move {
            let _p = publisher;
            std::future::pending::<()>().await;
        });
        flight.set_task(task.abort_handle());
        let (mut b, _) = flights.join_or_lead(key, true);
        drop(a);
        tokio::task::yield_now().await;
        assert!(!task.is_finished(), "one waiter left: the call goes on");
        let (c, _) = flights.join_or_lead(key, true);
        drop(c);
        let b_end = tokio::spawn(async move { matches!(b.finished().await, Phase::Failed(_)) });
        // b is still waiting; the task runs until b goes too.
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        b_end.abort();
        let _ = b_end.await;
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(flights.in_flight().0, 0);
    }

    #[tokio::test]
    async fn private_flights_are_not_joined() {
        let flights = Arc::new(Flights::default());
        let key = CacheKey([5; 32]);
        let (_a, p1) = flights.join_or_lead(key, false);
        let (_b, p2) = flights.join_or_lead(key, true);
        assert!(p1.is_some() && p2.is_some());
    }

    #[tokio::test]
    async fn a_publisher_dropped_without_an_answer_fails_its_waiters() {
        let flights = Arc::new(Flights::default());
        let (mut w, p) = flights.join_or_lead(CacheKey([6; 32]), true);
        drop(p);
        assert!(matches!(w.finished().await, Phase::Failed(_)));
    }
}
