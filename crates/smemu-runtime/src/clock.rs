//! Times as the store keeps them (epoch milliseconds) and as shapes carry them.

use smemu_types::Timestamp;

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_secs_f64(ms as f64 / 1000.0)
}

pub fn millis(t: &Timestamp) -> i64 {
    (t.as_secs_f64() * 1000.0).round() as i64
}

pub fn now_ms() -> i64 {
    millis(&Timestamp::now())
}
