//! Object storage: where every node's sealed files are shared.
//!
//! A store is named by URL (`s3://bucket/prefix`, `gs://…`, `az://…`,
//! `file:///path`); credentials come from the usual environment of each
//! service (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, …) and from `options`,
//! which take the same keys (`endpoint`, `region`, `allow_http`, …). A
//! file's key is the path it has in a data directory, under the prefix, so
//! the bucket is laid out as a data directory is (`segments/dt=…/…parquet`)
//! and Spark, Trino or DuckDB read it as Hive-partitioned Parquet.
//!
//! Cloud stores retry failed requests themselves (object_store's default:
//! up to 10 times, with backoff, within 3 minutes); a seal whose upload still
//! fails is retried whole later, its rows kept in the write-ahead log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

/// Why object storage could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("storage option {key:?} is not one {scheme} knows")]
    Option { scheme: String, key: String },
    #[error("object storage {what}: {source}")]
    Object {
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `[storage]`: where sealed files are shared.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`
    /// or `file:///absolute/path`.
    pub url: String,
    /// Settings of the store, as its environment variables name them
    /// without their prefix (`endpoint`, `region`, `allow_http`, …).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// An object store and the prefix agentrail's files live under.
#[derive(Debug, Clone)]
pub struct SharedStorage {
    store: Arc<dyn ObjectStore>,
    /// `scheme://bucket`: what DataFusion registers the store under.
    base: Url,
    prefix: ObjectPath,
    display: String,
}

impl SharedStorage {
    pub fn open(config: &StorageConfig) -> Result<SharedStorage, StorageError> {
        let bad = |reason: &str| StorageError::Url { url: config.url.clone(), reason: reason.to_owned() };
        let url = Url::parse(&config.url).map_err(|e| bad(&e.to_string()))?;
        let object = |source| StorageError::Object { what: format!("opening {}", config.url), source };
        let bucket = url.host_str().unwrap_or_default();
        let (store, base, prefix): (Arc<dyn ObjectStore>, Url, &str) = match url.scheme() {
            "s3" | "s3a" => {
                let builder = keyed::<AmazonS3ConfigKey>(config, url.scheme())?
                    .fold(AmazonS3Builder::from_env().with_url(config.url.as_str()), |b, (k, v)| b.with_config(k, v));
                (Arc::new(builder.build().map_err(object)?), base_url("s3", bucket)?, url.path())
            }
            "gs" => {
                let builder = keyed::<GoogleConfigKey>(config, url.scheme())?
                    .fold(GoogleCloudStorageBuilder::from_env().with_url(config.url.as_str()), |b, (k, v)| {
                        b.with_config(k, v)
                    });
                (Arc::new(builder.build().map_err(object)?), base_url("gs", bucket)?, url.path())
            }
            "az" | "abfs" | "abfss" => {
                let builder = keyed::<AzureConfigKey>(config, url.scheme())?
                    .fold(MicrosoftAzureBuilder::from_env().with_url(config.url.as_str()), |b, (k, v)| {
                        b.with_config(k, v)
                    });
                (Arc::new(builder.build().map_err(object)?), base_url(url.scheme(), bucket)?, url.path())
            }
            "file" => {
                if let Some(key) = config.options.keys().next() {
                    return Err(StorageError::Option { scheme: "file".to_owned(), key: key.clone() });
                }
                let root = url.to_file_path().map_err(|()| bad("not an absolute file path"))?;
                std::fs::create_dir_all(&root).map_err(|source| StorageError::Io { path: root.clone(), source })?;
                let store = LocalFileSystem::new_with_prefix(&root).map_err(object)?;
                (Arc::new(store), base_url("file", "")?, "")
            }
            other => return Err(bad(&format!("unknown scheme {other:?}: use s3://, gs://, az:// or file://"))),
        };
        if base.scheme() != "file" && bucket.is_empty() {
            return Err(bad("names no bucket"));
        }
        let prefix = ObjectPath::parse(prefix.trim_matches('/')).map_err(|e| bad(&e.to_string()))?;
        Ok(SharedStorage { store, base, prefix, display: config.url.trim_end_matches('/').to_owned() })
    }

    /// The store itself, for DataFusion to read segments through.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// `scheme://bucket`, what the store is registered under.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The key of a data directory's relative path.
    pub fn key(&self, relative: &str) -> ObjectPath {
        relative.split('/').filter(|part| !part.is_empty()).fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// How a relative path is named in messages.
    pub fn describe(&self, relative: &str) -> String {
        format!("{}/{relative}", self.display)
    }

    /// Copies a local file to `relative`.
    pub async fn upload(&self, local: &Path, relative: &str) -> Result<(), StorageError> {
        let bytes =
            tokio::fs::read(local).await.map_err(|source| StorageError::Io { path: local.to_owned(), source })?;
        self.put(relative, bytes).await
    }

    /// Copies every file of a local directory (an index part) under `relative`.
    pub async fn upload_dir(&self, local: &Path, relative: &str) -> Result<(), StorageError> {
        let io = |source| StorageError::Io { path: local.to_owned(), source };
        let mut entries = tokio::fs::read_dir(local).await.map_err(io)?;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().await.map_err(io)?.is_file() {
                self.upload(&entry.path(), &format!("{relative}/{name}")).await?;
            }
        }
        Ok(())
    }

    pub async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let key = self.key(relative);
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(|source| StorageError::Object { what: format!("writing {}", self.describe(relative)), source })?;
        Ok(())
    }

    /// The bytes at `relative`; `None` when there is no such object.
    pub async fn get(&self, relative: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let what = || format!("reading {}", self.describe(relative));
        match self.store.get(&self.key(relative)).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(|source| StorageError::Object { what: what(), source })?;
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(StorageError::Object { what: what(), source }),
        }
    }

    /// The relative paths of the objects under `relative`.
    pub async fn list(&self, relative: &str) -> Result<Vec<String>, StorageError> {
        let prefix = self.key(relative);
        let objects: Vec<_> =
            self.store.list(Some(&prefix)).try_collect().await.map_err(|source| StorageError::Object {
                what: format!("listing {}", self.describe(relative)),
                source,
            })?;
        let strip = self.prefix.as_ref();
        Ok(objects
            .into_iter()
            .map(|meta| {
                let key = meta.location.as_ref();
                key.strip_prefix(strip).unwrap_or(key).trim_start_matches('/').to_owned()
            })
            .collect())
    }

    /// Copies every object under `relative` into the local directory
    /// `local` (written under a temporary name, then renamed, so a reader
    /// never sees half a part).
    pub async fn download_dir(&self, relative: &str, local: &Path) -> Result<(), StorageError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StorageError::Io { path, source }
        };
        let staging = local.with_extension("download");
        let _ = tokio::fs::remove_dir_all(&staging).await;
        tokio::fs::create_dir_all(&staging).await.map_err(io(&staging))?;
        for object in self.list(relative).await? {
            let Some(name) = object.rsplit('/').next() else { continue };
            let Some(bytes) = self.get(&object).await? else { continue };
            let file = staging.join(name);
            tokio::fs::write(&file, bytes).await.map_err(io(&file))?;
        }
        let _ = tokio::fs::remove_dir_all(local).await;
        tokio::fs::rename(&staging, local).await.map_err(io(local))
    }

    /// Deletes the object at `relative` and every object under it (an
    /// index part's files).
    pub async fn delete_tree(&self, relative: &str) -> Result<(), StorageError> {
        let under = self.list(relative).await?;
        // On a file system the path of a part is a directory, not an object.
        if under.is_empty() {
            return self.delete(relative).await;
        }
        for object in under {
            self.delete(&object).await?;
        }
        Ok(())
    }

    pub async fn delete(&self, relative: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.key(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StorageError::Object { what: format!("deleting {}", self.describe(relative)), source }),
        }
    }
}

/// The options as the store's own keys; one it does not know is named.
fn keyed<K: std::str::FromStr>(
    config: &StorageConfig,
    scheme: &str,
) -> Result<impl Iterator<Item = (K, String)>, StorageError> {
    let keys = config
        .options
        .iter()
        .map(|(key, value)| match key.parse::<K>() {
            Ok(parsed) => Ok((parsed, value.clone())),
            Err(_) => Err(StorageError::Option { scheme: scheme.to_owned(), key: key.clone() }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys.into_iter())
}

fn base_url(scheme: &str, bucket: &str) -> Result<Url, StorageError> {
    let text = format!("{scheme}://{bucket}");
    Url::parse(&text).map_err(|e| StorageError::Url { url: text, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> StorageConfig {
        StorageConfig { url: url.to_owned(), options: BTreeMap::new() }
    }

    #[test]
    fn keys_keep_the_data_directory_layout_under_the_prefix() {
        let mut s3 = config("s3://audit/agentrail/prod/");
        s3.options.insert("endpoint".into(), "http://127.0.0.1:9000".into());
        s3.options.insert("region".into(), "us-east-1".into());
        let storage = SharedStorage::open(&s3).expect("an s3 URL");
        assert_eq!(storage.base_url().as_str(), "s3://audit");
        assert_eq!(
            storage.key("segments/dt=2026-11-24/a.parquet").as_ref(),
            "agentrail/prod/segments/dt=2026-11-24/a.parquet"
        );
        assert_eq!(storage.describe("x"), "s3://audit/agentrail/prod/x");
    }

    #[test]
    fn bad_urls_and_options_are_named() {
        let unknown = SharedStorage::open(&config("ftp://host/x")).expect_err("ftp");
        assert!(unknown.to_string().contains("unknown scheme \"ftp\""), "{unknown}");
        let mut s3 = config("s3://audit");
        s3.options.insert("endpiont".into(), "http://x".into());
        let option = SharedStorage::open(&s3).expect_err("a misspelt option");
        assert!(option.to_string().contains("\"endpiont\""), "{option}");
        assert!(SharedStorage::open(&config("not a url")).is_err());
    }

    #[tokio::test]
    async fn files_go_up_and_come_back() {
        let root = tempfile::tempdir().expect("tempdir");
        let url = Url::from_directory_path(root.path().join("bucket")).expect("a file URL");
        let storage = SharedStorage::open(&config(url.as_str())).expect("a file store");
        let local = tempfile::tempdir().expect("tempdir");
        let part = local.path().join("part");
        std::fs::create_dir_all(&part).expect("part dir");
        std::fs::write(part.join("meta.json"), b"{}").expect("file");
        std::fs::write(part.join("a.idx"), b"index").expect("file");
        storage.upload_dir(&part, "index/dt=2026-11-24/n-1").await.expect("upload");
        let mut listed = storage.list("index/dt=2026-11-24/n-1").await.expect("list");
        listed.sort();
        assert_eq!(listed, ["index/dt=2026-11-24/n-1/a.idx", "index/dt=2026-11-24/n-1/meta.json"]);
        let copy = local.path().join("copy");
        storage.download_dir("index/dt=2026-11-24/n-1", &copy).await.expect("download");
        assert_eq!(std::fs::read(copy.join("a.idx")).expect("copied"), b"index");
        assert_eq!(storage.get("nothing/here").await.expect("a miss is no error"), None);
        storage.delete("nothing/here").await.expect("deleting nothing is fine");
    }
}
