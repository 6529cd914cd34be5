//! Variant assignment: the first step of a chat request for a route with an experiment
//! (`[[routes.NAME.variants]]`, config/experiments.rs). The variant is picked by a hash of
//! the experiment's seed and a sticky key: the request's episode (`x-sidegate-episode`, native
//! `episode`) when it has one, else who the caller is. The same key always gets the same
//! variant for a seed, and the keys split by weight. The variant's prompt version goes into
//! the request's prompt reference (rendered by the prompt step as if the caller had named
//! it), its route or model becomes what the request is planned on, and its name goes to the
//! answer's meta, the log line and the ledger. The shadows to copy the request to are sampled
//! here too, with the request as it came.
//!
//! What the caller asked for wins: a request that names a prompt version, or another prompt,
//! than the variant's is left out of the experiment (served by the route as asked, with no
//! variant). A request for a model, or for another route, never meets the experiment.

use std::sync::Arc;

use super::CallOptions;
use crate::api::ChatRequest;
use crate::callers::Credential;
use crate::config::Snapshot;
use crate::config::experiments::{Experiment, Shadow, Variant};
use crate::prompts::PromptRef;

/// What the experiment step decided for one request.
pub struct Assigned {
    /// The experiment's route: what the request asked for, and its row's route.
    pub route: String,
    /// The variant it got; None: it has none (shadows only), or it was left out.
    pub variant: Option<Arc<Variant>>,
    /// The shadows sampled for it, with the request as it came.
    pub shadows: Option<ShadowCopy>,
}

/// A request as it came (before any prompt was rendered) and the shadows it is copied to.
pub struct ShadowCopy {
    pub shadows: Vec<Arc<Shadow>>,
    pub request: ChatRequest,
    /// The request's own prompt reference, if it named one.
    pub prompt: Option<PromptRef>,
}

impl Assigned {
    /// The route or model the request is planned on, when its variant names one.
    pub fn target(this: Option<&Self>) -> Option<&str> {
        this?.variant.as_ref()?.target.as_deref()
    }

    /// The variant's name, for the request's record.
    pub fn variant_name(this: Option<&Self>) -> Option<String> {
        this?.variant.as_ref().map(|v| v.name.clone())
    }
}

/// The experiment step: `None` when the request's route has no experiment.
pub fn assign(snap: &Snapshot, req: &ChatRequest, opts: &mut CallOptions) -> Option<Assigned> {
    if snap.experiments.is_empty() {
        return None;
    }
    let exp = snap.experiments.get(asked_route(snap, req, opts)?)?;
    let shadows = sample_shadows(exp, req, opts);
    let mut variant = None;
    if !exp.variants.is_empty() {
        let key = StickyKey::of(opts, snap);
        let v = &exp.variants[pick(exp, &key)];
        let merged = with_variant_prompt(v.prompt.as_deref(), opts.prompt.take());
        opts.prompt = merged.prompt;
        variant = merged.applies.then(|| v.clone());
    }
    Some(Assigned { route: exp.route.clone(), variant, shadows })
}

/// The route the request asks for: its route option, its `model`, or its prompt's target.
fn asked_route<'a>(snap: &'a Snapshot, req: &'a ChatRequest, opts: &'a CallOptions) -> Option<&'a str> {
    if let Some(r) = opts.route.as_deref() {
        return Some(r);
    }
    if !req.model.is_empty() {
        return Some(&req.model);
    }
    match &opts.prompt {
        Some(Ok(r)) => snap.prompts.get(&r.id)?.target.as_deref(),
        _ => None,
    }
}

fn sample_shadows(exp: &Experiment, req: &ChatRequest, opts: &CallOptions) -> Option<ShadowCopy> {
    let sampled: Vec<Arc<Shadow>> =
        exp.shadows.iter().filter(|s| s.sample >= 1.0 || rand::random::<f64>() < s.sample).cloned().collect();
    if sampled.is_empty() {
        return None;
    }
    let prompt = match &opts.prompt {
        Some(Ok(r)) => Some(r.clone()),
        _ => None,
    };
    Some(ShadowCopy { shadows: sampled, request: req.clone(), prompt })
}

/// A request's prompt reference with a variant's (or shadow's) prompt version merged in.
pub struct Merged {
    pub prompt: Option<Result<PromptRef, String>>,
    /// False: the request named its own version or prompt; it keeps it, and the variant does
    /// not apply.
    pub applies: bool,
}

/// `own` (the request's reference) with `arm`'s prompt: the arm's version where the request
/// names none, or names the arm's prompt by its bare name (its variables kept); the
/// request's own reference, unchanged, where it names a version or another prompt.
pub fn with_variant_prompt(arm: Option<&str>, own: Option<Result<PromptRef, String>>) -> Merged {
    let Some(arm) = arm else { return Merged { prompt: own, applies: true } };
    let arm_name = arm.split('@').next().unwrap_or(arm);
    match own {
        None => {
            Merged { prompt: Some(Ok(PromptRef { id: arm.to_string(), variables: Default::default() })), applies: true }
        }
        Some(Ok(mut r)) if r.id == arm_name || r.id == arm => {
            r.id = arm.to_string();
            Merged { prompt: Some(Ok(r)), applies: true }
        }
        other => Merged { prompt: other, applies: false },
    }
}

/// Who a request's variant sticks to: its episode, else its caller.
enum StickyKey<'a> {
    Episode(&'a str),
    Caller(String),
    Peer(&'a crate::callers::Peer),
    Key(&'a str),
    Anonymous,
}

impl<'a> StickyKey<'a> {
    fn of(opts: &'a CallOptions, snap: &Snapshot) -> Self {
        if let Some(e) = opts.episode.as_deref().filter(|e| !e.is_empty()) {
            return StickyKey::Episode(e);
        }
        if let Ok(c) = crate::callers::identify(&opts.credential, &snap.callers)
            && let Some(s) = &c.settings
        {
            return StickyKey::Caller(s.name.clone());
        }
        // An unknown caller: what its credential says (each key, each uid/unit apart).
        match &opts.credential {
            Credential::Peer(p) => StickyKey::Peer(p),
            Credential::Bearer(k) => StickyKey::Key(k),
            Credential::Anonymous => StickyKey::Anonymous,
        }
    }

    fn hash(&self, seed: &str) -> u64 {
        let mut h = Fnv::new();
        h.write(seed.as_bytes());
        match self {
            StickyKey::Episode(e) => h.tagged(b'e', e.as_bytes()),
            StickyKey::Caller(c) => h.tagged(b'c', c.as_bytes()),
            StickyKey::Peer(p) => {
                h.tagged(b'p', &p.uid.to_le_bytes());
                h.write(&p.gid.to_le_bytes());
                h.write(p.unit.as_deref().unwrap_or("").as_bytes());
            }
            StickyKey::Key(k) => h.tagged(b'k', k.as_bytes()),
            StickyKey::Anonymous => h.tagged(b'a', b""),
        }
        h.finish()
    }
}

/// The index of the variant `key` gets in `exp`.
fn pick(exp: &Experiment, key: &StickyKey<'_>) -> usize {
    pick_by_hash(&exp.variants, exp.total_weight, key.hash(&exp.seed))
}

/// The variant a hash lands on: the variants' weights laid end to end over `0..total`.
fn pick_by_hash(variants: &[Arc<Variant>], total: u64, hash: u64) -> usize {
    let mut point = hash % total.max(1);
    for (i, v) in variants.iter().enumerate() {
        let w = u64::from(v.weight);
        if point < w {
            return i;
        }
        point -= w;
    }
    0
}

/// The variant an episode gets (for tests and `sidegate`'s own tools): the same hash as a
/// request with that `x-sidegate-episode`.
#[cfg(test)]
pub fn variant_for_episode<'e>(exp: &'e Experiment, episode: &str) -> Option<&'e Arc<Variant>> {
    if exp.variants.is_empty() {
        return None;
    }
    exp.variants.get(pick(exp, &StickyKey::Episode(episode)))
}

/// FNV-1a with a final avalanche (so every bit of the result depends on every input byte,
/// and `% total` splits evenly).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// A separator and a tag, then `bytes`: keys of different kinds never collide.
    fn tagged(&mut self, tag: u8, bytes: &[u8]) {
        self.write(&[0xff, tag]);
        self.write(bytes);
    }

    fn finish(&self) -> u64 {
        // splitmix64's finalizer
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
#[path = "experiment_tests.rs"]
mod tests;
