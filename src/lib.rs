//! credsim: a deterministic simulation of how pods on Amazon EKS get AWS credentials.
//!
//! (Crate map filled in as actors land; see ARCHITECTURE.md.)

pub mod iam;
pub mod jwt;
pub mod sts;
