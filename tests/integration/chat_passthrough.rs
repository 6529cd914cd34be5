//! A whole chat answer from an OpenAI-compatible vendor reaches an OpenAI-shaped caller (HTTP
//! `POST /v1/chat/completions`, the native `chat` op) as the vendor's own bytes while nothing
//! changed it and it has every key the spec requires; an answer that lacks one, or that
//! sidegate changed (a tagged reasoning block, a cache hit), is encoded from its fields.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};
use sidegate::protocol::{Kind, PREFACE, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Daemon, vendor_config};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "héllo \"quoted\" ☃"}]})
}

/// A daemon on the fake vendor (`fake/<model>` calls it), with route `cached` (memory cache)
/// on its `as-sent` model, and the same vendor as `groq` (whose preset fans `n` out).
async fn daemon() -> (FakeVendor, Daemon) {
    let vendor = FakeVendor::start().await.unwrap();
    let base = vendor.base_url();
    let more = format!(
        "\n[models.as-sent]\nprovider = \"fake\"\nmodel = \"as-sent\"\n\n[routes.cached]\ntargets = [\"as-sent\"]\n\
         cache = {{ ttl = \"10m\", tiers = [\"memory\"] }}\n\n[providers.groq]\nkind = \"openai-compatible\"\n\
         base_url = \"{base}\"\napi_key = \"sk-fake-secret-key\"\npreset = \"groq\"\n"
    );
    let d = Daemon::start("", &(vendor_config(&base) + &more)).await;
    (vendor, d)
}

/// The vendor's own answer to [`chat`] for `model`, asked directly.
async fn vendor_says(vendor: &FakeVendor, model: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/chat/completions", vendor.base_url()))
        .bearer_auth("sk-fake-secret-key")
        .json(&chat(model))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap()
}

/// Over HTTP on the socket: `x-sidegate-cache` and the body as sent.
async fn http_chat(d: &Daemon, body: &Value) -> (String, String) {
    let r = d.http().post("http://sidegate/v1/chat/completions").json(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cache = r.headers().get("x-sidegate-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (cache, r.text().await.unwrap())
}

/// The RESPONSE frame's body, as sent, for one native `chat` request.
async fn native_frame(d: &Daemon, body: &Value) -> Vec<u8> {
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&PREFACE).await.unwrap();
    s.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1}"#)).await.unwrap();
    let req = json!({"op": "chat", "body": body});
    s.write_all(&encode(Kind::Request, 1, &serde_json::to_vec(&req).unwrap())).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    loop {
        assert!(s.read_buf(&mut buf).await.unwrap() > 0, "connection closed before RESPONSE");
        while let Ok(Some(f)) = sidegate::protocol::decode(&mut buf, 1 << 24) {
            if f.id == 1 {
                assert_eq!(f.kind, Kind::Response, "{}", String::from_utf8_lossy(&f.body));
                return f.body.to_vec();
            }
        }
    }
}

#[tokio::test]
async fn a_spec_complete_answer_passes_byte_identical_over_http_and_native() {
    let (vendor, d) = daemon().await;
    let sent = vendor_says(&vendor, "as-sent").await;
    let sent = sent.trim();
    assert!(sent.contains("queue_time") && sent.starts_with(r#"{"id":"chatcmpl-as-sent","choices""#), "{sent}");

    let (cache, body) = http_chat(&d, &chat("fake/as-sent")).await;
    assert_eq!(cache, "bypass");
    assert_eq!(body, sent, "HTTP: the vendor's bytes, keys sidegate does not model and key order kept");

    let frame = native_frame(&d, &chat("fake/as-sent")).await;
    let head = format!("{{\"body\":{sent},\"meta\":");
    assert!(frame.starts_with(head.as_bytes()), "native: {}", String::from_utf8_lossy(&frame));
    let v: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(v["meta"]["provider"], "fake");
    assert_eq!(v["body"]["x_vendor"]["trace"], "t-1");

    // The shim reads the same frame.
    let r = d.native().await.call("chat", &chat("fake/as-sent"), &json!({})).await.unwrap();
    assert_eq!(r.body["usage"]["queue_time"], 0.012);
    assert_eq!(r.body["choices"][0]["message"]["content"], "héllo \"quoted\" ☃");
    assert_eq!(r.meta["provider"], "fake");
}

#[tokio::test]
async fn an_answer_missing_required_keys_comes_back_with_them_filled() {
    let (vendor, d) = daemon().await;
    let sent: Value = serde_json::from_str(&vendor_says(&vendor, "sparse").await).unwrap();
    assert!(sent.get("object").is_none() && sent["choices"][0].get("logprobs").is_none());
    let (_, http) = http_chat(&d, &chat("fake/sparse")).await;
    let http: Value = serde_json::from_str(&http).unwrap();
    let native = d.native().await.call("chat", &chat("fake/sparse"), &json!({})).await.unwrap().body;
    for v in [http, native] {
        assert_eq!(v["object"], "chat.completion", "{v}");
        assert_eq!(v["choices"][0].get("logprobs"), Some(&Value::Null), "{v}");
        assert_eq!(v["choices"][0]["message"].get("refusal"), Some(&Value::Null), "{v}");
        assert_eq!(v["choices"][0]["message"]["content"], "héllo \"quoted\" ☃");
    }
}

#[tokio::test]
async fn a_changed_answer_is_encoded_from_its_fields() {
    let (vendor, d) = daemon().await;
    // A reasoning block tagged with the provider that minted it.
    let sent = vendor_says(&vendor, "reasoning-details").await;
    let (_, http) = http_chat(&d, &chat("fake/reasoning-details")).await;
    assert_ne!(http, sent.trim());
    let native = d.native().await.call("chat", &chat("fake/reasoning-details"), &json!({})).await.unwrap().body;
    for v in [serde_json::from_str::<Value>(&http).unwrap(), native] {
        assert_eq!(v["choices"][0]["message"]["reasoning_details"][0]["provider"], "fake", "{v}");
    }
    // Two answers merged into one (`n` fanned out): re-indexed, usage summed.
    let mut two = chat("groq/as-sent");
    two["n"] = json!(2);
    let (_, http) = http_chat(&d, &two).await;
    let v: Value = serde_json::from_str(&http).unwrap();
    assert_eq!((v["choices"][1]["index"].as_u64(), v["usage"]["total_tokens"].as_u64()), (Some(1), Some(4)), "{v}");
    assert!(v["usage"].get("queue_time").is_none(), "{v}");
    // A cached route: the answer that was stored, and each hit, are sidegate's encoding
    // (`usage.queue_time`, which it does not model, is gone; its own key order).
    let sent = vendor_says(&vendor, "as-sent").await;
    for want in ["miss", "hit", "hit"] {
        let (cache, body) = http_chat(&d, &chat("cached")).await;
        assert_eq!(cache, want);
        assert_ne!(body, sent.trim(), "{want}");
        assert!(body.starts_with(r#"{"id":"chatcmpl-as-sent","object":"chat.completion""#), "{want}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["usage"].get("queue_time").is_none(), "{want}: {body}");
        assert_eq!(v["x_vendor"]["trace"], "t-1", "extension keys the answer keeps are encoded too");
    }
    let frame = native_frame(&d, &chat("cached")).await;
    let v: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(v["meta"]["cache"], "hit");
    assert!(v["body"]["usage"].get("queue_time").is_none());
}
