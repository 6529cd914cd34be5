//! Model prices: the built-in table (`src/prices.toml`, compiled in, dated) and what a call
//! costs. A price sidegate does not know is `None`, never zero.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::api::Usage;
use crate::config::ModelSettings;

/// USD per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cached prompt tokens; `input` when the vendor gives no discount.
    #[serde(default)]
    pub cached_input: Option<f64>,
    #[serde(default)]
    pub context_window: Option<u64>,
}

impl Price {
    /// Cost of a call that used `u` (cached prompt tokens at the cached price).
    pub fn cost(&self, u: &Usage, cached: u64) -> f64 {
        let cached = cached.min(u.prompt_tokens);
        let fresh = u.prompt_tokens - cached;
        (fresh as f64 * self.input
            + cached as f64 * self.cached_input.unwrap_or(self.input)
            + u.completion_tokens as f64 * self.output)
            / 1e6
    }

    /// Most a call can cost with `prompt` tokens in and at most `output` out.
    pub fn ceiling(&self, prompt: u64, output: u64) -> f64 {
        (prompt as f64 * self.input + output as f64 * self.output) / 1e6
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

/// The price of a deployment: its config's `price`, else the built-in table by vendor model id
/// (exact, or the longest key that prefixes the id followed by `-`).
pub fn price_of(m: &ModelSettings) -> Option<Price> {
    if let Some((input, output)) = m.price {
        return Some(Price { input, output, cached_input: None, context_window: m.context_window });
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
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_has_a_date() {
        assert!(!table_date().is_empty());
        assert!(table().models.len() >= 20);
        assert!(table().models.values().all(|p| p.input >= 0.0 && p.output >= 0.0));
    }

    #[test]
    fn cost_counts_cached_tokens_at_their_price() {
        let p = Price { input: 2.0, output: 8.0, cached_input: Some(0.5), context_window: None };
        let u = Usage::new(1_000_000, 500_000);
        assert!((p.cost(&u, 0) - 6.0).abs() < 1e-9);
        assert!((p.cost(&u, 1_000_000) - 4.5).abs() < 1e-9);
    }
}
