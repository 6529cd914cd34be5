//! The dataset: JSONL (a line `{"vars": {...}, "expect": ...}` or `{"messages": [...],
//! "expect": ...}`; blank lines and lines starting with `#` are skipped) or CSV (a header row;
//! every column is a variable but `expect`, which is the expectation: JSON when it parses as
//! JSON, else the text). Errors name the dataset file and line.

use std::path::Path;

use serde_json::{Map, Value};

use super::EvalError;

/// One case of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Its position in the dataset (0-based), the key of its results.
    pub index: usize,
    /// The line it starts on (1-based).
    pub line: usize,
    pub vars: Map<String, Value>,
    /// Messages sent as they are (after the prompt's, when there is one).
    pub messages: Vec<Value>,
    /// Tools offered with the request (for tool_call scorers).
    pub tools: Option<Vec<Value>>,
    pub expect: Value,
}

/// The items and a hash of the file's bytes.
#[derive(Debug)]
pub struct Dataset {
    pub items: Vec<Item>,
    pub hash: String,
}

pub fn load(path: &Path) -> Result<Dataset, EvalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Invalid(format!("{}: cannot read the dataset: {e}", path.display())))?;
    let csv = path.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv"));
    let items = if csv { parse_csv(&text, path) } else { parse_jsonl(&text, path) }?;
    if items.is_empty() {
        return Err(EvalError::Invalid(format!("{}: the dataset has no items", path.display())));
    }
    Ok(Dataset { items, hash: blake3::hash(text.as_bytes()).to_hex()[..16].to_string() })
}

fn located(path: &Path, line: usize, message: impl std::fmt::Display) -> String {
    format!("{}:{line}: {message}", path.display())
}

pub fn parse_jsonl(text: &str, path: &Path) -> Result<Vec<Item>, EvalError> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let v: Value = match serde_json::from_str(trimmed) {
            Ok(v) => v,
            Err(e) => {
                errors.push(located(path, line, format!("not JSON: {e}")));
                continue;
            }
        };
        match item_of(v, items.len(), line) {
            Ok(item) => items.push(item),
            Err(m) => errors.push(located(path, line, m)),
        }
    }
    if errors.is_empty() { Ok(items) } else { Err(EvalError::Invalid(errors.join("\n"))) }
}

fn item_of(v: Value, index: usize, line: usize) -> Result<Item, String> {
    let Value::Object(mut o) = v else { return Err("a line must be a JSON object".into()) };
    if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "vars" | "messages" | "expect" | "tools")) {
        return Err(format!("unknown field `{k}` (known: vars, messages, tools, expect)"));
    }
    let vars = match o.remove("vars") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("`vars` must be an object".into()),
    };
    let messages = match o.remove("messages") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            if let Some(i) = a.iter().position(|m| !m.get("role").is_some_and(Value::is_string)) {
                return Err(format!("`messages[{i}]` has no `role`"));
            }
            a
        }
        Some(_) => return Err("`messages` must be an array".into()),
    };
    let tools = match o.remove("tools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => return Err("`tools` must be an array".into()),
    };
    if vars.is_empty() && messages.is_empty() {
        return Err("an item needs `vars` (for the prompt) or `messages`".into());
    }
    let expect = o.remove("expect").unwrap_or(Value::Null);
    Ok(Item { index, line, vars, messages, tools, expect })
}

pub fn parse_csv(text: &str, path: &Path) -> Result<Vec<Item>, EvalError> {
    let rows = csv_rows(text).map_err(|(line, m)| EvalError::Invalid(located(path, line, m)))?;
    let mut rows = rows.into_iter();
    let Some((_, header)) = rows.next() else { return Ok(Vec::new()) };
    if header.iter().any(|h| h.trim().is_empty()) {
        return Err(EvalError::Invalid(located(path, 1, "a header column is empty")));
    }
    let mut items = Vec::new();
    for (line, row) in rows {
        if row.len() == 1 && row[0].trim().is_empty() {
            continue;
        }
        if row.len() != header.len() {
            let m = format!("{} columns, the header has {}", row.len(), header.len());
            return Err(EvalError::Invalid(located(path, line, m)));
        }
        let mut vars = Map::new();
        let mut expect = Value::Null;
        for (name, cell) in header.iter().zip(row) {
            if name.trim() == "expect" {
                expect = serde_json::from_str(&cell).unwrap_or(Value::String(cell));
            } else {
                vars.insert(name.trim().to_string(), Value::String(cell));
            }
        }
        items.push(Item { index: items.len(), line, vars, messages: Vec::new(), tools: None, expect });
    }
    Ok(items)
}

/// A CSV row and the line it starts on.
type Row = (usize, Vec<String>);

/// RFC 4180 rows with the line each starts on: fields separated by commas, a quoted field may
/// hold commas, newlines and `""` for a quote.
fn csv_rows(text: &str) -> Result<Vec<Row>, (usize, String)> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut line, mut row_line) = (1usize, 1usize);
    let mut quoted = false;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
                continue;
            }
            '"' => return Err((line, "a quote inside an unquoted field (quote the whole field)".into())),
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
                continue;
            }
            '\r' if chars.peek() == Some(&'\n') => continue,
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push((row_line, std::mem::take(&mut row)));
                line += 1;
                row_line = line;
            }
            c => field.push(c),
        }
        at_field_start = c == '\n';
    }
    if quoted {
        return Err((row_line, "a quoted field is never closed".into()));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push((row_line, row));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn err(r: Result<Vec<Item>, EvalError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn jsonl_items_and_located_errors() {
        let p = Path::new("/d/cases.jsonl");
        let text = "{\"vars\": {\"who\": \"Ada\"}, \"expect\": \"Ada\"}\n\n# a comment\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"expect\": 3}\n";
        let items = parse_jsonl(text, p).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].index, items[0].line, items[0].expect.clone()), (0, 1, json!("Ada")));
        assert_eq!((items[1].index, items[1].line, items[1].expect.clone()), (1, 4, json!(3)));
        let e = err(parse_jsonl("{\"vars\": {\"a\": 1}}\n{\"vars\": 3}\n{oops\n", p));
        assert!(e.contains("/d/cases.jsonl:2: `vars` must be an object"), "{e}");
        assert!(e.contains("/d/cases.jsonl:3: not JSON"), "{e}");
        let e = err(parse_jsonl("{\"vars\": {\"a\": 1}, \"colour\": 1}\n", p));
        assert!(e.contains(":1: unknown field `colour`"), "{e}");
        let e = err(parse_jsonl("{\"expect\": 1}\n", p));
        assert!(e.contains(":1: an item needs"), "{e}");
        let e = err(parse_jsonl("{\"messages\": [{\"content\": \"x\"}]}\n", p));
        assert!(e.contains("`messages[0]` has no `role`"), "{e}");
    }

    #[test]
    fn csv_columns_become_vars_and_expect() {
        let p = Path::new("/d/cases.csv");
        let text = "who,expect\nAda,\"Hello, Ada\"\n\"Bo \"\"B\"\"\",42\n\"multi\nline\",x\n";
        let items = parse_csv(text, p).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].vars["who"], json!("Ada"));
        assert_eq!(items[0].expect, json!("Hello, Ada"));
        assert_eq!(items[1].vars["who"], json!("Bo \"B\""));
        assert_eq!(items[1].expect, json!(42));
        assert_eq!((items[2].line, items[2].vars["who"].clone()), (4, json!("multi\nline")));
        let e = err(parse_csv("who,expect\nAda\nBo,1\n", p));
        assert!(e.contains("/d/cases.csv:2: 1 columns, the header has 2"), "{e}");
        let e = err(parse_csv("who,expect\nA\"da,1\n", p));
        assert!(e.contains("/d/cases.csv:2: a quote inside"), "{e}");
        let e = err(parse_csv("who,expect\n\"Ada,1\n", p));
        assert!(e.contains("/d/cases.csv:2: a quoted field is never closed"), "{e}");
    }
}
