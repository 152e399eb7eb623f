//! The threads shared-store I/O runs on.
//!
//! The store seals on plain threads and the query engine plans on its own
//! runtime; both reach object storage and PostgreSQL through this one,
//! which owns the catalog's connection task.

use std::future::Future;
use std::sync::Arc;

/// A small runtime for object storage and catalog I/O.
#[derive(Debug, Clone)]
pub struct SharedRuntime {
    runtime: Arc<Owned>,
}

/// Shut down without waiting when the last handle goes: it may go inside
/// another runtime, where waiting is refused.
#[derive(Debug)]
struct Owned(Option<tokio::runtime::Runtime>);

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::ops::Deref for Owned {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &tokio::runtime::Runtime {
        // Taken only in `drop`.
        self.0.as_ref().expect("the runtime is there until dropped")
    }
}

impl SharedRuntime {
    pub fn new() -> std::io::Result<SharedRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("agentrail-shared")
            .enable_all()
            .build()?;
        Ok(SharedRuntime { runtime: Arc::new(Owned(Some(runtime))) })
    }

    /// Runs `work` to completion from synchronous code; from a thread that
    /// is itself in a runtime (where blocking on another is refused), it
    /// waits on a thread of its own.
    pub fn block_on<F>(&self, work: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.runtime.block_on(work);
        }
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| self.runtime.block_on(work));
            match waiter.join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Runs `work` in the background.
    pub fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(work)
    }
}
