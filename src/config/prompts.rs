//! `[prompts]`: the directory of prompt files (src/prompts), read with the config and part of
//! its snapshot, so a prompt file is validated and reloaded exactly as the config is.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::context::ResolveCx;
use crate::prompts::{Library, load_dir};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsFile {
    /// The directory, relative to the config file's; no prompts when absent.
    pub dir: Option<String>,
}

/// The library of `[prompts] dir` (empty without one); its files' errors join the config's.
pub(super) fn resolve_prompts(cx: &mut ResolveCx<'_>, raw: &PromptsFile) -> Arc<Library> {
    let Some(dir) = raw.dir.as_deref() else { return Arc::new(Library::default()) };
    if dir.is_empty() {
        cx.err(&["prompts", "dir"], "must not be empty; omit `[prompts]` for no prompts");
        return Arc::new(Library::default());
    }
    let path = PathBuf::from(dir);
    let path = if path.is_absolute() { path } else { cx.file().parent().map_or(path.clone(), |base| base.join(&path)) };
    if !path.is_dir() {
        cx.err(&["prompts", "dir"], format!("`{}` is not a directory", path.display()));
        return Arc::new(Library::default());
    }
    match load_dir(&path) {
        Ok(lib) => Arc::new(lib),
        Err(errors) => {
            cx.extend_errors(errors);
            Arc::new(Library::default())
        }
    }
}
