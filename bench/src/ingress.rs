//! `--only ingress`: what each ingress dialect adds, against each upstream dialect. One daemon
//! with one deployment per upstream kind (OpenAI Chat Completions, Anthropic Messages, Gemini,
//! and OpenAI Responses), all on the zero-delay fake vendor; each ingress (Chat Completions,
//! Messages, Responses, Gemini generateContent) asks each deployment the same short question
//! over HTTP on the Unix socket, one request at a time. The baseline of a row is the same
//! upstream asked directly in its own dialect; "added" is the difference of the p50s.
//! Rows whose ingress and upstream speak one dialect are passthrough (the body goes as sent;
//! for Chat Completions, the canonical shape itself, `canonical`).
//! A second table streams each passthrough pair and times the first content byte (the first
//! read holding the answer's text): sidegate holds the vendor's envelope events (Anthropic
//! `message_start` and `ping`, Responses `response.created` and `response.in_progress`, the
//! role chunk) until that content, so "added" there is what holding them costs on top of the
//! rest of the path.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Args, Daemon, wait_socket};

#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    Chat,
    Messages,
    Gemini,
    Responses,
}

impl Upstream {
    const ALL: [Upstream; 4] = [Upstream::Chat, Upstream::Messages, Upstream::Gemini, Upstream::Responses];

    fn label(self) -> &'static str {
        match self {
            Upstream::Chat => "openai chat",
            Upstream::Messages => "anthropic",
            Upstream::Gemini => "gemini",
            Upstream::Responses => "openai responses",
        }
    }

    /// The deployment of this kind in the bench config.
    fn model(self) -> &'static str {
        match self {
            Upstream::Chat => "up-chat",
            Upstream::Messages => "up-anthropic",
            Upstream::Gemini => "up-gemini",
            Upstream::Responses => "up-responses",
        }
    }

    /// The ingress that speaks this upstream's dialect (the passthrough pair).
    fn same(self) -> Ingress {
        match self {
            Upstream::Chat => Ingress::Chat,
            Upstream::Messages => Ingress::Messages,
            Upstream::Gemini => Ingress::Gemini,
            Upstream::Responses => Ingress::Responses,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ingress {
    Chat,
    Messages,
    Responses,
    Gemini,
}

impl Ingress {
    const ALL: [Ingress; 4] = [Ingress::Chat, Ingress::Messages, Ingress::Responses, Ingress::Gemini];

    fn label(self) -> &'static str {
        match self {
            Ingress::Chat => "chat",
            Ingress::Messages => "messages",
            Ingress::Responses => "responses",
            Ingress::Gemini => "gemini",
        }
    }

    /// Path and body of the streamed question in this dialect, asking `model`.
    fn stream_request(self, model: &str) -> (String, Value) {
        let (path, mut body) = self.request(model);
        if self == Ingress::Gemini {
            return (format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"), body);
        }
        body["stream"] = json!(true);
        (path, body)
    }

    /// Path and body of the question in this dialect, asking `model`.
    fn request(self, model: &str) -> (String, Value) {
        const Q: &str = "benchmark prompt of a few words";
        match self {
            Ingress::Chat => {
                ("/v1/chat/completions".into(), json!({"model": model, "messages": [{"role": "user", "content": Q}]}))
            }
            Ingress::Messages => (
                "/v1/messages".into(),
                json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": Q}]}),
            ),
            Ingress::Responses => ("/v1/responses".into(), json!({"model": model, "input": Q, "store": false})),
            Ingress::Gemini => (
                format!("/v1beta/models/{model}:generateContent"),
                json!({"contents": [{"role": "user", "parts": [{"text": Q}]}]}),
            ),
        }
    }
}

fn config(sock: &Path, vendor_root: &str) -> String {
    format!(
        r#"[server]
socket = "{sock}"

[providers.chat]
kind = "openai-compatible"
base_url = "{vendor_root}/v1"

[providers.anthropic]
kind = "anthropic"
base_url = "{vendor_root}"
api_key = "bench"

[providers.gemini]
kind = "gemini"
base_url = "{vendor_root}"
api_key = "bench"

[providers.responses]
kind = "openai"
base_url = "{vendor_root}/v1"
api_key = "bench"
api = "responses"

[models.up-chat]
provider = "chat"
model = "echo"

[models.up-anthropic]
provider = "anthropic"
model = "claude-sonnet-4-5"

[models.up-gemini]
provider = "gemini"
model = "gemini-2.5-flash"

[models.up-responses]
provider = "responses"
model = "gpt-5-mini"
"#,
        sock = sock.display()
    )
}

/// What a measurement times: the whole answer, or the first content byte of a stream.
#[derive(Clone, Copy, PartialEq)]
enum Until {
    Answer,
    FirstContent,
}

/// p50 and p99 of `n` sequential POSTs of `body` to `url`; None if any failed. `until`
/// `FirstContent`: the time to the first read after which the body holds a word of the answer
/// (the fakes echo the question), the rest of the stream read but not timed.
async fn measure(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
    n: usize,
    until: Until,
) -> Option<(Duration, Duration)> {
    let bytes = serde_json::to_vec(body).ok()?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let mut rb = client.post(url).header("content-type", "application/json").body(bytes.clone());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let t = Instant::now();
        let mut r = rb.send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        let (mut seen, mut first) = (Vec::new(), None);
        while let Some(chunk) = r.chunk().await.ok()? {
            if until == Until::FirstContent && first.is_none() {
                seen.extend_from_slice(&chunk);
                if seen.windows(9).any(|w| w == b"benchmark") {
                    first = Some(t.elapsed());
                }
            }
        }
        let took = match until {
            Until::Answer => t.elapsed(),
            Until::FirstContent => first?,
        };
        if i >= n / 10 {
            lat.push(took);
        }
    }
    lat.sort();
    Some((lat[lat.len() / 2], lat[(lat.len() * 99 / 100).min(lat.len() - 1)]))
}

/// Headers a direct call of `up` needs (the fake checks the vendor's auth header).
fn vendor_headers(up: Upstream) -> Vec<(&'static str, &'static str)> {
    match up {
        Upstream::Messages => vec![("x-api-key", "bench"), ("anthropic-version", "2023-06-01")],
        Upstream::Gemini => vec![("x-goog-api-key", "bench")],
        Upstream::Chat | Upstream::Responses => vec![("authorization", "Bearer bench")],
    }
}

pub async fn run(a: &Args, vendor_base: &str) {
    let vendor_root = vendor_base.trim_end_matches("/v1").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("ingress.sock");
    let cfg = dir.path().join("ingress.toml");
    std::fs::write(&cfg, config(&sock, &vendor_root)).expect("config");
    let child = std::process::Command::new(&a.sidegate)
        .args(["serve", "--log-level", "warn", "--config"])
        .arg(&cfg)
        .env("STATE_DIRECTORY", dir.path().join("state"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", a.sidegate.display()));
    let _d = Daemon(child);
    wait_socket(&sock).await;
    let direct = reqwest::Client::new();
    let uds = reqwest::Client::builder().unix_socket(sock.clone()).build().expect("client");
    let n = a.requests.clamp(200, 2000);

    println!("ingress x upstream, c=1, {n} requests each, HTTP over the Unix socket (zero-delay fake vendor)");
    println!(
        "{:<10} {:<17} {:>11} {:>8} {:>8} {:>12} {:>12}",
        "ingress", "upstream", "kind", "p50 µs", "p99 µs", "direct p50", "added p50"
    );
    for up in Upstream::ALL {
        let (path, body) = up.same().request(match up {
            Upstream::Chat => "echo",
            Upstream::Messages => "claude-sonnet-4-5",
            Upstream::Gemini => "gemini-2.5-flash",
            Upstream::Responses => "gpt-5-mini",
        });
        let base =
            measure(&direct, &format!("{vendor_root}{path}"), &vendor_headers(up), &body, n, Until::Answer).await;
        for ing in Ingress::ALL {
            let (path, body) = ing.request(up.model());
            let kind = match (ing == up.same(), ing) {
                // Chat Completions is the canonical shape itself: no native body rides along.
                (true, Ingress::Chat) => "canonical",
                (true, _) => "passthrough",
                _ => "translated",
            };
            let got = measure(&uds, &format!("http://sidegate{path}"), &[], &body, n, Until::Answer).await;
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            match (got, base) {
                (Some((p50, p99)), Some((b50, _))) => println!(
                    "{:<10} {:<17} {:>11} {:>8.0} {:>8.0} {:>12.0} {:>+12.0}",
                    ing.label(),
                    up.label(),
                    kind,
                    us(p50),
                    us(p99),
                    us(b50),
                    us(p50) - us(b50)
                ),
                _ => {
                    println!("{:<10} {:<17} {:>11}   (failed: is the endpoint served?)", ing.label(), up.label(), kind)
                }
            }
        }
    }
    println!();
    stream_table(&direct, &uds, &vendor_root, n).await;
}

/// Each passthrough pair streamed: time to the first content byte, direct and through sidegate.
async fn stream_table(direct: &reqwest::Client, uds: &reqwest::Client, vendor_root: &str, n: usize) {
    println!("streamed, same dialect in and out, c=1, {n} requests each: time to the first content byte");
    println!(
        "{:<10} {:<17} {:>8} {:>8} {:>12} {:>12}",
        "ingress", "upstream", "p50 µs", "p99 µs", "direct p50", "added p50"
    );
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for up in Upstream::ALL {
        let ing = up.same();
        let (path, body) = ing.stream_request(match up {
            Upstream::Chat => "echo",
            Upstream::Messages => "claude-sonnet-4-5",
            Upstream::Gemini => "gemini-2.5-flash",
            Upstream::Responses => "gpt-5-mini",
        });
        let base =
            measure(direct, &format!("{vendor_root}{path}"), &vendor_headers(up), &body, n, Until::FirstContent).await;
        let (path, body) = ing.stream_request(up.model());
        let got = measure(uds, &format!("http://sidegate{path}"), &[], &body, n, Until::FirstContent).await;
        match (got, base) {
            (Some((p50, p99)), Some((b50, _))) => println!(
                "{:<10} {:<17} {:>8.0} {:>8.0} {:>12.0} {:>+12.0}",
                ing.label(),
                up.label(),
                us(p50),
                us(p99),
                us(b50),
                us(p50) - us(b50)
            ),
            _ => println!("{:<10} {:<17}   (failed: is the endpoint served?)", ing.label(), up.label()),
        }
    }
    println!();
}
