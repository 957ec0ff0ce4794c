//! Named processes: one process of a host crashes and restarts on its own, the others keep serving, and
//! a host crash still takes them all down.

use std::sync::mpsc;
use std::time::Duration;

use sim::net::{TcpListener, TcpStream};
use sim::{control, fields, LatencyModel, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

/// An echo server on `addr` that, on each connection, first writes its own process name.
async fn named_echo(addr: &'static str) {
    let l = TcpListener::bind(addr).await.unwrap();
    loop {
        let (mut s, _) = l.accept().await.unwrap();
        // Connection handlers are spawned: they must belong to the same process.
        sim::spawn(async move {
            let me = sim::current_process_name().unwrap_or_default();
            if s.write_all(me.as_bytes()).await.is_err() {
                return;
            }
            common::echo(s).await;
        });
    }
}

/// A host "node" with two processes: "alpha" on port 1 and "beta" on the node-local address
/// 169.254.170.23:80. `clients` connects to both every second and records what it sees.
fn world(seed: u64) -> Sim {
    let mut c = SimConfig::new(seed);
    c.latency = LatencyModel::fixed_us(5_000);
    let sim = Sim::new(c);
    let node = sim.add_host("node");
    sim.add_process(node, "alpha", || named_echo("1"));
    sim.add_process(node, "beta", || named_echo("169.254.170.23:80"));
    sim
}

/// Connects to `addr` and reads the greeting (the server's process name) or the error kind.
async fn probe(addr: &str) -> String {
    match TcpStream::connect(addr).await {
        Err(e) => format!("{:?}", e.kind()),
        Ok(mut s) => {
            // The greeting is one write, so one chunk: a single read gets all of it.
            let mut b = [0u8; 16];
            match s.read(&mut b).await {
                Ok(n) => String::from_utf8_lossy(&b[..n]).into_owned(),
                Err(e) => format!("{:?}", e.kind()),
            }
        }
    }
}

#[test]
fn crashing_one_process_leaves_the_other_serving_and_restart_brings_it_back() {
    let mut sim = world(1);
    let node = sim.host_id("node").unwrap();
    let (tx, rx) = mpsc::channel();
    // The client runs on the node itself (how a pod reaches a node-local agent), in a third process.
    sim.add_process(node, "client", move || {
        let tx = tx.clone();
        async move {
            for _ in 0..4 {
                let a = probe("127.0.0.1:1").await;
                let b = probe("169.254.170.23:80").await;
                tx.send((a, b)).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    sim.run(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(control::crash_process(node, "beta"));
        assert!(!control::is_process_running(node, "beta"));
        assert!(control::is_process_running(node, "alpha"));
        assert!(control::is_running(node));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(control::restart_process(node, "beta"));
        assert!(control::is_process_running(node, "beta"));
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let got: Vec<(String, String)> = rx.try_iter().collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        got,
        // Probes at 0, 1, 2 and 3 s (node-local, no latency); beta is down from 1.5 s to 2.5 s.
        vec![s("alpha", "beta"), s("alpha", "beta"), s("alpha", "ConnectionRefused"), s("alpha", "beta")]
    );
}

#[test]
fn a_crashed_process_closes_its_connections_and_the_other_keeps_its_own() {
    let mut sim = world(1);
    let c = sim.add_host("client");
    let (tx, rx) = mpsc::channel();
    sim.add_software(c, move || {
        let tx = tx.clone();
        async move {
            let mut a = TcpStream::connect("node:1").await.unwrap();
            let mut greeting = [0u8; 5];
            a.read_exact(&mut greeting).await.unwrap(); // "alpha"
            // beta binds only the node-local address; reach it from the node's own client below.
            tokio::time::sleep(Duration::from_secs(2)).await; // alpha crashes at 1 s
            let mut b = [0u8; 1];
            let n = a.read(&mut b).await.unwrap_or(0);
            tx.send(format!("alpha-conn-eof:{n}")).unwrap();
        }
    });
    let node = sim.host_id("node").unwrap();
    let (tx2, rx2) = mpsc::channel();
    sim.add_process(node, "client", move || {
        let tx2 = tx2.clone();
        async move {
            let mut s = TcpStream::connect("169.254.170.23:80").await.unwrap();
            let mut g = [0u8; 4];
            s.read_exact(&mut g).await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await; // alpha crashes at 1 s; beta keeps this one
            s.write_all(b"z").await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            tx2.send(String::from_utf8_lossy(&b).into_owned()).unwrap();
        }
    });
    sim.run(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        control::crash_process(node, "alpha");
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec!["alpha-conn-eof:0"]);
    assert_eq!(rx2.try_iter().collect::<Vec<_>>(), vec!["z"]);
}

#[test]
fn host_crash_stops_every_process_and_host_restart_starts_them_all() {
    let mut sim = world(1);
    let c = sim.add_host("client");
    let node = sim.host_id("node").unwrap();
    let (tx, rx) = mpsc::channel();
    sim.add_software(c, move || {
        let tx = tx.clone();
        async move {
            for _ in 0..3 {
                tx.send(probe("node:1").await).unwrap();
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });
    sim.run(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        control::crash_process(node, "beta"); // already down when the host goes
        control::crash(node);
        assert!(!control::is_process_running(node, "alpha"));
        // A process cannot come back on a crashed host.
        assert!(control::restart_process(node, "beta"));
        assert!(!control::is_process_running(node, "beta"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        control::restart(node);
        assert!(control::is_process_running(node, "alpha"));
        assert!(control::is_process_running(node, "beta"));
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec!["alpha", "ConnectionRefused", "alpha"]);
}

#[test]
fn unknown_process_names_are_reported_not_fatal() {
    let mut sim = world(1);
    let node = sim.host_id("node").unwrap();
    sim.run(async move {
        assert_eq!(control::process_names(node), vec!["alpha", "beta"]);
        assert!(!control::crash_process(node, "gamma"));
        assert!(!control::restart_process(node, "gamma"));
        assert!(!control::is_process_running(node, "gamma"));
    });
}

#[test]
fn add_software_runs_in_the_main_process() {
    let mut sim = Sim::new(SimConfig::new(1));
    let h = sim.add_host("h");
    let (tx, rx) = mpsc::channel();
    sim.add_software(h, move || {
        let tx = tx.clone();
        async move {
            let inner = sim::spawn(async { sim::current_process_name() }).await.unwrap();
            tx.send((sim::current_process_name(), inner)).unwrap();
        }
    });
    sim.run(async move {
        tokio::task::yield_now().await;
        assert_eq!(control::process_names(h), vec![sim::MAIN_PROCESS]);
        assert_eq!(sim::current_process_name(), None);
    });
    let main = Some(sim::MAIN_PROCESS.to_string());
    assert_eq!(rx.recv().unwrap(), (main.clone(), main));
}

fn digest_with_process_crash(seed: u64) -> (String, u64) {
    let mut c = SimConfig::new(seed);
    c.latency = LatencyModel { min_us: 100, max_us: 20_000 };
    let mut sim = Sim::new(c);
    let node = sim.add_host("node");
    sim.add_process(node, "alpha", || named_echo("1"));
    sim.add_process(node, "beta", || named_echo("2"));
    for i in 0..3 {
        let h = sim.add_host(&format!("client{i}"));
        sim.add_software(h, move || async move {
            for _ in 0..20 {
                let port = if sim::with_rng(|r| rand::RngExt::random_bool(r, 0.5)) { 1 } else { 2 };
                let t0 = tokio::time::Instant::now();
                let seen = probe(&format!("node:{port}")).await;
                sim::trace::record("probe", fields!["port" => port as u64, "seen" => seen, "us" => (tokio::time::Instant::now() - t0).as_micros() as u64]);
                let jitter = sim::with_rng(|r| rand::RngExt::random_range(r, 0..1000u64));
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
        });
    }
    sim.run(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        control::crash_process(node, "beta");
        tokio::time::sleep(Duration::from_secs(3)).await;
        control::restart_process(node, "beta");
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    (sim.digest(), sim.event_count())
}

#[test]
fn process_crashes_replay_from_the_seed() {
    let (d7, n7) = digest_with_process_crash(7);
    assert_eq!(n7, 60);
    assert_eq!((d7.clone(), n7), digest_with_process_crash(7));
    assert_ne!(d7, digest_with_process_crash(8).0);
}

#[test]
fn work_handed_to_another_process_outlives_the_process_that_started_it() {
    let mut sim = Sim::new(SimConfig::new(1));
    let h = sim.add_host("h");
    let (tx, rx) = mpsc::channel();
    sim.add_process(h, "supervisor", move || {
        let tx = tx.clone();
        async move {
            let tx2 = tx.clone();
            sim::spawn_in_process("children", async move {
                for i in 0..3u64 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    tx2.send(format!("{}:{i}", sim::current_process_name().unwrap_or_default())).unwrap();
                }
            });
            std::future::pending::<()>().await;
        }
    });
    sim.run(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(control::process_names(h), vec!["supervisor", "children"]);
        control::crash_process(h, "supervisor");
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec!["children:0", "children:1", "children:2"]);
}
