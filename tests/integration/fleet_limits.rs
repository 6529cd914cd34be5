//! Issue 18, the shared limits across a fleet of three daemons and a real `redis-server`: one
//! budget held at concurrency 50 per host (and `usage --fleet`, `status --fleet`), Redis
//! stopped and restarted under load with no failed request, limits that fall back to per-host
//! shares and reconcile, and a reservation released at its own TTL. Every wait is bounded and
//! polls; nothing asserts on timing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::{FleetRedis, Load, chat_body, cli_json, fleet_of_three, priced, shared, status, until};

#[tokio::test]
async fn three_hosts_at_concurrency_50_each_never_overshoot_one_budget() {
    let Some(redis) = FleetRedis::start(false).await else { return };
    let body =
        format!("{}\n{}", priced("budget = { usd = 0.05, per = \"day\" }"), shared(&redis, "usage_stream = true"));
    let fleet = fleet_of_three(&body).await;
    let mut clients = Vec::new();
    for d in &fleet {
        clients.push(d.native().await);
    }
    let req = chat_body("m", "x");
    let no_opts = json!({});
    let calls = (0..150).map(|i| clients[i % 3].call("chat", &req, &no_opts));
    let results = futures_util::future::join_all(calls).await;
    let (ok, over) = crate::common::answered_and_over_budget(&results);
    assert_eq!(ok + over, 150, "every refusal is the budget's");
    assert_eq!(ok, 5, "three hosts hold one $0.05 budget: exactly 5 calls at $0.01");

    // The usage stream has every host's rows; the fleet's status shows the shared budget.
    let mut rows = Value::Null;
    for _ in 0..200 {
        rows = cli_json(&fleet[0], &["usage", "--fleet", "--json", "--since", "1h", "--by", "host"]);
        if rows.as_array().map(|a| a.iter().map(|r| r["requests"].as_u64().unwrap()).sum::<u64>()) == Some(150) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hosts = rows.as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{rows}");
    let cost: f64 = hosts.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    assert!((cost - 0.05).abs() < 1e-9, "the stream says {cost}: {rows}");
    let report = cli_json(&fleet[1], &["status", "--fleet", "--json"]);
    assert_eq!(report["hosts"].as_array().unwrap().len(), 3, "{report}");
    for d in &fleet {
        let version = status(d).await["config"]["version"].clone();
        assert!(report["hosts"].as_array().unwrap().iter().any(|h| h["config"] == version), "{report}");
    }
    let budget = report["counters"].as_array().unwrap().iter().find(|c| c["kind"] == "budget").cloned().unwrap();
    assert_eq!(budget["caller"], "me");
    assert!((budget["value"].as_f64().unwrap() - 0.05).abs() < 1e-9, "{budget}");
}

#[tokio::test]
async fn redis_stopped_and_restarted_under_load_fails_no_request() {
    let Some(mut redis) = FleetRedis::start(false).await else { return };
    let limits = "rpm = 100000\ntpm = 100000000\nbudget = { usd = 1000.0, per = \"day\" }";
    let body = format!("{}\n{}", priced(limits), shared(&redis, ""));
    let fleet = fleet_of_three(&body).await;
    let load = Load::start(&fleet, "m", 4).await;
    load.answered(30).await;
    redis.stop();
    for d in &fleet {
        until("the fleet sees Redis down", d, |s| s["fleet"]["redis"] == "down").await;
    }
    load.answered(60).await;
    redis.spawn().await;
    for d in &fleet {
        until("the fleet sees Redis back", d, |s| s["fleet"]["redis"] == "up" && s["fleet"]["hosts"] == 3).await;
    }
    load.answered(60).await;
    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0, "{ok} answered");
    // The shared budget counted requests again once Redis was back (no daemon restarted).
    let report = cli_json(&fleet[0], &["status", "--fleet", "--json"]);
    let budget = report["counters"].as_array().unwrap().iter().find(|c| c["kind"] == "budget").cloned().unwrap();
    assert!(budget["value"].as_f64().unwrap() > 0.0, "{report}");
}

#[tokio::test]
async fn limits_fall_back_to_a_hosts_share_while_redis_is_down_and_reconcile() {
    let Some(mut redis) = FleetRedis::start(false).await else { return };
    let body = format!("{}\n{}", priced("rpm = 30"), shared(&redis, ""));
    let fleet = fleet_of_three(&body).await;
    redis.stop();
    until("host 0 sees Redis down", &fleet[0], |s| s["fleet"]["redis"] == "down").await;
    let c = fleet[0].native().await;
    let req = chat_body("m", "x");
    let no_opts = json!({});
    let results = futures_util::future::join_all((0..15).map(|_| c.call("chat", &req, &no_opts))).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 10, "a third of 30 per minute while the fleet cannot count together");

    redis.spawn().await;
    until("host 0 sees Redis back", &fleet[0], |s| s["fleet"]["redis"] == "up").await;
    // Host 0's ten are added to the shared window: host 1 gets what is left of the 30.
    let c1 = fleet[1].native().await;
    let mut ok1 = 0;
    for _ in 0..40 {
        if c1.call("chat", &req, &json!({})).await.is_ok() {
            ok1 += 1;
        }
    }
    assert!((20..30).contains(&ok1), "host 1 had {ok1} of the 30 (host 0's ten were reconciled)");
}

/// The shared limits against a real Redis, through the library: a reservation nobody settles
/// (its host died mid-call) is released at its own TTL, and the rpm window refuses past its
/// limit with a wait until there is room.
#[tokio::test]
async fn an_unsettled_reservation_is_released_at_its_own_ttl() {
    use sidegate::callers::shared::{Ask, Refusal, SharedLimits};
    let Some(redis) = FleetRedis::start(false).await else { return };
    let settings = sidegate::config::RedisSettings::plain(&redis.url(), Duration::from_secs(1));
    let link = Arc::new(sidegate::fleet::connect::Link::new(&settings));
    let hosts = Arc::new(std::sync::atomic::AtomicU32::new(1));
    let limits = SharedLimits::new(link, Duration::from_secs(1), hosts);
    let now_ms = sidegate::api::ids::unix_ms();
    let day = now_ms / 1000 / 86_400 * 86_400;
    let spend = Ask { caller: "ttl", now_ms, rpm: None, tpm: None, budget: Some(((day, day + 86_400), 1.0, 1.0)) };
    let held = limits.admit(&spend).await.unwrap();
    assert!(held.is_some(), "the whole budget is reserved");
    assert!(matches!(limits.admit(&spend).await, Err(Refusal::Budget(t)) if (t - 1.0).abs() < 1e-9));
    // Never settled: the reservation's TTL gives the amount back (bounded wait, no timing).
    let mut released = false;
    for _ in 0..200 {
        let ask = Ask { now_ms: sidegate::api::ids::unix_ms(), ..spend.clone() };
        if limits.admit(&ask).await.is_ok() {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(released, "the unsettled reservation still holds the budget");

    let rate = Ask { caller: "rate", now_ms, rpm: Some(10.0), tpm: None, budget: None };
    for i in 0..10 {
        assert!(limits.admit(&rate).await.is_ok(), "request {i} of 10");
    }
    match limits.admit(&rate).await {
        Err(Refusal::Rpm(wait)) => assert!((1.0..=60.0).contains(&wait), "{wait}"),
        other => panic!("the 11th in a minute: {other:?}"),
    }
}
