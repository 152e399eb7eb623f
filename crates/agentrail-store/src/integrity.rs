//! The store's proof of its own integrity: the digest [`chain`](crate::chain)
//! of every sealed segment, the signed [`checkpoint`](crate::checkpoint)s
//! over it, and the key that signs them, kept in their own directory.
//!
//! [`Integrity::record`] appends leaves and signs a checkpoint over the new
//! chain before the store lists what they describe, so every listed segment
//! is covered by a signature. [`verify`](crate::verify) checks a data
//! directory against them.

use std::path::{Path, PathBuf};

use agentrail_event::Timestamp;

use crate::chain::{Chain, Leaf};
use crate::checkpoint::{Checkpoint, CheckpointKey, KeyError, public_key_path};
use crate::durable;
use crate::jsonl::{self, Appender, JsonlError};

/// The checkpoints' file name in the integrity directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
/// The signing key's default file name in the integrity directory.
pub const KEY_FILE: &str = "checkpoint.key";

/// Where the integrity records live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityOptions {
    /// The chain and checkpoints; `<data dir>/integrity` by default. Another
    /// volume (or another machine's mount) keeps them apart from the data.
    pub dir: Option<PathBuf>,
    /// The signing key; `<integrity dir>/checkpoint.key` by default. Its
    /// public half is exported to `<key>.pub`.
    pub key_file: Option<PathBuf>,
}

impl IntegrityOptions {
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("integrity"))
    }

    pub fn key_file(&self, data_dir: &Path) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| self.dir(data_dir).join(KEY_FILE))
    }

    /// The exported public key.
    pub fn public_key_file(&self, data_dir: &Path) -> PathBuf {
        public_key_path(&self.key_file(data_dir))
    }
}

/// Why the integrity records could not be read or extended.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("integrity records: {0}")]
    Log(#[from] JsonlError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The chain, the checkpoints and the key, open for appending.
#[derive(Debug)]
pub struct Integrity {
    chain: Chain,
    checkpoints: Appender,
    latest: Option<Checkpoint>,
    key: CheckpointKey,
    key_file: PathBuf,
}

/// Where a rotation keeps the new key until the old one has handed over.
fn next_key_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

impl Integrity {
    /// Opens (creating on first use, with a new key) the records of the store
    /// in `data_dir`. Leaves a crash left unsigned are signed now.
    pub fn open(data_dir: &Path, options: &IntegrityOptions) -> Result<Integrity, IntegrityError> {
        let dir = options.dir(data_dir);
        let chain = Chain::open(&dir)?;
        let path = dir.join(CHECKPOINTS_FILE);
        let mut read = jsonl::read::<Checkpoint>(&path)?;
        let checkpoints = Appender::open(&path, read.whole_bytes)?;
        let key_file = options.key_file(data_dir);
        finish_rotation(&key_file, read.entries.last())?;
        let (key, made) = CheckpointKey::load_or_create(&key_file)?;
        if made {
            tracing::info!(
                public_key = %public_key_path(&key_file).display(),
                "made the checkpoint signing key; keep a copy of its public half where the data is not"
            );
        }
        let mut integrity = Integrity { chain, checkpoints, latest: read.entries.pop(), key, key_file };
        integrity.sign_if_behind()?;
        Ok(integrity)
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The newest signed checkpoint.
    pub fn latest_checkpoint(&self) -> Option<&Checkpoint> {
        self.latest.as_ref()
    }

    /// Appends `leaves` and signs the chain they end. Leaves already at the
    /// chain's end (an earlier call whose caller failed afterwards and tries
    /// again) are not appended twice.
    pub fn record(&mut self, leaves: &[Leaf]) -> Result<(), IntegrityError> {
        if leaves.is_empty() || self.chain.entries().ends_with(leaves) {
            return self.sign_if_behind();
        }
        for leaf in leaves {
            self.chain.append(leaf)?;
        }
        self.sign_if_behind()
    }

    /// Replaces the signing key: the new key is saved beside the old one, the
    /// old key signs a checkpoint handing over to it (so a verifier that
    /// trusts the first key follows), then the new key takes the old one's
    /// file. The exported `<key>.pub` stays the first key, the chain's
    /// anchor. Returns the new public key (hex).
    pub fn rotate(&mut self) -> Result<String, IntegrityError> {
        let next_path = next_key_path(&self.key_file);
        let _ = std::fs::remove_file(&next_path);
        let next = CheckpointKey::generate()?;
        next.save(&next_path)?;
        let public = next.public_hex();
        let handover = self.key.sign_handing_over(
            self.chain.len(),
            &self.chain.root(),
            Timestamp::now(),
            self.latest.as_ref(),
            Some(public.clone()),
        );
        self.checkpoints.append(&handover)?;
        self.latest = Some(handover);
        finish_rotation(&self.key_file, self.latest.as_ref())?;
        self.key = next;
        tracing::info!(public_key = %public, "rotated the checkpoint signing key");
        Ok(public)
    }

    /// Signs a checkpoint over the whole chain when the newest one does not
    /// cover it.
    fn sign_if_behind(&mut self) -> Result<(), IntegrityError> {
        let signed = self.latest.as_ref().map_or(0, |c| c.size);
        if signed == self.chain.len() && self.latest.is_some() {
            return Ok(());
        }
        let checkpoint = self.key.sign(self.chain.len(), &self.chain.root(), Timestamp::now(), self.latest.as_ref());
        self.checkpoints.append(&checkpoint)?;
        self.latest = Some(checkpoint);
        Ok(())
    }
}

/// Puts a rotation's new key in place once the newest checkpoint hands
/// over to it; a new key no checkpoint names (a crash before the handover)
/// is dropped.
fn finish_rotation(key_file: &Path, latest: Option<&Checkpoint>) -> Result<(), IntegrityError> {
    let next_path = next_key_path(key_file);
    let next = match CheckpointKey::load(&next_path) {
        Ok(next) => next,
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let handed_over = latest.and_then(|c| c.next_key.as_deref()) == Some(next.public_hex().as_str());
    let done = if handed_over { durable::rename(&next_path, key_file) } else { durable::remove_file(&next_path) };
    done.map_err(|(path, source)| IntegrityError::Key(KeyError::Io { path, source }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{check_checkpoints, parse_public_key};

    fn deleted(n: u32) -> Leaf {
        Leaf::Deleted {
            segment: format!("segments/dt=2026-11-24/{n}.parquet"),
            sha256: "00".into(),
            reason: "test".into(),
            at: Timestamp::from_micros(1_790_000_000_000_000),
        }
    }

    #[test]
    fn every_record_is_signed_once_and_survives_a_reopen() {
        let data = tempfile::tempdir().expect("temp dir");
        let options = IntegrityOptions::default();
        let mut integrity = Integrity::open(data.path(), &options).expect("opens");
        assert_eq!(integrity.latest_checkpoint().map(|c| c.size), Some(0), "an empty chain is signed too");
        integrity.record(&[deleted(1), deleted(2)]).expect("recorded");
        integrity.record(&[deleted(1), deleted(2)]).expect("a retry appends nothing");
        integrity.record(&[deleted(3)]).expect("recorded");
        let latest = integrity.latest_checkpoint().cloned().expect("signed");
        assert_eq!((latest.size, latest.root.clone()), (3, hex::encode(integrity.chain().root())));
        drop(integrity);

        let reopened = Integrity::open(data.path(), &options).expect("reopens");
        assert_eq!(reopened.latest_checkpoint(), Some(&latest), "nothing new to sign");
        let all = jsonl::read::<Checkpoint>(&options.dir(data.path()).join(CHECKPOINTS_FILE)).expect("read");
        assert_eq!(all.entries.iter().map(|c| c.size).collect::<Vec<_>>(), [0, 2, 3]);
        let public = std::fs::read_to_string(options.public_key_file(data.path())).expect("public key");
        assert_eq!(check_checkpoints(&all.entries, &parse_public_key(&public).expect("key")), []);
    }

    #[test]
    fn a_rotated_key_signs_on_and_the_first_key_still_verifies_everything() {
        let data = tempfile::tempdir().expect("temp dir");
        let options = IntegrityOptions::default();
        let public = std::fs::read_to_string(options.public_key_file(data.path()));
        assert!(public.is_err(), "no key before the first open");
        let mut integrity = Integrity::open(data.path(), &options).expect("opens");
        let first = std::fs::read_to_string(options.public_key_file(data.path())).expect("public key");
        integrity.record(&[deleted(1)]).expect("recorded");
        let new = integrity.rotate().expect("rotated");
        assert_ne!(new, first);
        integrity.record(&[deleted(2)]).expect("recorded with the new key");
        drop(integrity);
        let reopened = Integrity::open(data.path(), &options).expect("reopens with the new key");
        drop(reopened);
        let all = jsonl::read::<Checkpoint>(&options.dir(data.path()).join(CHECKPOINTS_FILE)).expect("read");
        let anchor = parse_public_key(&first).expect("key");
        assert_eq!(check_checkpoints(&all.entries, &anchor), [], "the first key follows the handover");
        assert_eq!(std::fs::read_to_string(options.public_key_file(data.path())).expect("pub"), first);
        assert_eq!(CheckpointKey::load(&options.key_file(data.path())).expect("key").public_hex(), new);

        // A crash before the handover: the new key is dropped, the old one signs on.
        let next = next_key_path(&options.key_file(data.path()));
        CheckpointKey::generate().expect("key").save(&next).expect("saved");
        let mut integrity = Integrity::open(data.path(), &options).expect("reopens");
        assert!(!next.exists());
        integrity.record(&[deleted(3)]).expect("recorded");
        let all = jsonl::read::<Checkpoint>(&options.dir(data.path()).join(CHECKPOINTS_FILE)).expect("read");
        assert_eq!(check_checkpoints(&all.entries, &anchor), []);
    }
}
