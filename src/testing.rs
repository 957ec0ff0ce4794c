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
    let mut world = sim::Sim::new(sim::SimConfig::new(7));
    let h = world.add_host(host);
    world.add_software(h, serve);
    let out: Rc<RefCell<Option<Vec<Response>>>> = Rc::new(RefCell::new(None));
    let requests = Rc::new(RefCell::new(Some(requests)));
    let client = world.add_host("client-1");
    {
        let (out, url) = (out.clone(), url.to_owned());
        world.add_software(client, move || {
            let (requests, out, url) = (requests.borrow_mut().take(), out.clone(), url.clone());
            async move {
                let Some(requests) = requests else { return };
                // Let the service bind its port first.
                tokio::time::sleep(Duration::from_millis(10)).await;
                let http = HttpClient::new();
                let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) };
                let mut answers = Vec::new();
                for req in requests {
                    answers.push(http.send(&url, req, t).await.expect("the service answers"));
                }
                *out.borrow_mut() = Some(answers);
            }
        });
    }
    let done = out.clone();
    world.run(async move {
        while done.borrow().is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    runtime::install_controls(&[]);
    let answers = out.borrow_mut().take().expect("the client finished");
    (answers, world.take_events())
}

/// The body of a response as text.
pub(crate) fn text(r: &Response) -> String {
    String::from_utf8_lossy(r.body()).into_owned()
}
