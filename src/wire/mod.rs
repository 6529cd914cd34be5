//! Wire dialects: the serde types of each vendor API and pure conversions between each
//! dialect and the canonical types in [`crate::api`], in both directions, no I/O.

pub mod openai_responses;
