//! credsim: a deterministic simulation of how pods on Amazon EKS get AWS credentials.
//!
//! Every actor of the IRSA flow is a real HTTP/1.1 service on the simulated network of the `sim` engine,
//! reachable only through it. The major components are:
//!
//! * [`runtime`] — the transport seam: the only door from an actor to the world (clock, RNG, sockets,
//!   tasks, trace).
//! * [`http`] — hyper server loop and keep-alive client over that seam.
//! * Actors, one per module: [`oidc_issuer`] (the cluster's public OIDC issuer), [`api_server`]
//!   (kube-apiserver: Pods, ServiceAccounts, admission, `TokenRequest`), [`webhook`] (the Amazon EKS Pod
//!   Identity Webhook), [`kubelet`] (token mounts and refreshes), [`pod`] (a container's workload),
//!   [`sdk`] (the AWS SDK's credential chain, cache and retries, per SDK profile), [`sts`] (AWS STS).
//! * Domain libraries: [`jwt`] (RS256 keys, JWKS, token claims), [`iam`] (policy evaluation),
//!   [`sigv4`] (request signing).
//! * [`scenario`] (TOML scenario files), [`cluster`] (builds and runs a world from a scenario) and
//!   [`summary`] (metrics from the trace).
//!
//! `ARCHITECTURE.md` at the repository root is the map; each module's documentation says which real
//! component it stands for and where its facts come from.

pub mod api_server;
pub mod bench;
pub mod bugs;
pub mod chaos;
pub mod cluster;
pub mod eks_api;
pub mod eks_auth;
pub mod fault_driver;
pub mod faults;
pub mod http;
pub mod invariants;
pub mod iam;
pub mod jwt;
pub mod kubelet;
pub mod oidc_issuer;
pub mod pod;
pub mod pod_identity_agent;
pub mod report;
pub mod runtime;
pub mod s3;
pub mod scenario;
pub mod sdk;
pub mod sigv4;
pub mod sts;
pub mod summary;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(feature = "turmoil")]
pub mod turmoil_engine;
pub mod webhook;
