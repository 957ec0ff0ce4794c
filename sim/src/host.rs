//! Hosts, their processes, and the tasks they own.
//!
//! A host is a named machine with an address, a clock skew, a seeded RNG and the software that runs on it.
//! The software is grouped into named processes (a machine may run two daemons that crash and restart
//! independently). Every task belongs to exactly one process of one host: [`spawn`] wraps the future so
//! that each poll **and its drop** run with that host and process current (a socket dropped while another
//! host is current would close on the wrong host, and a crash must abort exactly that process's tasks).
//! Tasks spawned from inside a task inherit its host and process, so connection handlers belong to the
//! server that accepted them.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::world::with_world;

/// Index of a host in the world.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

/// Who owns a task: a host and one of its processes (index in the host's registration order).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) host: HostId,
    pub(crate) process: usize,
}

thread_local! {
    static CURRENT: Cell<Option<Owner>> = const { Cell::new(None) };
}

/// The host whose task is running now (`None` for the scenario driver).
pub fn current_host() -> Option<HostId> {
    CURRENT.with(|c| c.get()).map(|o| o.host)
}

/// The owner (host and process) of the running task (`None` for the scenario driver).
pub(crate) fn current_owner() -> Option<Owner> {
    CURRENT.with(|c| c.get())
}

/// The name of the calling task's process (`None` for the scenario driver).
pub fn current_process_name() -> Option<String> {
    current_owner().map(|o| with_world(|w| w.host(o.host).process_name(o.process).to_string()))
}

/// The name of the calling host (`"world"` for the scenario driver).
pub fn current_host_name() -> String {
    match current_host() {
        Some(h) => with_world(|w| w.host(h).name.clone()),
        None => "world".to_string(),
    }
}

fn set_current(o: Option<Owner>) -> Option<Owner> {
    CURRENT.with(|c| c.replace(o))
}

/// Runs `f` as if owner `o` (a host's process) were current.
fn enter<R>(o: Option<Owner>, f: impl FnOnce() -> R) -> R {
    let prev = set_current(o);
    let r = f();
    set_current(prev);
    r
}

/// Spawns a task on the calling host, in the calling process. Outside any host (the scenario driver) the
/// task belongs to no host and survives every crash.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_on(current_owner(), fut)
}

/// Spawns a task on the calling host in its process `name`, creating that process (with no software of
/// its own, so a restart of it starts nothing) if the host has none of that name. This is how one process
/// hands work to another that must outlive it, as a supervisor starts a child. Outside any host (the
/// scenario driver) it is [`spawn`].
pub fn spawn_in_process<F>(name: &str, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let owner = current_host().map(|host| Owner { host, process: with_world(|w| w.process_or_create(host, name)) });
    spawn_on(owner, fut)
}

/// Spawns a task owned by a given process of a given host.
#[allow(clippy::disallowed_methods)] // this is the one scoped place tasks are created
pub(crate) fn spawn_on<F>(owner: Option<Owner>, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let handle = tokio::task::spawn_local(HostScoped { owner, fut: Some(Box::pin(fut)) });
    if let Some(o) = owner {
        with_world(|w| w.register_task(o, handle.abort_handle()));
    }
    handle
}

/// A future that runs (and is dropped) with its host and process current.
struct HostScoped<F: Future> {
    owner: Option<Owner>,
    fut: Option<Pin<Box<F>>>,
}

impl<F: Future> Future for HostScoped<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let owner = self.owner;
        let fut = self.fut.as_mut().expect("polled after completion");
        let res = enter(owner, || fut.as_mut().poll(cx));
        if res.is_ready() {
            let f = self.fut.take();
            enter(owner, || drop(f));
        }
        res
    }
}

impl<F: Future> Drop for HostScoped<F> {
    fn drop(&mut self) {
        let f = self.fut.take();
        enter(self.owner, || drop(f));
    }
}
