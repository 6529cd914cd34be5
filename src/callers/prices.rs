//! Model prices: the built-in table (`src/prices.toml`, compiled in, dated) and what a call
//! costs. A price sidegate does not know is `None`, never zero.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::api::Usage;
use crate::config::ModelSettings;

/// USD per 1M tokens. The prices a vendor bills apart (cache reads, cache writes per TTL,
/// reasoning) default to the plain ones when absent: a vendor with no discount or premium
/// for them bills them as input (or output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Prompt tokens read from the vendor's prompt cache; `input` when absent.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Prompt tokens written to the cache with the default (5-minute) TTL; `input` when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Prompt tokens written with a 1-hour TTL; `cache_write` when absent.
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
    /// Reasoning (thinking) tokens, a part of the output; `output` when absent.
    #[serde(default)]
    pub reasoning: Option<f64>,
    #[serde(default)]
    pub context_window: Option<u64>,
}

impl Price {
    pub fn cache_read_price(&self) -> f64 {
        self.cache_read.unwrap_or(self.input)
    }

    pub fn cache_write_price(&self) -> f64 {
        self.cache_write.unwrap_or(self.input)
    }

    pub fn cache_write_1h_price(&self) -> f64 {
        self.cache_write_1h.unwrap_or_else(|| self.cache_write_price())
    }

    pub fn reasoning_price(&self) -> f64 {
        self.reasoning.unwrap_or(self.output)
    }

    /// What a call that used `u` is billed. `u` is canonical: `prompt_tokens` includes cache
    /// reads and writes, `completion_tokens` includes reasoning; each part is priced once, at
    /// its own price (vendor counts are clamped to their totals, never trusted to add up).
    pub fn cost(&self, u: &Usage) -> f64 {
        let read = u.cached_tokens().min(u.prompt_tokens);
        let write = u.cache_write_tokens().min(u.prompt_tokens - read);
        let write_1h = u.cache_write_1h_tokens().min(write);
        let fresh = u.prompt_tokens - read - write;
        let reasoning = u.reasoning_tokens().min(u.completion_tokens);
        let visible = u.completion_tokens - reasoning;
        (fresh as f64 * self.input
            + read as f64 * self.cache_read_price()
            + (write - write_1h) as f64 * self.cache_write_price()
            + write_1h as f64 * self.cache_write_1h_price()
            + visible as f64 * self.output
            + reasoning as f64 * self.reasoning_price())
            / 1e6
    }

    /// Most a call can cost with `prompt` tokens in and at most `output` out. When the call
    /// may write to the vendor's prompt cache (`cache_writes`: it carries cache markers or its
    /// route places them), every prompt token is assumed written at the dearest write price.
    pub fn ceiling(&self, prompt: u64, output: u64, cache_writes: bool) -> f64 {
        let prompt_price = if cache_writes {
            self.input.max(self.cache_write_price()).max(self.cache_write_1h_price())
        } else {
            self.input
        };
        (prompt as f64 * prompt_price + output as f64 * self.output.max(self.reasoning_price())) / 1e6
    }

    /// Errors of a price (each price non-negative and finite), as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let fields = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("cache_write_1h", self.cache_write_1h),
            ("reasoning", self.reasoning),
        ];
        fields
            .into_iter()
            .filter(|(_, v)| v.is_some_and(|v| !(v.is_finite() && v >= 0.0)))
            .map(|(k, _)| (k, "must be a non-negative number (USD per 1M tokens)"))
            .collect()
    }
}

#[derive(Deserialize)]
struct Table {
    date: String,
    models: BTreeMap<String, Price>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        toml::from_str(include_str!("../prices.toml")).unwrap_or_else(|e| {
            // The file is part of the source tree and checked by a unit test; a broken one is a
            // build defect, but the daemon still runs with no built-in prices.
            tracing::error!(error = %e, "built-in price table is invalid");
            Table { date: String::new(), models: BTreeMap::new() }
        })
    })
}

/// Date of the built-in price table.
pub fn table_date() -> &'static str {
    &table().date
}

/// The price of a deployment: its config's `price` (which replaces the built-in entry whole;
/// the prices it leaves out take their defaults), else the built-in table by vendor model id
/// (exact, or the longest key that prefixes the id followed by `-`).
pub fn price_of(m: &ModelSettings) -> Option<Price> {
    if let Some(p) = m.price {
        return Some(Price { context_window: m.context_window, ..p });
    }
    let id = m.vendor_model.rsplit('/').next().unwrap_or(&m.vendor_model);
    let t = &table().models;
    t.get(id).copied().or_else(|| {
        t.iter()
            .filter(|(k, _)| id.starts_with(k.as_str()) && id[k.len()..].starts_with('-'))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    })
}

#[cfg(test)]
#[path = "prices_tests.rs"]
mod tests;
