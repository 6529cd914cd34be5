//! The names of the headers sidegate's HTTP answers carry, parsed once at compile time: a
//! `&'static str` name passed to `HeaderMap::insert` is parsed and hashed again on every call
//! (about 900 instructions per header in the issue 16 profile).

use hyper::header::HeaderName;

pub const X_SIDEGATE_PROVIDER: HeaderName = HeaderName::from_static("x-sidegate-provider");
pub const X_SIDEGATE_MODEL: HeaderName = HeaderName::from_static("x-sidegate-model");
pub const X_SIDEGATE_CACHE: HeaderName = HeaderName::from_static("x-sidegate-cache");
pub const X_SIDEGATE_ATTEMPTS: HeaderName = HeaderName::from_static("x-sidegate-attempts");
pub const X_SIDEGATE_ATTEMPT_LOG: HeaderName = HeaderName::from_static("x-sidegate-attempt-log");
pub const X_SIDEGATE_CALLER: HeaderName = HeaderName::from_static("x-sidegate-caller");
pub const X_SIDEGATE_COST_USD: HeaderName = HeaderName::from_static("x-sidegate-cost-usd");
pub const X_SIDEGATE_COUNT: HeaderName = HeaderName::from_static("x-sidegate-count");
pub const X_SIDEGATE_VARIANT: HeaderName = HeaderName::from_static("x-sidegate-variant");
pub const X_SIDEGATE_REQUEST_ID: HeaderName = HeaderName::from_static("x-sidegate-request-id");
/// The Anthropic SDKs' name for the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub const CACHE_CONTROL: HeaderName = HeaderName::from_static("cache-control");
pub const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
// Request headers sidegate reads on every request.
pub const X_SIDEGATE_ROUTE: HeaderName = HeaderName::from_static("x-sidegate-route");
pub const X_SIDEGATE_TIMEOUT_MS: HeaderName = HeaderName::from_static("x-sidegate-timeout-ms");
pub const X_SIDEGATE_LABEL: HeaderName = HeaderName::from_static("x-sidegate-label");
pub const X_SIDEGATE_REGIONS: HeaderName = HeaderName::from_static("x-sidegate-regions");
pub const X_SIDEGATE_EPISODE: HeaderName = HeaderName::from_static("x-sidegate-episode");
pub const X_SIDEGATE_PROMPT: HeaderName = HeaderName::from_static("x-sidegate-prompt");
pub const X_SIDEGATE_PROMPT_VARIABLES: HeaderName = HeaderName::from_static("x-sidegate-prompt-variables");
