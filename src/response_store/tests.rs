#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

/// Real time: the disk writer prunes what expired by the clock.
fn now() -> u64 {
    crate::api::ids::unix_now()
}

fn entry(id: &str, owner: &str, created: u64, text: &str) -> Stored {
    Stored {
        id: id.into(),
        owner: owner.into(),
        created,
        expires: created + 100,
        input: vec![json!({"role": "user", "content": text})],
        output: vec![
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}),
        ],
        response: json!({"id": id, "object": "response"}),
    }
}

fn settings(path: Option<std::path::PathBuf>, max_entries: u64, max_bytes: u64) -> ResponsesSettings {
    ResponsesSettings { path, max_entries, max_bytes, ..ResponsesSettings::default() }
}

async fn owners_ttl_and_delete(store: &ResponseStore) {
    let t = now();
    store.put(entry("resp_a", "caller:alice", t, "hi"));
    assert_eq!(store.get("resp_a", "caller:alice", t + 1).await.unwrap().input[0]["content"], "hi");
    assert!(store.get("resp_a", "caller:bob", t + 1).await.is_none(), "another owner never sees it");
    assert!(store.get("resp_a", "caller:alice", t + 100).await.is_none(), "expired");
    assert!(!store.delete("resp_a", "caller:bob", t + 1).await, "another owner cannot delete it");
    assert!(store.delete("resp_a", "caller:alice", t + 1).await);
    assert!(store.get("resp_a", "caller:alice", t + 1).await.is_none());
    assert!(!store.delete("resp_a", "caller:alice", t + 1).await);
}

#[tokio::test]
async fn memory_store_keeps_owners_apart_expires_and_deletes() {
    let store = ResponseStore::open(&settings(None, 10, 1 << 20));
    assert_eq!(store.report().backing, "memory");
    owners_ttl_and_delete(&store).await;
}

#[tokio::test]
async fn disk_store_does_the_same_before_and_after_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("responses.sqlite3");
    let store = ResponseStore::open(&settings(Some(path.clone()), 10, 1 << 20));
    assert_eq!(store.report().backing, "disk");
    owners_ttl_and_delete(&store).await;
    let t = now();
    store.put(entry("resp_b", "uid:1000", t, "kept"));
    store.flush();
    assert_eq!(store.in_memory_len(), 0, "committed writes leave memory");
    assert_eq!(store.disk.as_ref().unwrap().queued(), 0, "the queue's count drops with each op the writer takes");
    let reopened = ResponseStore::open(&settings(Some(path), 10, 1 << 20));
    let got = reopened.get("resp_b", "uid:1000", t + 1).await.unwrap();
    assert_eq!(*got, entry("resp_b", "uid:1000", t, "kept"));
    assert!(reopened.get("resp_a", "caller:alice", t + 1).await.is_none(), "the deletion reached the disk");
}

#[tokio::test]
async fn bounds_evict_the_oldest_first() {
    let t = now();
    let dir = tempfile::tempdir().unwrap();
    for path in [None, Some(dir.path().join("r.sqlite3"))] {
        let store = ResponseStore::open(&settings(path, 3, 1 << 20));
        for i in 0..5u64 {
            store.put(entry(&format!("resp_{i}"), "o", t + i, "x"));
        }
        store.flush();
        let mut kept = Vec::new();
        for i in 0..5u64 {
            kept.push(store.get(&format!("resp_{i}"), "o", t + 1).await.is_some());
        }
        assert_eq!(kept, [false, false, true, true, true], "{:?}", store.report());
    }
    let size = entry("resp_0", "o", t, "x").size() as u64;
    for path in [None, Some(dir.path().join("b.sqlite3"))] {
        let store = ResponseStore::open(&settings(path, 100, size * 2));
        for i in 0..4u64 {
            store.put(entry(&format!("resp_{i}"), "o", t + i, "x"));
        }
        store.flush();
        assert!(store.get("resp_1", "o", t + 1).await.is_none());
        assert!(store.get("resp_2", "o", t + 1).await.is_some() && store.get("resp_3", "o", t + 1).await.is_some());
    }
}

#[tokio::test]
async fn the_report_counts_what_is_held_in_memory_and_on_disk_across_a_restart() {
    let t = now();
    let size = entry("resp_0", "o", t, "x").size() as u64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite3");
    for path in [None, Some(path.clone())] {
        let store = ResponseStore::open(&settings(path, 3, 1 << 20));
        assert_eq!((store.report().entries, store.report().bytes), (0, 0));
        for i in 0..5u64 {
            store.put(entry(&format!("resp_{i}"), "o", t + i, "x"));
        }
        store.flush();
        let r = store.report();
        assert_eq!((r.entries, r.bytes), (3, 3 * size), "bounded to 3: {r:?}");
        assert!(store.delete("resp_4", "o", t + 1).await);
        store.flush();
        let r = store.report();
        assert_eq!((r.entries, r.bytes, r.max_entries), (2, 2 * size, 3), "{r:?}");
    }
    let reopened = ResponseStore::open(&settings(Some(path), 3, 1 << 20));
    let r = reopened.report();
    assert_eq!((r.backing.as_str(), r.entries, r.bytes), ("disk", 2, 2 * size), "counted at open: {r:?}");
}
