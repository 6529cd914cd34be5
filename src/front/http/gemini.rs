//! Google's Gemini API (`POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent` with `alt=sse` or as a streamed JSON array, `:countTokens`,
//! `:embedContent`, `:batchEmbedContents`; `/v1/models/...` too, as google-genai writes it
//! with `api_version="v1"`). The `{model}` is a route or model name. The body is converted
//! with `wire::gemini::serve` and carried as a native request: a Gemini upstream gets it as
//! sent and its answer comes back verbatim; any other answer is converted to Gemini's shapes.
//! Errors are google.rpc.Status (`error::error_response`).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::request::{JsonRequest, percent_decode, query_param, read_json};
use super::response::{count_response, json_bytes, json_response, sse_response};
use super::{Body, Failed};
use crate::api::error::GatewayError;
use crate::callers::Credential;
use crate::front::Ctx;
use crate::router::{ChatAnswer, ChatStream};
use crate::wire::WireError;
use crate::wire::gemini::serve::{self, JsonArray, StreamEncoder, embed};
use crate::wire::gemini::types::ErrorBody;
use crate::wire::native::{Dialect, NativeBytes};
use crate::wire::sse::SseParser;

const DIALECT: Dialect = Dialect::Gemini;

/// The methods served.
const METHODS: &[&str] =
    &["generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"];

/// A Gemini method path, `/v1beta/models/{model}:{method}` (or `/v1/...`): the model (a
/// route or model name, percent-decoded; it may hold `/`) and the method. Under `/v1/` only
/// the methods served count (`GET /v1/models/ft:gpt-4o:org:id` is OpenAI's model lookup).
pub fn target(path: &str) -> Option<(String, String)> {
    let (rest, beta) = match path.strip_prefix("/v1beta/") {
        Some(rest) => (rest, true),
        None => (path.strip_prefix("/v1/")?, false),
    };
    let (model, method) = rest.strip_prefix("models/")?.rsplit_once(':')?;
    (beta || METHODS.contains(&method)).then(|| (percent_decode(model), method.to_string()))
}

/// How a streamed answer is framed: SSE events (`alt=sse`) or one JSON array written as
/// the events come (Gemini's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Sse,
    Array,
}

/// One Gemini method call.
pub async fn serve(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
    (model, method): (String, String),
) -> Result<Response<Body>, Failed> {
    if req.method() != Method::POST {
        let (m, path) = (req.method().to_string(), req.uri().path().to_string());
        return Err(Failed::Front(GatewayError::MethodNotAllowed { method: m, path }));
    }
    match method.as_str() {
        "generateContent" => generate(req, cx, cred, id, &model, None).await,
        "streamGenerateContent" => {
            let sse = req.uri().query().and_then(|q| query_param(q, "alt")).is_some_and(|a| a == "sse");
            generate(req, cx, cred, id, &model, Some(if sse { Framing::Sse } else { Framing::Array })).await
        }
        "countTokens" => count_tokens(req, cx, cred, id, &model).await,
        "embedContent" => embeddings(req, cx, cred, id, &model, false).await,
        "batchEmbedContents" => embeddings(req, cx, cred, id, &model, true).await,
        _ => Err(Failed::Front(GatewayError::NoSuchEndpoint { method: "POST".into(), path: req.uri().path().into() })),
    }
}

/// A request the front could not convert (the router never saw it).
fn refused(e: WireError) -> Failed {
    Failed::Front(e.to_gateway_error())
}

/// An answer the front could not convert (the router's log line is already written).
fn unconvertible(e: WireError) -> Failed {
    Failed::Routed(e.to_gateway_error())
}

async fn generate(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
    model: &str,
    framing: Option<Framing>,
) -> Result<Response<Body>, Failed> {
    let JsonRequest { body, opts, .. } = read_json(req, cx, cred, id, DIALECT).await?;
    let chat = serve::from_object(body, model, framing.is_some()).map_err(refused)?;
    match cx.gateway.chat(chat, opts).await.map_err(Failed::Routed)? {
        ChatAnswer::Full(resp, meta) => match NativeBytes::of(&resp.native, DIALECT) {
            Some(b) => Ok(json_bytes(StatusCode::OK, b.clone(), Some(&meta))),
            None => {
                Ok(json_response(StatusCode::OK, &serve::from_canonical(&resp).map_err(unconvertible)?, Some(&meta)))
            }
        },
        ChatAnswer::Stream(stream) => {
            let meta = stream.meta.clone();
            let framing = framing.unwrap_or(Framing::Sse);
            let mut r = sse_response(encode(stream, framing), &meta);
            if framing == Framing::Array {
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Ok(r)
        }
    }
}

async fn embeddings(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
    model: &str,
    batch: bool,
) -> Result<Response<Body>, Failed> {
    let (body, opts) = if batch {
        let JsonRequest { body, opts, .. } = read_json(req, cx, cred, id, DIALECT).await?;
        (embed::batch_embed_request(body, model), opts)
    } else {
        let JsonRequest { body, opts, .. } = read_json(req, cx, cred, id, DIALECT).await?;
        (embed::embed_request(body, model), opts)
    };
    let body = body.map_err(refused)?;
    let (list, meta) = cx.gateway.embeddings(body, opts).await.map_err(Failed::Routed)?;
    let write = if batch { embed::batch_embed_answer } else { embed::embed_answer };
    Ok(json_response(StatusCode::OK, &write(&list).map_err(unconvertible)?, Some(&meta)))
}

async fn count_tokens(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
    model: &str,
) -> Result<Response<Body>, Failed> {
    let JsonRequest { body, opts, .. } = read_json(req, cx, cred, id, DIALECT).await?;
    let chat = embed::count_request(body, model).map_err(refused)?;
    let count = cx.gateway.count_tokens(&chat, opts).await.map_err(Failed::Routed)?;
    Ok(count_response(count, |n| json!({"totalTokens": n})))
}

/// The caller's stream: a Gemini upstream's own events when the first chunk carries them
/// (re-framed as array elements for the array framing, the JSON bytes the vendor's), else
/// canonical chunks encoded as Gemini events. A failure after the start is one error object
/// (an SSE event, or the array's last element) and the stream ends there.
fn encode(stream: ChatStream, framing: Framing) -> impl Stream<Item = Bytes> + Send {
    let relay =
        Relay { stream, framing, enc: StreamEncoder::new(), array: JsonArray::default(), native: None, done: false };
    futures_util::stream::unfold(relay, |mut r| async move { r.step().await.map(|b| (Bytes::from(b), r)) })
}

struct Relay {
    stream: ChatStream,
    framing: Framing,
    enc: StreamEncoder,
    array: JsonArray,
    /// Whether the stream is the vendor's own (decided by its first chunk).
    native: Option<bool>,
    done: bool,
}

impl Relay {
    /// The next bytes for the caller (never empty), or `None` at the end.
    async fn step(&mut self) -> Option<Vec<u8>> {
        while !self.done {
            let out = match self.stream.next().await {
                Some(Ok(c)) => self.chunk(&c),
                Some(Err(e)) => {
                    self.done = true;
                    self.error(&StreamEncoder::error(&e))
                }
                None => {
                    self.done = true;
                    self.end()
                }
            };
            if !out.is_empty() {
                return Some(out);
            }
        }
        None
    }

    fn chunk(&mut self, c: &crate::api::ChatChunk) -> Vec<u8> {
        let native = *self.native.get_or_insert_with(|| NativeBytes::of(&c.native, DIALECT).is_some());
        if native {
            return match (NativeBytes::of(&c.native, DIALECT), self.framing) {
                (None, _) => Vec::new(),
                (Some(b), Framing::Sse) => b.to_vec(),
                (Some(b), Framing::Array) => self.reframe(b),
            };
        }
        if c.is_native_only() {
            return Vec::new();
        }
        let mut events = Vec::new();
        let res = self.enc.on_chunk(c, &mut events);
        let mut out = self.write(&events);
        if let Err(e) = res {
            self.done = true;
            out.extend(self.error(&StreamEncoder::error(&e.to_gateway_error())));
        }
        out
    }

    /// A clean end: the canonical stream's last event (finishReason, usage), the array closed.
    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.native != Some(true) {
            let mut events = Vec::new();
            if let Err(e) = self.enc.finish(&mut events) {
                return self.error(&StreamEncoder::error(&e.to_gateway_error()));
            }
            out = self.write(&events);
        }
        if self.framing == Framing::Array {
            out.extend(self.array.end());
        }
        out
    }

    fn write(&mut self, events: &[crate::wire::gemini::types::GenerateResponse]) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in events {
            match self.framing {
                Framing::Sse => out.extend(serve::stream::encode(ev)),
                Framing::Array => out.extend(self.array.item(ev)),
            }
        }
        out
    }

    /// The error object, and (array framing) the array's end.
    fn error(&mut self, body: &ErrorBody) -> Vec<u8> {
        match self.framing {
            Framing::Sse => serve::stream::encode(body),
            Framing::Array => {
                let mut out = self.array.item(body);
                out.extend(self.array.end());
                out
            }
        }
    }

    /// A vendor's SSE events as array elements, each event's JSON as the vendor sent it.
    fn reframe(&mut self, sse: &[u8]) -> Vec<u8> {
        let mut parser = SseParser::default();
        parser.push(sse);
        let mut out = Vec::new();
        while let Ok(Some(ev)) = parser.next_event() {
            out.extend(self.array.item_raw(ev.data.as_bytes()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn method_paths_name_the_model_and_the_method() {
        let t = |p: &str| target(p).map(|(m, x)| format!("{m}|{x}"));
        assert_eq!(t("/v1beta/models/fast:generateContent").as_deref(), Some("fast|generateContent"));
        assert_eq!(
            t("/v1/models/gem%2Fgemini-2.0-flash:countTokens").as_deref(),
            Some("gem/gemini-2.0-flash|countTokens")
        );
        assert_eq!(t("/v1beta/models/gem/x:streamGenerateContent").as_deref(), Some("gem/x|streamGenerateContent"));
        assert_eq!(t("/v1beta/models/tuned+v2:generateContent").as_deref(), Some("tuned+v2|generateContent"));
        assert_eq!(t("/v1beta/models/%ff:generateContent").as_deref(), Some("\u{fffd}|generateContent"));
        assert_eq!(t("/v1beta/models/x:predict").as_deref(), Some("x|predict"), "a Gemini 404 later");
        assert_eq!(t("/v1/models/ft:gpt-4o:org:id"), None, "OpenAI's model lookup");
        assert_eq!(t("/v1beta/tunedModels/x:generateContent"), None);
        assert_eq!(t("/v1/chat/completions"), None);
    }
}
