//! Integration tests: the real `sidegate` binary, real config files, fake vendors on
//! loopback, and clients that talk to it the way users do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod anthropic;
mod cache;
mod callers;
mod cli;
mod commit_point;
mod common;
mod dashboard;
mod failover;
mod front_abuse;
mod gemini;
mod gemini_ingress;
mod http;
mod lifecycle;
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
