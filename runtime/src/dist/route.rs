//! How processes reach other nodes: the process layer's [`Remote`] seam, implemented over
//! connections.

use super::Dist;
use super::frame::{self, Addressee};
use crate::node::{PendingCall, Remote, RemoteTarget};
use crate::process::{CallError, Encode, EncodeError, ExitReason, MonitorRef, Pid, WireKind};

fn addressee<'a>(to: &RemoteTarget<'a>) -> Addressee<'a> {
    match *to {
        RemoteTarget::Pid(p) => Addressee::Pid(p),
        RemoteTarget::Name(n, _) => Addressee::Name(n),
    }
}

impl Remote for Dist {
    fn send(
        &self,
        from: &Pid,
        to: RemoteTarget<'_>,
        kind: WireKind,
        type_name: &str,
        encode: Encode<'_>,
    ) -> Result<bool, EncodeError> {
        match self.conn_for(to.node(), None) {
            Some(conn) => conn.send_msg(kind, Some(from), addressee(&to), type_name, 0, encode),
            None => Ok(false),
        }
    }

    fn until_writable(
        &self,
        node: &crate::node::NodeName,
    ) -> Option<futures::future::BoxFuture<'static, ()>> {
        let conn = self.existing(node)?;
        conn.is_busy().then(|| {
            let wait: futures::future::BoxFuture<'static, ()> = Box::pin(conn.until_writable());
            wait
        })
    }

    fn call(
        &self,
        from: Option<&Pid>,
        to: RemoteTarget<'_>,
        type_name: &str,
        encode: Encode<'_>,
    ) -> Result<PendingCall, CallError> {
        let conn = self
            .conn_for(to.node(), None)
            .ok_or_else(|| CallError::NodeDown(to.node().clone()))?;
        conn.call(from, addressee(&to), type_name, encode)
    }

    fn exit(&self, from: &Pid, to: &Pid, reason: &ExitReason, via_link: bool) {
        // A link's exit travels only over the connection the link was made on; an `exit`
        // call connects if needed, as any message does.
        let conn = if via_link {
            self.existing(to.node())
        } else {
            self.conn_for(to.node(), None)
        };
        if let Some(conn) = conn {
            if via_link {
                conn.remove_link(from, to);
            }
            let _ = conn.push(|buf| {
                frame::exit(buf, from, to, via_link, reason);
                Ok(())
            });
        }
    }

    fn link(&self, from: &Pid, to: &Pid) {
        let linked = self
            .conn_for(to.node(), None)
            .filter(|conn| conn.add_link(from, to))
            .map(|conn| {
                let _ = conn.push(|buf| {
                    frame::link(buf, from, to, false);
                    Ok(())
                });
            });
        if linked.is_none() {
            // The connection is already gone: the link breaks at once.
            if let Some(node) = self.node() {
                node.exit_signal(to, from, ExitReason::NoConnection, true);
            }
        }
    }

    fn unlink(&self, from: &Pid, to: &Pid) {
        if let Some(conn) = self.existing(to.node()) {
            conn.remove_link(from, to);
            let _ = conn.push(|buf| {
                frame::link(buf, from, to, true);
                Ok(())
            });
        }
    }

    fn monitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef) {
        let sent = self
            .conn_for(target.node(), None)
            .filter(|conn| conn.add_out_monitor(monitor, watcher, target))
            .map(|conn| {
                let _ = conn.push(|buf| {
                    frame::monitor(buf, watcher, target, monitor, false);
                    Ok(())
                });
            });
        if sent.is_none()
            && let Some(node) = self.node()
        {
            node.remote_down(watcher, monitor, target, ExitReason::NoConnection);
        }
    }

    fn demonitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef) {
        if let Some(conn) = self.existing(target.node()) {
            conn.remove_out_monitor(monitor);
            let _ = conn.push(|buf| {
                frame::monitor(buf, watcher, target, monitor, true);
                Ok(())
            });
        }
    }

    fn down(&self, to: &Pid, monitor: MonitorRef, pid: &Pid, reason: &ExitReason) {
        if let Some(conn) = self.existing(to.node()) {
            conn.remove_in_monitor(monitor);
            let _ = conn.push(|buf| {
                frame::down(buf, to, pid, monitor, reason);
                Ok(())
            });
        }
    }

    fn monitor_nodes(&self, pid: &Pid, on: bool) {
        let mut monitors = self.node_monitors.lock();
        monitors.retain(|p| p != pid);
        if on {
            monitors.push(pid.clone());
        }
    }
}
