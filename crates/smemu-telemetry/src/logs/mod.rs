//! Containers' log events: capture sink, store and queries.
