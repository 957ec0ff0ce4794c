//! credsim: a deterministic simulation of how pods on Amazon EKS get AWS credentials.
//!
//! (Crate map filled in as actors land; see ARCHITECTURE.md.)

pub mod api_server;
pub mod cluster;
pub mod http;
pub mod iam;
pub mod jwt;
pub mod kubelet;
pub mod oidc_issuer;
pub mod pod;
pub mod runtime;
pub mod scenario;
pub mod sdk;
pub mod sigv4;
pub mod sts;
pub mod summary;
pub mod webhook;
