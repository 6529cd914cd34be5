//! The shared pipeline through the Messages ingress: failover (and an Anthropic-only field
//! failing over to Anthropic), the cache (shared with Chat Completions), the ledger and
//! metrics `dialect`, and count_tokens (Anthropic's own, or the estimate).

use serde_json::json;

use super::{ask, events, messages, names, post, start, text_of};
use crate::common::eventually;

#[tokio::test]
async fn failover_and_server_tools_reach_the_deployment_that_can_answer() {
    let (vendor, d) = start().await;
    // The first target fails with 500: the second (Anthropic, passthrough) answers.
    for stream in [false, true] {
        let mut body = ask("failover", "second one answers");
        body["stream"] = json!(stream);
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.header("x-sidegate-provider"), "claude");
        assert_eq!(a.header("x-sidegate-attempts"), "2");
        let text = if stream { text_of(&events(&a.text)) } else { a.json()["content"][0]["text"].to_string() };
        assert!(text.contains("second one answers"), "{text}");
    }
    // A server tool cannot be given to the OpenAI target: it refuses, Anthropic gets it.
    let mut body = ask("openai-first", "search the web");
    body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]);
    let a = messages(&d, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-provider"), "claude");
    assert!(a.header("x-sidegate-attempt-log").contains("unsupported"), "{}", a.header("x-sidegate-attempt-log"));
    assert_eq!(vendor.last_request()["body"]["tools"], body["tools"]);
    // Without it, the OpenAI target answers and never sees Anthropic-only fields.
    let a = messages(&d, &ask("openai-first", "plain")).await;
    assert_eq!(a.header("x-sidegate-provider"), "oai");
}

#[tokio::test]
async fn the_cache_serves_messages_and_is_shared_with_chat_completions() {
    let (vendor, d) = start().await;
    let first = messages(&d, &ask("cached", "cache me please")).await;
    assert_eq!((first.status, first.header("x-sidegate-cache")), (200, "miss"), "{}", first.text);
    let second = messages(&d, &ask("cached", "cache me please")).await;
    assert_eq!(second.header("x-sidegate-cache"), "hit");
    assert_eq!(second.json()["content"], first.json()["content"]);
    // Asked as Chat Completions first, then as Messages: one vendor call.
    let calls = vendor.calls();
    let chat = json!({"model": "cached", "max_tokens": 64, "messages": [{"role": "user", "content": "asked twice"}]});
    let a = post(&d, "/v1/chat/completions", &chat, &[]).await;
    assert_eq!(a.header("x-sidegate-cache"), "miss");
    let m = messages(&d, &ask("cached", "asked twice")).await;
    assert_eq!(m.header("x-sidegate-cache"), "hit", "{}", m.text);
    assert_eq!(m.json()["content"][0]["text"], "asked twice");
    assert_eq!(vendor.calls(), calls + 1);
    // A cached stream is a Messages stream too.
    let mut body = ask("cached", "asked twice");
    body["stream"] = json!(true);
    let s = messages(&d, &body).await;
    assert_eq!(s.header("x-sidegate-cache"), "hit");
    let evs = events(&s.text);
    assert_eq!(names(&evs).last(), Some(&"message_stop"));
    assert_eq!(text_of(&evs), "asked twice");
}

#[tokio::test]
async fn the_ledger_and_metrics_name_the_messages_dialect() {
    let (_vendor, d) = start().await;
    assert_eq!(messages(&d, &ask("oai-echo", "count me")).await.status, 200);
    let metrics = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("sidegate_requests_total{")
            && l.contains(r#"deployment="oai-echo""#)
            && l.contains(r#"dialect="messages""#)),
        "{metrics}"
    );
    let db = d.dir.path().join("state").join("usage.sqlite3");
    let mut dialects = Vec::new();
    eventually("the ledger row", || {
        dialects = rusqlite::Connection::open(&db)
            .and_then(|c| {
                let mut s = c.prepare("SELECT dialect FROM requests WHERE deployment = 'oai-echo'")?;
                s.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default();
        !dialects.is_empty()
    })
    .await;
    assert_eq!(dialects, ["messages"]);
}

#[tokio::test]
async fn count_tokens_asks_anthropic_or_estimates() {
    let (vendor, d) = start().await;
    let body = json!({"model": "haiku", "messages": [{"role": "user", "content": "four words right here"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024}});
    let a = post(&d, "/v1/messages/count_tokens", &body, &[("anthropic-version", "2023-06-01")]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json(), json!({"input_tokens": 1004}));
    assert_eq!(a.header("x-sidegate-count"), "vendor");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1/messages/count_tokens");
    assert_eq!(last["body"]["model"], "claude-3-5-haiku-latest");
    assert_eq!(last["body"]["thinking"], body["thinking"]);
    // Another vendor: sidegate's estimate (characters / 4 plus 4 a message).
    let mut other = body.clone();
    other["model"] = json!("oai-echo");
    let a = post(&d, "/v1/messages/count_tokens", &other, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-count"), "estimate");
    assert_eq!(a.json(), json!({"input_tokens": 21u64.div_ceil(4) + 4}));
    let a = post(&d, "/v1/messages/count_tokens", &json!({"model": "nope", "messages": []}), &[]).await;
    assert_eq!((a.status, a.json()["error"]["type"].as_str()), (404, Some("not_found_error")));
}
