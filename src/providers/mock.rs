//! The built-in `mock` vendor: echo or canned answers with configurable latency, token count
//! and failure rate. It lets a newcomer try routing and failover with no API key, and users
//! test their own apps offline. It is a real provider kind, not a test double.

use futures_util::stream;
use serde_json::{Value, json};

use super::{ChunkStream, Failure, ProviderError};
use crate::api::ids::{completion_id, unix_now};
use crate::api::response::{Choice, ResponseMessage};
use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, Extra, Usage};
use crate::config::MockSettings;

pub struct Mock {
    cfg: MockSettings,
}

impl Mock {
    pub fn new(cfg: MockSettings) -> Self {
        Mock { cfg }
    }

    fn maybe_fail(&self) -> Result<(), ProviderError> {
        if self.cfg.failure_rate > 0.0 && rand::random::<f64>() < self.cfg.failure_rate {
            return Err(ProviderError::from_status(
                503,
                Some("mock_failure".into()),
                "mock provider failure (failure_rate)".into(),
                None,
            ));
        }
        Ok(())
    }

    /// The answer text, split into tokens whose concatenation is the answer.
    fn tokens(&self, req: &ChatRequest) -> Vec<String> {
        let text = self.cfg.reply.clone().unwrap_or_else(|| req.last_user_text());
        let words: Vec<String> = text.split_inclusive(char::is_whitespace).map(str::to_string).collect();
        let want = self.cfg.tokens as usize;
        if want == 0 {
            return words;
        }
        let base = if words.is_empty() { vec!["lorem ".to_string()] } else { words };
        let mut out: Vec<String> = base.iter().cycle().take(want).cloned().collect();
        if let Some(last) = out.last_mut() {
            let trimmed = last.trim_end().to_string();
            *last = trimmed;
        }
        out
    }

    fn usage(req: &ChatRequest, completion: usize) -> Usage {
        Usage::new((req.prompt_chars() as u64).div_ceil(4).max(1), completion as u64)
    }

    pub async fn complete(&self, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        pause(self.cfg.latency).await;
        self.maybe_fail()?;
        let tokens = self.tokens(req);
        let usage = Self::usage(req, tokens.len());
        Ok(ChatResponse {
            id: completion_id(),
            object: "chat.completion".into(),
            created: unix_now(),
            model: model.into(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: Some(tokens.concat()),
                    refusal: None,
                    tool_calls: None,
                    reasoning_content: None,
                    reasoning_details: None,
                    extra: Extra::new(),
                },
                finish_reason: Some("stop".into()),
                logprobs: None,
                extra: Extra::new(),
            }],
            usage: Some(usage),
            extra: Extra::new(),
            native: None,
            verbatim: None,
        })
    }

    pub async fn stream(&self, req: &ChatRequest, model: &str) -> Result<ChunkStream, ProviderError> {
        self.maybe_fail()?;
        let tokens = self.tokens(req);
        let usage = Self::usage(req, tokens.len());
        let (id, created, model) = (completion_id(), unix_now(), model.to_string());
        let mut chunks = Vec::with_capacity(tokens.len() + 3);
        chunks.push(ChatChunk::text(&id, created, &model, true, ""));
        chunks.extend(tokens.iter().map(|t| ChatChunk::text(&id, created, &model, false, t)));
        chunks.push(ChatChunk::finish(&id, created, &model, "stop"));
        chunks.push(ChatChunk::usage_only(&id, created, &model, usage));
        let (latency, interval) = (self.cfg.latency, self.cfg.token_interval);
        let s = stream::unfold((chunks.into_iter(), true), move |(mut it, first)| async move {
            let chunk = it.next()?;
            let delay = if first { latency } else { interval };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok(chunk), (it, false)))
        });
        Ok(Box::pin(s))
    }

    /// Deterministic unit vectors derived from each input's bytes (8 dimensions, or
    /// `dimensions`): equal inputs embed equally, different inputs differ.
    pub async fn embeddings(&self, req: &EmbeddingsRequest, model: &str) -> Result<Value, ProviderError> {
        pause(self.cfg.latency).await;
        self.maybe_fail()?;
        let Some(texts) = req.texts() else {
            return Err(ProviderError::new(Failure::InvalidRequest, "the mock provider embeds strings only"));
        };
        let dims = req.dimensions.unwrap_or(8).clamp(1, 4096) as usize;
        let data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": pseudo_vector(t, dims)}))
            .collect();
        let tokens: usize = texts.iter().map(|t| t.len().div_ceil(4)).sum();
        Ok(
            json!({"object": "list", "model": model, "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
        )
    }
}

/// Sleeps for `d`; a zero delay returns at once (a zero-length tokio sleep still waits for
/// the next timer tick, about a millisecond).
async fn pause(d: std::time::Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn pseudo_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            (h % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}
