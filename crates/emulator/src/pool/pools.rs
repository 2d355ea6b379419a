//! Every pool of an emulator, by name: the default one at the root path (and under any pool name no one
//! configured), the others at `.../sessionPools/{name}`. They share the sandbox.

use std::sync::Arc;

use super::SessionPool;
use crate::sandbox::Sandbox;

/// The emulator's pools, the default one first. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    /// The default pool, then the others.
    all: Arc<(SessionPool, Vec<SessionPool>)>,
    sandbox: Arc<Sandbox>,
}

impl Pools {
    /// The default pool and the `others`, on `sandbox`.
    pub(crate) fn new(default: SessionPool, others: Vec<SessionPool>, sandbox: Arc<Sandbox>) -> Pools {
        Pools { all: Arc::new((default, others)), sandbox }
    }

    /// The pool named `name` (case-insensitively, as Azure's resource names are), or the default pool for no
    /// name or one no pool has.
    pub(crate) fn get(&self, name: Option<&str>) -> &SessionPool {
        name.and_then(|n| self.find(n)).unwrap_or(&self.all.0)
    }

    /// The pool named `name` (case-insensitively), if there is one.
    pub(crate) fn find(&self, name: &str) -> Option<&SessionPool> {
        self.iter().find(|p| p.kind().spec.name.eq_ignore_ascii_case(name))
    }

    /// The pool at the root path.
    pub(crate) fn default_pool(&self) -> &SessionPool {
        &self.all.0
    }

    /// Every pool, the default one first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SessionPool> {
        std::iter::once(&self.all.0).chain(self.all.1.iter())
    }

    /// The sandbox the pools share.
    pub(crate) fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Stops every pool's sessions, then the sandbox: no kernel, cgroup or session directory is left.
    pub(crate) async fn shutdown(&self) {
        futures_util::future::join_all(self.iter().map(SessionPool::shutdown)).await;
        self.sandbox.stop().await;
        let sandbox = self.sandbox.clone();
        let _ = tokio::task::spawn_blocking(move || sandbox.cleanup()).await;
    }
}
