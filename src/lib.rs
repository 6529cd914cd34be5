//! sidegate: a per-host sidecar AI gateway.
//!
//! Modules in request order:
//! - [`front`]: Unix socket (native protocol + HTTP, sniffed) and optional loopback TCP.
//! - [`router`]: model/route -> plan of deployments, then the attempt loop.
//! - [`cache`]: exact-match answers (memory, disk, Redis) and coalescing of identical requests.
//! - [`providers`]: one adapter per vendor kind: convert with its dialect, one HTTP call.
//! - [`wire`]: each vendor API's wire types and pure conversions to and from the canonical
//!   types, both directions (beneath the fronts and the adapters alike).
//!
//! Around them: [`api`] (canonical OpenAI-shaped types), [`protocol`] (native frames),
//! [`config`] (file -> checked snapshot), [`daemon`] (serve and drain), [`client`] (the
//! native-protocol client used by the CLI, tests and benchmarks), [`fleet`] (what the hosts
//! sharing one Redis tell each other).

pub mod api;
pub mod cache;
pub mod callers;
pub mod client;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dashboard;
pub mod eval;
pub mod fleet;
pub mod front;
pub mod generate;
pub mod prompts;
pub mod protocol;
pub mod providers;
pub mod response_store;
pub mod router;
pub mod secret;
pub mod status;
pub mod sys;
pub mod systemd;
pub mod telemetry;
pub mod tls;
pub mod token_bucket;
pub mod usage;
pub mod wire;
