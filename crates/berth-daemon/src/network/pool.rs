//! Ready-made sandboxes for the default bridge. Most of the cost of wiring
//! a container is kernel work that needs nothing of the container: creating
//! the network namespace and making a veth a port of the bridge, which waits
//! out an RCU grace period (10-20 ms here). The pool keeps a few namespaces
//! with loopback up and a veth already plugged into the bridge; a container
//! start takes one and only names and addresses the interface. Taking one
//! refills the pool in the background. Pooled namespaces live under
//! `<exec-root>/netns/pool-<id>`; after a crash `reconcile` removes them
//! like any namespace nobody owns.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_network::netns;
use berth_network::topology::{loopback_up, BridgeSpec, Topology};

/// How many sandboxes wait ready: enough for a start while the previous
/// one's replacement is being made.
const SIZE: usize = 2;

/// A namespace whose veth waits, unconfigured, for a container.
#[derive(Debug, Clone)]
pub struct PooledSandbox {
    pub ns: PathBuf,
    /// The endpoint id the veth is named after (`v<id[..12]>` in the switch).
    pub endpoint_id: String,
}

#[derive(Clone, Default)]
pub struct SandboxPool {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    ready: Mutex<Vec<PooledSandbox>>,
    filling: AtomicBool,
    /// Set at shutdown: no more sandboxes are made.
    closed: AtomicBool,
}

impl SandboxPool {
    fn ready(&self) -> std::sync::MutexGuard<'_, Vec<PooledSandbox>> {
        self.inner.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn take(&self) -> Option<PooledSandbox> {
        self.ready().pop()
    }

    /// Whether `ns` is a pooled namespace (not an orphan to clean up).
    pub fn owns_ns(&self, ns: &Path) -> bool {
        self.ready().iter().any(|p| p.ns == ns)
    }

    /// Whether the switch port of endpoint `short_id` belongs to the pool.
    pub fn owns_port(&self, short_id: &str) -> bool {
        self.ready()
            .iter()
            .any(|p| p.endpoint_id.starts_with(short_id))
    }

    /// Removes the waiting sandboxes, at a clean shutdown: they are only a
    /// cache, and dropping a namespace takes its veth pair with it. A filler
    /// at work is stopped and waited for (up to 2 s), so that it leaves no
    /// namespace behind; after a crash `reconcile` removes such leftovers.
    pub async fn drain(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for _ in 0..200 {
            if !self.inner.filling.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let ready: Vec<PooledSandbox> = std::mem::take(&mut *self.ready());
        for p in ready {
            if let Err(e) = netns::remove(&p.ns) {
                tracing::warn!("removing pooled sandbox {}: {e}", p.ns.display());
            }
        }
    }

    /// Tops the pool up to its size in the background, one filler at a time.
    pub fn refill(&self, topo: Topology, spec: BridgeSpec, netns_dir: PathBuf) {
        if self.inner.closed.load(Ordering::SeqCst)
            || self.inner.filling.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            while pool.ready().len() < SIZE && !pool.inner.closed.load(Ordering::SeqCst) {
                let endpoint_id = super::random_id();
                let ns = netns_dir.join(format!("pool-{}", &endpoint_id[..12]));
                let made = async {
                    netns::create(&ns)?;
                    loopback_up(&ns).await?;
                    topo.prepare_port(&spec, &ns, &endpoint_id[..12]).await
                }
                .await;
                match made {
                    Ok(()) => pool.ready().push(PooledSandbox { ns, endpoint_id }),
                    Err(e) => {
                        tracing::warn!("preparing a sandbox for the default bridge: {e}");
                        let _ = netns::remove(&ns);
                        break;
                    }
                }
            }
            pool.inner.filling.store(false, Ordering::SeqCst);
        });
    }
}
