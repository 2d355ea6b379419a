//! Spawns sandboxes from one long-lived thread.
//!
//! bubblewrap's `--die-with-parent` (`PR_SET_PDEATHSIG`) fires when the *thread* that forked it exits. A
//! sandbox forked from a tokio blocking-pool thread would die when that idle thread is retired, taking the
//! session's state with it. So every sandbox is forked here, by a thread that lives as long as the emulator.

use std::io;
use std::sync::mpsc;

use tokio::process::Child;
use tokio::sync::oneshot;

/// Where the spawned child goes: an async caller, or a caller on a blocking thread.
enum Reply {
    Async(oneshot::Sender<io::Result<Child>>),
    Blocking(mpsc::SyncSender<io::Result<Child>>),
}

struct Job {
    command: std::process::Command,
    reply: Reply,
}

/// A handle on the spawner thread. Dropping every handle ends the thread (and, through the death signal,
/// every sandbox it started).
#[derive(Debug, Clone)]
pub(crate) struct Spawner {
    jobs: mpsc::Sender<JobBox>,
}

struct JobBox(Job);

impl std::fmt::Debug for JobBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

fn stopped() -> io::Error {
    io::Error::other("the sandbox spawner thread has stopped")
}

impl Spawner {
    pub(crate) fn start(runtime: tokio::runtime::Handle) -> io::Result<Spawner> {
        let (jobs, queue) = mpsc::channel::<JobBox>();
        std::thread::Builder::new().name("sandbox-spawner".into()).spawn(move || {
            while let Ok(JobBox(job)) = queue.recv() {
                let _entered = runtime.enter();
                let result = tokio::process::Command::from(job.command).kill_on_drop(true).spawn();
                match job.reply {
                    Reply::Async(reply) => {
                        let _ = reply.send(result);
                    }
                    Reply::Blocking(reply) => {
                        let _ = reply.send(result);
                    }
                }
            }
        })?;
        Ok(Spawner { jobs })
    }

    pub(crate) async fn spawn(&self, command: std::process::Command) -> io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(JobBox(Job { command, reply: Reply::Async(reply) })).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// [`Spawner::spawn`] for a caller on a blocking thread (never call it from async code: it blocks).
    pub(crate) fn spawn_blocking(&self, command: std::process::Command) -> io::Result<Child> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs.send(JobBox(Job { command, reply: Reply::Blocking(reply) })).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}
