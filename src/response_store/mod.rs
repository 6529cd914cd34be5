//! The store of OpenAI Responses answers: what `store: true` keeps, `previous_response_id`
//! continues and `GET`/`DELETE /v1/responses/{id}` read and remove. One entry per response id:
//! its owner (a caller can only ever see its own: another's id is "not found"), when it was
//! made and when it expires, the conversation up to it (input items, earlier turns included)
//! and its output items, and the Response object as served.
//!
//! Bounded (entries and bytes, the oldest go first) with a TTL. On disk (SQLite under the
//! state directory, [`disk`]) written by a thread of its own, off the request path; what is
//! queued and not yet committed is answered from memory, so a response can be continued the
//! moment it was stored. Without a state directory the store is that memory map alone
//! ([`memory`]), lost at restart.

mod disk;
mod memory;

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::config::ResponsesSettings;

/// One stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    /// Who may read, continue or delete it ([`owner_of`]).
    pub owner: String,
    /// Unix seconds.
    pub created: u64,
    pub expires: u64,
    /// The conversation before this response: earlier turns' input and output items, then the
    /// request's own input items.
    pub input: Vec<Value>,
    /// The response's output items.
    pub output: Vec<Value>,
    /// The Response object as it was served.
    pub response: Value,
}

impl Stored {
    /// About what it takes on disk (the JSON texts).
    pub fn size(&self) -> usize {
        let len = |v: &Value| serde_json::to_vec(v).map_or(0, |b| b.len());
        self.input.iter().chain(&self.output).map(len).sum::<usize>() + len(&self.response) + self.id.len()
    }

    /// The items a continuation puts before its own input: this response's input, then its
    /// output.
    pub fn conversation(&self) -> Vec<Value> {
        self.input.iter().chain(&self.output).cloned().collect()
    }
}

/// What `status` says about the store.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default, PartialEq)]
pub struct StoreReport {
    /// `disk` (with its `path`) or `memory` (no state directory, or `persist = false`: lost at
    /// restart).
    pub backing: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Responses held now: on disk, what the writer last committed plus what is queued.
    #[serde(default)]
    pub entries: u64,
    /// Their size (the JSON texts).
    #[serde(default)]
    pub bytes: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// The store: memory in front, disk behind when there is a state directory.
pub struct ResponseStore {
    /// Memory only: every entry. With a disk: the entries (and deletions) not yet committed.
    memory: Arc<Mutex<memory::Memory>>,
    disk: Option<disk::Disk>,
    report: StoreReport,
}

impl ResponseStore {
    /// A store for `settings`: on disk when it names a path and the file opens, else in memory
    /// (logged: serving beats bookkeeping).
    pub fn open(settings: &ResponsesSettings) -> Self {
        let (limits, report_of) = (memory::Limits::of(settings), |backing: &str, path: Option<String>| StoreReport {
            backing: backing.into(),
            path,
            entries: 0,
            bytes: 0,
            max_entries: settings.max_entries,
            max_bytes: settings.max_bytes,
        });
        if let Some(path) = &settings.path {
            let pending = Arc::new(Mutex::new(memory::Memory::new(memory::Limits::pending())));
            match disk::Disk::open(path, settings.max_entries, settings.max_bytes, pending.clone()) {
                Ok(d) => {
                    let report = report_of("disk", Some(path.display().to_string()));
                    return ResponseStore { memory: pending, disk: Some(d), report };
                }
                Err(e) => {
                    tracing::error!(error = %e, "responses store unavailable on disk; keeping responses in memory")
                }
            }
        }
        let memory = Arc::new(Mutex::new(memory::Memory::new(limits)));
        ResponseStore { memory, disk: None, report: report_of("memory", None) }
    }

    /// An in-memory store with the default bounds.
    pub fn in_memory() -> Self {
        Self::open(&ResponsesSettings::default())
    }

    /// The store's backing and bounds, and what it holds now.
    pub fn report(&self) -> StoreReport {
        let mem = self.mem();
        let (pending, pending_bytes) = mem.live();
        let (committed, committed_bytes) = self.disk.as_ref().map_or((0, 0), disk::Disk::held);
        drop(mem);
        StoreReport { entries: committed + pending, bytes: committed_bytes + pending_bytes, ..self.report.clone() }
    }

    fn mem(&self) -> std::sync::MutexGuard<'_, memory::Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `entry` (replacing one with its id). Never waits on the disk.
    pub fn put(&self, entry: Stored) {
        let entry = Arc::new(entry);
        let seq = self.mem().put(entry.clone());
        if let Some(d) = &self.disk {
            d.queue(disk::Op::Put(seq, entry));
        }
    }

    /// `owner`'s response `id`, if it is stored and not expired at `now`.
    pub async fn get(&self, id: &str, owner: &str, now: u64) -> Option<Arc<Stored>> {
        match self.mem().get(id) {
            memory::Lookup::Found(s) => return (s.owner == owner && s.expires > now).then_some(s),
            memory::Lookup::Deleted => return None,
            memory::Lookup::Unknown if self.disk.is_none() => return None,
            memory::Lookup::Unknown => {}
        }
        let disk = self.disk.as_ref()?;
        disk.get(id.to_string(), owner.to_string(), now).await.map(Arc::new)
    }

    /// Removes `owner`'s response `id`; false when there is none (or it is another's).
    pub async fn delete(&self, id: &str, owner: &str, now: u64) -> bool {
        if self.get(id, owner, now).await.is_none() {
            return false;
        }
        let seq = self.mem().delete(id, self.disk.is_some());
        if let Some(d) = &self.disk {
            d.queue(disk::Op::Delete(seq, id.to_string()));
        }
        true
    }

    /// Entries held in memory (all of them, or those the disk has not committed yet).
    pub fn in_memory_len(&self) -> usize {
        self.mem().len()
    }

    /// Waits (blocking) until what was queued is on disk (tests, shutdown).
    pub fn flush(&self) {
        if let Some(d) = &self.disk {
            d.flush();
        }
    }
}

/// The owner key of a caller: a configured caller by name; an unknown one by what identified
/// it (its uid on the socket, a digest of its key on TCP), so two unknown callers do not share
/// responses either.
pub fn owner_of(caller: &crate::callers::Caller, cred: &crate::callers::Credential) -> String {
    use crate::callers::Credential;
    if caller.settings.is_some() {
        return format!("caller:{}", caller.name());
    }
    match cred {
        Credential::Peer(p) => format!("uid:{}", p.uid),
        Credential::Bearer(k) => format!("key:{}", &blake3::hash(k.as_bytes()).to_hex()[..32]),
        Credential::Anonymous => "anonymous".into(),
    }
}

#[cfg(test)]
mod tests;
