//! A TCP proxy on loopback in front of the database, that the test can cut (every connection closed, new ones
//! refused) and restore: a database lost in the middle of a run, and back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// The proxy.
pub struct Proxy {
    pub address: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    /// A proxy to `target`, up.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let (accepting, tasks) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::Acquire) {
                    drop(inbound);
                    continue;
                }
                tasks.lock().await.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { address, up, connections }
    }

    /// The database is gone: open connections are cut, new ones closed at once.
    pub async fn cut(&self) {
        self.up.store(false, Ordering::Release);
        self.connections.lock().await.abort_all();
    }

    /// The database is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::Release);
    }

    /// `url` (a PostgreSQL URL) through the proxy.
    pub fn url_through(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).unwrap();
        url.set_port(Some(self.address.port())).unwrap();
        url.to_string()
    }
}

/// The address a PostgreSQL URL points at.
pub fn target_of(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432)).parse().unwrap()
}
