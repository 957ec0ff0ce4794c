//! Hosts and the tasks they own.
//!
//! A host is a named machine with an address, a clock skew, a seeded RNG and the software that runs on it.
//! Every task belongs to exactly one host: [`spawn`] wraps the future so that each poll **and its drop**
//! run with that host current (a socket dropped while another host is current would close on the wrong
//! host, and a crash must abort exactly that host's tasks). Tasks spawned from inside a host task inherit
//! its host, so connection handlers belong to the server that accepted them.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::world::with_world;

/// Index of a host in the world.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

thread_local! {
    static CURRENT: Cell<Option<HostId>> = const { Cell::new(None) };
}

/// The host whose task is running now (`None` for the scenario driver).
pub fn current_host() -> Option<HostId> {
    CURRENT.with(|c| c.get())
}

/// The name of the calling host (`"world"` for the scenario driver).
pub fn current_host_name() -> String {
    match current_host() {
        Some(h) => with_world(|w| w.host(h).name.clone()),
        None => "world".to_string(),
    }
}

pub(crate) fn set_current(h: Option<HostId>) -> Option<HostId> {
    CURRENT.with(|c| c.replace(h))
}

/// Runs `f` as if host `h` were current.
pub(crate) fn enter<R>(h: Option<HostId>, f: impl FnOnce() -> R) -> R {
    let prev = set_current(h);
    let r = f();
    set_current(prev);
    r
}

/// Spawns a task on the calling host. Outside any host (the scenario driver) the task belongs to no host
/// and survives every crash.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_on(current_host(), fut)
}

/// Spawns a task on a given host.
#[allow(clippy::disallowed_methods)] // this is the one scoped place tasks are created
pub(crate) fn spawn_on<F>(host: Option<HostId>, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let handle = tokio::task::spawn_local(HostScoped { host, fut: Some(Box::pin(fut)) });
    if let Some(h) = host {
        with_world(|w| w.register_task(h, handle.abort_handle()));
    }
    handle
}

/// A future that runs (and is dropped) with its host current.
struct HostScoped<F: Future> {
    host: Option<HostId>,
    fut: Option<Pin<Box<F>>>,
}

impl<F: Future> Future for HostScoped<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let host = self.host;
        let fut = self.fut.as_mut().expect("polled after completion");
        let res = enter(host, || fut.as_mut().poll(cx));
        if res.is_ready() {
            let f = self.fut.take();
            enter(host, || drop(f));
        }
        res
    }
}

impl<F: Future> Drop for HostScoped<F> {
    fn drop(&mut self) {
        let f = self.fut.take();
        enter(self.host, || drop(f));
    }
}
