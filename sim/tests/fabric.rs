//! The fabric's promises: latency and FIFO, refused connections, partitions that hold packets,
//! crashes that close sockets, and determinism from the seed.

use std::time::Duration;

use sim::net::{TcpListener, TcpStream};
use sim::{control, fields, LatencyModel, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

fn echo_server(sim: &Sim, name: &str) {
    let h = sim.add_host(name);
    sim.add_software(h, || async {
        let l = TcpListener::bind("7").await.unwrap();
        loop {
            let (s, _) = l.accept().await.unwrap();
            sim::spawn(common::echo(s));
        }
    });
}

fn cfg(seed: u64) -> SimConfig {
    let mut c = SimConfig::new(seed);
    c.latency = LatencyModel::fixed_us(5_000);
    c
}

#[test]
fn round_trip_takes_two_latencies_plus_handshake() {
    let mut sim = Sim::new(cfg(1));
    echo_server(&sim, "server");
    let c = sim.add_host("client");
    let (tx, rx) = std::sync::mpsc::channel();
    sim.add_software(c, move || {
        let tx = tx.clone();
        async move {
            let t0 = tokio::time::Instant::now();
            let mut s = TcpStream::connect("server:7").await.unwrap();
            let t1 = tokio::time::Instant::now();
            s.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            let t2 = tokio::time::Instant::now();
            tx.send((t1 - t0, t2 - t1, buf)).unwrap();
        }
    });
    sim.run_for(Duration::from_secs(1));
    let (connect, rtt, buf) = rx.recv().unwrap();
    assert_eq!(&buf, b"hello");
    assert_eq!(connect, Duration::from_millis(10));
    assert_eq!(rtt, Duration::from_millis(10));
}

#[test]
fn connect_to_closed_port_is_refused_and_unknown_host_not_found() {
    let mut sim = Sim::new(cfg(1));
    let _s = sim.add_host("server");
    let c = sim.add_host("client");
    let (tx, rx) = std::sync::mpsc::channel();
    sim.add_software(c, move || {
        let tx = tx.clone();
        async move {
            let e1 = TcpStream::connect("server:7").await.unwrap_err().kind();
            let e2 = TcpStream::connect("nobody:7").await.unwrap_err().kind();
            tx.send((e1, e2)).unwrap();
        }
    });
    sim.run_for(Duration::from_secs(1));
    let (e1, e2) = rx.recv().unwrap();
    assert_eq!(e1, std::io::ErrorKind::ConnectionRefused);
    assert_eq!(e2, std::io::ErrorKind::NotFound);
}

#[test]
fn partition_holds_packets_until_heal() {
    let mut sim = Sim::new(cfg(1));
    echo_server(&sim, "server");
    let c = sim.add_host("client");
    let (tx, rx) = std::sync::mpsc::channel();
    sim.add_software(c, move || {
        let tx = tx.clone();
        async move {
            let mut s = TcpStream::connect("server:7").await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await; // partition starts at 0.5 s
            let t0 = tokio::time::Instant::now();
            s.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            tx.send(tokio::time::Instant::now() - t0).unwrap();
        }
    });
    sim.run(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (a, b) = (control::host("client").unwrap(), control::host("server").unwrap());
        control::partition(a, b);
        tokio::time::sleep(Duration::from_secs(10)).await; // heals at 10.5 s
        control::heal(a, b);
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    // Sent at ~1.01 s, held until 10.5 s, then 5 ms there and 5 ms back.
    let waited = rx.recv().unwrap();
    assert!(waited >= Duration::from_millis(9_490) && waited <= Duration::from_millis(9_510), "{waited:?}");
}

#[test]
fn crash_closes_connections_and_restart_serves_again() {
    let mut sim = Sim::new(cfg(1));
    echo_server(&sim, "server");
    let c = sim.add_host("client");
    let (tx, rx) = std::sync::mpsc::channel();
    sim.add_software(c, move || {
        let tx = tx.clone();
        async move {
            let mut s = TcpStream::connect("server:7").await.unwrap();
            let mut b = [0u8; 1];
            let n = s.read(&mut b).await.unwrap(); // server crashes at 1 s: FIN
            tx.send(format!("eof:{n}")).unwrap();
            let e = TcpStream::connect("server:7").await.unwrap_err().kind();
            tx.send(format!("{e:?}")).unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await; // restarted at 3 s
            let mut s = TcpStream::connect("server:7").await.unwrap();
            s.write_all(b"y").await.unwrap();
            s.read_exact(&mut b).await.unwrap();
            tx.send(String::from_utf8_lossy(&b).into_owned()).unwrap();
        }
    });
    sim.run(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = control::host("server").unwrap();
        control::crash(s);
        tokio::time::sleep(Duration::from_secs(2)).await;
        control::restart(s);
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let got: Vec<String> = rx.try_iter().collect();
    assert_eq!(got, vec!["eof:0", "ConnectionRefused", "y"]);
}

fn digest_of(seed: u64) -> String {
    let mut c = SimConfig::new(seed);
    c.latency = LatencyModel { min_us: 100, max_us: 20_000 };
    let mut sim = Sim::new(c);
    echo_server(&sim, "server");
    for i in 0..5 {
        let h = sim.add_host(&format!("client{i}"));
        sim.add_software(h, || async {
            let mut s = TcpStream::connect("server:7").await.unwrap();
            for _ in 0..20 {
                let t0 = tokio::time::Instant::now();
                s.write_all(b"ping").await.unwrap();
                let mut b = [0u8; 4];
                s.read_exact(&mut b).await.unwrap();
                sim::trace::record("rtt", fields!["us" => (tokio::time::Instant::now() - t0).as_micros() as u64]);
                let jitter = sim::with_rng(|r| rand::RngExt::random_range(r, 0..1000u64));
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
        });
    }
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.event_count(), 100);
    sim.digest()
}

#[test]
fn same_seed_same_digest_other_seed_other_digest() {
    assert_eq!(digest_of(7), digest_of(7));
    assert_ne!(digest_of(7), digest_of(8));
}

#[test]
fn idle_time_is_free() {
    // A simulated year with one timer a day costs (almost) nothing.
    let mut sim = Sim::new(cfg(1));
    let h = sim.add_host("idle");
    sim.add_software(h, || async {
        loop {
            tokio::time::sleep(Duration::from_secs(86_400)).await;
            sim::trace::record("tick", vec![]);
        }
    });
    sim.run_for(Duration::from_secs(365 * 86_400));
    assert_eq!(sim.event_count(), 364);
}

#[test]
fn listeners_on_one_port_are_told_apart_by_address() {
    // A node-local agent binds 169.254.170.23:80 and [fd00:ec2::23]:80 on the same host: both succeed,
    // each accepts only its own address, and nothing answers the host's other addresses on that port.
    let mut sim = Sim::new(cfg(1));
    let h = sim.add_host("node");
    let (tx, rx) = std::sync::mpsc::channel();
    sim.add_software(h, move || {
        let tx = tx.clone();
        async move {
            let v4 = TcpListener::bind("169.254.170.23:80").await.unwrap();
            let v6 = TcpListener::bind("[fd00:ec2::23]:80").await.unwrap();
            let again = TcpListener::bind("169.254.170.23:80").await.err().map(|e| e.kind());
            let wildcard = TcpListener::bind("80").await.err().map(|e| e.kind());
            let _c4 = TcpStream::connect("169.254.170.23:80").await.unwrap();
            let (s4, _) = v4.accept().await.unwrap();
            let _c6 = TcpStream::connect("[fd00:ec2::23]:80").await.unwrap();
            let (s6, _) = v6.accept().await.unwrap();
            let lo = TcpStream::connect("127.0.0.1:80").await.unwrap_err().kind();
            tx.send((again, wildcard, s4.local_addr().unwrap().to_string(), s6.local_addr().unwrap().to_string(), lo)).unwrap();
        }
    });
    sim.run_for(Duration::from_secs(1));
    let (again, wildcard, a4, a6, lo) = rx.recv().unwrap();
    assert_eq!(again, Some(std::io::ErrorKind::AddrInUse));
    assert_eq!(wildcard, Some(std::io::ErrorKind::AddrInUse));
    assert_eq!(a4, "169.254.170.23:80");
    assert_eq!(a6, "[fd00:ec2::23]:80");
    assert_eq!(lo, std::io::ErrorKind::ConnectionRefused);
}
