//! Maps dotted key paths and byte offsets of a TOML document to `line:col`, so every config
//! error names where it is. Built on toml's spanned document tree.

use toml::de::{DeTable, DeValue};

pub struct Locator<'a> {
    text: &'a str,
    root: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Locator { text, root: DeTable::parse(text).ok() }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    /// Offset of the key at `path` (e.g. `["routes", "fast", "targets", "1"]`); the deepest
    /// existing prefix is used when the full path is not in the file.
    pub fn offset_of(&self, path: &[&str]) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut best = None;
        let mut table = root.get_ref();
        let mut value: Option<&toml::Spanned<DeValue<'a>>> = None;
        for seg in path {
            let next = if let Some(v) = value {
                match v.get_ref() {
                    DeValue::Table(t) => find_key(t, seg),
                    DeValue::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)).map(|v| (v.span().start, v)),
                    _ => None,
                }
            } else {
                find_key(table, seg)
            };
            let Some((at, v)) = next else { break };
            best = Some(at);
            value = Some(v);
            if let DeValue::Table(t) = v.get_ref() {
                table = t;
            }
        }
        best
    }

    /// The dotted path of the innermost key whose value contains `offset`.
    pub fn path_at(&self, offset: usize) -> String {
        let mut path = Vec::new();
        if let Some(root) = &self.root {
            walk(root.get_ref(), offset, &mut path);
        }
        path.join(".")
    }
}

fn find_key<'t, 'a>(t: &'t DeTable<'a>, key: &str) -> Option<(usize, &'t toml::Spanned<DeValue<'a>>)> {
    t.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(k, v)| (k.span().start, v))
}

fn walk(t: &DeTable<'_>, offset: usize, path: &mut Vec<String>) {
    for (k, v) in t.iter() {
        let ks = k.span();
        let vs = v.span();
        let inside = (ks.start..ks.end.max(vs.end)).contains(&offset) || vs.contains(&offset);
        if inside {
            path.push(k.get_ref().to_string());
            match v.get_ref() {
                DeValue::Table(inner) => walk(inner, offset, path),
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if item.span().contains(&offset) {
                            path.push(i.to_string());
                            if let DeValue::Table(inner) = item.get_ref() {
                                walk(inner, offset, path);
                            }
                            break;
                        }
                    }
                }
                _ => {}
            }
            return;
        }
    }
}
