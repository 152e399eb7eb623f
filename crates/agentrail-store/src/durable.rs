//! Small files replaced whole (or removed), atomically and durably: written under a
//! temporary name beside the target, fsynced, renamed over it, and the
//! directory fsynced so the new name survives a crash. A reader sees the
//! old file or the new one, never a part.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`. The error names the file that failed.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.tmp"));
    let at = |path: &Path| {
        let path = path.to_owned();
        move |error| (path, error)
    };
    let mut file = File::create(&temporary).map_err(at(&temporary))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(at(&temporary))?;
    drop(file);
    fs::rename(&temporary, path).map_err(at(path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Replaces `path` with `value` as JSON (see [`replace_file`]): the state
/// files a crash must find whole (intents, pending merges).
pub fn replace_json(path: &Path, value: &impl serde::Serialize) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|error| (path.to_owned(), error.into()))?;
    replace_file(path, &bytes)
}

/// The JSON value `path` holds, or `None` when there is no such file.
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, (std::path::PathBuf, std::io::Error)> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| (path.to_owned(), error.into())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err((path.to_owned(), error)),
    }
}

/// Renames `from` to `to` (replacing it) and fsyncs `to`'s directory so the
/// new name survives a crash.
pub fn rename(from: &Path, to: &Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    fs::rename(from, to).map_err(|error| (to.to_owned(), error))?;
    sync_dir_of(to)
}

/// Removes `path` and fsyncs its directory so the removal survives a crash.
pub fn remove_file(path: &Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    fs::remove_file(path).map_err(|error| (path.to_owned(), error))?;
    sync_dir_of(path)
}

fn sync_dir_of(path: &Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|error| (dir.to_owned(), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        replace_file(&path, b"first").expect("written");
        replace_file(&path, b"second").expect("replaced");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);

        let missing = dir.path().join("no-such-dir/state.json");
        let (failed, _) = replace_file(&missing, b"x").expect_err("no directory");
        assert!(failed.starts_with(dir.path().join("no-such-dir")), "{}", failed.display());

        remove_file(&path).expect("removed");
        assert!(!path.exists());
        let (failed, _) = remove_file(&path).expect_err("already gone");
        assert_eq!(failed, path);
    }
}
