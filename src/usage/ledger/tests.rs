//! The ledger's rows, its retries after failed writes, and budgets that fail closed.

#![allow(clippy::unwrap_used)]

use super::writer::insert;
use super::*;

fn row(i: u64) -> Record {
    Record {
        ts_ms: i as i64,
        request_id: format!("sg-{i}"),
        caller: "c".into(),
        app: None,
        route: "r".into(),
        deployment: "d".into(),
        provider: "p".into(),
        prompt_tokens: i,
        completion_tokens: 1,
        cached_tokens: 0,
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        cost_usd: Some(0.5),
        latency_ms: 1.0,
        status: 200,
        outcome: "ok".into(),
        attempts: 1,
        stream: false,
        cache: "bypass".into(),
        dialect: "chat",
        prompt: None,
        variant: None,
        shadow: false,
    }
}

#[test]
fn a_ledger_from_before_the_dialect_column_gains_it_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let old_schema = SCHEMA.replace(",\n    dialect TEXT NOT NULL DEFAULT 'chat'", "");
    assert!(!old_schema.contains("dialect"));
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(&old_schema).unwrap();
        c.execute(
            "INSERT INTO requests VALUES (1, 'sg-old', 'c', NULL, 'r', 'd', 'p', 1, 1, 0, NULL, 1.0, 200, 'ok', 1, 0, 'bypass')",
            [],
        )
        .unwrap();
    }
    let conn = open_rw(&path).unwrap();
    let mut r = row(2);
    r.dialect = "messages";
    insert(&conn, &[&r]).unwrap();
    let got: Vec<(String, String)> = conn
        .prepare("SELECT request_id, dialect FROM requests ORDER BY ts_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, [("sg-old".to_string(), "chat".to_string()), ("sg-2".to_string(), "messages".to_string())]);
    open_rw(&path).unwrap(); // a second open finds the column and adds nothing
}

#[test]
fn batches_of_any_size_insert_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_rw(&dir.path().join("ledger.db")).unwrap();
    let mut next = 0;
    for size in [1, 31, 32, 33, 70, 5] {
        let batch: Vec<Record> = (next..next + size).map(row).collect();
        insert(&conn, &batch.iter().collect::<Vec<_>>()).unwrap();
        next += size;
    }
    let (n, sum): (i64, i64) = conn
        .query_row("SELECT COUNT(*), SUM(prompt_tokens) FROM requests", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(n as u64, next);
    assert_eq!(sum as u64, (0..next).sum::<u64>());
    let distinct: i64 = conn.query_row("SELECT COUNT(DISTINCT request_id) FROM requests", [], |r| r.get(0)).unwrap();
    assert_eq!(distinct as u64, next);
}

/// Makes every insert into the ledger fail, as a full disk does, from another connection.
const FAIL_WRITES: &str =
    "CREATE TRIGGER full_disk BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;";

fn priced(i: u64, cost: f64) -> Record {
    Record { cost_usd: Some(cost), ts_ms: crate::api::ids::unix_ms() as i64, caller: "c".into(), ..row(i) }
}

/// Polls `what` until it holds (bounded: the writer retries every second).
fn eventually(ledger: &Ledger, what: impl Fn(&LedgerReport) -> bool) -> LedgerReport {
    for _ in 0..400 {
        let r = ledger.report();
        if what(&r) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("never reached: {:?}", ledger.report());
}

#[test]
fn failed_writes_are_retried_and_their_spend_counts_until_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open(&path, Duration::from_secs(86_400)).unwrap();
    let side = Connection::open(&path).unwrap();
    side.execute_batch(FAIL_WRITES).unwrap();
    for i in 0..5 {
        ledger.record(priced(i, 0.25));
    }
    let r = eventually(&ledger, |r| r.write_errors > 0 && r.pending == 5);
    assert_eq!((r.written, r.dropped), (0, 0), "{r:?}");
    assert!(r.last_error.as_deref().is_some_and(|e| e.contains("disk is full")), "{r:?}");
    assert!((r.unsettled_usd - 1.25).abs() < 1e-9, "{r:?}");
    // the budget sees the spend the table does not have yet
    assert!((ledger.spent_since("c", 0).unwrap() - 1.25).abs() < 1e-9);
    assert_eq!(ledger.spent_since("someone-else", 0).unwrap(), 0.0);
    let in_table: i64 = side.query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0)).unwrap();
    assert_eq!(in_table, 0);

    // the disk has room again: the kept rows are written, once, and nothing is counted twice
    side.execute_batch("DROP TRIGGER full_disk").unwrap();
    let r = eventually(&ledger, |r| r.written == 5);
    assert_eq!((r.pending, r.dropped), (0, 0), "{r:?}");
    assert_eq!(r.last_error, None);
    assert_eq!(r.unsettled_usd, 0.0);
    assert!((ledger.spent_since("c", 0).unwrap() - 1.25).abs() < 1e-9);
    ledger.close();
    let (n, sum): (i64, f64) =
        side.query_row("SELECT COUNT(*), SUM(cost_usd) FROM requests", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(n, 5);
    assert!((sum - 1.25).abs() < 1e-9);
}

#[test]
fn a_full_retry_buffer_drops_the_oldest_rows_and_still_counts_their_spend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open_with_buffer(&path, Duration::from_secs(86_400), 3).unwrap();
    Connection::open(&path).unwrap().execute_batch(FAIL_WRITES).unwrap();
    for i in 0..10 {
        ledger.record(priced(i, 0.1));
    }
    let r = eventually(&ledger, |r| r.dropped + r.pending == 10 && r.dropped > 0);
    assert!(r.pending <= 3, "{r:?}");
    assert!((ledger.spent_since("c", 0).unwrap() - 1.0).abs() < 1e-9, "dropped spend is still spend");
    // closed while writes still fail: what is left is lost, and counted
    ledger.close();
    assert_eq!(ledger.dropped(), 10);
}

#[test]
fn a_ledger_that_cannot_be_read_is_an_error_not_nothing_spent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open(&path, Duration::from_secs(86_400)).unwrap();
    ledger.record(priced(1, 0.5));
    eventually(&ledger, |r| r.written == 1);
    assert!((ledger.spent_since("c", 0).unwrap() - 0.5).abs() < 1e-9);
    Connection::open(&path).unwrap().execute_batch("ALTER TABLE requests RENAME TO requests_gone").unwrap();
    let e = ledger.spent_since("c", 0).err().unwrap();
    assert!(e.to_string().contains("cannot be read"), "{e}");
    ledger.close();
}

#[test]
fn a_ledger_from_before_the_cache_write_and_reasoning_columns_gains_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(SCHEMA).unwrap(); // the schema of the dialect change: no new columns
        c.execute(
            "INSERT INTO requests VALUES (1, 'sg-old', 'c', NULL, 'r', 'd', 'p', 1, 1, 0, NULL, 1.0, 200, 'ok', 1, 0, 'bypass', 'chat')",
            [],
        )
        .unwrap();
    }
    let conn = open_rw(&path).unwrap();
    let mut r = row(2);
    (r.cache_write_tokens, r.cache_write_1h_tokens, r.reasoning_tokens) = (300, 100, 42);
    insert(&conn, &[&r]).unwrap();
    let got: Vec<(String, i64, i64, i64)> = conn
        .prepare("SELECT request_id, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens FROM requests ORDER BY ts_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, [("sg-old".to_string(), 0, 0, 0), ("sg-2".to_string(), 300, 100, 42)]);
    open_rw(&path).unwrap(); // a second open finds the columns and adds nothing
}

#[test]
fn shadow_rows_are_their_experiments_spend_never_their_callers() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db"), Duration::from_secs(86_400)).unwrap();
    let shadow = |i, cost| Record { route: "r".into(), variant: Some("try".into()), shadow: true, ..priced(i, cost) };
    ledger.record(priced(1, 0.5));
    ledger.record(shadow(2, 0.25));
    ledger.record(shadow(3, 0.125));
    // Before the rows are written, only the live row waits as the caller's unsettled spend.
    assert!((ledger.spent_since("c", 0).unwrap() - 0.5).abs() < 1e-9);
    eventually(&ledger, |r| r.written == 3);
    assert!((ledger.spent_since("c", 0).unwrap() - 0.5).abs() < 1e-9);
    assert!((ledger.shadow_spent_since("r", "try", 0).unwrap() - 0.375).abs() < 1e-9);
    assert_eq!(ledger.shadow_spent_since("r", "other", 0).unwrap(), 0.0);
}

#[test]
fn feedback_is_kept_per_request_and_a_later_one_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open(&path, Duration::from_secs(86_400)).unwrap();
    let f = |score, label: Option<&str>| crate::usage::feedback::Feedback {
        request_id: "sg-1".into(),
        score,
        label: label.map(str::to_string),
        comment: None,
    };
    assert!(!ledger.record_feedback(&f(Some(0.5), None), "c").unwrap());
    assert!(ledger.record_feedback(&f(None, Some("good")), "c").unwrap());
    let side = Connection::open(&path).unwrap();
    let rows: Vec<(Option<f64>, Option<String>)> = side
        .prepare("SELECT score, label FROM feedback")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(None, Some("good".to_string()))]);
}
