//! Provider adapters: each converts with its vendor's wire dialect (`crate::wire`) and makes
//! the one HTTP call, then classifies what failed. A closed set of kinds, matched, not boxed.
//! Adapters know nothing of routing, fronts or config reloads.

pub mod anthropic;
pub mod convert;
pub mod error;
pub mod fanout;
pub mod gemini;
pub mod http;
pub mod mock;
pub mod openai;
pub mod openai_responses;
pub mod output;
pub mod presets;
pub mod reasoning;

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use crate::api::reasoning::{Control, ForeignReasoning, Resolved};
use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::{ModelSettings, ProviderKind, ProviderSettings, UpstreamApi};
use crate::wire::native::{self, Dialect};
pub use error::{Action, Blame, Failure, ProviderError};

/// A vendor stream, already translated to canonical chunks. Dropping it aborts the call.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

/// One call's deployment, as an adapter needs it: the vendor's model id, the OpenAI endpoint
/// (only OpenAI-shaped kinds read it), the configured provider's name (the tag on the
/// reasoning it mints), the model's reasoning control, and what becomes of reasoning
/// another vendor minted (the route's `foreign_reasoning`).
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub model: &'a str,
    pub api: UpstreamApi,
    pub provider: &'a str,
    pub kind: ProviderKind,
    pub control: Control,
    pub foreign: ForeignReasoning,
}

impl<'a> Target<'a> {
    pub fn of(dep: &'a ModelSettings, foreign: ForeignReasoning) -> Self {
        let p = &dep.provider;
        let preset = p.http.as_ref().and_then(|h| h.preset);
        Target {
            model: &dep.vendor_model,
            api: dep.api,
            provider: &p.name,
            kind: p.kind,
            control: reasoning::control(p.kind, preset, &dep.vendor_model, dep.reasoning.as_ref()),
            foreign,
        }
    }

    /// The `reasoning_details` format this call's vendor accepts (none for Chat Completions,
    /// which has no place for reasoning blocks).
    fn format(&self) -> Option<&'static str> {
        match self.kind {
            ProviderKind::OpenAi | ProviderKind::Azure if self.api == UpstreamApi::Chat => None,
            k => reasoning::format_of(k),
        }
    }
}

/// One configured vendor account, ready to call.
pub enum Provider {
    /// OpenAI, OpenAI-compatible servers (with presets) and Azure OpenAI.
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
    Mock(mock::Mock),
}

impl Provider {
    /// Builds the adapter (and its HTTP connection pool) for an account.
    pub fn build(settings: &Arc<ProviderSettings>) -> Result<Self, String> {
        let http = || settings.http.as_ref().ok_or("http settings missing");
        match settings.kind {
            k @ (ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Azure) => {
                Ok(Provider::OpenAi(openai::OpenAi::new(http()?, k)?))
            }
            ProviderKind::Anthropic => Ok(Provider::Anthropic(anthropic::Anthropic::new(http()?)?)),
            ProviderKind::Gemini => Ok(Provider::Gemini(gemini::Gemini::new(http()?)?)),
            ProviderKind::Mock => {
                let m = settings.mock.clone().ok_or("mock settings missing")?;
                Ok(Provider::Mock(mock::Mock::new(m)))
            }
        }
    }

    /// Whether the vendor has an embeddings endpoint (Anthropic has none).
    pub fn can_embed(&self) -> bool {
        !matches!(self, Provider::Anthropic(_))
    }

    /// The vendor lacks `n`: `n > 1` is served by `fanout`, one call per choice.
    fn fan_out(&self, req: &ChatRequest, api: UpstreamApi) -> Result<Option<(u32, ChatRequest)>, ProviderError> {
        match self {
            Provider::Anthropic(_) => fanout::split(req, crate::wire::anthropic::DIALECT),
            Provider::OpenAi(p) if p.fans_out(api) => fanout::split(req, "this server"),
            _ => Ok(None),
        }
    }

    /// A whole (non-streaming) completion from `model` (the vendor's model id), through the
    /// deployment's OpenAI endpoint `api` (only OpenAI-shaped kinds read it). An answer with
    /// nothing in it is a vendor failure ([`output::whole`]).
    pub async fn complete(&self, req: &ChatRequest, t: &Target<'_>) -> Result<ChatResponse, ProviderError> {
        let req = reasoning::keep_own(req, t.format(), t.provider, t.foreign);
        let sent = reasoning::resolve(&req.reasoning_ask(), &t.control, t.model);
        reasoning::check_combination(t.kind, t.api, t.model, &req, sent)?;
        let mut whole = match self.fan_out(&req, t.api)? {
            Some((n, one)) => fanout::complete(n, || self.complete_one(&one, t, sent)).await?,
            None => self.complete_one(&req, t, sent).await?,
        };
        reasoning::tag_answer(&mut whole, t.provider);
        output::whole(whole)
    }

    /// Whether the adapter sends a caller of `dialect` its own request as it came (an OpenAI
    /// account through the endpoint `api`).
    fn speaks(&self, dialect: Dialect, api: UpstreamApi) -> bool {
        match self {
            Provider::Anthropic(_) => dialect == Dialect::AnthropicMessages,
            Provider::Gemini(_) => dialect == Dialect::Gemini,
            Provider::OpenAi(_) if api == UpstreamApi::Responses => dialect == Dialect::OpenAiResponses,
            Provider::OpenAi(_) | Provider::Mock(_) => {
                matches!(dialect, Dialect::OpenAiChat | Dialect::OpenAiEmbeddings)
            }
        }
    }

    /// A request of another dialect than the adapter's goes as its canonical form: what
    /// only its own dialect carries is dropped (logged), or refused when it cannot be.
    fn check_native(&self, req: &ChatRequest, api: UpstreamApi) -> Result<(), ProviderError> {
        match req.native.as_deref() {
            Some(n) if !self.speaks(n.dialect, api) => Ok(native::check_foreign(n, self.kind_name())?),
            _ => Ok(()),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Provider::OpenAi(_) => "an OpenAI-style vendor",
            Provider::Anthropic(_) => "Anthropic",
            Provider::Gemini(_) => "Gemini",
            Provider::Mock(_) => "the mock provider",
        }
    }

    async fn complete_one(
        &self,
        req: &ChatRequest,
        t: &Target<'_>,
        sent: Resolved,
    ) -> Result<ChatResponse, ProviderError> {
        self.check_native(req, t.api)?;
        match self {
            Provider::OpenAi(p) => p.complete(req, t.model, t.api, sent).await,
            Provider::Anthropic(p) => p.complete(req, t.model, sent).await,
            Provider::Gemini(p) => p.complete(req, t.model, sent).await,
            Provider::Mock(p) => p.complete(req, t.model).await,
        }
    }

    /// Starts a stream; resolves once the vendor accepted the call (headers received). Its
    /// chunks are held back until the first output ([`output::stream`]).
    pub async fn stream(&self, req: &ChatRequest, t: &Target<'_>) -> Result<ChunkStream, ProviderError> {
        let req = reasoning::keep_own(req, t.format(), t.provider, t.foreign);
        let sent = reasoning::resolve(&req.reasoning_ask(), &t.control, t.model);
        reasoning::check_combination(t.kind, t.api, t.model, &req, sent)?;
        let s = match self.fan_out(&req, t.api)? {
            Some((n, one)) => fanout::stream(n, || self.stream_one(&one, t, sent)).await?,
            None => self.stream_one(&req, t, sent).await?,
        };
        let provider = t.provider.to_string();
        let tagged = s.map(move |item| {
            item.map(|mut c| {
                reasoning::tag_chunk(&mut c, &provider);
                c
            })
        });
        Ok(output::stream(Box::pin(tagged)))
    }

    async fn stream_one(
        &self,
        req: &ChatRequest,
        t: &Target<'_>,
        sent: Resolved,
    ) -> Result<ChunkStream, ProviderError> {
        self.check_native(req, t.api)?;
        match self {
            Provider::OpenAi(p) => p.stream(req, t.model, t.api, sent).await,
            Provider::Anthropic(p) => p.stream(req, t.model, sent).await,
            Provider::Gemini(p) => p.stream(req, t.model, sent).await,
            Provider::Mock(p) => p.stream(req, t.model).await,
        }
    }

    /// Embeddings, answered in OpenAI's `list` shape.
    pub async fn embeddings(&self, req: &EmbeddingsRequest, model: &str) -> Result<Value, ProviderError> {
        match self {
            Provider::OpenAi(p) => p.embeddings(req, model).await,
            Provider::Anthropic(_) => Err(anthropic::no_embeddings()),
            Provider::Gemini(p) => p.embeddings(req, model).await,
            Provider::Mock(p) => p.embeddings(req, model).await,
        }
    }
}
