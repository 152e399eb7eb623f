//! Seeded randomness and the identifier shapes each vendor uses (UUIDs,
//! ULIDs, AWS key ids, Okta ids, GitHub document ids, ...).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::time::Nanos;

const LOWER_HEX: &[u8] = b"0123456789abcdef";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const MIXED_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Independent random streams, so that e.g. the planted incidents do not
/// change when the amount of background traffic changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    World = 1,
    Planted = 2,
    AgentTasks = 3,
    Background = 4,
}

/// A deterministic random source (ChaCha8, one stream per purpose).
#[derive(Debug, Clone)]
pub struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        Self { rng }
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 { 0 } else { self.rng.random_range(0..n) }
    }

    pub fn range_i64(&mut self, low: i64, high_inclusive: i64) -> i64 {
        if high_inclusive <= low { low } else { self.rng.random_range(low..=high_inclusive) }
    }

    pub fn range_u64(&mut self, low: u64, high_inclusive: u64) -> u64 {
        if high_inclusive <= low { low } else { self.rng.random_range(low..=high_inclusive) }
    }

    pub fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = self.below(items.len());
        &items[index]
    }

    /// Picks an index with the given relative weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut point = self.unit() * total;
        for (index, weight) in weights.iter().enumerate() {
            if point < *weight {
                return index;
            }
            point -= weight;
        }
        weights.len().saturating_sub(1)
    }

    /// Exponentially distributed waiting time with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        let u = self.unit().max(1e-12);
        -u.ln() * mean
    }

    fn chars(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len).map(|_| char::from(alphabet[self.below(alphabet.len())])).collect()
    }

    pub fn hex(&mut self, len: usize) -> String {
        self.chars(LOWER_HEX, len)
    }

    pub fn lower_alnum(&mut self, len: usize) -> String {
        self.chars(LOWER_ALNUM, len)
    }

    pub fn mixed_alnum(&mut self, len: usize) -> String {
        self.chars(MIXED_ALNUM, len)
    }

    pub fn base64url(&mut self, len: usize) -> String {
        self.chars(BASE64URL, len)
    }

    pub fn digits(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }

    /// A random (version 4) UUID in its canonical lowercase spelling.
    pub fn uuid(&mut self) -> String {
        let bytes: [u8; 16] = self.rng.random();
        let mut b = bytes;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// A ULID (Crockford base32) for `at`, as OpenTelemetry recommends for `log.record.uid`.
    pub fn ulid(&mut self, at: Nanos) -> String {
        let millis = u128::try_from(at.max(0) / 1_000_000).unwrap_or(0) & ((1 << 48) - 1);
        let random: u128 = self.rng.random::<u128>() & ((1 << 80) - 1);
        let value = (millis << 80) | random;
        (0..26).rev().map(|i| char::from(CROCKFORD[((value >> (i * 5)) & 31) as usize])).collect()
    }

    /// An AWS access key id: `AKIA…` (long-term) or `ASIA…` (temporary).
    pub fn aws_key(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.chars(UPPER_ALNUM, 16))
    }

    /// An AWS unique principal id (`AROA…` role, `AIDA…` user).
    pub fn aws_principal(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.chars(UPPER_ALNUM, 17))
    }

    /// An Okta object id such as `00u1ab2cd3EF4gh5i697`.
    pub fn okta_id(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.mixed_alnum(20 - prefix.len()))
    }

    /// A W3C trace id (32 lowercase hex, never all zero).
    pub fn trace_id(&mut self) -> String {
        let mut id = self.hex(32);
        if id.bytes().all(|b| b == b'0') {
            id.replace_range(31..32, "1");
        }
        id
    }

    /// A W3C span id (16 lowercase hex).
    pub fn span_id(&mut self) -> String {
        let mut id = self.hex(16);
        if id.bytes().all(|b| b == b'0') {
            id.replace_range(15..16, "1");
        }
        id
    }

    /// A GitHub audit-log `request_id` such as `C0DE:3A41:1B2C3D:1E4F5A6:6757A1B2`.
    pub fn github_request_id(&mut self) -> String {
        let upper = |g: &mut Self, n| g.hex(n).to_uppercase();
        format!("{}:{}:{}:{}:{}", upper(self, 4), upper(self, 4), upper(self, 6), upper(self, 7), upper(self, 8))
    }
}

/// Stable pseudo-random bytes for (seed, label, index), for ids that must
/// stay the same without keeping state (a person's session key of the day).
pub fn derived(seed: u64, label: &str, index: u64) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(label.as_bytes());
    hasher.update(index.to_le_bytes());
    hasher.finalize().into()
}

/// `derived` bytes spelled in `alphabet`.
fn derived_chars(seed: u64, label: &str, index: u64, alphabet: &[u8], len: usize) -> String {
    let bytes = derived(seed, label, index);
    (0..len).map(|i| char::from(alphabet[usize::from(bytes[i % 32]) % alphabet.len()])).collect()
}

/// A stable lowercase hex id.
pub fn derived_hex(seed: u64, label: &str, index: u64, len: usize) -> String {
    derived_chars(seed, label, index, LOWER_HEX, len)
}

/// A stable AWS access key id with the given prefix.
pub fn derived_aws_key(seed: u64, label: &str, index: u64, prefix: &str) -> String {
    format!("{prefix}{}", derived_chars(seed, label, index, UPPER_ALNUM, 16))
}

/// A stable lowercase alphanumeric id.
pub fn derived_alnum(seed: u64, label: &str, index: u64, len: usize) -> String {
    derived_chars(seed, label, index, LOWER_ALNUM, len)
}

/// A stable UUID-shaped id.
pub fn derived_uuid(seed: u64, label: &str, index: u64) -> String {
    let h = hex::encode(&derived(seed, label, index)[..16]);
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let mut g = Gen::new(1, Stream::World);
        let uuid = g.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert_eq!(g.ulid(1_795_219_200_000_000_000).len(), 26);
        assert!(g.aws_key("ASIA").starts_with("ASIA"));
        assert_eq!(g.aws_key("AKIA").len(), 20);
        assert_eq!(g.okta_id("00u").len(), 20);
        assert_eq!(g.trace_id().len(), 32);
        let mut a = Gen::new(9, Stream::Planted);
        let mut b = Gen::new(9, Stream::Planted);
        assert_eq!(a.uuid(), b.uuid());
        let mut c = Gen::new(9, Stream::World);
        assert_ne!(a.uuid(), c.uuid());
    }
}
