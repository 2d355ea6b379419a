//! The emulator's side of the template's control socket: one JSON message per packet (SOCK_SEQPACKET), with
//! file descriptors passed alongside (SCM_RIGHTS).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
    recvmsg, sendmsg,
};
use serde_json::Value;

/// The most descriptors one message carries (pipes, and a cgroup file per controller).
const MAX_FDS: usize = 8;
/// The largest reply.
const MAX_MESSAGE: usize = 64 * 1024;
/// What a request to a template that stopped answering fails with.
const HUNG: &str = "the session template stopped answering, so no new session can start; restart the emulator \
    (and report it, with the log)";

/// One end of the control socket. Requests that wait for an answer are serialised.
#[derive(Debug)]
pub(super) struct Control {
    socket: OwnedFd,
    exchange: Mutex<()>,
    /// A request went unanswered in time: the template is treated as hung, and no request is sent any more.
    hung: AtomicBool,
    /// The number of the last request. The template answers each request with its number (`seq`), so an
    /// answer that comes too late for its request (one whose wait was cut short) is recognised and dropped
    /// instead of being taken for the next request's: answers never drift from their requests.
    seq: AtomicU64,
}

fn other(message: impl Into<String>) -> io::Error {
    io::Error::other(message.into())
}

impl Control {
    pub(super) fn new(socket: OwnedFd) -> Control {
        Control { socket, exchange: Mutex::new(()), hung: AtomicBool::new(false), seq: AtomicU64::new(0) }
    }

    /// From now on, an answer that takes longer than `limit` is an error, and the template is treated as
    /// hung (a workspace or session request then fails at once instead of blocking forever).
    pub(super) fn answer_within(&self, limit: Duration) -> io::Result<()> {
        rustix::net::sockopt::set_socket_timeout(&self.socket, rustix::net::sockopt::Timeout::Recv, Some(limit))
            .map_err(io::Error::from)
    }

    /// Sends a message with descriptors; no answer is awaited (the first message, the configuration).
    pub(super) fn send(&self, message: &Value, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let bytes = serde_json::to_vec(message).map_err(|e| other(e.to_string()))?;
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && (fds.len() > MAX_FDS || !control.push(SendAncillaryMessage::ScmRights(fds))) {
            return Err(other("too many descriptors for one message"));
        }
        let sent = sendmsg(&self.socket, &[IoSlice::new(&bytes)], &mut control, SendFlags::NOSIGNAL)?;
        if sent != bytes.len() {
            return Err(other("the template took part of a message"));
        }
        Ok(())
    }

    /// Receives one message and the descriptors that came with it.
    pub(super) fn receive(&self) -> io::Result<(Value, Vec<OwnedFd>)> {
        let mut buffer = vec![0u8; MAX_MESSAGE];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received =
            recvmsg(&self.socket, &mut [IoSliceMut::new(&mut buffer)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(passed) = message {
                fds.extend(passed);
            }
        }
        if received.bytes == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the session template has stopped"));
        }
        let value = serde_json::from_slice(&buffer[..received.bytes]).map_err(|e| other(format!("bad reply: {e}")))?;
        Ok((value, fds))
    }

    /// Sends a request and waits for its answer (`{"ok": true, ...}` or `{"ok": false, "error": ...}`).
    pub(super) fn request(&self, message: &Value) -> io::Result<(Value, Vec<OwnedFd>)> {
        self.request_with(message, &[])
    }

    /// [`Control::request`] with descriptors. Every request gets exactly one answer, in order.
    pub(super) fn request_with(&self, message: &Value, fds: &[BorrowedFd<'_>]) -> io::Result<(Value, Vec<OwnedFd>)> {
        let _one_at_a_time = self.exchange.lock().map_err(|_| other("control lock poisoned"))?;
        if self.hung.load(Ordering::Acquire) {
            return Err(other(HUNG));
        }
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        let mut numbered = message.clone();
        if let Value::Object(fields) = &mut numbered {
            fields.insert("seq".to_owned(), Value::from(seq));
        }
        self.send(&numbered, fds)?;
        let (reply, fds) = loop {
            let (reply, fds) = match self.receive() {
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    self.hung.store(true, Ordering::Release);
                    return Err(other(HUNG));
                }
                // A signal cut the wait short (a socket with a receive timeout is not restarted): wait again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            match reply.get("seq").and_then(Value::as_u64) {
                Some(answered) if answered == seq => break (reply, fds),
                // The answer to an earlier request whose wait ended without it: its descriptors close here.
                Some(answered) if answered < seq => {
                    tracing::warn!(answered, waiting_for = seq, "dropped a late answer of the session template");
                }
                _ => return Err(other(format!("the session template answered {reply} to request {seq}"))),
            }
        };
        if reply.get("ok").and_then(Value::as_bool) == Some(true) {
            Ok((reply, fds))
        } else {
            let error = reply.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            Err(other(format!("the session template refused {}: {error}", message["op"])))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    use serde_json::json;

    #[test]
    fn an_unanswered_request_fails_in_time_and_the_next_at_once() -> io::Result<()> {
        let (ours, _silent) = socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
            .map_err(io::Error::from)?;
        let control = Control::new(ours);
        control.answer_within(Duration::from_millis(100))?;
        let started = std::time::Instant::now();
        let first = control.request(&json!({"op": "mount"})).err().map(|e| e.to_string());
        assert_eq!(first.as_deref(), Some(HUNG));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let second = control.request(&json!({"op": "fork"})).err().map(|e| e.to_string());
        assert_eq!(second.as_deref(), Some(HUNG), "a hung template gets no more requests");
        Ok(())
    }

    #[test]
    fn a_late_answer_is_dropped_and_each_request_gets_its_own() -> io::Result<()> {
        let (ours, theirs) = socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
            .map_err(io::Error::from)?;
        let control = Control::new(ours);
        let template = Control::new(theirs);
        let answering = std::thread::spawn(move || -> io::Result<Vec<Value>> {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (request, _) = template.receive()?;
                let seq = request["seq"].clone();
                // The first request is answered twice: once late (as if for a request before it), once in time.
                if seen.is_empty() {
                    template.send(&json!({"ok": true, "seq": 0, "which": "stale"}), &[])?;
                }
                template.send(&json!({"ok": true, "seq": seq, "which": request["op"]}), &[])?;
                seen.push(request);
            }
            Ok(seen)
        });
        let (first, _) = control.request(&json!({"op": "mount"}))?;
        let (second, _) = control.request(&json!({"op": "fork"}))?;
        assert_eq!((first["which"].as_str(), second["which"].as_str()), (Some("mount"), Some("fork")));
        let seen = answering.join().map_err(|_| other("the template thread panicked"))??;
        assert_eq!(seen.iter().map(|r| r["seq"].as_u64()).collect::<Vec<_>>(), [Some(1), Some(2)]);
        Ok(())
    }
}
