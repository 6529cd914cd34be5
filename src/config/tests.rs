use std::collections::HashMap;
use std::path::Path;

use super::*;

struct TestEnv(HashMap<&'static str, &'static str>);

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|s| s.to_string())
    }
    fn uid(&self) -> u32 {
        1000
    }
}

fn env() -> TestEnv {
    TestEnv(HashMap::from([("XDG_RUNTIME_DIR", "/run/user/1000"), ("KEY", "sk-test-secret")]))
}

fn errors(text: &str) -> Vec<String> {
    match parse(text, Path::new("t.toml"), &env()) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn full_config_resolves() {
    let text = r#"
[server]
socket = "/tmp/sg/sg.sock"
http = "127.0.0.1:8040"
socket_mode = "0600"

[providers.openai]
kind = "openai"
api_key = { env = "KEY" }

[providers.mock]
kind = "mock"
latency = "5ms"
tokens = 3

[models.gpt-mini]
provider = "openai"
model = "gpt-4o-mini"
context_window = 128000
price = { input = 0.15, output = 0.60 }
capabilities = ["tools", "vision", "json"]

[models.echo]
provider = "mock"
model = "echo"

[routes.fast]
strategy = "fallback"
targets = ["gpt-mini", "echo"]
timeout = "30s"
attempt_timeout = "10s"
first_token_timeout = "5s"
"#;
    let s = parse(text, Path::new("t.toml"), &env()).unwrap();
    assert_eq!(s.server.socket_mode, 0o600);
    assert_eq!(s.routes["fast"].targets.len(), 2);
    assert_eq!(s.routes["fast"].timing.first_token_timeout, std::time::Duration::from_secs(5));
    assert_eq!(s.providers["mock"].mock.as_ref().unwrap().tokens, 3);
    // the key is held but never printed
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("sk-test-secret"), "{dbg}");
}

#[test]
fn unknown_key_names_line_column_and_key() {
    let e = errors("[server]\nsocket = \"/tmp/x\"\nsokcet_mode = \"0660\"\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("t.toml:3:1: "), "{}", e[0]);
    assert!(e[0].contains("sokcet_mode"), "{}", e[0]);
}

#[test]
fn dangling_references_and_bad_durations_are_all_reported() {
    let text = "[providers.m]\nkind = \"mock\"\n\n[models.a]\nprovider = \"nope\"\nmodel = \"x\"\n\n[models.b]\nprovider = \"m\"\nmodel = \"x\"\n\n[routes.r]\ntargets = [\"b\", \"zzz\"]\ntimeout = \"soon\"\n";
    let e = errors(text);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].contains("t.toml:5:1: models.a.provider: unknown provider `nope`"), "{}", e[0]);
    assert!(
        e.iter().any(|m| m.contains("routes.r.targets.1: unknown model `zzz`") && m.starts_with("t.toml:13:")),
        "{e:#?}"
    );
    assert!(e.iter().any(|m| m.contains("routes.r.timeout") && m.contains("not a duration")), "{e:#?}");
}

#[test]
fn unknown_provider_kind_and_wrong_kind_key() {
    let e = errors("[providers.x]\nkind = \"mock\"\nbase_url = \"http://a\"\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("base_url"), "{}", e[0]);
    let e = errors("[providers.x]\nkind = \"vertex\"\n");
    assert!(e[0].contains("vertex"), "{}", e[0]);
}

/// A secret that cannot be read is a warning (the config stays valid) naming the key and the
/// variable, and the provider that needed it is unavailable with that reason.
#[test]
fn missing_secret_env_is_a_warning_naming_key_and_variable() {
    let s = parse("[providers.o]\nkind = \"openai\"\napi_key = { env = \"NOT_SET\" }\n", Path::new("t.toml"), &env())
        .unwrap();
    let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("providers.o.api_key: environment variable `NOT_SET` is not set"), "{}", w[0]);
    assert!(w[0].starts_with("t.toml:3:1: warning: "), "{}", w[0]);
    let o = &s.providers["o"];
    assert_eq!(o.unavailable.as_deref(), Some("environment variable `NOT_SET` is not set (providers.o.api_key)"));
    assert!(o.http.as_ref().unwrap().api_key.is_none());
}

#[test]
fn syntax_error_is_located() {
    let e = errors("[server]\nsocket = \"/tmp/x\n");
    assert!(e[0].starts_with("t.toml:2:"), "{}", e[0]);
}

#[test]
fn non_loopback_http_is_refused() {
    let e = errors("[server]\nhttp = \"0.0.0.0:8040\"\n");
    assert!(e[0].contains("server.http") && e[0].contains("loopback"), "{}", e[0]);
}

#[test]
fn builtin_default_answers_with_mock() {
    let s = load(Path::new("/nonexistent/sidegate.toml"), false, &env()).unwrap();
    assert_eq!(s.source, ConfigSource::BuiltinDefault);
    assert_eq!(s.version, "builtin");
    assert!(s.digest.starts_with("builtin-") && s.digest.len() == "builtin-".len() + 16, "{}", s.digest);
    assert_eq!(s.routes["default"].targets[0].name, "mock");
    assert_eq!(s.server.socket, Path::new("/run/user/1000/sidegate/sidegate.sock"));
    // an explicit path that does not exist is an error
    assert!(load(Path::new("/nonexistent/sidegate.toml"), true, &env()).is_err());
}

/// The health state of a deployment is keyed by its fingerprint: the same settings give the
/// same key after a reload, a changed limit a new one, and an ad-hoc `provider/model` key
/// starts with its name (the router keeps those across reloads by it).
#[test]
fn fingerprint_tracks_what_a_deployment_is() {
    let text = "[providers.p]\nkind = \"mock\"\n\n[models.m]\nprovider = \"p\"\nmodel = \"x\"\n";
    let a = parse(text, Path::new("t.toml"), &env()).unwrap();
    let fp = a.models["m"].fingerprint();
    assert_eq!(fp, "m|p|Mock|x|Limits { max_concurrent: None, rpm: None, tpm: None }|None");
    assert_eq!(parse(text, Path::new("t.toml"), &env()).unwrap().models["m"].fingerprint(), fp);
    let limited = parse(&format!("{text}rpm = 5\n"), Path::new("t.toml"), &env()).unwrap();
    assert_ne!(limited.models["m"].fingerprint(), fp);
    let ad_hoc = ModelSettings::ad_hoc(a.providers["p"].clone(), "p/y".into(), "y".into());
    assert!(ad_hoc.fingerprint().starts_with("p/y|p|Mock|y|"), "{}", ad_hoc.fingerprint());
}

#[test]
fn a_caller_selector_that_does_not_resolve_is_one_error_where_it_is_written() {
    for key in ["user", "group"] {
        let e = errors(&format!("[callers.c]\n{key} = \"sg-test-no-such-name\"\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(&format!("callers.c.{key}: no {key} `sg-test-no-such-name`")), "{e:?}");
    }
    let e = errors("[callers.c]\nrpm = 5\n");
    assert!(e[0].contains("callers.c: a caller needs at least one of uid, user, gid, group, unit or keys"), "{e:?}");
}

/// `api = "responses"` is read on the OpenAI-shaped kinds (provider-wide, and per model as an
/// override), refused with the key named on the others, and a bad value lists the known ones.
#[test]
fn upstream_api_per_provider_and_model() {
    let text = "[providers.o]\nkind = \"openai\"\napi_key = \"k\"\napi = \"responses\"\n\n\
                [providers.c]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n\
                [models.a]\nprovider = \"o\"\nmodel = \"gpt-5\"\n\n\
                [models.b]\nprovider = \"o\"\nmodel = \"gpt-4o\"\napi = \"chat\"\n\n\
                [models.c]\nprovider = \"c\"\nmodel = \"m\"\napi = \"responses\"\n";
    let s = parse(text, Path::new("t.toml"), &env()).unwrap();
    assert_eq!(s.providers["o"].http.as_ref().unwrap().api, UpstreamApi::Responses);
    assert_eq!(s.models["a"].api, UpstreamApi::Responses);
    assert_eq!(s.models["b"].api, UpstreamApi::Chat);
    assert_eq!(s.models["c"].api, UpstreamApi::Responses);
    assert_ne!(s.models["a"].fingerprint(), s.models["b"].fingerprint().replace("gpt-4o", "gpt-5"));
    let ad_hoc = ModelSettings::ad_hoc(s.providers["o"].clone(), "o/x".into(), "x".into());
    assert_eq!(ad_hoc.api, UpstreamApi::Responses);

    for kind in ["anthropic", "gemini", "mock"] {
        let key = if kind == "mock" { "" } else { "api_key = \"k\"\n" };
        let e = errors(&format!("[providers.x]\nkind = \"{kind}\"\n{key}api = \"responses\"\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("providers.x.api: `api` only applies to kinds"), "{e:?}");
        assert!(e[0].contains(&format!("not \"{kind}\"")), "{e:?}");
    }
    let e = errors(
        "[providers.x]\nkind = \"anthropic\"\napi_key = \"k\"\n\n[models.m]\nprovider = \"x\"\nmodel = \"claude\"\napi = \"responses\"\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.toml:8:1: models.m.api: `api` only applies to kinds"), "{e:?}");
    let e = errors(
        "[providers.x]\nkind = \"azure\"\nbase_url = \"https://r.openai.azure.com\"\napi_key = \"k\"\napi = \"assistants\"\n",
    );
    assert!(e[0].contains("providers.x.api: unknown api `assistants` (known: chat, responses)"), "{e:?}");
}

#[test]
fn min_stream_rate_resolves_and_bad_values_are_one_error_each() {
    let head = "[providers.m]\nkind = \"mock\"\n\n[models.b]\nprovider = \"m\"\nmodel = \"x\"\n\n[routes.r]\ntargets = [\"b\"]\n";
    let ok = format!("{head}min_stream_rate = {{ tokens = 20, within = \"2s\" }}\n");
    let s = parse(&ok, Path::new("t.toml"), &env()).unwrap();
    let rate = s.routes["r"].timing.min_stream_rate.unwrap();
    assert_eq!((rate.tokens, rate.within), (20, std::time::Duration::from_secs(2)));
    for (bad, says) in [
        ("{ tokens = 0, within = \"2s\" }", "routes.r.min_stream_rate.tokens: must be at least 1"),
        ("{ tokens = 5, within = \"soon\" }", "routes.r.min_stream_rate.within: `soon` is not a duration"),
        ("{ tokens = 5, within = \"10m\" }", "shorter than the route's `timeout`"),
        ("{ tokens = 5 }", "missing field `within`"),
    ] {
        let e = errors(&format!("{head}min_stream_rate = {bad}\n"));
        assert_eq!(e.len(), 1, "{bad}: {e:#?}");
        assert!(e[0].contains(says), "{bad}: {}", e[0]);
    }
}
