//! The Gemini-shaped fake: `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse`, `:batchEmbedContents` and `:countTokens` (a word count
//! of the text parts, `{"totalTokens", "promptTokensDetails"}`), checked as strictly as the
//! Gemini API checks them (unknown fields, empty parts, the JSON Schema subset, function
//! response counts and names: [`validate`]). Behaviour by model name (from the URL):
//!
//! | model          | behaviour |
//! |----------------|-----------|
//! | anything else  | echoes the last user text (function responses as `results: …`) |
//! | `tool-call`    | with tools: one `functionCall` per declared function (no ids, like the real API) |
//! | `text-tool-call` | like `tool-call`, after a text part "Let me check." |
//! | `thinking`     | like `tool-call`, with `thoughtSignature`s that must come back on replayed calls, and thought tokens |
//! | `includeThoughts` | a thought part (`thought: true`) first; with a `thinkingLevel`, the last text part signed |
//!
//! A `thoughtSignature` the fake did not mint (another vendor's, sidegate's envelope) is a 400
//! (`Corrupted thought signature.`), as Gemini 3 answers one.
//! | `max-tokens`, `safety` | that finishReason |
//! | `blocked`      | `promptFeedback.blockReason: SAFETY`, no candidates |
//! | faults         | `fail-500`, `fail-503`, `fail-529`, `fail-429` (RetryInfo 1s), `quota-429` (per day), `fail-401` (400 API_KEY_INVALID, as Gemini answers a bad key), `bad-400`, `context-400`, `flaky-N`, `hang`, `slow-first`, `reset`, `malformed`, `truncate`, `stream-error`, `slow-stream` |
//!
//! `toolConfig` mode ANY is obeyed like `tool-call`; `responseMimeType: application/json`
//! answers `{"answer": <text>}`; `candidateCount: n` answers n candidates.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};

mod validate;

use validate::{unknown, validate};

use crate::faults::{self, ErrKind};
use crate::{CallGuard, FakeBody, Stats, json_resp};

pub(crate) const SIGNATURE: &str = "c2lnLWZha2UtdGhvdWdodA==";

fn status_resp(code: u16, status: &str, message: &str, details: Value) -> Response<FakeBody> {
    json_resp(code, &json!({"error": {"code": code, "message": message, "status": status, "details": details}}))
}

fn invalid(message: &str) -> Response<FakeBody> {
    status_resp(400, "INVALID_ARGUMENT", message, json!([]))
}

fn render(e: ErrKind) -> Response<FakeBody> {
    match e {
        ErrKind::Server(s) => status_resp(s, "INTERNAL", "An internal error has occurred.", json!([])),
        ErrKind::Overloaded => {
            status_resp(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", json!([]))
        }
        ErrKind::RateLimit(with_retry) => {
            let mut details = vec![json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]})];
            if with_retry {
                details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}));
            }
            status_resp(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                json!(details),
            )
        }
        ErrKind::Quota => status_resp(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]),
        ),
        ErrKind::Auth => status_resp(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]),
        ),
        ErrKind::Invalid => invalid("Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\""),
        ErrKind::Context => {
            invalid("The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).")
        }
    }
}

fn last_user_text(body: &Value) -> String {
    let Some(c) = body["contents"].as_array().and_then(|a| a.iter().rev().find(|c| c["role"] == "user")) else {
        return String::new();
    };
    let parts = c["parts"].as_array().cloned().unwrap_or_default();
    let results: Vec<String> = parts
        .iter()
        .filter_map(|p| p.get("functionResponse"))
        .map(|r| {
            r["response"]
                .get("output")
                .map_or_else(|| r["response"].to_string(), |o| o.as_str().map_or_else(|| o.to_string(), str::to_string))
        })
        .collect();
    let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    if results.is_empty() { text } else { format!("results: {}", results.join("; ")) }
}

/// One candidate's parts and finish reason: with `includeThoughts`, a thought part first;
/// with a `thinkingLevel` (Gemini 3), the last text part signed.
fn candidate(model: &str, body: &Value, text: &str) -> (Vec<Value>, &'static str) {
    let (mut parts, finish) = answer_parts(model, body, text);
    let thinking = &body["generationConfig"]["thinkingConfig"];
    if thinking["thinkingLevel"].is_string()
        && let Some(last) = parts.iter_mut().rev().find(|p| p.get("text").is_some())
    {
        last["thoughtSignature"] = json!(SIGNATURE);
    }
    if thinking["includeThoughts"] == true {
        parts.insert(0, json!({"text": "Thinking it over.", "thought": true}));
    }
    (parts, finish)
}

fn answer_parts(model: &str, body: &Value, text: &str) -> (Vec<Value>, &'static str) {
    let decls = body["tools"][0]["functionDeclarations"].as_array().cloned().unwrap_or_default();
    let mode = body["toolConfig"]["functionCallingConfig"]["mode"].as_str().unwrap_or("AUTO");
    let allowed: Vec<&str> = body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let wants_call = (matches!(model, "tool-call" | "thinking" | "text-tool-call") && mode != "NONE") || mode == "ANY";
    if wants_call && !decls.is_empty() && !text.starts_with("results: ") {
        let mut parts = Vec::new();
        if model == "text-tool-call" {
            parts.push(json!({"text": "Let me check."}));
        }
        for d in decls.iter().filter(|d| allowed.is_empty() || d["name"].as_str().is_some_and(|n| allowed.contains(&n)))
        {
            let args = if d.get("parameters").is_some() { json!({"q": text}) } else { json!({}) };
            let mut p = json!({"functionCall": {"name": d["name"], "args": args}});
            if model == "thinking" {
                p["thoughtSignature"] = json!(SIGNATURE);
            }
            parts.push(p);
        }
        return (parts, "STOP");
    }
    let json_mode = body["generationConfig"]["responseMimeType"] == "application/json";
    let out = if json_mode {
        json!({"answer": text}).to_string()
    } else if text.is_empty() {
        "(empty)".into()
    } else {
        text.to_string()
    };
    match model {
        "max-tokens" => (vec![json!({"text": out})], "MAX_TOKENS"),
        "safety" => (vec![], "SAFETY"),
        _ => (vec![json!({"text": out})], "STOP"),
    }
}

/// The last user text's words in (a prompt of 1024+ words: all its words, the repeated
/// prefix as `cachedContentTokenCount`, Gemini's implicit caching); thought tokens for the
/// `thinking` model and for a `thinkingConfig` with a budget above 0 (or a level), outside
/// `candidatesTokenCount` as Gemini counts them.
fn usage(model: &str, body: &Value, text: &str, n: usize, stats: &Stats) -> Value {
    let texts: Vec<&Value> = body["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| &c["parts"])
        .chain(std::iter::once(&body["systemInstruction"]["parts"]))
        .collect();
    let words = crate::auto_cache::prompt_words(&texts);
    let (prompt, cached) = crate::auto_cache::lookup(&words, &stats.gemini_cache)
        .map_or((text.split_whitespace().count().max(1), 0), |(p, c)| (p as usize, c as usize));
    let cand = faults::words(text).len().max(1) * n;
    let thinking = &body["generationConfig"]["thinkingConfig"];
    let asked = thinking["thinkingBudget"].as_i64().is_some_and(|b| b != 0) || thinking.get("thinkingLevel").is_some();
    let thoughts = if model == "thinking" || asked { 7 } else { 0 };
    let mut u =
        json!({"promptTokenCount": prompt, "candidatesTokenCount": cand, "totalTokenCount": prompt + cand + thoughts});
    if thoughts > 0 {
        u["thoughtsTokenCount"] = json!(thoughts);
    }
    if cached > 0 {
        u["cachedContentTokenCount"] = json!(cached);
    }
    u
}

fn data(v: Value) -> Option<Bytes> {
    Some(Bytes::from(format!("data: {v}\r\n\r\n")))
}

/// `path` is `/v1beta/models/{model}:{method}`.
pub async fn handle(
    path: &str,
    query: Option<&str>,
    body: Value,
    headers: &Value,
    guard: CallGuard,
    stats: &Arc<Stats>,
) -> Response<FakeBody> {
    let Some((model, method)) = path.strip_prefix("/v1beta/models/").and_then(|r| r.split_once(':')) else {
        guard.finish();
        return status_resp(404, "NOT_FOUND", &format!("unknown path {path}"), json!([]));
    };
    let model = model.to_string();
    if headers["x-goog-api-key"].as_str().is_none_or(str::is_empty) {
        guard.finish();
        return status_resp(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity).",
            json!([]),
        );
    }
    let guard = match faults::before_answer(&model, stats, guard, render).await {
        Ok(guard) => guard,
        Err(r) => return r,
    };
    match method {
        "generateContent" => generate(&model, body, guard, false, stats),
        "streamGenerateContent" if query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse")) => {
            generate(&model, body, guard, true, stats)
        }
        "streamGenerateContent" => {
            guard.finish();
            invalid("this fake serves streams only with ?alt=sse")
        }
        "batchEmbedContents" => {
            guard.finish();
            embed(&model, &body)
        }
        "countTokens" => {
            guard.finish();
            count_tokens(&model, &body)
        }
        other => {
            guard.finish();
            status_resp(404, "NOT_FOUND", &format!("method {other} not found"), json!([]))
        }
    }
}

/// countTokens: `contents`, or a `generateContentRequest` naming this model.
fn count_tokens(model: &str, body: &Value) -> Response<FakeBody> {
    if let Some(k) =
        body.as_object().and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "contents" | "generateContentRequest")))
    {
        return invalid(&unknown(k, ""));
    }
    let contents = match body.get("generateContentRequest") {
        Some(g) if g["model"] != format!("models/{model}") => {
            return invalid("generateContentRequest.model: must be the request's model");
        }
        Some(g) => &g["contents"],
        None => &body["contents"],
    };
    let words: usize = contents
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["text"].as_str().map(|t| t.split_whitespace().count()))
        .sum();
    json_resp(200, &json!({"totalTokens": words, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": words}]}))
}

fn embed(model: &str, body: &Value) -> Response<FakeBody> {
    let Some(reqs) = body["requests"].as_array().filter(|r| !r.is_empty() && r.len() <= 100) else {
        return invalid("* BatchEmbedContentsRequest.requests: between 1 and 100 requests are allowed");
    };
    let mut out = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        if r["model"] != format!("models/{model}") {
            return invalid(&format!("requests[{i}].model: must be models/{model}"));
        }
        let Some(text) = r["content"]["parts"][0]["text"].as_str() else {
            return invalid(&format!("requests[{i}].content: text required"));
        };
        let dims = r["outputDimensionality"].as_u64().unwrap_or(3) as usize;
        let seed = text.len() as f64;
        out.push(json!({"values": (0..dims).map(|d| (seed + d as f64) / 100.0).collect::<Vec<_>>()}));
    }
    json_resp(200, &json!({"embeddings": out}))
}

fn generate(model: &str, body: Value, guard: CallGuard, stream: bool, stats: &Stats) -> Response<FakeBody> {
    if let Err(m) = validate(model, &body) {
        guard.finish();
        return invalid(&m);
    }
    let text = last_user_text(&body);
    let n = body["generationConfig"]["candidateCount"].as_u64().unwrap_or(1).max(1) as usize;
    let (parts, finish) = candidate(model, &body, &text);
    let usage = usage(model, &body, &text, n, stats);
    if model == "blocked" {
        let v = json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}});
        if stream {
            return faults::sse(vec![data(v)], Duration::ZERO, guard);
        }
        guard.finish();
        return json_resp(200, &v);
    }
    if !stream {
        guard.finish();
        if model == "malformed" {
            return crate::raw_json(b"{\"candidates\": [tru");
        }
        let cands: Vec<Value> = (0..n)
            .map(|i| json!({"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": i, "safetyRatings": []}))
            .collect();
        return json_resp(
            200,
            &json!({"candidates": cands, "usageMetadata": usage, "modelVersion": model, "responseId": "fake-resp-1"}),
        );
    }
    let head = |parts: Value, finish: Option<&str>, with_usage: bool| {
        let cands: Vec<Value> = (0..n)
            .map(|i| {
                let mut c = json!({"content": {"role": "model", "parts": parts}, "index": i});
                if let Some(f) = finish {
                    c["finishReason"] = json!(f);
                }
                c
            })
            .collect();
        let mut v = json!({"candidates": cands, "modelVersion": model, "responseId": "fake-resp-1"});
        if with_usage {
            v["usageMetadata"] = usage.clone();
        }
        v
    };
    let mut events = Vec::new();
    let mut interval = Duration::ZERO;
    match model {
        "malformed" => {
            return faults::sse(
                vec![Some(Bytes::from_static(b"data: {\"candidates\": [tru\r\n\r\n"))],
                interval,
                guard,
            );
        }
        "slow-stream" => {
            interval = Duration::from_millis(50);
            events.extend((0..200).map(|i| data(head(json!([{"text": format!("tick{i} ")}]), None, false))));
        }
        _ => {}
    }
    let texts: Vec<String> = parts.iter().filter_map(|p| p["text"].as_str()).flat_map(faults::words).collect();
    let calls: Vec<Value> = parts.iter().filter(|p| p.get("functionCall").is_some()).cloned().collect();
    for (k, w) in texts.iter().enumerate() {
        events.push(data(head(json!([{"text": w}]), None, true)));
        if k == 0 && model == "truncate" {
            events.push(None);
            return faults::sse(events, interval, guard);
        }
        if k == 0 && model == "stream-error" {
            events.push(data(
                json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
            ));
            return faults::sse(events, interval, guard);
        }
    }
    // Function calls arrive whole, one event each.
    for c in &calls {
        events.push(data(head(json!([c]), None, true)));
    }
    events.push(data(head(json!([]), Some(finish), true)));
    faults::sse(events, interval, guard)
}
