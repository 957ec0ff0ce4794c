//! Test-only helpers shared by the service actors' unit tests: a one-service world on the simulator.
//!
//! [`ask`] puts one service on its host, switches a [`ServiceFault`] on for that host through the
//! run controls (as the fault driver in `cluster` does), sends requests to it from a client host over
//! the simulated network, and gives back the answers and the trace. It is how each service's tests
//! show that an outage or a throttle yields that service's own error, and that a healthy service is
//! unchanged.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use crate::http::{HttpClient, Request, Response, Timeouts};
use crate::runtime::{self, ServiceFault};

/// Serves `serve` on `host` with `fault` on, sends `requests` to `url` one after the other from a
/// client host, and returns the answers (a transport failure panics: the service must answer) and the
/// trace.
pub(crate) fn ask<F, Fut>(host: &str, fault: ServiceFault, serve: F, url: &str, requests: Vec<Request>) -> (Vec<Response>, Vec<sim::Event>)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    runtime::install_controls(&[]);
    runtime::set_service_fault(host, fault);
    let url = url.to_owned();
    let out = run_script(host, serve, move || async move {
        let http = HttpClient::new();
        let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) };
        let mut answers = Vec::new();
        for req in requests {
            answers.push(http.send(&url, req, t).await.expect("the service answers"));
        }
        answers
    });
    runtime::install_controls(&[]);
    out
}

/// Serves `serve` on `host`, runs `script` on a client host (after 10 ms, so the service is
/// listening), and returns its result and the trace. Simulated time runs until the script ends.
pub(crate) fn run_script<F, Fut, S, SFut, T>(host: &str, serve: F, script: S) -> (T, Vec<sim::Event>)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
    S: FnOnce() -> SFut + 'static,
    SFut: Future<Output = T> + 'static,
    T: 'static,
{
    let mut world = sim::Sim::new(sim::SimConfig::new(7));
    let h = world.add_host(host);
    world.add_software(h, serve);
    let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let script = Rc::new(RefCell::new(Some(script)));
    let client = world.add_host("client-1");
    {
        let out = out.clone();
        world.add_software(client, move || {
            let (script, out) = (script.borrow_mut().take(), out.clone());
            async move {
                let Some(script) = script else { return };
                tokio::time::sleep(Duration::from_millis(10)).await;
                let v = script().await;
                *out.borrow_mut() = Some(v);
            }
        });
    }
    let done = out.clone();
    world.run(async move {
        while done.borrow().is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let v = out.borrow_mut().take().expect("the script finished");
    (v, world.take_events())
}

/// The body of a response as text.
pub(crate) fn text(r: &Response) -> String {
    String::from_utf8_lossy(r.body()).into_owned()
}
