//! What naming a prompt file costs a request: reading the reference from the body, rendering
//! the prompt into the canonical request (a small one and a large one with a loop, a list of
//! twenty items and an Anthropic override), and the per-attempt rephrasing for a family with
//! an override. Numbers, not assertions.
//!
//! `cargo run --release -p sidegate-bench --bin prompt-bench [-- --iters N]`

use std::hint::black_box;
use std::path::Path;

use serde_json::{Value, json};
use sidegate::api::ChatRequest;
use sidegate::prompts::{Family, Library, PromptRef, PromptUse, apply, load_dir};
use sidegate_bench::{iters_arg, time};

const SMALL: &str = r#"
name = "greet"
version = "2"
model = "echo"
[variables.who]
type = "string"
[[messages]]
role = "system"
content = "You greet people tersely."
[[messages]]
role = "user"
content = "Greet {{ who }}."
"#;

fn large() -> String {
    let policy = "Answer in the customer's language. Never promise refunds. Quote the order. ".repeat(25);
    format!(
        r#"
name = "support"
version = "7"
model = "echo"
[variables.customer]
type = "string"
[variables.orders]
type = "list"
[variables.tone]
type = "string"
default = "friendly"
[[messages]]
role = "system"
content = """{policy} Tone: {{{{ tone }}}}."""
[[messages]]
role = "user"
content = """Customer {{{{ customer }}}} asks about these orders:
{{% for o in orders %}}- #{{{{ o.id }}}}: {{{{ o.item }}}} ({{{{ o.status }}}})
{{% endfor %}}Summarize where each one is."""
[[overrides.anthropic.messages]]
role = "system"
content = """<policy>{policy}</policy> Tone: {{{{ tone }}}}."""
[[overrides.anthropic.messages]]
role = "user"
content = """<customer>{{{{ customer }}}}</customer>
{{% for o in orders %}}<order id="{{{{ o.id }}}}">{{{{ o.item }}}}: {{{{ o.status }}}}</order>
{{% endfor %}}Summarize where each one is."""
"#
    )
}

fn library(dir: &Path) -> Library {
    std::fs::write(dir.join("greet.toml"), SMALL).expect("writes the small prompt");
    std::fs::write(dir.join("support.toml"), large()).expect("writes the large prompt");
    match load_dir(dir) {
        Ok(lib) => lib,
        Err(errors) => panic!("the bench's prompts do not load: {errors:?}"),
    }
}

fn reference(v: Value) -> PromptRef {
    PromptRef::from_json(&v).expect("a valid reference")
}

fn caller_request() -> ChatRequest {
    serde_json::from_value(json!({"messages": [{"role": "user", "content": "And the last one?"}]})).expect("a request")
}

fn main() {
    let iters = iters_arg(50_000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let lib = library(dir.path());
    let small_ref = json!({"id": "greet@2", "variables": {"who": "Ada"}});
    let orders: Vec<Value> =
        (0..20).map(|i| json!({"id": 1000 + i, "item": format!("item number {i}"), "status": "shipped"})).collect();
    let large_ref = json!({"id": "support", "variables": {"customer": "Ada Lovelace", "orders": orders}});
    let (small, large) = (reference(small_ref.clone()), reference(large_ref));
    let base = caller_request();

    let mut rows: Vec<(&str, f64)> = Vec::new();
    rows.push(("read the reference (small)", time(iters, || drop(black_box(PromptRef::from_json(&small_ref))))));
    let render = |r: &PromptRef| {
        let mut req = base.clone();
        let used = apply(&lib, black_box(r), &mut req).expect("renders");
        req.prompt = Some(used);
        req
    };
    rows.push(("copy of the caller's request (baseline)", time(iters, || drop(black_box(base.clone())))));
    rows.push(("render small (2 messages, 1 variable)", time(iters, || drop(black_box(render(&small))))));
    rows.push(("render large (2 KB, loop over 20, + override)", time(iters, || drop(black_box(render(&large))))));
    let rendered = render(&large);
    rows.push((
        "rephrase for anthropic (per attempt)",
        time(iters, || drop(black_box(PromptUse::phrased_for(&rendered, Some(Family::Anthropic))))),
    ));

    println!("{:<48} {:>12}", "step", "ns/request");
    for (name, ns) in rows {
        println!("{name:<48} {ns:>12.0}");
    }
}
