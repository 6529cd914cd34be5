#![allow(clippy::unwrap_used)]

use serde_json::{Map, Value, json};

use super::*;
use crate::api::ChatRequest;

const GREET: &str = r#"
name = "greet"
version = "2"
description = "Greets someone"
model = "fast"

[variables.who]
type = "string"

[variables.tone]
type = "string"
default = "tersely"

[variables.facts]
type = "list"
default = []

[[messages]]
role = "system"
content = "You greet people {{ tone }}."

[[messages]]
role = "user"
content = '''
Greet {{ who }}.
{% for f in facts %}- {{ f }}
{% endfor %}'''

[overrides.anthropic]
[[overrides.anthropic.messages]]
role = "user"
content = "<task>Greet {{ who }} {{ tone }}.</task>"
"#;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    d
}

fn vars(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn texts(ms: &[crate::api::chat::Message]) -> Vec<String> {
    ms.iter().map(|m| m.content.as_ref().unwrap().text()).collect()
}

fn errors_of(files: &[(&str, &str)]) -> Vec<String> {
    let d = dir_with(files);
    load_dir(d.path())
        .unwrap_err()
        .iter()
        .map(|e| e.to_string().replace(&d.path().display().to_string(), "D"))
        .collect()
}

#[test]
fn a_prompt_renders_with_defaults_loops_and_its_family_override() {
    let d = dir_with(&[("greet.toml", GREET)]);
    let lib = load_dir(d.path()).unwrap();
    let p = lib.get("greet").unwrap();
    assert_eq!((p.id().as_str(), p.target.as_deref()), ("greet@2", Some("fast")));
    let (ms, overrides) = p.render(&vars(json!({"who": "Ada", "facts": ["math", "engines"]}))).unwrap();
    assert_eq!(texts(&ms), ["You greet people tersely.", "Greet Ada.\n- math\n- engines\n"]);
    assert_eq!(ms[0].role, Role::System);
    assert_eq!(overrides.len(), 1);
    assert_eq!(
        (overrides[0].0, texts(&overrides[0].1)),
        (Family::Anthropic, vec!["<task>Greet Ada tersely.</task>".to_string()])
    );
}

#[test]
fn variables_are_strict_unknown_missing_and_mistyped_are_errors() {
    let d = dir_with(&[("greet.toml", GREET)]);
    let lib = load_dir(d.path()).unwrap();
    let p = lib.get("greet").unwrap();
    for (given, says) in [
        (json!({}), "variable `who` (string) is required"),
        (json!({"who": 7}), "variable `who` must be a string, not a number"),
        (json!({"who": "A", "whom": "B"}), "`whom` is not one of its variables (facts, tone, who)"),
        (json!({"who": "A", "facts": "x"}), "variable `facts` must be a list, not a string"),
    ] {
        let e = p.render(&vars(given.clone())).unwrap_err().to_string();
        assert!(e.contains(says) && e.starts_with("prompt `greet@2`"), "{given}: {e}");
    }
}

#[test]
fn versions_are_addressable_by_version_and_hash_and_the_main_file_is_latest() {
    let v1 = GREET.replace("version = \"2\"", "version = \"1\"").replace("tersely", "warmly");
    let v10 = GREET.replace("version = \"2\"", "version = \"10\"");
    let d = dir_with(&[("greet.toml", GREET), ("greet@1.toml", &v1), ("greet@10.toml", &v10)]);
    let lib = load_dir(d.path()).unwrap();
    assert_eq!(lib.len(), 3);
    assert_eq!(lib.get("greet").unwrap().version, "2", "NAME.toml is the latest, whatever the numbers say");
    assert_eq!(lib.get("greet@1").unwrap().version, "1");
    let hash = lib.get("greet@10").unwrap().hash.clone();
    assert_eq!(lib.get(&format!("greet@{}", &hash[..8])).unwrap().version, "10");
    assert!(lib.get("greet@3").is_none() && lib.get("nope").is_none());
    let order: Vec<&str> = lib.all().map(|(p, _)| p.version.as_str()).collect();
    assert_eq!(order, ["1", "2", "10"], "numeric order");
    // Without a NAME.toml the highest version is the latest.
    let d = dir_with(&[("greet@1.toml", &v1), ("greet@10.toml", &v10)]);
    assert_eq!(load_dir(d.path()).unwrap().get("greet").unwrap().version, "10");
}

#[test]
fn errors_are_located_at_file_line_and_column() {
    let e = errors_of(&[(
        "greet.toml",
        "name = \"greet\"\nversion = \"1\"\n[[messages]]\nrole = \"user\"\ncontent = \"Hi {{ who\"\n",
    )]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("D/greet.toml:5:"), "{}", e[0]);
    assert!(e[0].contains("messages.0.content") && e[0].contains("template"), "{}", e[0]);

    let e = errors_of(&[(
        "greet.toml",
        "name = \"greet\"\nversion = \"1\"\n[[messages]]\nrole = \"user\"\ncontent = \"Hi {{ who }}\"\n",
    )]);
    assert!(
        e[0].starts_with("D/greet.toml:5:") && e[0].contains("uses `who`, which is not under [variables]"),
        "{}",
        e[0]
    );

    let e = errors_of(&[("greet.toml", "name = \"greet\"\nversion = \"1\"\nmesages = []\n")]);
    assert!(e[0].starts_with("D/greet.toml:3:") && e[0].contains("unknown field `mesages`"), "{}", e[0]);

    let bad = "name = \"hello\"\nversion = \"1\"\n[variables.x]\ntype = \"str\"\n[[messages]]\nrole = \"robot\"\ncontent = \"x\"\n[overrides.claude]\nmessages = []\n";
    let e = errors_of(&[("greet.toml", bad)]);
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e.iter().any(|m| m.starts_with("D/greet.toml:1:") && m.contains("named for prompt `greet`")), "{e:#?}");
    assert!(e.iter().any(|m| m.starts_with("D/greet.toml:4:") && m.contains("unknown type `str`")), "{e:#?}");
    assert!(e.iter().any(|m| m.starts_with("D/greet.toml:6:") && m.contains("unknown role `robot`")), "{e:#?}");
    assert!(e.iter().any(|m| m.contains("unknown vendor family `claude`")), "{e:#?}");
}

#[test]
fn a_multi_line_template_error_points_into_its_line() {
    let text = "name = \"greet\"\nversion = \"1\"\n[[messages]]\nrole = \"user\"\ncontent = '''\nline one\nline {% if %} two\n'''\n";
    let e = errors_of(&[("greet.toml", text)]);
    assert!(e[0].starts_with("D/greet.toml:7:"), "the error is on the template's second line: {}", e[0]);
}

#[test]
fn a_version_in_two_files_and_a_mismatched_file_version_are_errors() {
    let e = errors_of(&[("greet.toml", GREET), ("greet@2.toml", GREET)]);
    assert!(e.iter().any(|m| m.contains("version `2` of `greet` is also in")), "{e:#?}");
    let e = errors_of(&[("greet@3.toml", GREET)]);
    assert!(e.iter().any(|m| m.contains("named for version `3`")), "{e:#?}");
}

#[test]
fn a_runaway_loop_runs_out_of_fuel() {
    let text = "name = \"loop\"\nversion = \"1\"\n[[messages]]\nrole = \"user\"\ncontent = \"{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}\"\n";
    let d = dir_with(&[("loop.toml", text)]);
    let lib = load_dir(d.path()).unwrap();
    let e = lib.get("loop").unwrap().render(&Map::new()).unwrap_err();
    assert!(matches!(e, RenderError::Template { .. }), "{e}");
}

#[test]
fn apply_puts_the_prompt_first_and_fills_what_the_request_left_out() {
    let tools = r#"
[[tools]]
type = "function"
function = { name = "lookup", parameters = { type = "object", properties = { q = { type = "string" } } } }
"#;
    let text = format!("{GREET}{tools}")
        .replace("model = \"fast\"", "model = \"fast\"\nresponse_format = { type = \"json_object\" }");
    let d = dir_with(&[("greet.toml", &text)]);
    let lib = load_dir(d.path()).unwrap();
    let mut req: ChatRequest =
        serde_json::from_value(json!({"model": "", "messages": [{"role": "user", "content": "and be quick"}]}))
            .unwrap();
    let r = PromptRef::from_json(&json!({"id": "greet@2", "variables": {"who": "Ada"}})).unwrap();
    let used = apply(&lib, &r, &mut req).unwrap();
    assert_eq!((used.id.as_str(), used.prefix), ("greet@2", 2));
    assert_eq!(req.model, "fast");
    assert_eq!(req.messages.len(), 3);
    assert_eq!(req.messages[2].content.as_ref().unwrap().text(), "and be quick");
    assert_eq!(req.tools.as_ref().unwrap()[0].function.as_ref().unwrap().name, "lookup");
    assert!(req.response_format.is_some());
    assert!(used.messages_for(Some(Family::Anthropic)).is_some() && used.messages_for(Some(Family::Gemini)).is_none());
    let e = apply(&lib, &PromptRef::from_json(&json!("greet@9")).unwrap(), &mut req).unwrap_err();
    assert_eq!(e.to_string(), "unknown prompt `greet@9` (its versions: 2)");
}

#[test]
fn prompt_references_are_read_strictly() {
    let r = PromptRef::from_json(&json!({"id": "greet", "version": "2", "variables": {"who": "A"}})).unwrap();
    assert_eq!(r.id, "greet@2");
    for bad in [json!(7), json!({"variables": {}}), json!({"id": "g", "variables": []}), json!({"id": "g", "vars": {}})]
    {
        assert!(matches!(PromptRef::from_json(&bad), Err(RenderError::Shape(_))), "{bad}");
    }
}
