#![allow(clippy::unwrap_used)]
//! The shadow budget: reservations at the ceiling, settled at the real cost, a cap that
//! concurrent reservations cannot overshoot, the day's start read from the ledger once, and a
//! ledger that cannot be read refusing; the concurrency slots.

use std::sync::Arc;

use super::*;

#[test]
fn reservations_hold_the_ceiling_until_settled_at_the_real_cost() {
    let s = Arc::new(ShadowState::default());
    let r1 = s.reserve(0.4, 1.0, 10, |_| Ok(0.0)).unwrap();
    let r2 = s.reserve(0.4, 1.0, 10, |_| unreachable!("read once a day")).unwrap();
    // 0.8 reserved: a third 0.4 would overshoot the cap.
    assert!(s.reserve(0.4, 1.0, 10, |_| Ok(0.0)).is_none());
    r1.settle(0.1);
    assert_eq!(s.spent_and_reserved(), (0.1, 0.4));
    let r3 = s.reserve(0.4, 1.0, 10, |_| Ok(0.0)).unwrap();
    r2.settle(0.1);
    r3.settle(0.1);
    let (spent, reserved) = s.spent_and_reserved();
    assert!((spent - 0.3).abs() < 1e-9 && reserved.abs() < 1e-9, "{spent} {reserved}");
}

#[test]
fn a_dropped_reservation_counts_its_ceiling() {
    let s = Arc::new(ShadowState::default());
    drop(s.reserve(0.25, 1.0, 3, |_| Ok(0.0)).unwrap());
    assert_eq!(s.spent_and_reserved(), (0.25, 0.0));
}

#[test]
fn the_day_starts_from_the_ledger_and_a_new_day_starts_again() {
    let s = Arc::new(ShadowState::default());
    let mut asked = Vec::new();
    assert!(
        s.reserve(0.5, 1.0, 7, |since| {
            asked.push(since);
            Ok(0.75)
        })
        .is_none()
    );
    assert_eq!(asked, [7 * DAY_S]);
    // The next day: the ledger says nothing was spent yet.
    s.reserve(0.5, 1.0, 8, |_| Ok(0.0)).unwrap().settle(0.5);
    assert_eq!(s.spent_and_reserved(), (0.5, 0.0));
}

#[test]
fn an_unreadable_ledger_skips_the_shadow() {
    let s = Arc::new(ShadowState::default());
    assert!(s.reserve(0.01, 1.0, 1, |_| Err("disk".into())).is_none());
    // and is asked again next time
    assert!(s.reserve(0.01, 1.0, 1, |_| Ok(0.0)).is_some());
}

#[test]
fn concurrent_reservations_never_overshoot_the_cap() {
    let s = Arc::new(ShadowState::default());
    let granted = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..100 {
                    if let Some(r) = s.reserve(0.01, 1.0, 1, |_| Ok(0.0)) {
                        granted.fetch_add(1, Ordering::Relaxed);
                        std::mem::forget(r); // held for ever: only the cap bounds them
                    }
                }
            });
        }
    });
    // 1.0 / 0.01 = 100 reservations fit (floating point may refuse the last).
    let n = granted.load(Ordering::Relaxed);
    assert!((99..=100).contains(&n), "{n}");
    let (_, reserved) = s.spent_and_reserved();
    assert!(reserved <= 1.0 + 1e-9, "{reserved}");
}

#[test]
fn slots_bound_calls_in_flight() {
    let s = Arc::new(ShadowState::default());
    let a = Slot::take(&s, 2).unwrap();
    let _b = Slot::take(&s, 2).unwrap();
    assert!(Slot::take(&s, 2).is_none());
    drop(a);
    assert!(Slot::take(&s, 2).is_some());
}
