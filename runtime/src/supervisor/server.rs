//! The supervisor process: starts children in order, restarts them by strategy, stops them
//! in reverse order.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::spec::{ChildKind, ChildSpec, DEFAULT_SHUTDOWN, Restart, Shutdown, Strategy};
use super::{ChildCount, ChildInfo, ChildRef, SupervisorError};
use crate::gen_server::{Flow, GenServer, ReplyHandle, ServerCtx, StartError};
use crate::node::Node;
use crate::process::{ExitReason, Pid, Signal};

pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    pub(crate) pid: Option<Pid>,
}

/// The GenServer behind every supervisor; users hold a [`SupervisorRef`](super::SupervisorRef).
pub(crate) struct SupervisorServer {
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    dynamic: bool,
    /// In start order.
    children: Vec<Child>,
    /// Times of recent restarts, oldest first, for the intensity check.
    restarts: VecDeque<Instant>,
}

impl fmt::Debug for SupervisorServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorServer")
            .field("strategy", &self.strategy)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// Requests a [`SupervisorRef`](super::SupervisorRef) makes.
#[derive(Debug)]
pub(crate) enum SupervisorCall {
    /// Start a child and add it.
    StartChild(ChildSpec),
    /// Stop a child.
    TerminateChild(ChildRef),
    /// Start a stopped child again.
    RestartChild(String),
    /// Forget a stopped child.
    DeleteChild(String),
    /// List the children.
    WhichChildren,
    /// Count the children.
    CountChildren,
}

/// Replies to [`SupervisorCall`].
#[derive(Debug)]
pub(crate) enum SupervisorReply {
    /// A child was started.
    Started(Result<Pid, SupervisorError>),
    /// A child was stopped or deleted.
    Done(Result<(), SupervisorError>),
    /// The children, in start order.
    Children(Vec<ChildInfo>),
    /// The counts.
    Count(ChildCount),
}

impl SupervisorServer {
    pub(crate) fn new(
        strategy: Strategy,
        max_restarts: usize,
        period: Duration,
        dynamic: bool,
        children: Vec<ChildSpec>,
    ) -> Self {
        Self {
            strategy,
            max_restarts,
            period,
            dynamic,
            children: children
                .into_iter()
                .map(|spec| Child { spec, pid: None })
                .collect(),
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart; false once more than `max_restarts` happened within `period`.
    fn note_restart(&mut self) -> bool {
        let now = Instant::now();
        self.restarts.push_back(now);
        while let Some(&oldest) = self.restarts.front() {
            if now.duration_since(oldest) > self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.len() <= self.max_restarts
    }

    fn intensity_reason(&self, last: &str) -> ExitReason {
        ExitReason::Error(format!(
            "supervisor reached its maximum restart intensity ({} restarts within {:?}); last failure: {last}",
            self.max_restarts, self.period
        ))
    }

    /// Starts child `i`, retrying while the restart intensity allows.
    ///
    /// A child whose name is still held by a process that is going away (a child of an
    /// earlier incarnation of this supervisor, still running `terminate`) is started once
    /// that process has exited, waiting at most the child's shutdown time.
    async fn start_child_at(
        &mut self,
        i: usize,
        ctx: &ServerCtx<Self>,
        restarting: bool,
    ) -> Result<(), ExitReason> {
        let mut waited_for = None;
        loop {
            let spec = self.children[i].spec.clone();
            match spec.start_under(ctx.node(), ctx.pid()).await {
                Ok(pid) => {
                    self.children[i].pid = Some(pid);
                    return Ok(());
                }
                Err(StartError::AlreadyStarted(holder)) if waited_for.as_ref() != Some(&holder) => {
                    let limit = match spec.shutdown {
                        Shutdown::Timeout(d) => d,
                        Shutdown::BrutalKill | Shutdown::Infinity => DEFAULT_SHUTDOWN,
                    };
                    let _ = tokio::time::timeout(limit, ctx.node().watch(&holder)).await;
                    waited_for = Some(holder);
                }
                Err(e) => {
                    let what = format!("child {:?} failed to start: {e}", spec.id);
                    tracing::error!(supervisor = %ctx.pid(), "{what}");
                    if !restarting || !self.note_restart() {
                        return Err(if restarting {
                            self.intensity_reason(&what)
                        } else {
                            ExitReason::Error(what)
                        });
                    }
                }
            }
        }
    }

    /// Stops the children in `range` that run, last first.
    async fn stop_children(&mut self, range: std::ops::Range<usize>, ctx: &mut ServerCtx<Self>) {
        for i in range.rev() {
            if let Some(pid) = self.children[i].pid.take() {
                stop_child(ctx, &pid, self.children[i].spec.shutdown).await;
            }
        }
    }

    async fn on_child_exit(
        &mut self,
        i: usize,
        reason: ExitReason,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        let spec = self.children[i].spec.clone();
        let restart = match spec.restart {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal(),
            Restart::Temporary => false,
        };
        if !reason.is_normal() {
            tracing::error!(supervisor = %ctx.pid(), child = %spec.id, %reason, restart, "child exited");
        }
        if !restart {
            if spec.restart == Restart::Temporary || self.dynamic {
                self.children.remove(i);
            }
            return Flow::Continue;
        }
        let what = format!("child {:?} exited: {reason}", spec.id);
        if !self.note_restart() {
            return Flow::Stop(self.intensity_reason(&what));
        }
        let range = match self.strategy {
            Strategy::OneForOne => i..i + 1,
            Strategy::OneForAll => 0..self.children.len(),
            Strategy::RestForOne => i..self.children.len(),
        };
        self.stop_children(range.clone(), ctx).await;
        // Temporary siblings stopped by the strategy are not restarted: they are forgotten.
        let mut j = range.start;
        let mut end = range.end;
        while j < end {
            // The failed child is not temporary (it is being restarted), so only siblings
            // are forgotten here.
            if self.children[j].spec.restart == Restart::Temporary {
                self.children.remove(j);
                end -= 1;
                continue;
            }
            if let Err(reason) = self.start_child_at(j, ctx, true).await {
                return Flow::Stop(reason);
            }
            j += 1;
        }
        Flow::Continue
    }

    fn find(&self, child: &ChildRef) -> Option<usize> {
        self.children.iter().position(|c| match child {
            ChildRef::Id(id) => c.spec.id == *id,
            ChildRef::Pid(pid) => c.pid.as_ref() == Some(pid),
        })
    }

    async fn handle(&mut self, call: SupervisorCall, ctx: &mut ServerCtx<Self>) -> SupervisorReply {
        match call {
            SupervisorCall::StartChild(spec) => {
                if !self.dynamic && self.children.iter().any(|c| c.spec.id == spec.id) {
                    return SupervisorReply::Started(Err(SupervisorError::AlreadyPresent(spec.id)));
                }
                match spec.start_under(ctx.node(), ctx.pid()).await {
                    Ok(pid) => {
                        self.children.push(Child {
                            spec,
                            pid: Some(pid.clone()),
                        });
                        SupervisorReply::Started(Ok(pid))
                    }
                    Err(e) => SupervisorReply::Started(Err(SupervisorError::Start(e))),
                }
            }
            SupervisorCall::TerminateChild(child) => {
                let Some(i) = self.find(&child) else {
                    return SupervisorReply::Done(Err(SupervisorError::NotFound(
                        child.to_string(),
                    )));
                };
                self.stop_children(i..i + 1, ctx).await;
                if self.dynamic || self.children[i].spec.restart == Restart::Temporary {
                    self.children.remove(i);
                }
                SupervisorReply::Done(Ok(()))
            }
            SupervisorCall::RestartChild(id) => {
                let Some(i) = self.find(&ChildRef::Id(id.clone())) else {
                    return SupervisorReply::Started(Err(SupervisorError::NotFound(id)));
                };
                if self.children[i].pid.is_some() {
                    return SupervisorReply::Started(Err(SupervisorError::Running(id)));
                }
                let spec = self.children[i].spec.clone();
                match spec.start_under(ctx.node(), ctx.pid()).await {
                    Ok(pid) => {
                        self.children[i].pid = Some(pid.clone());
                        SupervisorReply::Started(Ok(pid))
                    }
                    Err(e) => SupervisorReply::Started(Err(SupervisorError::Start(e))),
                }
            }
            SupervisorCall::DeleteChild(id) => {
                let Some(i) = self.find(&ChildRef::Id(id.clone())) else {
                    return SupervisorReply::Done(Err(SupervisorError::NotFound(id)));
                };
                if self.children[i].pid.is_some() {
                    return SupervisorReply::Done(Err(SupervisorError::Running(id)));
                }
                self.children.remove(i);
                SupervisorReply::Done(Ok(()))
            }
            SupervisorCall::WhichChildren => SupervisorReply::Children(
                self.children
                    .iter()
                    .map(|c| ChildInfo {
                        id: c.spec.id.clone(),
                        pid: c.pid.clone(),
                        kind: c.spec.kind,
                        restart: c.spec.restart,
                    })
                    .collect(),
            ),
            SupervisorCall::CountChildren => {
                let mut count = ChildCount::default();
                for c in &self.children {
                    count.specs += 1;
                    if c.pid.is_some() {
                        count.active += 1;
                    }
                    match c.spec.kind {
                        ChildKind::Worker => count.workers += 1,
                        ChildKind::Supervisor => count.supervisors += 1,
                    }
                }
                SupervisorReply::Count(count)
            }
        }
    }
}

/// Stops one child: unlinks it (so its exit is not mistaken for a failure), asks it to shut
/// down, and kills it if it outlives its shutdown time.
async fn stop_child(ctx: &mut ServerCtx<SupervisorServer>, pid: &Pid, shutdown: Shutdown) {
    let node: Node = ctx.node().clone();
    let exited = node.watch(pid);
    ctx.unlink(pid);
    match shutdown {
        Shutdown::BrutalKill => {
            ctx.exit(pid, ExitReason::Kill);
            exited.await;
        }
        Shutdown::Infinity => {
            ctx.exit(pid, ExitReason::Shutdown);
            exited.await;
        }
        Shutdown::Timeout(limit) => {
            ctx.exit(pid, ExitReason::Shutdown);
            let mut exited = exited;
            if tokio::time::timeout(limit, &mut exited).await.is_err() {
                tracing::warn!(supervisor = %ctx.pid(), child = %pid, ?limit, "child did not shut down in time; killing it");
                ctx.exit(pid, ExitReason::Kill);
                exited.await;
            }
        }
    }
}

impl GenServer for SupervisorServer {
    type Call = SupervisorCall;
    type Reply = SupervisorReply;
    type Cast = ();
    type Info = ();

    async fn init(&mut self, ctx: &mut ServerCtx<Self>) -> Result<(), ExitReason> {
        ctx.trap_exit(true);
        for i in 0..self.children.len() {
            if let Err(reason) = self.start_child_at(i, ctx, false).await {
                self.stop_children(0..i, ctx).await;
                return Err(reason);
            }
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        call: SupervisorCall,
        from: ReplyHandle<SupervisorReply>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        from.reply(self.handle(call, ctx).await);
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Signal<()>, ctx: &mut ServerCtx<Self>) -> Flow {
        match info {
            Signal::Exit(exit) => match self
                .children
                .iter()
                .position(|c| c.pid.as_ref() == Some(&exit.from))
            {
                Some(i) => {
                    self.children[i].pid = None;
                    self.on_child_exit(i, exit.reason, ctx).await
                }
                // Not a child (any more): a process that linked to us, or a child already
                // stopped on purpose.
                None => Flow::Continue,
            },
            _ => Flow::Continue,
        }
    }

    async fn terminate(&mut self, _reason: &ExitReason, ctx: &mut ServerCtx<Self>) {
        self.stop_children(0..self.children.len(), ctx).await;
    }
}
