//! Whether a decoded vendor answer had every key OpenAI's spec requires of it, found during the
//! decode itself at almost no cost (issue 16: an answer that has them all is served as the
//! vendor's own bytes instead of being encoded again).
//!
//! The canonical types fill a missing required key with a default (`object`, `created`,
//! `model`, a choice's `finish_reason` and `logprobs`, a message's `role`, `content` and
//! `refusal`; a chunk's `id` and a choice's `delta` too), so what they decode says nothing of
//! whether the key was there. The functions named in those fields' `#[serde(default = ...)]`
//! are the exact witness: serde calls a field's default function when, and only when, the
//! object it decodes lacks that key. Each one here notes the absence on this thread, and
//! [`decode`] clears the note, decodes and reads it back. That is exact because:
//! - the decode is synchronous on one thread, and nothing inside it decodes another answer or
//!   chunk (extension values are plain JSON values), so the note sees this decode's keys only;
//! - every type with such a field also has a `#[serde(flatten)]` map, so serde reads it only
//!   from a JSON object (never positionally from an array, where a default means nothing);
//! - a duplicated key is a decode error, so no object can make up for one that lacks it.
//!
//! The keys whose absence fails the decode (an answer's `id` and `choices`, a choice's `index`
//! and `message`) need no note.

use std::cell::Cell;

thread_local! {
    static MISSING: Cell<bool> = const { Cell::new(false) };
}

/// Notes that the object being decoded lacks a key the spec requires, and gives its default.
fn missing<T>(default: T) -> T {
    MISSING.set(true);
    default
}

/// The default of a missing required key whose default is its type's.
pub(super) fn absent<T: Default>() -> T {
    missing(T::default())
}

/// A missing `object` of a whole answer.
pub(super) fn absent_completion() -> String {
    missing("chat.completion".into())
}

/// A missing `object` of a chunk.
pub(super) fn absent_chunk() -> String {
    missing("chat.completion.chunk".into())
}

/// A missing `role` of an answer's message.
pub(super) fn absent_assistant() -> String {
    missing("assistant".into())
}

/// `T` from `json`, and whether the JSON had every key the spec requires of a `T` (only the
/// canonical answer and chunk types name the noting defaults; any other `T` says `true`).
pub fn decode<'a, T: serde::Deserialize<'a>>(json: &'a str) -> Result<(T, bool), serde_json::Error> {
    MISSING.set(false);
    let value = serde_json::from_str::<T>(json);
    let complete = !MISSING.replace(false);
    Ok((value?, complete))
}
