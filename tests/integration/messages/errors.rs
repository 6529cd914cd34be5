//! Failures a Messages caller gets in Anthropic's shape: sidegate's own (unknown model,
//! unreadable body, no deployment that can, budget, a denied caller) and a vendor's, before
//! and after the stream started.

use serde_json::{Value, json};

use super::{Answer, ask, events, messages, names, post, start};
use crate::common::{Daemon, UNREADABLE_BODIES, post_bytes};

#[tokio::test]
async fn errors_are_anthropic_shaped_with_their_status_and_type() {
    let (_vendor, d) = start().await;
    let check = |a: &Answer, status: u16, kind: &str| {
        assert_eq!(a.status, status, "{}", a.text);
        let v = a.json();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty());
        assert!(!a.header("request-id").is_empty());
        assert_eq!(a.header("request-id"), a.header("x-sidegate-request-id"));
    };
    check(&messages(&d, &ask("no-such-model", "x")).await, 404, "not_found_error");
    check(&messages(&d, &json!({"model": "haiku", "messages": []})).await, 400, "invalid_request_error");
    let bad_block =
        json!({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "bogus"}]}]});
    check(&messages(&d, &bad_block).await, 400, "invalid_request_error");
    check(&post(&d, "/v1/messages/batches", &json!({}), &[]).await, 404, "not_found_error");
    let r = d.http().get("http://sidegate/v1/messages").send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["type"], "error");
    // No deployment can take an image: sidegate's own refusal, in Anthropic's shape.
    let image = json!({"model": "oai-text-only", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}}]}]});
    check(&messages(&d, &image).await, 400, "invalid_request_error");
    // An upstream failure with no other target.
    let a = messages(&d, &ask("oai-500", "x")).await;
    assert!(a.status >= 500, "{}", a.text);
    assert!(matches!(a.json()["error"]["type"].as_str(), Some("api_error" | "overloaded_error")), "{}", a.text);
}

#[tokio::test]
async fn a_body_that_is_not_a_messages_request_is_a_clear_anthropic_400() {
    let (_vendor, d) = start().await;
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        for (body, says) in UNREADABLE_BODIES {
            let (status, h, raw) = post_bytes(&d, path, body).await;
            let v: Value = serde_json::from_str(&raw).unwrap_or_else(|_| panic!("{path}: not JSON: {raw}"));
            assert_eq!((status, v["type"].as_str()), (400, Some("error")), "{path} {body:?}: {raw}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{raw}");
            assert!(v["error"]["message"].as_str().unwrap().contains(says), "{path} {body:?}: {raw}");
            assert!(h.contains_key("x-sidegate-request-id") && h.contains_key("request-id"));
        }
    }
    // `max_tokens` past what a number can be, and past what any context window holds.
    let (status, _, raw) = post_bytes(
        &d,
        "/v1/messages",
        br#"{"model": "haiku", "max_tokens": 1e30,
        "messages": [{"role": "user", "content": "x"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{raw}");
    assert!(raw.contains("invalid_request_error") && raw.contains("1e+30"), "{raw}");
    let mut huge = ask("haiku-window", "x");
    huge["max_tokens"] = json!(u64::MAX);
    let a = messages(&d, &huge).await;
    assert_eq!((a.status, a.json()["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{}", a.text);
    assert!(a.json()["error"]["message"].as_str().unwrap().contains("context window"), "{}", a.text);
}

#[tokio::test]
async fn a_failure_after_the_stream_started_is_an_error_event() {
    let (_vendor, d) = start().await;
    let mut body = ask("oai-broken", "x y z");
    body["stream"] = json!(true);
    let a = messages(&d, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let evs = events(&a.text);
    let n = names(&evs);
    assert_eq!(n.first(), Some(&"message_start"));
    assert_eq!(n.last(), Some(&"error"), "{n:?}");
    assert!(!n.contains(&"message_stop"));
    let err = &evs[evs.len() - 1].1;
    assert!(err["error"]["type"].as_str().is_some_and(|t| t.ends_with("_error")), "{err}");
}

/// A config where this process is caller `me`, with a budget too small for one call.
fn budget_config() -> String {
    format!(
        "[providers.mock]\nkind = \"mock\"\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\nprice = {{ input = 0.0, output = 1000.0 }}\n\
         [callers.me]\nuid = {}\nbudget = {{ usd = 0.005, per = \"day\" }}\n",
        sidegate::sys::uid()
    )
}

#[tokio::test]
async fn callers_budgets_and_denials_answer_in_anthropic_shapes() {
    let d = Daemon::start("", &budget_config()).await;
    let a = messages(&d, &ask("m", "too expensive")).await;
    assert_eq!(a.status, 429, "{}", a.text);
    let v = a.json();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("budget"), "{v}");
    drop(d);
    let denied = Daemon::start("unknown_callers = \"deny\"", "[providers.mock]\nkind = \"mock\"\n").await;
    let a = messages(&denied, &ask("mock/x", "who am I")).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.json()["error"]["type"], "permission_error");
}
