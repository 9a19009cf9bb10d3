//! End-to-end tests: smemu on a random loopback port, driven by real clients (the AWS SDK for
//! Rust and the AWS CLI), with a real SQLite file. Files mirror the API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

mod common;

mod alarms;
mod async_inference;
mod cli_endpoint_configs;
mod cli_endpoints;
mod cli_models;
mod cli_s3;
mod cli_tags;
mod cli_transform;
mod cloudwatch_protocols;
mod data_capture;
mod guardrails;
mod hardening_auth;
mod hardening_batch;
mod hardening_objects;
mod hardening_quota;
mod hardening_s3;
mod hardening_wire;
mod hardening_writes;
mod image;
mod invoke_connections;
mod logs;
mod metrics;
mod persistence;
mod protocol;
mod python_package;
mod sdk;
mod streaming;
mod terminal;
