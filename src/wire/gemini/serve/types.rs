//! The generateContent / streamGenerateContent request body as a caller sends it: owned,
//! every documented field. Fields sidegate knows but cannot carry are modelled so the error
//! can name them; a field nobody documents is a parse error naming it (parts, contents,
//! calls) or is collected in `other` and refused by name (top level, `generationConfig`,
//! `tools`, `toolConfig`, declarations), as Gemini itself refuses unknown fields. The answer
//! and error types are shared with the calling side (`gemini::types`).

use serde::Deserialize;
use serde_json::Value;

use crate::api::Extra;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    #[serde(default)]
    pub contents: Vec<Content>,
    #[serde(default)]
    pub system_instruction: Option<Content>,
    #[serde(default)]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub tool_config: Option<ToolConfig>,
    #[serde(default)]
    pub generation_config: Option<GenerationConfig>,
    #[serde(default)]
    pub safety_settings: Option<Value>,
    #[serde(default)]
    pub cached_content: Option<String>,
    /// Vertex AI billing labels.
    #[serde(default)]
    pub labels: Option<Value>,
    /// Some clients repeat the model in the body; the URL's model is the one used.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(flatten)]
    pub other: Extra,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// `user` or `model`; absent means `user` (and is ignored in `systemInstruction`).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part: one data field, plus `thought` / `thoughtSignature`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Part {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub inline_data: Option<Blob>,
    #[serde(default)]
    pub file_data: Option<FileData>,
    #[serde(default)]
    pub function_call: Option<FunctionCall>,
    #[serde(default)]
    pub function_response: Option<FunctionResponse>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default)]
    pub thought_signature: Option<String>,
    /// Code execution (a built-in tool) and per-part media options: refused by name.
    #[serde(default)]
    pub executable_code: Option<Value>,
    #[serde(default)]
    pub code_execution_result: Option<Value>,
    #[serde(default)]
    pub video_metadata: Option<Value>,
    #[serde(default)]
    pub media_resolution: Option<Value>,
    #[serde(default)]
    pub part_metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Blob {
    pub mime_type: String,
    pub data: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileData {
    #[serde(default)]
    pub mime_type: Option<String>,
    pub file_uri: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionResponse {
    pub name: String,
    #[serde(default)]
    pub response: Option<Value>,
    #[serde(default)]
    pub id: Option<String>,
    /// Multimodal function results, and the Live API's streaming switches: refused.
    #[serde(default)]
    pub parts: Option<Value>,
    #[serde(default)]
    pub will_continue: Option<Value>,
    #[serde(default)]
    pub scheduling: Option<Value>,
}

/// One entry of `tools`: function declarations, or a built-in tool (`googleSearch`,
/// `codeExecution`, `urlContext`, …), which lands in `other`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    #[serde(default)]
    pub function_declarations: Vec<FunctionDeclaration>,
    #[serde(flatten)]
    pub other: Extra,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// OpenAPI 3.0 subset (`type: "OBJECT"`, `nullable`, …).
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Ordinary JSON Schema (the canonical form already).
    #[serde(default)]
    pub parameters_json_schema: Option<Value>,
    /// The function's result schema: a hint the canonical tools cannot carry (dropped).
    #[serde(default)]
    pub response: Option<Value>,
    #[serde(default)]
    pub response_json_schema: Option<Value>,
    #[serde(flatten)]
    pub other: Extra,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(default)]
    pub function_calling_config: Option<FunctionCallingConfig>,
    #[serde(flatten)]
    pub other: Extra,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionCallingConfig {
    /// AUTO | ANY | NONE | VALIDATED | MODE_UNSPECIFIED
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub allowed_function_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// A number in the SDKs (`float` in python-genai); must be a whole one.
    #[serde(default)]
    pub top_k: Option<f64>,
    #[serde(default)]
    pub candidate_count: Option<u32>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
    #[serde(default)]
    pub response_mime_type: Option<String>,
    #[serde(default)]
    pub response_schema: Option<Value>,
    #[serde(default)]
    pub response_json_schema: Option<Value>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub thinking_config: Option<Value>,
    /// `responseModalities`, `responseLogprobs`, `speechConfig`, …: refused by name unless
    /// they ask for nothing beyond text.
    #[serde(flatten)]
    pub other: Extra,
}
