//! A run: its id (new, named with `--resume`, or the unfinished run of the same file and
//! digest, resumed), the (item, variant) pairs it still lacks, sent at most `concurrency` at a
//! time (a semaphore), each answer scored and stored as it comes. An answer already stored for
//! the same request is reused (marked cached) unless `--fresh`. With `budget_usd`, no item
//! starts once what was spent plus what is reserved for the items in flight would pass the
//! cap; until a first answer says what an item costs, one item runs at a time.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::EvalError;
use super::dataset::{Dataset, Item};
use super::file::{EvalSpec, Variant};
use super::progress::Progress;
use super::request::{self, Built};
use super::scorers::{Kind, Score, Scored, judge};
use super::store::{Store, Verdict};
use super::transport::{Answer, Transport};
use crate::prompts::Library;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Never reuse a stored answer, and start a new run even if one is unfinished.
    pub fresh: bool,
    /// Continue this run.
    pub resume: Option<i64>,
    /// No progress on stderr.
    pub quiet: bool,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run: i64,
    pub resumed: bool,
    /// Items not started because of the budget.
    pub skipped: usize,
    pub budget_stopped: bool,
}

/// The digest a run is resumed by: the eval file, the dataset and every prompt it uses.
pub fn digest(spec: &EvalSpec, dataset: &Dataset, lib: &Library) -> String {
    let mut h = blake3::Hasher::new();
    h.update(spec.file_hash.as_bytes());
    h.update(dataset.hash.as_bytes());
    let prompts = spec.variants.iter().filter_map(|v| v.prompt.as_deref()).chain(spec.prompt.as_deref());
    for p in prompts {
        h.update(lib.get(p).map_or("?", |p| p.hash.as_str()).as_bytes());
    }
    h.finalize().to_hex()[..16].to_string()
}

struct Budget {
    cap: Option<f64>,
    spent: f64,
    reserved: f64,
    in_flight: usize,
    /// The dearest item so far: what each new one reserves.
    estimate: Option<f64>,
    stopped: bool,
}

/// What every job of a run shares.
struct Shared {
    spec: Arc<EvalSpec>,
    store: Arc<Store>,
    transport: Arc<Transport>,
    budget: Mutex<Budget>,
    settled: Notify,
    progress: Progress,
    run: i64,
}

pub async fn run(
    spec: Arc<EvalSpec>,
    dataset: &Dataset,
    lib: &Library,
    store: Arc<Store>,
    transport: Arc<Transport>,
    opts: &Options,
) -> Result<Outcome, EvalError> {
    let digest = digest(&spec, dataset, lib);
    let file = spec.file.display().to_string();
    let (run, resumed) = pick_run(&spec, &store, &file, &digest, opts, &transport.describe())?;
    store.put_items(run, &dataset.items)?;
    let done = store.done(run)?;
    let mut jobs: Vec<(&Item, &Variant)> = Vec::new();
    for item in &dataset.items {
        for v in &spec.variants {
            if !done.contains(&(item.index, v.name.clone())) {
                jobs.push((item, v));
            }
        }
    }
    let budget = Budget {
        cap: spec.budget_usd,
        spent: store.spent(run)?,
        reserved: 0.0,
        in_flight: 0,
        estimate: store.dearest(run)?,
        stopped: false,
    };
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        store,
        transport,
        budget: Mutex::new(budget),
        settled: Notify::new(),
        progress: Progress::new(jobs.len(), opts.quiet),
        run,
    });
    let skipped = send_all(&shared, &jobs, lib, opts.fresh).await?;
    shared.progress.finish();
    let stopped = shared.budget.lock().unwrap_or_else(|p| p.into_inner()).stopped;
    shared.store.finish(run, if stopped { "budget" } else { "done" }, skipped)?;
    Ok(Outcome { run, resumed, skipped, budget_stopped: stopped })
}

fn pick_run(
    spec: &EvalSpec,
    store: &Store,
    file: &str,
    digest: &str,
    opts: &Options,
    via: &str,
) -> Result<(i64, bool), EvalError> {
    if let Some(id) = opts.resume {
        let r = store.run(id)?;
        if r.digest != digest {
            return Err(EvalError::Invalid(format!(
                "run {id} was made from another version of {} (its dataset or prompts changed): start a new run",
                r.file
            )));
        }
        return Ok((id, true));
    }
    if !opts.fresh
        && let Some(id) = store.unfinished(file, digest)?
    {
        return Ok((id, true));
    }
    let variants: Vec<Value> =
        spec.variants.iter().map(|v| json!({"name": v.name, "target": v.target, "prompt": v.prompt})).collect();
    let scorers: Vec<String> = spec.scorers.iter().map(|s| s.name.clone()).collect();
    let id = store.create_run(file, digest, &Value::Array(variants), &scorers, spec.budget_usd, via)?;
    Ok((id, false))
}

/// Starts every job it may (within the concurrency and the budget); the jobs not started.
async fn send_all(
    shared: &Arc<Shared>,
    jobs: &[(&Item, &Variant)],
    lib: &Library,
    fresh: bool,
) -> Result<usize, EvalError> {
    let sem = Arc::new(Semaphore::new(shared.spec.concurrency));
    let mut tasks = JoinSet::new();
    let mut started = 0;
    for (item, variant) in jobs {
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        let built = request::build(&shared.spec, variant, item, lib);
        let reuse = match (&built, fresh) {
            (Ok(b), false) => shared.store.cached(&b.key)?,
            _ => None,
        };
        let reserved = match (&built, &reuse) {
            (Ok(_), None) => match reserve(shared).await {
                Some(r) => Some(r),
                None => break,
            },
            _ => None,
        };
        started += 1;
        let (shared, item, variant) = (shared.clone(), (*item).clone(), (*variant).clone());
        tasks.spawn(async move {
            let r = one(&shared, &item, &variant, built, reuse, reserved).await;
            drop(permit);
            r
        });
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| EvalError::Transport(e.to_string()))??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| EvalError::Transport(e.to_string()))??;
    }
    Ok(jobs.len() - started)
}

/// Reserves an item's estimated cost; None: the budget is spent (nothing more starts).
async fn reserve(shared: &Shared) -> Option<f64> {
    loop {
        let wait = {
            let mut b = shared.budget.lock().unwrap_or_else(|p| p.into_inner());
            let Some(cap) = b.cap else {
                b.in_flight += 1;
                return Some(0.0);
            };
            match b.estimate {
                None if b.in_flight > 0 => shared.settled.notified(),
                est => {
                    let est = est.unwrap_or(0.0);
                    if b.stopped || b.spent + b.reserved + est > cap || b.spent >= cap {
                        b.stopped = true;
                        return None;
                    }
                    b.reserved += est;
                    b.in_flight += 1;
                    return Some(est);
                }
            }
        };
        wait.await;
    }
}

/// An item ended: its reservation is replaced by what it cost. Only an answer (not a failed
/// call, which may have cost nothing) tells what the next items will cost.
fn settle(shared: &Shared, reserved: f64, cost: f64, answered: bool) {
    let mut b = shared.budget.lock().unwrap_or_else(|p| p.into_inner());
    b.reserved -= reserved;
    b.in_flight -= 1;
    b.spent += cost;
    if answered {
        b.estimate = Some(b.estimate.unwrap_or(0.0).max(cost));
    }
    drop(b);
    shared.settled.notify_waiters();
}

/// One item on one variant: the answer (sent, or reused), its verdicts, stored.
async fn one(
    shared: &Shared,
    item: &Item,
    variant: &Variant,
    built: Result<Built, String>,
    reuse: Option<(i64, Answer)>,
    reserved: Option<f64>,
) -> Result<(), EvalError> {
    // An item that cannot be built is recorded with its error as its answer's.
    let (built, key, invalid) = match built {
        Ok(b) => {
            let k = b.key.clone();
            (Some(b), k, None)
        }
        Err(e) => {
            (None, format!("invalid:{}:{}", variant.name, item.index), Some(format!("dataset line {}: {e}", item.line)))
        }
    };
    let (answer, reused_id) = match (&built, reuse) {
        (_, Some((id, a))) => (a, Some(id)),
        (Some(b), None) => (shared.transport.chat(&b.body).await, None),
        (None, None) => (Answer { error: invalid, ..Answer::default() }, None),
    };
    let verdicts = verdicts(shared, item, built.as_ref(), &answer).await;
    if let Some(r) = reserved {
        let judges: f64 = verdicts.iter().map(|v| v.2).sum();
        settle(shared, r, answer.cost_usd.unwrap_or(0.0) + judges, answer.error.is_none());
    }
    shared.store.record(shared.run, item.index, &variant.name, &key, &answer, reused_id, &verdicts)?;
    shared.progress.tick(answer.error.is_some());
    Ok(())
}

/// Each scorer's verdict (a failed answer scores 0 everywhere, with its error as the reason).
async fn verdicts(shared: &Shared, item: &Item, built: Option<&Built>, answer: &Answer) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(shared.spec.scorers.len());
    for s in &shared.spec.scorers {
        let expect = s.expected(&item.expect);
        if let Some(e) = &answer.error {
            out.push((s.name.clone(), Score { score: 0.0, pass: false, reason: format!("error: {e}") }, 0.0));
            continue;
        }
        let scored = Scored { text: &answer.text, tool_calls: &answer.tool_calls };
        match (&s.kind, s.score(scored, expect)) {
            (_, Some(v)) => out.push((s.name.clone(), v, 0.0)),
            (Kind::Judge { route, rubric }, None) => {
                let question = built.map_or("", |b| b.question.as_str());
                let (v, cost) = judged(shared, route, rubric, question, expect, answer).await;
                out.push((s.name.clone(), s.verdict(v.0, v.1), cost));
            }
            (_, None) => {}
        }
    }
    out
}

async fn judged(
    shared: &Shared,
    route: &str,
    rubric: &str,
    question: &str,
    expect: &Value,
    answer: &Answer,
) -> ((f64, String), f64) {
    let body = json!({
        "model": route,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0,
        "messages": judge::messages(rubric, question, expect, &answer.text),
    });
    let verdict = shared.transport.chat(&body).await;
    let cost = verdict.cost_usd.unwrap_or(0.0);
    if let Some(e) = verdict.error {
        return ((0.0, format!("the judge failed: {e}")), cost);
    }
    let why: String = verdict.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(160).collect();
    match judge::parse(&verdict.text) {
        Some(v) => ((v, format!("judge: {why}")), cost),
        None => ((0.0, format!("the judge gave no score: {why}")), cost),
    }
}
