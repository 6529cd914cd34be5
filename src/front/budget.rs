//! The process-wide memory budget for what clients send: request bodies and native frames in
//! flight, counted in bytes as they arrive (never by what a length field claims). A request
//! that cannot get its bytes is refused with 503 `overloaded` and a `retry-after` (or the
//! native ERROR frame) instead of growing the heap without bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::GatewayError;

/// What an overloaded caller is told to wait before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Bytes that bodies and frames in flight may hold at once, over every connection.
#[derive(Clone)]
pub struct MemoryBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// The budget is spent: the request that asked for more is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {total}-byte budget for request bodies in flight is spent")]
pub struct Exhausted {
    pub total: usize,
}

impl Exhausted {
    /// The refusal a caller sees (503, `overloaded`, retry after [`RETRY_AFTER`]).
    pub fn to_error(self) -> GatewayError {
        GatewayError::Overloaded {
            message: format!(
                "sidegate is holding its limit of request bodies in flight ({} bytes, server.max_inflight_body_bytes); retry shortly",
                self.total
            ),
            retry_after: RETRY_AFTER,
        }
    }
}

impl MemoryBudget {
    pub fn new(total: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        MemoryBudget { bytes: Arc::new(Semaphore::new(total)), total }
    }

    /// Bytes not held by anyone right now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Adds `n` bytes to `held`, or refuses without waiting when the budget cannot spare them.
    pub fn grow(&self, held: &mut Held, n: usize) -> Result<(), Exhausted> {
        if n == 0 {
            return Ok(());
        }
        let exhausted = Exhausted { total: self.total };
        let n = u32::try_from(n).map_err(|_| exhausted)?;
        let more = self.bytes.clone().try_acquire_many_owned(n).map_err(|_| exhausted)?;
        match &mut held.permit {
            Some(p) => p.merge(more),
            None => held.permit = Some(more),
        }
        Ok(())
    }
}

/// Bytes of the budget held by one body or buffer; given back when dropped.
#[derive(Debug, Default)]
pub struct Held {
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    pub fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Moves `n` of these bytes (all of them when fewer are held) into a new `Held`.
    pub fn split(&mut self, n: usize) -> Held {
        if n >= self.bytes() {
            return Held { permit: self.permit.take() };
        }
        Held { permit: self.permit.as_mut().and_then(|p| p.split(n)) }
    }

    /// Gives back what is held past `n` bytes.
    pub fn shrink_to(&mut self, n: usize) {
        let extra = self.bytes().saturating_sub(n);
        if extra > 0 {
            drop(self.split(extra));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_lent_until_dropped_and_refused_past_the_total() {
        let b = MemoryBudget::new(100);
        let mut a = Held::default();
        b.grow(&mut a, 60).unwrap();
        b.grow(&mut a, 30).unwrap();
        assert_eq!(a.bytes(), 90);
        let mut c = Held::default();
        assert_eq!(b.grow(&mut c, 20), Err(Exhausted { total: 100 }));
        assert_eq!(c.bytes(), 0);
        let part = a.split(50);
        assert_eq!((part.bytes(), a.bytes()), (50, 40));
        drop(part);
        b.grow(&mut c, 20).unwrap();
        assert_eq!(b.available(), 40);
        a.shrink_to(10);
        assert_eq!((a.bytes(), b.available()), (10, 70));
        let rest = a.split(1000);
        assert_eq!((rest.bytes(), a.bytes()), (10, 0));
    }

    #[test]
    fn the_refusal_is_a_503_with_retry_after() {
        let e = Exhausted { total: 5 }.to_error();
        assert_eq!(e.status(), 503);
        assert_eq!(e.retry_after_secs(), Some(1));
        assert_eq!(e.label(), "overloaded");
    }
}
