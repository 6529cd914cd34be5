//! Secrets that cannot be read: warnings naming the key and the variable or file, what each
//! section does without them, and loads that skip secrets altogether.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use super::*;

/// An environment that remembers which variables were asked for.
struct TestEnv {
    vars: HashMap<&'static str, &'static str>,
    asked: RefCell<Vec<String>>,
}

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().push(name.to_string());
        self.vars.get(name).map(|s| s.to_string())
    }
    fn uid(&self) -> u32 {
        1000
    }
}

fn env(vars: &[(&'static str, &'static str)]) -> TestEnv {
    let mut vars: HashMap<_, _> = vars.iter().copied().collect();
    vars.insert("XDG_RUNTIME_DIR", "/run/user/1000");
    TestEnv { vars, asked: RefCell::new(Vec::new()) }
}

fn warnings(s: &Snapshot) -> Vec<String> {
    s.warnings.iter().map(|w| w.to_string()).collect()
}

const TWO_VENDORS: &str = r#"
[providers.gone]
kind = "anthropic"
api_key = { env = "SG_TEST_UNSET_KEY" }

[providers.here]
kind = "openai"
api_key = { env = "SG_TEST_SET_KEY" }

[models.a]
provider = "gone"
model = "claude"

[models.b]
provider = "here"
model = "gpt"

[routes.r]
targets = ["a", "b"]
"#;

#[test]
fn only_the_provider_whose_key_is_missing_is_unavailable() {
    let s = parse(TWO_VENDORS, Path::new("t.toml"), &env(&[("SG_TEST_SET_KEY", "sk-set")])).unwrap();
    let w = warnings(&s);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("t.toml:4:1: warning: providers.gone.api_key: environment variable `SG_TEST_UNSET_KEY` is not set; provider `gone` is unavailable"),
        "{}",
        w[0]
    );
    assert!(s.providers["gone"].unavailable.as_deref().is_some_and(|r| r.contains("SG_TEST_UNSET_KEY")));
    assert_eq!(s.providers["here"].unavailable, None);
    assert_eq!(s.providers["here"].http.as_ref().unwrap().api_key.as_ref().unwrap().expose(), "sk-set");
    // the route keeps both targets: the plan, not the config, goes around the unavailable one
    assert_eq!(s.routes["r"].targets.len(), 2);
}

#[test]
fn an_unreadable_key_file_is_a_warning_and_is_watched() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("vendor.key");
    let text = format!("[providers.o]\nkind = \"openai\"\napi_key = {{ file = \"{}\" }}\n", key.display());
    let e = env(&[]);
    let missing = parse(&text, Path::new("t.toml"), &e).unwrap();
    let w = warnings(&missing);
    assert!(w[0].contains(&format!("providers.o.api_key: cannot read key file {}", key.display())), "{w:?}");
    assert!(missing.providers["o"].unavailable.as_deref().is_some_and(|r| r.contains("cannot read key file")));
    assert_eq!(missing.secret_files, std::slice::from_ref(&key), "a key file that appears later must be noticed");

    std::fs::write(&key, "\n").unwrap();
    let empty = parse(&text, Path::new("t.toml"), &e).unwrap();
    assert!(warnings(&empty)[0].contains("is empty"), "{:?}", warnings(&empty));

    // the key appearing changes the digest, so the daemon reloads and the provider comes back
    std::fs::write(&key, "sk-from-file\n").unwrap();
    let found = parse(&text, Path::new("t.toml"), &e).unwrap();
    assert!(found.warnings.is_empty() && found.providers["o"].unavailable.is_none());
    assert_ne!(found.digest, missing.digest);
    assert_eq!(found.version, missing.version);
}

#[test]
fn a_caller_key_that_cannot_be_read_matches_nothing() {
    let text = r#"
[callers.ci]
keys = [{ env = "SG_TEST_UNSET_CALLER" }, "a-literal-key-of-16+"]

[callers.only-env]
keys = [{ env = "SG_TEST_UNSET_CALLER" }]
"#;
    let s = parse(text, Path::new("t.toml"), &env(&[])).unwrap();
    let w = warnings(&s);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains(
            "callers.ci.keys.0: environment variable `SG_TEST_UNSET_CALLER` is not set; this key matches no request"
        ),
        "{w:?}"
    );
    assert_eq!(s.callers.by_name["ci"].keys.len(), 1);
    // a caller whose only keys are missing is still a valid caller (it matches nothing)
    assert!(s.callers.by_name["only-env"].keys.is_empty());
    // a short key that can be read is still an error
    let e = parse("[callers.c]\nkeys = [{ env = \"SHORT\" }]\n", Path::new("t.toml"), &env(&[("SHORT", "abc")]))
        .unwrap_err();
    assert!(e.to_string().contains("callers.c.keys.0: a caller key must be at least 16 characters"), "{e}");
}

#[test]
fn a_redis_url_that_cannot_be_read_turns_the_shared_tier_off() {
    let text = r#"
[shared]
redis = { env = "SG_TEST_UNSET_REDIS" }

[providers.m]
kind = "mock"

[models.echo]
provider = "m"
model = "echo"

[routes.r]
targets = ["echo"]
cache = { tiers = ["memory", "redis"] }
"#;
    let s = parse(text, Path::new("t.toml"), &env(&[])).unwrap();
    assert!(s.shared.redis.is_none());
    assert!(
        warnings(&s)[0].contains(
            "shared.redis: environment variable `SG_TEST_UNSET_REDIS` is not set; the shared Redis tier is off"
        )
    );
    assert!(s.routes["r"].cache.unwrap().tiers.redis, "the route still names the tier; it is skipped while off");
}

#[test]
fn real_errors_stay_errors_next_to_a_missing_secret() {
    let text = "[providers.o]\nkind = \"openai\"\napi_key = { env = \"SG_TEST_UNSET_KEY\" }\nbase_url = \"ftp://x\"\n";
    let e = parse(text, Path::new("t.toml"), &env(&[])).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.to_string().contains("t.toml:4:1: providers.o.base_url: `ftp://x` is not an http(s) URL"), "{e}");
}

#[test]
fn a_load_that_skips_secrets_reads_no_variable_or_file() {
    let text = format!(
        "{TWO_VENDORS}\n[providers.f]\nkind = \"gemini\"\napi_key = {{ file = \"/nonexistent/sg-test.key\" }}\n\n[callers.c]\nkeys = [{{ env = \"SG_TEST_UNSET_CALLER\" }}]\n"
    );
    let e = env(&[]);
    let s = parse_with(&text, Path::new("t.toml"), &e, Secrets::Skip).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", warnings(&s));
    assert!(s.secret_files.is_empty());
    let asked = e.asked.borrow().clone();
    assert!(!asked.iter().any(|v| v.starts_with("SG_TEST_")), "secrets were looked up: {asked:?}");
    // a snapshot without its keys cannot send a keyless call: every keyed provider is unavailable
    for p in ["gone", "here", "f"] {
        assert!(s.providers[p].unavailable.as_deref().is_some_and(|r| r.starts_with("not read")), "{p}");
    }
    // structure is still checked
    let bad = format!("{TWO_VENDORS}\n[routes.q]\ntargets = [\"ghost\"]\n");
    assert!(parse_with(&bad, Path::new("t.toml"), &e, Secrets::Skip).is_err());
}
