//! The Anthropic Messages dialect (`POST /v1/messages`): its wire types ([`types`]), the
//! calling side ([`call`]: canonical request -> Messages request, Messages response and
//! events -> canonical) and the serving side ([`serve`]: Messages request -> canonical,
//! canonical response, chunks and errors -> Messages shapes). docs/providers.md lists every
//! field's fate in both directions.

pub mod call;
pub mod serve;

pub mod types;
pub mod usage;

/// The dialect's name in error messages.
pub const DIALECT: &str = "Anthropic";
/// The tool that carries `response_format` answers (forced-tool technique).
pub const JSON_TOOL: &str = "sidegate_json_output";
