//! Issue 17, item 7: a ledger that fails. Rows of failed writes are kept and written again
//! (so a restart after a full disk cannot overshoot a budget), the failure shows in `status`
//! and `/metrics`, and a ledger that cannot be read refuses budgeted requests (fails closed)
//! instead of counting nothing spent.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Daemon, bin};

/// Every call costs 10 output tokens x $1000/1M = $0.01; the budget covers 5.
fn budgeted() -> String {
    format!(
        "[providers.mock]\nkind = \"mock\"\ntokens = 10\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\nprice = {{ input = 0.0, output = 1000.0 }}\n\
         [callers.me]\nuid = {}\nbudget = {{ usd = 0.05, per = \"day\" }}\n",
        sidegate::sys::uid()
    )
}

/// Makes every insert fail, as a full disk does.
const FAIL_WRITES: &str =
    "CREATE TRIGGER full_disk BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;";

async fn chat(d: &Daemon) -> (u16, Value) {
    let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn ledger_status(d: &Daemon) -> Value {
    let s: Value = d.http().get("http://sidegate/status").send().await.unwrap().json().await.unwrap();
    s["ledger"].clone()
}

/// Polls the daemon's ledger status until `what` holds.
async fn ledger_until(d: &Daemon, what: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let l = ledger_status(d).await;
        if what(&l) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ledger never got there: {}", ledger_status(d).await);
}

#[tokio::test]
async fn a_budget_holds_across_a_restart_after_the_ledger_disk_was_full() {
    let mut d = Daemon::start("", &budgeted()).await;
    let db = d.dir.path().join("state").join("usage.sqlite3");
    let side = rusqlite::Connection::open(&db).unwrap();
    side.execute_batch(FAIL_WRITES).unwrap();

    for _ in 0..3 {
        assert_eq!(chat(&d).await.0, 200);
    }
    let l = ledger_until(&d, |l| l["pending"] == 3 && l["write_errors"].as_u64() > Some(0)).await;
    assert_eq!(l["written"], 0, "{l}");
    assert!(l["last_error"].as_str().unwrap().contains("disk is full"), "{l}");
    assert!((l["unsettled_usd"].as_f64().unwrap() - 0.03).abs() < 1e-9, "{l}");
    let metrics = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sidegate_ledger_pending_rows 3"), "{metrics}");
    assert!(!metrics.contains("sidegate_ledger_write_errors_total 0\n"), "{metrics}");
    let out = Command::new(bin()).args(["status", "--socket"]).arg(&d.socket).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 waiting") && text.contains("writes failing"), "{text}");

    // room again: the kept rows are written
    side.execute_batch("DROP TRIGGER full_disk").unwrap();
    let l = ledger_until(&d, |l| l["written"] == 3).await;
    assert_eq!((l["pending"].as_u64(), l["dropped"].as_u64()), (Some(0), Some(0)), "{l}");

    // a restart reads the $0.03 back: two more calls fit, the third is refused
    d.signal("TERM");
    assert_eq!(d.wait_exit().await, Some(0));
    d.spawn().await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(chat(&d).await);
    }
    assert_eq!(codes[0].0, 200, "{:?}", codes[0].1);
    assert_eq!(codes[1].0, 200, "{:?}", codes[1].1);
    assert_eq!(codes[2].0, 429, "{:?}", codes[2].1);
    assert_eq!(codes[2].1["error"]["code"], "budget_exceeded");
    let total: f64 = side.query_row("SELECT SUM(cost_usd) FROM requests", [], |r| r.get(0)).unwrap_or(0.0);
    assert!(total <= 0.05 + 1e-9, "ledger total {total}");
}

#[tokio::test]
async fn a_ledger_that_cannot_be_opened_refuses_budgeted_requests() {
    let state = tempfile::tempdir().unwrap();
    // a directory where the database file should be: the ledger cannot open
    std::fs::create_dir_all(state.path().join("usage.sqlite3")).unwrap();
    let d = Daemon::start(&format!("state_dir = \"{}\"", state.path().display()), &budgeted()).await;
    let (code, body) = chat(&d).await;
    assert_eq!(code, 500, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("could not be opened") && msg.contains("refused rather than counted as nothing spent"),
        "{msg}"
    );
    assert!(d.log().contains("budget check failed"), "{}", d.log());
    assert!(ledger_status(&d).await.is_null(), "no ledger to report");
}
