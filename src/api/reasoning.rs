//! Reasoning, vendor-neutral: what a caller asks for ([`ReasoningAsk`], read from every
//! ingress's own control) and what an answer carries back ([`ReasoningDetail`]: thinking text,
//! summaries and the vendors' signed or encrypted blocks, kept verbatim and tagged with the
//! provider that minted them, so they go back to that vendor only).

use serde::{Deserialize, Serialize};

/// A reasoning level, OpenAI's names (the widest set): `none` turns reasoning off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    /// Above high: OpenAI's `xhigh`, Anthropic's `max`.
    #[serde(alias = "max")]
    Xhigh,
}

impl Effort {
    pub const ALL: [Effort; 6] =
        [Effort::None, Effort::Minimal, Effort::Low, Effort::Medium, Effort::High, Effort::Xhigh];

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
        }
    }

    pub fn parse(s: &str) -> Option<Effort> {
        Effort::ALL.into_iter().find(|e| e.as_str() == s).or((s == "max").then_some(Effort::Xhigh))
    }

    /// The level of `allowed` nearest to this one (ties go up: asked for more, given more).
    /// None when `allowed` is empty.
    pub fn nearest(self, allowed: &[Effort]) -> Option<Effort> {
        let rank = |e: Effort| e as i32;
        allowed.iter().copied().min_by_key(|a| ((rank(*a) - rank(self)).abs() * 2, rank(*a) < rank(self)))
    }
}

/// How the caller asked for reasoning, whatever dialect it spoke. Empty (`Default`) means
/// the caller said nothing: the vendor's default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningAsk {
    /// `reasoning_effort`, `reasoning.effort`, `output_config.effort`, `thinkingLevel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    /// A thinking token budget (`thinking.budget_tokens`, `thinkingBudget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u64>,
    /// The vendor decides how much to think (`thinking.type = adaptive`, `thinkingBudget = -1`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adaptive: bool,
    /// Responses' `reasoning.summary` (`auto`, `concise`, `detailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Gemini's `includeThoughts`; None is the gateway's default (thoughts shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

impl ReasoningAsk {
    pub fn is_empty(&self) -> bool {
        *self == ReasoningAsk::default()
    }

    /// Reasoning explicitly off (`none`, `thinking.type = disabled`, a budget of 0).
    pub fn is_off(&self) -> bool {
        self.effort == Some(Effort::None) || self.budget_tokens == Some(0)
    }

    /// The level asked for: the effort, else one derived from a budget, else `medium` for
    /// adaptive thinking with no effort.
    pub fn level(&self) -> Option<Effort> {
        if let Some(e) = self.effort {
            return Some(e);
        }
        match self.budget_tokens {
            Some(0) => Some(Effort::None),
            Some(b) if b < 2_048 => Some(Effort::Low),
            Some(b) if b < 12_000 => Some(Effort::Medium),
            Some(b) if b < 30_000 => Some(Effort::High),
            Some(_) => Some(Effort::Xhigh),
            None => self.adaptive.then_some(Effort::Medium),
        }
    }
}

/// How a model takes its reasoning control (the effort table's entries; `[models.X]
/// reasoning` overrides them). Each vendor writes a level or a budget its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The model has no reasoning control: what a caller asks is dropped, with a log line.
    None,
    /// One of these levels (OpenAI `reasoning_effort`, Gemini 3 `thinkingLevel`, Anthropic
    /// adaptive thinking with `output_config.effort`); `Effort::None` in it: can be off.
    Levels(Vec<Effort>),
    /// A thinking token budget from `min` to `max` (Anthropic `budget_tokens`, Gemini 2.5
    /// `thinkingBudget`); `can_off`: 0 turns thinking off.
    Budget { min: u64, max: u64, can_off: bool },
}

/// What is sent for a caller's ask, once the model's [`Control`] is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Resolved {
    /// The caller asked nothing: nothing is sent (the vendor's default).
    #[default]
    Unasked,
    Off,
    Level(Effort),
    Budget(u64),
    /// The vendor decides (adaptive thinking, a dynamic budget).
    Adaptive,
}

/// The token budget a level stands for on a budget-controlled model, before clamping.
pub fn level_budget(e: Effort) -> u64 {
    match e {
        Effort::None => 0,
        Effort::Minimal => 1_024,
        Effort::Low => 2_048,
        Effort::Medium => 8_192,
        Effort::High => 16_384,
        Effort::Xhigh => 32_768,
    }
}

impl Control {
    /// What to send for `ask`: the nearest level the model can do, or a budget within its
    /// bounds. Never fails: a level it cannot do becomes the nearest one (the caller logs the
    /// asked and the sent level).
    pub fn resolve(&self, ask: &ReasoningAsk) -> Resolved {
        if ask.effort.is_none() && ask.budget_tokens.is_none() && !ask.adaptive {
            return Resolved::Unasked;
        }
        match self {
            Control::None => Resolved::Unasked,
            Control::Levels(levels) => {
                if ask.adaptive && ask.effort.is_none() {
                    return Resolved::Adaptive;
                }
                match ask.level().and_then(|l| l.nearest(levels)) {
                    Some(Effort::None) => Resolved::Off,
                    Some(l) => Resolved::Level(l),
                    Option::None => Resolved::Unasked,
                }
            }
            Control::Budget { min, max, can_off } => {
                if ask.adaptive && ask.effort.is_none() && ask.budget_tokens.is_none() {
                    return Resolved::Adaptive;
                }
                let want = ask.budget_tokens.unwrap_or_else(|| ask.level().map_or(0, level_budget));
                match want {
                    0 if *can_off => Resolved::Off,
                    n => Resolved::Budget(n.clamp(*min, (*max).max(*min))),
                }
            }
        }
    }
}

/// What becomes of reasoning another vendor minted when a request goes to this one (a route's
/// `foreign_reasoning`): its signed blocks are never sent; their visible text is dropped, or
/// kept as plain text of the assistant turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForeignReasoning {
    #[default]
    Drop,
    Text,
}

/// `reasoning_details[].type` (OpenRouter's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetailKind {
    /// Visible thinking text, possibly signed (Anthropic `thinking`, Gemini thought parts).
    #[serde(rename = "reasoning.text")]
    Text,
    /// A summary of hidden reasoning (OpenAI Responses `summary_text`).
    #[serde(rename = "reasoning.summary")]
    Summary,
    /// Opaque reasoning: Anthropic `redacted_thinking`, OpenAI `encrypted_content`, a Gemini
    /// thought signature with no text.
    #[serde(rename = "reasoning.encrypted")]
    Encrypted,
}

/// `reasoning_details[].format`: which vendor dialect minted a block.
pub const FORMAT_ANTHROPIC: &str = "anthropic-claude-v1";
pub const FORMAT_OPENAI: &str = "openai-responses-v1";
pub const FORMAT_GEMINI: &str = "google-gemini-v1";

/// One reasoning block of an answer, as the vendor sent it (its signature or encrypted data
/// verbatim). On chat messages and deltas as `reasoning_details` (an extension; OpenRouter's
/// shape plus `provider`). A caller sends it back on the assistant message unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningDetail {
    #[serde(rename = "type")]
    pub kind: DetailKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Anthropic's `signature`, Gemini's `thoughtSignature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Anthropic's redacted `data`, OpenAI's `encrypted_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The vendor's item id (OpenAI `rs_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The dialect that minted it (`FORMAT_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Position among the answer's reasoning blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The configured provider (account) that minted it: only it is sent it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Gemini: the function call whose part carried this signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ReasoningDetail {
    /// A detail of `kind` minted in `format`, every other field empty.
    pub fn new(kind: DetailKind, format: &str) -> Self {
        ReasoningDetail {
            kind,
            text: None,
            summary: None,
            signature: None,
            data: None,
            id: None,
            format: Some(format.to_string()),
            index: None,
            provider: None,
            tool_call_id: None,
        }
    }

    /// Whether a vendor of `format`, configured as `provider`, may be sent this detail: same
    /// dialect, and minted by that provider (an untagged one, from a caller that spoke the
    /// vendor's dialect itself, by any provider of it).
    pub fn is_for(&self, format: &str, provider: &str) -> bool {
        self.format.as_deref() == Some(format) && self.provider.as_deref().is_none_or(|p| p == provider)
    }

    /// The text a person can read (thinking text or summary), if any.
    pub fn visible_text(&self) -> Option<&str> {
        self.text.as_deref().or(self.summary.as_deref()).filter(|t| !t.is_empty())
    }

    /// Whether it carries anything a vendor verifies (a signature or encrypted data).
    pub fn is_signed(&self) -> bool {
        self.signature.is_some() || self.data.is_some()
    }
}

/// The prefix of an [`envelope`]: letters only, so an envelope is valid base64 too (Gemini
/// SDKs decode `thoughtSignature` as base64).
const ENVELOPE: &str = "sidegate";

/// A detail as one opaque string, for a dialect whose only place for it is a vendor's
/// signature field (a Messages `signature`, a Gemini `thoughtSignature`, a Responses
/// `encrypted_content`) when the vendor that minted it spoke another dialect: `sidegate` and
/// the detail's JSON in hex (valid base64, its length a multiple of 4). A caller sends it back
/// unchanged; [`open_envelope`] reads it, and no vendor is ever sent one.
pub fn envelope(d: &ReasoningDetail) -> String {
    let mut json = serde_json::to_vec(d).unwrap_or_default();
    if !json.len().is_multiple_of(2) {
        json.push(b' ');
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(ENVELOPE.len() + json.len() * 2);
    out.push_str(ENVELOPE);
    for b in json {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Whether a vendor signature field holds an [`envelope`] (never to be sent to a vendor).
pub fn is_envelope(s: &str) -> bool {
    s.starts_with(ENVELOPE) && s.len() > ENVELOPE.len() && s[ENVELOPE.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The detail an [`envelope`] holds; None for a vendor's own signature.
pub fn open_envelope(s: &str) -> Option<ReasoningDetail> {
    if !is_envelope(s) {
        return None;
    }
    let nibble = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let hex = &s.as_bytes()[ENVELOPE.len()..];
    let bytes: Option<Vec<u8>> = hex.chunks(2).map(|p| Some((nibble(p[0])? << 4) | nibble(*p.get(1)?)?)).collect();
    serde_json::from_slice(&bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_levels_go_up_on_ties_and_never_invent() {
        use Effort::*;
        assert_eq!(Minimal.nearest(&[Low, Medium, High]), Some(Low));
        assert_eq!(Xhigh.nearest(&[Low, Medium, High]), Some(High));
        assert_eq!(Medium.nearest(&[Low, High]), Some(High), "a tie goes up");
        assert_eq!(None.nearest(&[Minimal, Low]), Some(Minimal));
        assert_eq!(High.nearest(&[]), Option::None);
        assert_eq!(Effort::parse("max"), Some(Xhigh));
        assert_eq!(Effort::parse("extreme"), Option::None);
    }

    #[test]
    fn controls_resolve_to_the_nearest_thing_the_model_can_do() {
        let ask = |e| ReasoningAsk { effort: Some(e), ..Default::default() };
        let levels = Control::Levels(vec![Effort::Low, Effort::High]);
        assert_eq!(levels.resolve(&ReasoningAsk::default()), Resolved::Unasked);
        assert_eq!(levels.resolve(&ask(Effort::Minimal)), Resolved::Level(Effort::Low));
        assert_eq!(levels.resolve(&ask(Effort::None)), Resolved::Level(Effort::Low), "cannot be off");
        let budget = Control::Budget { min: 128, max: 32_768, can_off: false };
        assert_eq!(budget.resolve(&ask(Effort::None)), Resolved::Budget(128));
        assert_eq!(budget.resolve(&ask(Effort::Medium)), Resolved::Budget(8_192));
        let b = ReasoningAsk { budget_tokens: Some(99_999), ..Default::default() };
        assert_eq!(budget.resolve(&b), Resolved::Budget(32_768));
        let adaptive = ReasoningAsk { adaptive: true, ..Default::default() };
        assert_eq!(budget.resolve(&adaptive), Resolved::Adaptive);
        assert_eq!(Control::None.resolve(&ask(Effort::High)), Resolved::Unasked);
    }

    #[test]
    fn budgets_read_as_levels() {
        let ask = |b| ReasoningAsk { budget_tokens: Some(b), ..Default::default() };
        assert_eq!(ask(0).level(), Some(Effort::None));
        assert_eq!(ask(1_024).level(), Some(Effort::Low));
        assert_eq!(ask(8_000).level(), Some(Effort::Medium));
        assert_eq!(ask(16_000).level(), Some(Effort::High));
        assert_eq!(ask(64_000).level(), Some(Effort::Xhigh));
        assert!(ask(0).is_off());
    }

    #[test]
    fn an_envelope_round_trips_and_is_valid_base64() {
        let mut d = ReasoningDetail::new(DetailKind::Text, FORMAT_GEMINI);
        d.signature = Some("c2ln".into());
        d.provider = Some("gem".into());
        let e = envelope(&d);
        assert!(e.len().is_multiple_of(4) && e.bytes().all(|b| b.is_ascii_alphanumeric()), "{e}");
        assert_eq!(open_envelope(&e), Some(d));
        assert!(!is_envelope("EqQBCkgIARABGAIiQG"), "a vendor's own signature is not one");
        assert_eq!(open_envelope("sidegatezz"), None);
    }

    #[test]
    fn a_detail_goes_back_to_its_minting_provider_only() {
        let mut d = ReasoningDetail::new(DetailKind::Text, FORMAT_ANTHROPIC);
        assert!(d.is_for(FORMAT_ANTHROPIC, "any"), "untagged: any provider of the dialect");
        d.provider = Some("claude".into());
        assert!(d.is_for(FORMAT_ANTHROPIC, "claude"));
        assert!(!d.is_for(FORMAT_ANTHROPIC, "claude-eu"));
        assert!(!d.is_for(FORMAT_GEMINI, "claude"));
    }
}
