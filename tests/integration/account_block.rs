//! Issue 17, item 8: a model whose only target's breaker was opened by an account error
//! (401/403) fails at once with that account error, instead of waiting out
//! `account_open_for` and then failing anyway.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::Daemon;

async fn chat(d: &Daemon, model: &str) -> (u16, Value) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "locked out"}]});
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn an_account_error_is_told_at_once_while_its_breaker_is_open() {
    let vendor = FakeVendor::start().await.unwrap();
    // the route's deadline is shorter than `account_open_for`: before this fix the second
    // call was a "cooling down" 503 (or, with a longer deadline, a wait and then that).
    let config = format!(
        "[breaker]\naccount_open_for = \"10m\"\n\n[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\n\
         [models.locked]\nprovider = \"fake\"\nmodel = \"fail-401\"\n\n[routes.only-locked]\ntargets = [\"locked\"]\ntimeout = \"20s\"\n",
        vendor.base_url()
    );
    let d = Daemon::start("", &config).await;

    let (status, first) = chat(&d, "only-locked").await;
    assert_eq!(status, 502, "{first}");
    assert_eq!(first["error"]["code"], "invalid_api_key", "{first}");
    assert_eq!(vendor.calls(), 1);

    for model in ["only-locked", "locked"] {
        let (status, again) = chat(&d, model).await;
        assert_eq!(status, 502, "{model}: {again}");
        assert_eq!(again["error"]["code"], first["error"]["code"], "{model}: {again}");
        let msg = again["error"]["message"].as_str().unwrap();
        assert!(msg.contains(first["error"]["message"].as_str().unwrap()), "the vendor's words: {msg}");
        assert!(msg.contains("held back after this account error"), "{msg}");
        let attempts = again["error"]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{again}");
        assert_eq!(attempts[0]["outcome"], "account_failure", "{again}");
    }
    assert_eq!(vendor.calls(), 1, "the open breaker keeps the vendor uncalled");

    // /status shows the breaker open for the account's long hold
    let status: Value = d.http().get("http://sidegate/status").send().await.unwrap().json().await.unwrap();
    let dep = status["deployments"].as_array().unwrap().iter().find(|x| x["name"] == "locked").unwrap().clone();
    assert_eq!(dep["breaker"], "open", "{dep}");
}
