//! Log-linear histograms: 32 buckets per power of two (each at most 1/32 = 3.1 % wide, so a
//! percentile read at a bucket's middle is within 1.6 % of a true sample), keyed by the top bits
//! of the value's IEEE 754 form, so that one key space serves microsecond latencies recorded on
//! the invoke path ([`AtomicHistogram`]) and any double a user sends with PutMetricData
//! ([`Histogram`]), and stored histograms merge by adding counts per key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Mantissa bits kept in a key: 2^5 = 32 sub-buckets per octave.
const SUB_BITS: u32 = 5;
const SHIFT: u32 = 52 - SUB_BITS;

/// The bucket of `value`: 0 for zero (and values too small to tell from it), the bucket's key
/// (positive) for positive values, its negation for negative ones. Not finite: `None`.
pub fn key_of(value: f64) -> Option<i32> {
    if !value.is_finite() {
        return None;
    }
    let magnitude = value.abs();
    if magnitude < f64::MIN_POSITIVE {
        return Some(0);
    }
    // The exponent and the top mantissa bits of a positive double grow with it: at most 2^16 keys.
    let key = i32::try_from(magnitude.to_bits() >> SHIFT).unwrap_or(i32::MAX - 1) + 1;
    Some(if value < 0.0 { -key } else { key })
}

/// The value a key stands for: the middle of its bucket (0 for key 0).
pub fn value_of(key: i32) -> f64 {
    if key == 0 {
        return 0.0;
    }
    let bits = u64::from(key.unsigned_abs() - 1) << SHIFT;
    let low = f64::from_bits(bits);
    let high = f64::from_bits(bits + (1 << SHIFT));
    let middle = low + (high - low) / 2.0;
    if key < 0 { -middle } else { middle }
}

/// Latencies in microseconds from 1 µs to 2^41 µs (25 days): the keys of 1.0 and up.
const ONE_KEY: i32 = (0x3FF0_0000_0000_0000_u64 >> SHIFT) as i32 + 1;
const OCTAVES: usize = 41;
/// Slot 0 holds zero; slot `i` ≥ 1 the key `ONE_KEY + i - 1`.
const SLOTS: usize = 1 + OCTAVES * (1 << SUB_BITS);

/// A fixed histogram of microseconds that many threads add to with one relaxed atomic add each.
pub struct AtomicHistogram {
    slots: Box<[AtomicU64]>,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram { slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl std::fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicHistogram").field("total", &self.total()).finish()
    }
}

impl AtomicHistogram {
    /// The slot of `micros`; values past the range count in the last slot.
    fn slot(micros: u64) -> usize {
        if micros == 0 {
            return 0;
        }
        // A u64 as f64 is exact to 2^53: the key depends on the top bits only.
        let key = key_of(micros as f64).unwrap_or(ONE_KEY);
        usize::try_from(key - ONE_KEY + 1).unwrap_or(0).min(SLOTS - 1)
    }

    pub fn record(&self, micros: u64) {
        self.slots[Self::slot(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every slot's count, cumulative since start.
    pub fn load(&self) -> Vec<u64> {
        self.slots.iter().map(|slot| slot.load(Ordering::Relaxed)).collect()
    }

    pub fn total(&self) -> u64 {
        self.slots.iter().map(|slot| slot.load(Ordering::Relaxed)).sum()
    }

    /// The key (of [`key_of`]) of slot `slot`.
    pub fn key_of_slot(slot: usize) -> i32 {
        if slot == 0 { 0 } else { ONE_KEY + i32::try_from(slot).unwrap_or(0) - 1 }
    }

    /// The largest value slot `slot` holds (its upper bound), for Prometheus' `le` buckets.
    pub fn upper_bound_of_slot(slot: usize) -> f64 {
        if slot == 0 {
            return 0.0;
        }
        let key = Self::key_of_slot(slot);
        f64::from_bits(u64::from(key.unsigned_abs()) << SHIFT)
    }
}

/// A sparse histogram of counts per key: what one stored datapoint (or a merge of several) holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: BTreeMap<i32, f64>,
}

impl Histogram {
    pub fn add(&mut self, value: f64, count: f64) {
        if let Some(key) = key_of(value)
            && count > 0.0
        {
            *self.counts.entry(key).or_default() += count;
        }
    }

    pub fn add_key(&mut self, key: i32, count: f64) {
        if count > 0.0 {
            *self.counts.entry(key).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (key, count) in &other.counts {
            *self.counts.entry(*key).or_default() += count;
        }
    }

    pub fn total(&self) -> f64 {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The `p`th percentile (0 < p ≤ 100), as CloudWatch's `pNN`: the value at or below which
    /// `p` % of the samples lie, read at its bucket's middle and kept within `[min, max]`.
    pub fn percentile(&self, p: f64, min: f64, max: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 || !(0.0..=100.0).contains(&p) {
            return None;
        }
        let rank = (p / 100.0 * total).max(f64::MIN_POSITIVE);
        let mut seen = 0.0;
        for (key, count) in &self.counts {
            seen += count;
            if seen >= rank - 1e-9 {
                return Some(value_of(*key).clamp(min.min(max), max.max(min)));
            }
        }
        Some(max)
    }

    /// Stored form: for each key, 4 bytes of key and 8 of count, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.counts.len() * 12);
        for (key, count) in &self.counts {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out
    }

    /// The histogram [`encode`](Self::encode) wrote; `None` for bytes it cannot have written.
    pub fn decode(bytes: &[u8]) -> Option<Histogram> {
        if !bytes.len().is_multiple_of(12) {
            return None;
        }
        let mut counts = BTreeMap::new();
        for chunk in bytes.chunks_exact(12) {
            let key = i32::from_le_bytes(chunk[..4].try_into().ok()?);
            let count = f64::from_le_bytes(chunk[4..].try_into().ok()?);
            *counts.entry(key).or_default() += count;
        }
        Some(Histogram { counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_order_like_values_and_zero_is_its_own_bucket() {
        assert_eq!(key_of(0.0), Some(0));
        assert!(key_of(1.0) < key_of(1.1));
        assert!(key_of(-2.0) < key_of(-1.0));
        assert!(key_of(-1.0) < Some(0));
        assert_eq!(key_of(f64::NAN), None);
        assert_eq!(AtomicHistogram::key_of_slot(AtomicHistogram::slot(1)), key_of(1.0).unwrap());
        assert_eq!(AtomicHistogram::key_of_slot(AtomicHistogram::slot(12_345)), key_of(12_345.0).unwrap());
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_within_two_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000 {
            h.add(f64::from(v), 1.0);
        }
        for (p, want) in [(50.0, 50_000.0), (99.0, 99_000.0), (99.9, 99_900.0), (10.0, 10_000.0)] {
            let got = h.percentile(p, 1.0, 100_000.0).unwrap();
            assert!((got - want).abs() / want < 0.02, "p{p}: {got} vs {want}");
        }
    }

    #[test]
    fn percentiles_are_kept_within_min_and_max() {
        let mut h = Histogram::default();
        h.add(1000.0, 5.0);
        assert_eq!(h.percentile(100.0, 1000.0, 1000.0), Some(1000.0));
        assert_eq!(h.percentile(50.0, 1000.0, 1000.0), Some(1000.0));
    }

    #[test]
    fn the_atomic_histogram_counts_each_record_once() {
        let h = AtomicHistogram::default();
        for v in [0, 1, 2, 31, 32, 1000, 1_000_000, u64::MAX] {
            h.record(v);
        }
        assert_eq!(h.total(), 8);
    }

    proptest! {
        #[test]
        fn a_value_lies_within_three_percent_of_its_bucket_middle(v in 1e-6f64..1e12) {
            let middle = value_of(key_of(v).unwrap());
            prop_assert!((middle - v).abs() / v <= 1.0 / 32.0);
            let negative = value_of(key_of(-v).unwrap());
            prop_assert!((negative + v).abs() / v <= 1.0 / 32.0);
        }

        #[test]
        fn encoding_round_trips(values in proptest::collection::vec((-1e9f64..1e9, 0.5f64..100.0), 0..50)) {
            let mut h = Histogram::default();
            for (v, c) in values {
                h.add(v, c);
            }
            prop_assert_eq!(Histogram::decode(&h.encode()), Some(h));
        }
    }
}
