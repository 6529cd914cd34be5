//! The edge between the wire layer and the attempt loop: a [`WireError`] from a conversion
//! becomes a classified [`ProviderError`]. Conversion problems found before any call keep no
//! vendor status (the caller still gets a 400 through `caller_status`); errors a vendor
//! reported in-band are classified by that vendor's adapter.

use super::{Failure, ProviderError, anthropic, gemini};
use crate::wire::{VendorReport, WireError};

impl From<WireError> for ProviderError {
    fn from(e: WireError) -> Self {
        let message = e.to_string();
        match e {
            WireError::Unsupported { .. } => coded(Failure::Unsupported, message, "unsupported_parameter"),
            WireError::Invalid { .. } => coded(Failure::InvalidRequest, message, "invalid_value"),
            WireError::Malformed(_) => ProviderError::new(Failure::BadResponse, message),
            WireError::Truncated(_) => ProviderError::new(Failure::StreamBroken, message),
            WireError::Blocked { .. } => {
                // A refused prompt: the caller's to change, not a retry.
                let mut err = coded(Failure::InvalidRequest, message, "content_policy_violation");
                err.status = Some(400);
                err
            }
            WireError::Reported(VendorReport::Anthropic(obj)) => anthropic::classify(obj, None, None),
            WireError::Reported(VendorReport::Gemini(status)) => gemini::classify(status.code, status, None),
            WireError::Reported(VendorReport::OpenAi { code, message }) => {
                let mut err = ProviderError::new(
                    Failure::StreamBroken,
                    message.unwrap_or_else(|| "vendor sent an error event".into()),
                );
                err.code = code;
                err
            }
        }
    }
}

fn coded(failure: Failure, message: String, code: &str) -> ProviderError {
    let mut e = ProviderError::new(failure, message);
    e.code = Some(code.into());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_errors_keep_their_class_and_message() {
        let e = ProviderError::from(WireError::unsupported("Anthropic", "`logprobs`"));
        assert_eq!(
            (e.failure, e.code.as_deref(), e.caller_status()),
            (Failure::Unsupported, Some("unsupported_parameter"), 400)
        );
        assert_eq!(e.message, "`logprobs` (not supported by Anthropic)");
        let e = ProviderError::from(WireError::invalid("bad"));
        assert_eq!(
            (e.failure, e.code.as_deref(), e.caller_status()),
            (Failure::InvalidRequest, Some("invalid_value"), 400)
        );
        let e = ProviderError::from(WireError::Malformed("x".into()));
        assert_eq!(e.failure, Failure::BadResponse);
        let e = ProviderError::from(WireError::Truncated("x".into()));
        assert_eq!(e.failure, Failure::StreamBroken);
        let e = ProviderError::from(WireError::Blocked { dialect: "Gemini", reason: "SAFETY".into() });
        assert_eq!(e.message, "Gemini blocked the prompt (blockReason SAFETY)");
    }

    #[test]
    fn in_band_openai_error_event() {
        let e: ProviderError =
            crate::wire::openai_chat::parse_chunk(r#"{"error":{"message":"overloaded","type":"server_error"}}"#)
                .unwrap_err()
                .into();
        assert_eq!(e.failure, Failure::StreamBroken);
        assert_eq!(e.message, "overloaded");
    }
}
