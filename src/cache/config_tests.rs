//! The cache's config keys: `routes.NAME.cache`, `[cache]`, `[shared]`, `server.state_dir`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{CacheTiers, Env, Snapshot, parse};

struct TestEnv {
    vars: HashMap<&'static str, &'static str>,
    uid: u32,
}

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|s| s.to_string())
    }
    fn uid(&self) -> u32 {
        self.uid
    }
}

fn env(vars: &[(&'static str, &'static str)], uid: u32) -> TestEnv {
    TestEnv { vars: vars.iter().copied().collect(), uid }
}

const BASE: &str = r#"
[server]
socket = "/tmp/sg.sock"

[providers.mock]
kind = "mock"

[models.echo]
provider = "mock"
model = "echo"
"#;

fn load(extra: &str, e: &TestEnv) -> Result<Snapshot, Vec<String>> {
    parse(&format!("{BASE}\n{extra}"), Path::new("t.toml"), e).map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

fn home() -> TestEnv {
    env(&[("HOME", "/home/u")], 1000)
}

#[test]
fn route_cache_defaults_and_explicit_tiers() {
    let snap = load(
        r#"
[routes.a]
targets = ["echo"]
cache = { ttl = "10m" }

[routes.b]
targets = ["echo"]
cache = { tiers = ["memory"] }

[routes.c]
targets = ["echo"]
"#,
        &home(),
    )
    .unwrap();
    let a = snap.routes["a"].cache.unwrap();
    assert_eq!(a.ttl, Duration::from_secs(600));
    assert_eq!(a.tiers, CacheTiers { memory: true, disk: true, redis: false });
    let b = snap.routes["b"].cache.unwrap();
    assert_eq!(b.ttl, Duration::from_secs(3600));
    assert_eq!(b.tiers, CacheTiers { memory: true, disk: false, redis: false });
    assert!(snap.routes["c"].cache.is_none(), "off by default");
    assert_eq!(snap.cache.max_memory, 64 << 20);
    assert!(snap.shared.redis.is_none());
}

#[test]
fn shared_redis_joins_the_default_tiers() {
    let snap = load(
        r#"
[cache]
max_memory = "8MiB"
max_disk = 500000000

[shared]
redis = "redis://:pw@127.0.0.1:6379/2"
redis_timeout = "250ms"

[routes.a]
targets = ["echo"]
cache = { ttl = "1s" }
"#,
        &home(),
    )
    .unwrap();
    assert_eq!(snap.routes["a"].cache.unwrap().tiers, CacheTiers { memory: true, disk: true, redis: true });
    assert_eq!((snap.cache.max_memory, snap.cache.max_disk), (8 << 20, 500_000_000));
    let r = snap.shared.redis.as_ref().unwrap();
    assert_eq!(r.timeout, Duration::from_millis(250));
    assert!(!format!("{r:?}").contains("pw"), "the URL is a secret: {r:?}");
}

#[test]
fn mistakes_are_located_errors() {
    let errs = load(
        r#"
[cache]
max_memory = "lots"
max_disk = "10KB"

[shared]
redis = "http://example:6380"

[routes.a]
targets = ["echo"]
cache = { ttl = "0s", tiers = ["memory", "ssd", "memory", "redis"] }

[routes.b]
targets = ["echo"]
cache = { tiers = [] }
"#,
        &home(),
    )
    .unwrap_err();
    let all = errs.join("\n");
    for want in [
        "cache.max_memory: `lots` is not a size",
        "cache.max_disk: must be at least 1MiB",
        "shared.redis: unsupported scheme `http`",
        "routes.a.cache.ttl: must be above 0",
        "routes.a.cache.tiers.1: unknown tier `ssd`",
        "routes.a.cache.tiers.2: tier `memory` is listed twice",
        "routes.b.cache.tiers: an empty list caches nothing",
    ] {
        assert!(all.contains(want), "missing `{want}` in:\n{all}");
    }
    assert!(errs.iter().all(|e| e.starts_with("t.toml:")), "{all}");
    let unknown = load("[routes.a]\ntargets = [\"echo\"]\ncache = { ttl = \"1m\", size = 3 }\n", &home()).unwrap_err();
    assert!(unknown.join("\n").contains("unknown field `size`"), "{unknown:?}");
}

#[test]
fn redis_tier_needs_shared_redis() {
    let errs = load("[routes.a]\ntargets = [\"echo\"]\ncache = { tiers = [\"redis\"] }\n", &home()).unwrap_err();
    assert!(errs.join("\n").contains("routes.a.cache.tiers.0: the redis tier needs `[shared] redis"), "{errs:?}");
}

#[test]
fn state_dir_follows_design_rules() {
    let dir = |e: &TestEnv| load("", e).unwrap().server.state_dir;
    assert_eq!(dir(&env(&[("STATE_DIRECTORY", "/var/lib/sg:/var/lib/other")], 0)), Some(PathBuf::from("/var/lib/sg")));
    assert_eq!(dir(&env(&[("HOME", "/root")], 0)), Some(PathBuf::from("/var/lib/sidegate")));
    assert_eq!(
        dir(&env(&[("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/u")], 1000)),
        Some(PathBuf::from("/x/state/sidegate"))
    );
    assert_eq!(dir(&home()), Some(PathBuf::from("/home/u/.local/state/sidegate")));
    assert_eq!(dir(&env(&[], 1000)), None);
    let snap = load("", &env(&[], 1000)).unwrap();
    assert!(snap.server.state_dir.is_none());
    // Named in the file: it wins, and must be absolute.
    let named = parse(
        &BASE.replace("socket = \"/tmp/sg.sock\"", "socket = \"/tmp/sg.sock\"\nstate_dir = \"/srv/sg\""),
        Path::new("t.toml"),
        &home(),
    )
    .unwrap();
    assert_eq!(named.server.state_dir, Some(PathBuf::from("/srv/sg")));
    let relative = parse(
        &BASE.replace("socket = \"/tmp/sg.sock\"", "socket = \"/tmp/sg.sock\"\nstate_dir = \"state\""),
        Path::new("t.toml"),
        &home(),
    );
    assert!(relative.is_err());
}

#[test]
fn disk_tier_without_a_state_dir_is_an_error_only_when_named() {
    let nowhere = env(&[], 1000);
    let default_tiers = load("[routes.a]\ntargets = [\"echo\"]\ncache = { ttl = \"1m\" }\n", &nowhere);
    assert!(
        default_tiers.is_ok(),
        "default tiers just skip the disk: {default_tiers:?}",
        default_tiers = default_tiers.err()
    );
    let named =
        load("[routes.a]\ntargets = [\"echo\"]\ncache = { tiers = [\"memory\", \"disk\"] }\n", &nowhere).unwrap_err();
    assert!(named.join("\n").contains("the disk tier needs a state directory"), "{named:?}");
}

#[test]
fn fleet_keys_resolve_with_tls_files_and_an_acl_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let snap = load(
        &format!(
            r#"
[shared]
redis = "rediss://10.0.0.5:6380/0"
redis_username = "sidegate"
redis_password = {{ env = "SG_TEST_REDIS_PW" }}
redis_ca_file = "{}"
host = "web-1"
heartbeat = "500ms"
reservation_ttl = "2m"
usage_stream = true
"#,
            ca.display()
        ),
        &env(&[("HOME", "/home/u"), ("SG_TEST_REDIS_PW", "pw-from-env")], 1000),
    )
    .unwrap();
    let r = snap.shared.redis.as_ref().unwrap();
    assert_eq!(
        (r.username.as_deref(), r.password.as_ref().map(|p| p.expose())),
        (Some("sidegate"), Some("pw-from-env"))
    );
    assert_eq!(r.tls.ca.as_deref(), Some(ca.as_path()));
    assert!(!format!("{r:?}").contains("pw-from-env"), "the password is a secret: {r:?}");
    let f = &snap.shared.fleet;
    assert_eq!(
        (f.host.as_str(), f.heartbeat, f.reservation_ttl),
        ("web-1", Duration::from_millis(500), Duration::from_secs(120))
    );
    assert!(f.usage_stream && f.share_breakers);
    let sentinel = load("[shared]\nredis = \"redis+sentinel://s1:26379,s2:26379/mymaster\"\n", &home()).unwrap();
    assert!(sentinel.shared.redis.is_some());
    let cluster = load("[shared]\nredis = \"redis+cluster://n1:7000,n2:7001?tls=true\"\n", &home()).unwrap();
    assert!(cluster.shared.redis.is_some());
}

#[test]
fn fleet_mistakes_are_located_errors() {
    let errs = load(
        r#"
[shared]
redis = "redis://10.0.0.5:6379/0"
redis_cert_file = "/nonexistent/client.pem"
heartbeat = "10ms"
host = "two words"
"#,
        &home(),
    )
    .unwrap_err();
    let all = errs.join("\n");
    for want in [
        "shared.redis_ca_file: TLS files need a rediss:// or redis+cluster:// URL",
        "shared.redis_cert_file: a client certificate needs its key",
        "shared.redis_cert_file: /nonexistent/client.pem is not a readable file",
        "shared.heartbeat: must be between 100ms and 60s",
        "shared.host: must be 1-128 characters without spaces",
    ] {
        assert!(all.contains(want), "missing `{want}` in:\n{all}");
    }
    let bad = load("[shared]\nredis = \"redis+sentinel://s1:26379\"\n", &home()).unwrap_err().join("\n");
    assert!(bad.contains("shared.redis: redis+sentinel:// needs host:port"), "{bad}");
    let bad = load("[shared]\nredis = \"redis+cluster://n1\"\n", &home()).unwrap_err().join("\n");
    assert!(bad.contains("shared.redis: redis+cluster:// needs host:port"), "{bad}");
}

#[test]
fn fleet_changes_that_wait_for_a_restart_are_named() {
    let a = load("[shared]\nredis = \"redis://10.0.0.5:6379/0\"\nheartbeat = \"1s\"\n", &home()).unwrap();
    let b =
        load("[shared]\nredis = \"redis://10.0.0.5:6379/0\"\nheartbeat = \"2s\"\nhost = \"web-2\"\n", &home()).unwrap();
    assert_eq!(a.shared.restart_only_changes(&b.shared), ["shared.host", "shared.heartbeat"]);
    assert!(a.shared.restart_only_changes(&a.shared).is_empty());
    let none = load("", &home()).unwrap();
    assert_eq!(none.shared.restart_only_changes(&a.shared), ["shared.redis"]);
    assert!(none.shared.restart_only_changes(&none.shared).is_empty());
}
