//! Watching the config (and the key files it names) for changes.
//!
//! Editors and config tools replace files by rename, Kubernetes swaps a `..data` symlink, and
//! some tools delete then recreate: a watch on the file itself goes deaf after the first of
//! these. So the *directories* are watched (the file's, and its symlink target's), every
//! event there that can change what a file holds means "maybe changed", and the daemon
//! debounces, re-reads and compares a content digest before reloading anything. Events that
//! change nothing (an open, a read, a close after reading, an access-time update) are
//! ignored: the daemon's own re-read makes them, and reacting to them would re-read forever.
//! A periodic check covers file systems whose events never arrive (NFS, some overlays).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Keeps the OS watches alive; dropping it stops them.
pub struct ConfigWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    pub dirs: Vec<PathBuf>,
}

/// Watches the directories holding `files` (and their symlink targets), and each directory in
/// `files` itself (the prompts directory: any `*.toml` in it counts); every event sends a
/// wake-up on `tx` (a full channel already holds one, which is all the daemon needs).
pub fn watch(files: &[PathBuf], tx: mpsc::Sender<()>) -> ConfigWatch {
    let (whole_dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = files.iter().cloned().partition(|p| p.is_dir());
    let mut dirs = dirs_to_watch(&files);
    dirs.extend(whole_dirs.iter().cloned());
    let names = interesting_names(&files);
    let handler = move |res: notify::Result<notify::Event>| {
        // Other files in the same directory (a socket, logs, editor swap files) are not ours.
        if let Ok(ev) = res {
            if !may_change_content(&ev.kind) {
                return;
            }
            let in_dir = |p: &Path| {
                p.extension().is_some_and(|x| x == "toml")
                    && p.parent().is_some_and(|d| whole_dirs.iter().any(|w| w == d))
            };
            let ours = ev.paths.is_empty()
                || ev.paths.iter().any(|p| {
                    in_dir(p)
                        || p.file_name().is_some_and(|n| names.contains(n) || n.to_string_lossy().starts_with(".."))
                });
            if ours {
                let _ = tx.try_send(());
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config; reload with SIGHUP or `sidegate reload`");
            return ConfigWatch { _watcher: None, dirs: Vec::new() };
        }
    };
    let mut watched = Vec::new();
    for d in dirs {
        match watcher.watch(&d, RecursiveMode::NonRecursive) {
            Ok(()) => watched.push(d),
            Err(e) => tracing::debug!(dir = %d.display(), error = %e, "not watching"),
        }
    }
    ConfigWatch { _watcher: Some(watcher), dirs: watched }
}

/// Whether an event can change what a file holds (or which file a name is): creation,
/// removal, renames, writes, a close after writing, and metadata other than access times
/// (a `chmod` can make a key file readable). Opens, reads, closes after reading and
/// access-time updates cannot.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Other => true,
    }
}

/// File names whose events matter: each watched file, and what its symlink points at.
/// (Kubernetes swaps `..data`; names starting with `..` always count.)
fn interesting_names(files: &[PathBuf]) -> BTreeSet<std::ffi::OsString> {
    let mut names = BTreeSet::new();
    for f in files {
        if let Some(n) = f.file_name() {
            names.insert(n.to_os_string());
        }
        if let Ok(target) = std::fs::canonicalize(f)
            && let Some(n) = target.file_name()
        {
            names.insert(n.to_os_string());
        }
    }
    names
}

fn dirs_to_watch(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for f in files {
        if let Some(parent) = parent_of(f) {
            dirs.insert(parent);
        }
        // A symlinked config (Kubernetes: cfg.toml -> ..data/cfg.toml) changes where the link
        // points; watch that directory too.
        if let Ok(target) = std::fs::canonicalize(f)
            && let Some(parent) = parent_of(&target)
        {
            dirs.insert(parent);
        }
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

fn parent_of(p: &Path) -> Option<PathBuf> {
    let parent = p.parent()?;
    Some(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, RemoveKind, RenameMode};

    #[test]
    fn only_events_that_can_change_a_file_count() {
        let yes = [
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Data(DataChange::Content)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Any,
        ];
        for k in yes {
            assert!(may_change_content(&k), "{k:?}");
        }
        // what the daemon's own read of the file makes
        let no = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
        ];
        for k in no {
            assert!(!may_change_content(&k), "{k:?}");
        }
    }
}
