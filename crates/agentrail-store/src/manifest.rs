//! The manifest: the one list of sealed segments, replaced atomically.
//!
//! A segment exists for readers only once the manifest lists it. The manifest
//! is replaced whole ([`crate::durable::replace_file`]), so after any crash
//! it is either the old list or the new one. It also records how far the write-ahead log is sealed, which is
//! where replay starts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::replace_file;
use crate::segment::SegmentMeta;

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("manifest {path} is not valid: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Everything sealed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// Every log entry up to this sequence number is in the segments below.
    pub sealed_through_seq: u64,
    pub segments: Vec<SegmentMeta>,
    /// Rejected records, kept with their reason and raw bytes.
    #[serde(default)]
    pub quarantine: Vec<SegmentMeta>,
}

impl Manifest {
    /// Reads the manifest of a data directory; a new directory has an empty one.
    pub fn load(data_dir: &Path) -> Result<Manifest, ManifestError> {
        let path = data_dir.join(MANIFEST_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ManifestError::Invalid { path, source }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Manifest { version: 1, ..Manifest::default() }),
            Err(source) => Err(ManifestError::Io { path, source }),
        }
    }

    /// Replaces the manifest on disk, atomically and durably.
    pub fn store(&self, data_dir: &Path) -> Result<(), ManifestError> {
        let path = data_dir.join(MANIFEST_FILE);
        let text =
            serde_json::to_vec_pretty(self).map_err(|source| ManifestError::Invalid { path: path.clone(), source })?;
        replace_file(&path, &text).map_err(|(path, source)| ManifestError::Io { path, source })
    }

    pub fn total_rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }
}
