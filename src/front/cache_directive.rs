//! A request's cache directive as each front receives it: the HTTP `cache-control` header,
//! the native `options.cache`. The cache only sees the parsed `Directive`.

use crate::cache::Directive;

/// An HTTP `cache-control` value: comma-separated directives, case-insensitive; `no-store`
/// wins over `no-cache`; others (`max-age=...`) are ignored.
pub fn from_cache_control(v: &str) -> Directive {
    let mut d = Directive::Default;
    for token in v.split(',').map(|t| t.trim().to_ascii_lowercase()) {
        match token.as_str() {
            "no-store" => return Directive::NoStore,
            "no-cache" => d = Directive::NoCache,
            _ => {}
        }
    }
    d
}

/// The native protocol's `options.cache`: exactly `"no-cache"` or `"no-store"`.
pub fn from_option(v: &str) -> Option<Directive> {
    match v {
        "no-cache" => Some(Directive::NoCache),
        "no-store" => Some(Directive::NoStore),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_and_native_option() {
        assert_eq!(from_cache_control("no-cache"), Directive::NoCache);
        assert_eq!(from_cache_control("No-Cache, max-age=0"), Directive::NoCache);
        assert_eq!(from_cache_control("no-cache,no-store"), Directive::NoStore);
        assert_eq!(from_cache_control("max-age=60"), Directive::Default);
        assert_eq!(from_cache_control(""), Directive::Default);
        assert_eq!(from_option("no-store"), Some(Directive::NoStore));
        assert_eq!(from_option("nocache"), None);
    }
}
