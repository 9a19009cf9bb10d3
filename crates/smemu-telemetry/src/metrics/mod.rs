//! Metrics: recording, storage and statistics.
