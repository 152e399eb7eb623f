//! A node's id: in every file name it seals and in the catalog.
//!
//! Given in `[node] id`, or made up once and kept in the data directory
//! (`node-id`), so a node restarted on its directory is the same node.

use std::path::{Path, PathBuf};

/// Why the node id cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NodeIdError {
    #[error(
        "node id {0:?} is not valid: use 1 to 64 letters, digits, '_' or '-' (it starts the name of every file the \
         node seals)"
    )]
    Invalid(String),
    #[error("node id file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file a made-up id is kept in.
pub const NODE_ID_FILE: &str = "node-id";

/// The id `configured`, or the one this data directory was given.
pub fn node_id(configured: Option<&str>, data_dir: &Path) -> Result<String, NodeIdError> {
    if let Some(id) = configured {
        return valid(id.to_owned());
    }
    let path = data_dir.join(NODE_ID_FILE);
    let io = |source| NodeIdError::Io { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => valid(text.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = format!("node-{:08x}", rand::random::<u32>());
            std::fs::create_dir_all(data_dir).map_err(io)?;
            agentrail_store::durable::replace_file(&path, format!("{id}\n").as_bytes())
                .map_err(|(path, source)| NodeIdError::Io { path, source })?;
            Ok(id)
        }
        Err(source) => Err(io(source)),
    }
}

fn valid(id: String) -> Result<String, NodeIdError> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(id) } else { Err(NodeIdError::Invalid(id)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_id_stays_with_its_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = node_id(None, dir.path()).expect("made up");
        assert!(first.starts_with("node-"), "{first}");
        assert_eq!(node_id(None, dir.path()).expect("kept"), first);
        assert_eq!(node_id(Some("ingest-a"), dir.path()).expect("given"), "ingest-a");
    }

    #[test]
    fn ids_that_would_break_file_names_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "a/b", "../x", "a b", &"x".repeat(65)] {
            let error = node_id(Some(bad), dir.path()).expect_err(bad);
            assert!(error.to_string().contains("is not valid"), "{error}");
        }
    }
}
