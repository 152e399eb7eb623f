//! The manifest: the one list of sealed segments, replaced atomically.
//!
//! A segment exists for readers only once the manifest lists it. The manifest
//! is written under a temporary name, fsynced, renamed over the old one and
//! its directory fsynced, so after any crash it is either the old list or the
//! new one. It also records how far the write-ahead log is sealed, which is
//! where replay starts.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
        let temporary = data_dir.join(format!(".{MANIFEST_FILE}.tmp"));
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ManifestError::Io { path, source }
        };
        let text =
            serde_json::to_vec_pretty(self).map_err(|source| ManifestError::Invalid { path: path.clone(), source })?;
        let mut file = File::create(&temporary).map_err(io(&temporary))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(io(&temporary))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(io(&path))?;
        File::open(data_dir).and_then(|d| d.sync_all()).map_err(io(data_dir))?;
        Ok(())
    }

    pub fn total_rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }
}
