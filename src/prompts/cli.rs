//! `sidegate prompts list | show | render`: the library as a person reads it. Pure functions
//! from the library to text, so the commands need no daemon and no secrets.

use serde_json::{Map, Value, json};

use super::{Library, Prompt};

/// One line per prompt version: name, version (`*` the latest), content hash, variables and
/// target.
pub fn list(lib: &Library) -> String {
    let mut rows = vec![["NAME".to_string(), "VERSION".into(), "HASH".into(), "VARIABLES".into(), "TARGET".into()]];
    for (p, latest) in lib.all() {
        let vars: Vec<String> =
            p.variables.iter().map(|(n, v)| if v.default.is_some() { format!("{n}?") } else { n.clone() }).collect();
        rows.push([
            p.name.clone(),
            format!("{}{}", p.version, if latest { " *" } else { "" }),
            p.hash[..8].to_string(),
            vars.join(","),
            p.target.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if lib.is_empty() {
        out.push_str(match &lib.dir {
            None => "(no [prompts] dir in the config)\n",
            Some(_) => "(no prompt files)\n",
        });
    }
    out
}

/// A prompt's identity, variables (type, default, description), target and file, then the
/// file as written.
pub fn show(lib: &Library, id: &str) -> Result<String, String> {
    let p = find(lib, id)?;
    let mut out = format!("{}  (hash {}, {})\n", p.id(), p.hash, p.file.display());
    if let Some(d) = &p.description {
        out.push_str(&format!("{d}\n"));
    }
    for (name, v) in &p.variables {
        let default = v.default.as_ref().map_or_else(|| "required".to_string(), |d| format!("default {d}"));
        let about = v.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        out.push_str(&format!("  {name}: {} ({default}){about}\n", v.kind.as_str()));
    }
    if let Some(t) = &p.target {
        out.push_str(&format!("runs on: {t}\n"));
    }
    let families: Vec<&str> = p.override_families().map(|f| f.as_str()).collect();
    if !families.is_empty() {
        out.push_str(&format!("own phrasing for: {}\n", families.join(", ")));
    }
    let text = std::fs::read_to_string(&p.file).map_err(|e| format!("cannot read {}: {e}", p.file.display()))?;
    out.push('\n');
    out.push_str(&text);
    Ok(out)
}

/// The messages `id` renders to with `vars`, as a Chat Completions request body (`model` the
/// prompt's target), pretty JSON.
pub fn render(lib: &Library, id: &str, vars: &Map<String, Value>) -> Result<String, String> {
    let p = find(lib, id)?;
    let (messages, overrides) = p.render(vars).map_err(|e| e.to_string())?;
    let mut body = json!({"model": p.target.clone().unwrap_or_default(), "messages": messages});
    if let Some(t) = &p.tools {
        body["tools"] = Value::Array(t.clone());
    }
    if let Some(f) = &p.response_format {
        body["response_format"] = f.clone();
    }
    if !overrides.is_empty() {
        let by: Map<String, Value> = overrides.into_iter().map(|(f, m)| (f.as_str().to_string(), json!(m))).collect();
        body["x_sidegate_overrides"] = Value::Object(by);
    }
    serde_json::to_string_pretty(&body).map_err(|e| e.to_string())
}

/// `--var NAME=VALUE` pairs as variables: a VALUE that is JSON is that JSON (numbers, lists,
/// objects, booleans), anything else a string.
pub fn parse_vars(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for p in pairs {
        let (k, v) = p.split_once('=').ok_or_else(|| format!("`{p}`: write --var NAME=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        out.insert(k.trim().to_string(), value);
    }
    Ok(out)
}

fn find<'a>(lib: &'a Library, id: &str) -> Result<&'a Prompt, String> {
    lib.get(id).map(|p| p.as_ref()).ok_or_else(|| {
        let names: Vec<String> = lib.all().filter(|(_, latest)| *latest).map(|(p, _)| p.name.clone()).collect();
        format!("unknown prompt `{id}` (known: {})", if names.is_empty() { "none".into() } else { names.join(", ") })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const P: &str = "name = \"greet\"\nversion = \"2\"\nmodel = \"fast\"\ndescription = \"Greets\"\n[variables.who]\ntype = \"string\"\n[variables.n]\ntype = \"number\"\ndefault = 1\n[[messages]]\nrole = \"user\"\ncontent = \"Greet {{ who }} x{{ n }}.\"\n";

    fn lib() -> (tempfile::TempDir, Library) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("greet.toml"), P).unwrap();
        std::fs::write(d.path().join("greet@1.toml"), P.replace("version = \"2\"", "version = \"1\"")).unwrap();
        let lib = super::super::load_dir(d.path()).unwrap();
        (d, lib)
    }

    #[test]
    fn list_marks_the_latest_and_optional_variables() {
        let (_d, lib) = lib();
        let out = list(&lib);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{out}");
        assert!(lines[1].contains("greet") && lines[1].contains(" 1 ") && !lines[1].contains('*'), "{out}");
        assert!(lines[2].contains("2 *") && lines[2].contains("n?,who") && lines[2].ends_with("fast"), "{out}");
    }

    #[test]
    fn show_and_render() {
        let (_d, lib) = lib();
        let s = show(&lib, "greet@1").unwrap();
        assert!(
            s.starts_with("greet@1") && s.contains("who: string (required)") && s.contains("n: number (default 1)"),
            "{s}"
        );
        let vars = parse_vars(&["who=Ada".into(), "n=3".into()]).unwrap();
        let r: Value = serde_json::from_str(&render(&lib, "greet", &vars).unwrap()).unwrap();
        assert_eq!(r["model"], "fast");
        assert_eq!(r["messages"][0]["content"], "Greet Ada x3.");
        assert!(render(&lib, "greet", &Map::new()).unwrap_err().contains("`who`"));
        assert!(show(&lib, "nope").unwrap_err().contains("known: greet"));
        assert!(parse_vars(&["novalue".into()]).is_err());
    }
}
