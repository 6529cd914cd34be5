//! `n > 1` for vendors without it (Anthropic; Groq, DeepSeek and Ollama presets): `n`
//! independent calls made concurrently and merged into one answer, choices indexed 0..n in
//! call order and usage summed. Streams interleave as the calls produce chunks, each chunk
//! re-indexed to its call's choice, with one summed usage chunk at the end. Costs `n` calls;
//! capped at `MAX_N`.

use std::future::Future;

use futures_util::StreamExt;
use futures_util::future::try_join_all;

use super::{ChunkStream, ProviderError};
use crate::api::{ChatChunk, ChatRequest, ChatResponse, Usage};

/// Largest `n` served by fanning out (each is a full, billed vendor call).
pub const MAX_N: u32 = 8;

/// `Some((n, request with n unset))` when `req` asks for more than one choice.
pub fn split(req: &ChatRequest, vendor: &'static str) -> Result<Option<(u32, ChatRequest)>, ProviderError> {
    match req.n {
        Some(n) if n > MAX_N => Err(crate::wire::WireError::unsupported(
            vendor,
            format!("`n` = {n}: sidegate fans out at most {MAX_N} calls for vendors without `n`"),
        )
        .into()),
        Some(n) if n > 1 => {
            let mut one = req.clone();
            one.n = None;
            Ok(Some((n, one)))
        }
        _ => Ok(None),
    }
}

/// Makes `n` calls at once; the first failure fails the whole request.
pub async fn complete<F, Fut>(n: u32, call: F) -> Result<ChatResponse, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<ChatResponse, ProviderError>>,
{
    let answers = try_join_all((0..n).map(|_| call())).await?;
    Ok(merge(answers))
}

/// One response whose choices are every answer's choices, re-indexed, usage summed.
pub fn merge(answers: Vec<ChatResponse>) -> ChatResponse {
    let mut it = answers.into_iter();
    let Some(mut out) = it.next() else {
        return ChatResponse {
            id: String::new(),
            object: "chat.completion".into(),
            created: 0,
            model: String::new(),
            choices: Vec::new(),
            usage: None,
            extra: Default::default(),
            native: None,
            verbatim: None,
        };
    };
    out.touch(); // choices re-indexed and joined, usage summed: not the first vendor's answer
    for r in it {
        out.choices.extend(r.choices);
        out.usage = match (out.usage, r.usage) {
            (Some(a), Some(b)) => Some(a.add(&b)),
            (a, b) => a.or(b),
        };
    }
    for (i, c) in out.choices.iter_mut().enumerate() {
        c.index = i as u32;
    }
    out
}

/// Starts `n` streams (all must be accepted) and interleaves them as one.
pub async fn stream<F, Fut>(n: u32, call: F) -> Result<ChunkStream, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<ChunkStream, ProviderError>>,
{
    let streams = try_join_all((0..n).map(|_| call())).await?;
    let tagged = streams.into_iter().enumerate().map(|(i, s)| s.map(move |item| (i as u32, item)).boxed());
    struct St {
        inner: futures_util::stream::SelectAll<
            futures_util::stream::BoxStream<'static, (u32, Result<ChatChunk, ProviderError>)>,
        >,
        head: Option<(String, u64, String)>,
        usage: Option<Usage>,
        done: bool,
    }
    let st = St { inner: futures_util::stream::select_all(tagged), head: None, usage: None, done: false };
    let merged = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            match st.inner.next().await {
                None => {
                    st.done = true;
                    let (id, created, model) = st.head.clone().unwrap_or_default();
                    return st.usage.map(|u| (Ok(ChatChunk::usage_only(&id, created, &model, u)), st));
                }
                Some((_, Err(e))) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                Some((i, Ok(mut c))) => {
                    if let Some(u) = c.usage.take() {
                        st.usage = Some(st.usage.map_or(u, |acc| acc.add(&u)));
                    }
                    if c.choices.is_empty() {
                        continue;
                    }
                    // One completion: the first call's id, created and model on every chunk.
                    let (id, created, model) =
                        st.head.get_or_insert_with(|| (c.id.clone(), c.created, c.model.clone())).clone();
                    c.touch();
                    (c.id, c.created, c.model) = (id, created, model);
                    for ch in &mut c.choices {
                        ch.index = i;
                    }
                    return Some((Ok(c), st));
                }
            }
        }
    });
    Ok(Box::pin(merged))
}
