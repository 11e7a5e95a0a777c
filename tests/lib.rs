//! Integration tests: one binary, a module per area. They drive the real `aws-app` binary
//! against the machine's real Docker engine; `tests/run.sh` (the README's test command) installs
//! and starts everything they need.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod bad_input;
mod builder;
mod dependencies;
mod deploy;
mod domain;
mod engines;
mod lifecycle;
mod local_build;
mod plan;
mod release;
mod scaling;
mod secrets;
mod security;
mod source;
mod strict;
