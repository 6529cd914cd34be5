//! OpenAI's and Gemini's automatic prompt caching, simulated: a prompt (its words, in order)
//! of at least 1024 tokens whose first 1024 + 128·k tokens were seen before, within the
//! process, has those tokens read from the cache, as both vendors report it (OpenAI's
//! `cached_tokens` grows in 128-token steps from 1024). Every such prefix of a call is
//! remembered for the next.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use serde_json::Value;

const MIN: usize = 1024;
const STEP: usize = 128;

/// Hashes of prompt prefixes seen.
pub type Seen = Mutex<HashSet<u64>>;

/// Every word of every message's text, in order (system and earlier turns included).
pub fn prompt_words(texts: &[&Value]) -> Vec<String> {
    let mut out = Vec::new();
    for t in texts {
        match t {
            Value::String(s) => out.extend(s.split_whitespace().map(str::to_string)),
            Value::Array(parts) => {
                for p in parts {
                    if let Some(s) = p["text"].as_str() {
                        out.extend(s.split_whitespace().map(str::to_string));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// (prompt tokens, cached tokens) of a call with these words; None for a prompt too short
/// to be cached (the caller keeps its own simpler count).
pub fn lookup(words: &[String], seen: &Seen) -> Option<(u64, u64)> {
    if words.len() < MIN {
        return None;
    }
    let mut h = DefaultHasher::new();
    let mut prefixes = Vec::new();
    for (i, w) in words.iter().enumerate() {
        w.hash(&mut h);
        let n = i + 1;
        if n >= MIN && (n - MIN).is_multiple_of(STEP) {
            prefixes.push((n, h.finish()));
        }
    }
    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
    let cached = prefixes.iter().rev().find(|(_, k)| s.contains(k)).map_or(0, |(n, _)| *n);
    s.extend(prefixes.iter().map(|(_, k)| *k));
    Some((words.len() as u64, cached as u64))
}
