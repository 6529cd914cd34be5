//! Integration tests: the real `sidegate` binary, real config files, fake vendors on
//! loopback, and clients that talk to it the way users do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod account_block;
mod anthropic;
mod cache;
mod callers;
mod chaos;
mod chat_passthrough;
mod cli;
mod commit_point;
mod common;
mod dashboard;
mod eval;
mod experiments;
mod failover;
mod fleet;
mod fleet_cluster;
mod fleet_limits;
mod front_abuse;
mod gemini;
mod gemini_ingress;
mod http;
mod ledger_faults;
mod lifecycle;
mod log_feedback;
mod messages;
mod native;
mod operator;
mod prompt_cache;
mod prompts;
mod reasoning;
mod reasoning_vendors;
mod reload;
mod responses;
mod responses_passthrough;
mod responses_upstream;
mod secrets;
mod usage_cost;
mod vectors;
