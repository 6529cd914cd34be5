//! `[models.X] price`: the short form, the full form with the prices a vendor bills apart,
//! the errors, and `route.prompt_cache`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::callers::prices::{Price, price_of};
use crate::config::{Env, PromptCache, parse};

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn uid(&self) -> u32 {
        1000
    }
}

const HEAD: &str = "[server]\nsocket = \"/tmp/sg.sock\"\n[providers.a]\nkind = \"mock\"\n";

fn model(price: &str) -> Result<crate::config::Snapshot, Vec<String>> {
    let text = format!("{HEAD}[models.m]\nprovider = \"a\"\nmodel = \"claude-sonnet-4-5\"\nprice = {price}\n");
    parse(&text, Path::new("t.toml"), &NoEnv).map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

#[test]
fn the_short_form_still_works_and_replaces_the_built_in_entry() {
    let s = model("{ input = 1.0, output = 2.0 }").unwrap();
    let p = price_of(&s.models["m"]).unwrap();
    assert_eq!(p, Price { input: 1.0, output: 2.0, ..Price::default() });
    // its cache prices default to the configured input, not the built-in table's
    assert_eq!((p.cache_read_price(), p.cache_write_price(), p.cache_write_1h_price()), (1.0, 1.0, 1.0));
    assert_eq!(p.reasoning_price(), 2.0);
}

#[test]
fn the_full_form_overrides_every_price() {
    let s = model(
        "{ input = 3.0, output = 15.0, cache_read = 0.3, cache_write = 3.75, cache_write_1h = 6.0, reasoning = 20.0 }",
    )
    .unwrap();
    let p = price_of(&s.models["m"]).unwrap();
    assert_eq!(
        (p.cache_read, p.cache_write, p.cache_write_1h, p.reasoning),
        (Some(0.3), Some(3.75), Some(6.0), Some(20.0))
    );
}

#[test]
fn without_a_price_the_built_in_table_answers_with_its_cache_prices() {
    let text = format!("{HEAD}[models.m]\nprovider = \"a\"\nmodel = \"claude-sonnet-4-5-20250929\"\n");
    let s = parse(&text, Path::new("t.toml"), &NoEnv).unwrap();
    let p = price_of(&s.models["m"]).unwrap();
    assert_eq!((p.input, p.cache_read_price(), p.cache_write_price(), p.cache_write_1h_price()), (3.0, 0.3, 3.75, 6.0));
}

#[test]
fn bad_prices_are_errors_naming_the_field() {
    let e = model("{ input = 1.0, output = 2.0, cache_write_1h = -6.0 }").unwrap_err();
    assert!(e.iter().any(|e| e.contains("models.m.price.cache_write_1h") && e.contains("non-negative")), "{e:?}");
    let e = model("{ input = 1.0, output = 2.0, cached = 0.1 }").unwrap_err();
    assert!(e.iter().any(|e| e.contains("cached")), "an unknown price is named: {e:?}");
    let e = model("{ input = 1.0 }").unwrap_err();
    assert!(e.iter().any(|e| e.contains("output")), "{e:?}");
}

#[test]
fn prompt_cache_is_off_unless_auto_and_checked() {
    let route = |v: &str| {
        let text = format!("{HEAD}[models.m]\nprovider = \"a\"\nmodel = \"x\"\n[routes.r]\ntargets = [\"m\"]\n{v}");
        parse(&text, Path::new("t.toml"), &NoEnv).map_err(|e| e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(route("").unwrap().routes["r"].prompt_cache, PromptCache::Off);
    assert_eq!(route("prompt_cache = \"auto\"").unwrap().routes["r"].prompt_cache, PromptCache::Auto);
    let e = route("prompt_cache = \"always\"").unwrap_err();
    assert!(e.iter().any(|e| e.contains("prompt_cache") && e.contains("off, auto")), "{e:?}");
}
