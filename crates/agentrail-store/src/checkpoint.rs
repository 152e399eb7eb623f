//! Signed checkpoints of the digest chain, and the key that signs them.
//!
//! A checkpoint states the chain's size and [`merkle`](crate::merkle) root
//! at a moment, and carries the signature of the checkpoint before it, so
//! the checkpoints form a chain of their own (as CloudTrail's digest files
//! each sign the previous one's signature): one removed, replaced or rolled
//! back breaks the chain after it. The signed bytes are a fixed text (see
//! [`Checkpoint::signed_text`]) that an auditor can rebuild with any tool.
//!
//! The signing key is Ed25519, generated on first use and kept in a file
//! only its owner can read; the public key is exported beside it
//! (`<key>.pub`, hex), so verification never needs the private key.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use agentrail_event::Timestamp;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::TryRngCore;
use serde::{Deserialize, Serialize};

use crate::merkle::Hash;

/// What the signed text starts with: names the format and its version.
const HEADER: &str = "agentrail checkpoint v1";

/// Why a key could not be loaded, made or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 key (64 hex digits expected)")]
    Invalid { path: PathBuf },
    #[error("cannot draw randomness for a new signing key: {0}")]
    Random(String),
}

/// The signing key and where it lives.
#[derive(Debug)]
pub struct CheckpointKey {
    key: SigningKey,
}

impl CheckpointKey {
    /// Loads the key at `path`, or makes one there (readable by its owner
    /// only) and exports its public half to `<path>.pub`. Returns whether it
    /// was made.
    pub fn load_or_create(path: &Path) -> Result<(CheckpointKey, bool), KeyError> {
        match CheckpointKey::load(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let key = CheckpointKey::generate()?;
                key.save(path)?;
                let public = public_key_path(path);
                std::fs::write(&public, key.public_hex())
                    .map_err(|source| KeyError::Io { path: public.clone(), source })?;
                Ok((key, true))
            }
            loaded => loaded.map(|key| (key, false)),
        }
    }

    /// Reads the key at `path` (64 hex digits).
    pub fn load(path: &Path) -> Result<CheckpointKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError::Invalid { path: path.to_owned() })?;
        Ok(CheckpointKey { key: SigningKey::from_bytes(&bytes) })
    }

    /// A new random key.
    pub fn generate() -> Result<CheckpointKey, KeyError> {
        let mut secret = [0_u8; 32];
        rand::rngs::OsRng.try_fill_bytes(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(CheckpointKey { key: SigningKey::from_bytes(&secret) })
    }

    /// Writes the key to a new file at `path`, readable by its owner only, fsynced.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| KeyError::Io { path: dir.to_owned(), source })?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(hex::encode(self.key.to_bytes()).as_bytes()).and_then(|()| file.sync_all()).map_err(io)
    }

    /// The public key, hex: what an auditor verifies with.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// A checkpoint of the chain at `size` leaves with `root`, after `previous`.
    pub fn sign(&self, size: u64, root: &Hash, time: Timestamp, previous: Option<&Checkpoint>) -> Checkpoint {
        self.sign_handing_over(size, root, time, previous, None)
    }

    /// A checkpoint that also names the key that signs the checkpoints after
    /// it (`next`, hex): how a key is rotated without breaking the chain.
    pub fn sign_handing_over(
        &self,
        size: u64,
        root: &Hash,
        time: Timestamp,
        previous: Option<&Checkpoint>,
        next: Option<String>,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            size,
            root: hex::encode(root),
            time,
            previous_signature: previous.map(|p| p.signature.clone()),
            next_key: next,
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(self.key.sign(checkpoint.signed_text().as_bytes()).to_bytes());
        checkpoint
    }
}

/// Where the public half of the key at `key` is exported.
pub fn public_key_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Reads a public key exported as hex.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The chain's size and root at a moment, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub size: u64,
    /// The Merkle root of the first `size` leaves, hex.
    pub root: String,
    pub time: Timestamp,
    /// The signature of the checkpoint before this one (none for the first).
    pub previous_signature: Option<String>,
    /// The public key (hex) that signs the checkpoints after this one, when
    /// the key was rotated here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
    /// Ed25519 over [`Checkpoint::signed_text`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// The bytes signed: one field a line, in a fixed order.
    pub fn signed_text(&self) -> String {
        format!(
            "{HEADER}\nsize {}\nroot {}\ntime {}\nprevious {}\nnext-key {}\n",
            self.size,
            self.root,
            self.time,
            self.previous_signature.as_deref().unwrap_or("-"),
            self.next_key.as_deref().unwrap_or("-")
        )
    }

    /// Whether the signature is `key`'s over [`Checkpoint::signed_text`].
    pub fn signature_holds(&self, key: &VerifyingKey) -> bool {
        let Some(bytes) = hex::decode(&self.signature).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
            return false;
        };
        key.verify(self.signed_text().as_bytes(), &Signature::from_bytes(&bytes)).is_ok()
    }
}

/// A checkpoint in the vocabulary of OCSF's `record_integrity` profile
/// (the `attestation` object), for tools that speak it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attestation {
    /// The checkpoint's place in the chain: the leaves it covers.
    pub uid: String,
    /// The signing key, `ed25519:<hex>`.
    pub authority_uid: String,
    /// The chain's id, stable for its life: SHA-256 of its first checkpoint's signature.
    pub chain_uid: String,
    /// SHA-256 of the signed text.
    pub fingerprint: Fingerprint,
    pub signatures: Vec<DigitalSignature>,
}

/// OCSF `fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    pub algorithm: &'static str,
    pub algorithm_id: u8,
    pub value: String,
}

/// OCSF `digital_signature` (Ed25519 is OCSF's "Other", 99).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigitalSignature {
    pub algorithm: &'static str,
    pub algorithm_id: u8,
    pub value: String,
    pub created_time: Timestamp,
}

impl Checkpoint {
    /// This checkpoint as an OCSF attestation signed by `public_key` (hex),
    /// in the chain whose first checkpoint is `first`.
    pub fn attestation(&self, public_key: &str, first: &Checkpoint) -> Attestation {
        use sha2::{Digest, Sha256};
        Attestation {
            uid: self.size.to_string(),
            authority_uid: format!("ed25519:{public_key}"),
            chain_uid: hex::encode(Sha256::digest(first.signature.as_bytes())),
            fingerprint: Fingerprint {
                algorithm: "SHA-256",
                algorithm_id: 3,
                value: hex::encode(Sha256::digest(self.signed_text().as_bytes())),
            },
            signatures: vec![DigitalSignature {
                algorithm: "Ed25519",
                algorithm_id: 99,
                value: self.signature.clone(),
                created_time: self.time,
            }],
        }
    }
}

/// What is wrong with a sequence of checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    #[error("checkpoint {index} (size {size}): bad signature")]
    BadSignature { index: usize, size: u64 },
    #[error("checkpoint {index} (size {size}) does not carry the signature of the checkpoint before it")]
    BrokenLink { index: usize, size: u64 },
    #[error("checkpoint {index} rolls the chain back from {before} to {size} leaves")]
    RolledBack { index: usize, before: u64, size: u64 },
}

/// Every problem of `checkpoints` (oldest first) under `key`: each signature
/// holds (under `key`, or the key a checkpoint before it handed over to),
/// each carries its predecessor's, and sizes never shrink.
pub fn check_checkpoints(checkpoints: &[Checkpoint], key: &VerifyingKey) -> Vec<CheckpointProblem> {
    let mut problems = Vec::new();
    let mut key = *key;
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        let size = checkpoint.size;
        if !checkpoint.signature_holds(&key) {
            problems.push(CheckpointProblem::BadSignature { index, size });
        } else if let Some(next) = &checkpoint.next_key {
            match parse_public_key(next) {
                Some(next) => key = next,
                None => problems.push(CheckpointProblem::BadSignature { index, size }),
            }
        }
        let previous = index.checked_sub(1).map(|i| &checkpoints[i]);
        if checkpoint.previous_signature.as_ref() != previous.map(|p| &p.signature) {
            problems.push(CheckpointProblem::BrokenLink { index, size });
        }
        if let Some(previous) = previous.filter(|p| p.size > size) {
            problems.push(CheckpointProblem::RolledBack { index, before: previous.size, size });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, root};

    fn chain(key: &CheckpointKey, sizes: &[u64]) -> Vec<Checkpoint> {
        let mut checkpoints: Vec<Checkpoint> = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let leaves: Vec<Hash> = (0..*size).map(|n| leaf_hash(&n.to_le_bytes())).collect();
            let time = Timestamp::from_micros(1_790_000_000_000_000 + i as i64);
            checkpoints.push(key.sign(*size, &root(&leaves), time, checkpoints.last()));
        }
        checkpoints
    }

    #[test]
    fn a_key_is_made_once_kept_private_and_its_public_half_exported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys/checkpoint.key");
        let (made, created) = CheckpointKey::load_or_create(&path).expect("made");
        let (loaded, again) = CheckpointKey::load_or_create(&path).expect("loaded");
        assert!(created && !again);
        assert_eq!(made.public_hex(), loaded.public_hex());
        let exported = std::fs::read_to_string(public_key_path(&path)).expect("public key");
        assert_eq!(exported, made.public_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner reads the key ({mode:o})");
        }
        std::fs::write(&path, "not a key").expect("overwrite");
        assert!(matches!(CheckpointKey::load_or_create(&path), Err(KeyError::Invalid { .. })));
    }

    #[test]
    fn a_chain_of_checkpoints_verifies_and_each_tampering_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (key, _) = CheckpointKey::load_or_create(&dir.path().join("k")).expect("key");
        let public = parse_public_key(&key.public_hex()).expect("public key");
        let clean = chain(&key, &[1, 3, 3, 8]);
        assert_eq!(check_checkpoints(&clean, &public), []);

        let mut edited = clean.clone();
        edited[2].root = hex::encode([9_u8; 32]);
        assert_eq!(check_checkpoints(&edited, &public), [CheckpointProblem::BadSignature { index: 2, size: 3 }]);

        let mut removed = clean.clone();
        removed.remove(1);
        assert_eq!(check_checkpoints(&removed, &public), [CheckpointProblem::BrokenLink { index: 1, size: 3 }]);

        // A rollback re-signed with the key still shows: the size shrinks.
        let mut rolled = clean.clone();
        let smaller = key.sign(2, &[0; 32], Timestamp::from_micros(1_790_000_000_000_009), rolled.last());
        rolled.push(smaller);
        assert_eq!(
            check_checkpoints(&rolled, &public),
            [CheckpointProblem::RolledBack { index: 4, before: 8, size: 2 }]
        );

        let (other, _) = CheckpointKey::load_or_create(&dir.path().join("other")).expect("key");
        let forged = chain(&other, &[1, 3, 3, 8]);
        assert_eq!(check_checkpoints(&forged, &public).len(), 4, "another key's signatures do not hold");

        // A rotation: the old key hands over to the new one, which signs on.
        let mut rotated = clean.clone();
        let time = Timestamp::from_micros(1_790_000_000_000_010);
        rotated.push(key.sign_handing_over(8, &[1; 32], time, rotated.last(), Some(other.public_hex())));
        rotated.push(other.sign(9, &[2; 32], time, rotated.last()));
        assert_eq!(check_checkpoints(&rotated, &public), []);
        // Without the handover, the new key's checkpoint does not hold.
        rotated.remove(4);
        rotated[4].previous_signature = Some(rotated[3].signature.clone());
        assert_eq!(check_checkpoints(&rotated, &public), [CheckpointProblem::BadSignature { index: 4, size: 9 }]);
        assert!(parse_public_key("zz").is_none());
    }
}
