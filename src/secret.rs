//! Secrets that cannot leak by accident, and the one redaction every output goes through.
//!
//! [`Secret`]: `Debug` and `Display` print `***`, and the only way to read one is `expose()`,
//! so `grep expose(` lists every place a key leaves the process. [`Redactor`]: every
//! secret-bearing value of an account (its key, its extra headers' values, its URL's userinfo
//! and the `Authorization: Basic` value derived from it), replaced by `***` in any text
//! shown (a vendor error that echoes request headers, a transport error naming the URL).
//! [`redact_url`] hides a URL's userinfo; [`scrub_key_like`] hides words that look like keys
//! (for config messages, where a key may sit by mistake in a field that is not secret).

use std::fmt;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text` (e.g. a vendor error echoing it).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < MIN_REDACTED { text.to_string() } else { text.replace(&self.0, "***") }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Shorter values are not replaced (they would mangle ordinary text).
const MIN_REDACTED: usize = 4;

/// A set of secret values, each replaced by `***` in text, longest first (so a value that
/// contains another is hidden whole). Cheap to clone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    values: Arc<[String]>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut v: Vec<String> = values.into_iter().filter(|s| s.len() >= MIN_REDACTED).collect();
        v.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        v.dedup();
        Redactor { values: v.into() }
    }

    /// `text` with every value, and any URL's userinfo, replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_userinfo(text);
        for v in self.values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "***");
            }
        }
        out
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

/// The secrets a URL carries in its userinfo: the password, `user:password`, and the
/// `Authorization: Basic` value an HTTP client derives from them (as written and
/// percent-decoded).
pub fn url_secrets(url: &str) -> Vec<String> {
    let Some(userinfo) = userinfo_of(url) else { return Vec::new() };
    let mut out = Vec::new();
    for info in [userinfo.to_string(), percent_decode(userinfo)] {
        match info.split_once(':') {
            Some((user, pass)) => {
                out.push(pass.to_string());
                out.push(base64(format!("{user}:{pass}").as_bytes()));
            }
            // a username alone is what some services use as the token
            None => out.push(base64(format!("{info}:").as_bytes())),
        }
        out.push(info);
    }
    out
}

/// `url` with its userinfo (if any) shown as `***`: `redis://***@host:6379/0`.
pub fn redact_url(url: &str) -> String {
    redact_userinfo(url)
}

/// The userinfo of a URL at the start of `url`, if it has one.
fn userinfo_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(authority_end).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

fn authority_end(c: char) -> bool {
    matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>' | ')' | ']' | ',' | ';') || c.is_whitespace()
}

/// Every `scheme://userinfo@` in `text` becomes `scheme://***@`.
fn redact_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(authority_end).unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Key prefixes of the vendors and services a config names.
const KEY_PREFIXES: [&str; 12] =
    ["sk-", "sk_", "rk_", "pk_", "AIza", "xai-", "gsk_", "ghp_", "github_pat_", "hf_", "xox", "eyJ"];

/// Whether `word` looks like an API key or token: a known key prefix and at least 12
/// characters, or 32 or more key characters mixing letters and digits with no more than two
/// dashes (model names and paths have dashes or slashes; keys mostly do not).
pub fn looks_like_key(word: &str) -> bool {
    let keyish = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.');
    if word.len() < 12 || !word.chars().all(keyish) {
        return false;
    }
    if KEY_PREFIXES.iter().any(|p| word.starts_with(p)) {
        return true;
    }
    let digits = word.chars().filter(char::is_ascii_digit).count();
    let letters = word.chars().filter(char::is_ascii_alphabetic).count();
    let dashes = word.chars().filter(|c| *c == '-').count();
    word.len() >= 32 && digits > 0 && letters > 0 && dashes <= 2 && !word.contains('/') && !word.contains('.')
}

/// `text` with every word that [`looks_like_key`] shown as `***` (and URL userinfo hidden).
pub fn scrub_key_like(text: &str) -> String {
    let text = redact_userinfo(text);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_key(word) {
            out.push_str("***");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (what `Authorization: Basic` carries).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("sk-live-123456");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.redact("bad key sk-live-123456!"), "bad key ***!");
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    #[test]
    fn url_userinfo_is_hidden_and_its_secrets_known() {
        assert_eq!(redact_url("redis://:hunter2@10.0.0.1:6379/0"), "redis://***@10.0.0.1:6379/0");
        assert_eq!(redact_url("https://u:p%40ss@h/v1"), "https://***@h/v1");
        assert_eq!(redact_url("http://127.0.0.1:8000/v1"), "http://127.0.0.1:8000/v1");
        assert_eq!(redact_url("http://h/v1?next=a@b"), "http://h/v1?next=a@b", "an @ past the authority");
        let text = "error sending request for url (http://bob:s3cret-pw@vendor/v1/chat): refused";
        assert_eq!(redact_url(text), "error sending request for url (http://***@vendor/v1/chat): refused");
        let s = url_secrets("https://bob:p%40ss-word@h/v1");
        for v in ["p%40ss-word", "p@ss-word", "bob:p@ss-word", &base64(b"bob:p@ss-word")] {
            assert!(s.iter().any(|x| x == v), "{v} in {s:?}");
        }
        assert!(url_secrets("http://h/v1").is_empty());
    }

    #[test]
    fn a_redactor_hides_every_value_and_userinfo() {
        let r = Redactor::new(["canary-header-value".to_string(), "abc".into(), "sk-key-1234".into()]);
        let text = "echo: x-org: canary-header-value, authorization: Bearer sk-key-1234, abc, http://u:p@h/";
        assert_eq!(r.redact(text), "echo: x-org: ***, authorization: Bearer ***, abc, http://***@h/");
        assert_eq!(format!("{r:?}"), "Redactor(2 values)");
    }

    #[test]
    fn key_like_words_are_scrubbed() {
        assert!(looks_like_key("sk-proj-abcdefghijkl"));
        assert!(looks_like_key("AIzaSyA1234567890abcdefghijkl"));
        assert!(looks_like_key("a2f9c0e1b7d84f3a9e6b5c4d3e2f1a0b"));
        for not_key in ["30s", "gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-20241022", "/var/lib/sidegate/x.db"] {
            assert!(!looks_like_key(not_key), "{not_key}");
        }
        assert_eq!(
            scrub_key_like("`sk-live-abcdef123456` is not a duration (expected number)"),
            "`***` is not a duration (expected number)"
        );
    }
}
