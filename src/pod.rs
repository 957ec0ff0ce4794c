//! A container's workload: an application that uses the AWS SDK every so often.
//!
//! It stands for any real pod that calls AWS: on start and then every `use_interval` it asks its SDK for
//! credentials (exactly what every SDK call does first) and, if the scenario says so, calls STS
//! `GetCallerIdentity` signed with them, so a server checks that they are real and unexpired. It records
//! each new set of credentials it receives and every time it had none: the raw material for
//! "time to first credentials" and "pods without credentials".
//!
//! Trace: `pod.credentials` {pod, namespace, sdk, source, first, role_arn, access_key_id, expiration,
//! wait_ms} on each new set; `pod.no_credentials` {pod, sdk, code, message}; `pod.use` {pod, namespace,
//! access_key_id, expiration_s (the expiry the SDK believes)} each time a request is signed with
//! credentials, just before it is sent; `pod.api_call` and `pod.s3` with each request's outcome.
//!
//! Latencies (`ms`, `wait_ms`) are measured with `tokio::time::Instant`: the runtime is paused and only
//! the world advances it, so that is simulated time, never the OS clock (ARCHITECTURE.md, "Invariants").

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::http::Timeouts;
use crate::runtime::{self, fields};
use crate::scenario::{Action, SdkName};
use crate::sdk::{CredentialsProvider, PodFs, SdkProfile};

/// One container of a pod.
pub struct Container {
    pub pod: String,
    pub namespace: String,
    pub container: String,
    pub sdk: SdkName,
    pub action: Action,
    pub use_interval: Duration,
    pub env: BTreeMap<String, String>,
    pub fs: PodFs,
    /// The cluster the pod runs in.
    pub cluster: String,
    /// Objects read on every use (`action = "s3-get"`).
    pub s3_reads: Vec<S3Read>,
    /// Objects written on every use (`action = "s3-put"`; `owner` is empty).
    pub s3_writes: Vec<S3Read>,
}

/// An object a pod reads, and the cluster that owns it (its `eks-cluster-name` tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Read {
    pub bucket: String,
    pub key: String,
    pub owner: String,
}

impl S3Read {
    /// Parses `bucket/key=owner`.
    pub fn parse(s: &str) -> Option<S3Read> {
        let (object, owner) = s.split_once('=').unwrap_or((s, ""));
        let (bucket, key) = object.split_once('/')?;
        Some(S3Read { bucket: bucket.into(), key: key.into(), owner: owner.into() })
    }
}

/// One signed request a workload makes.
#[derive(Clone, Copy, Debug)]
enum Call<'a> {
    GetCallerIdentity,
    S3Get(&'a S3Read),
    S3Put(&'a S3Read),
}

impl Container {
    /// Runs the workload until the pod is stopped.
    pub async fn run(self) {
        let profile = SdkProfile::for_sdk(self.sdk);
        let mut provider = CredentialsProvider::new(profile.clone(), self.env.clone(), self.fs.clone(), self.pod.clone());
        let http = crate::http::HttpClient::new();
        let mut last_key = String::new();
        let mut first = true;
        loop {
            let t0 = tokio::time::Instant::now();
            match provider.credentials().await {
                Ok(c) => {
                    if c.access_key_id != last_key {
                        last_key = c.access_key_id.clone();
                        runtime::record(
                            "pod.credentials",
                            fields![
                                "pod" => &self.pod,
                                "namespace" => &self.namespace,
                                "sdk" => self.sdk.to_string(),
                                "source" => c.source,
                                "first" => first,
                                "role_arn" => &c.assumed_role_arn,
                                "access_key_id" => &c.access_key_id,
                                "expiration" => runtime::unix_s(c.expiration),
                                "wait_ms" => t0.elapsed().as_millis() as u64,
                            ],
                        );
                        first = false;
                    }
                    for call in self.calls() {
                        self.signed_call(&http, &c, call).await;
                    }
                }
                Err(e) => {
                    runtime::record(
                        "pod.no_credentials",
                        fields!["pod" => &self.pod, "sdk" => self.sdk.to_string(), "code" => &e.code, "message" => &e.message],
                    );
                }
            }
            tokio::time::sleep(self.use_interval).await;
        }
    }

    /// The signed requests of one use, in order (none for `action = "credentials"`).
    fn calls(&self) -> Vec<Call<'_>> {
        match self.action {
            Action::Credentials => Vec::new(),
            Action::GetCallerIdentity => vec![Call::GetCallerIdentity],
            Action::S3Get => self.s3_reads.iter().map(Call::S3Get).collect(),
            Action::S3Put => self.s3_writes.iter().map(Call::S3Put).collect(),
        }
    }

    /// Signs one request with `c` and sends it: the one place the workload uses credentials.
    async fn signed_call(&self, http: &crate::http::HttpClient, c: &crate::sdk::Credentials, call: Call<'_>) {
        runtime::record(
            "pod.use",
            fields![
                "pod" => &self.pod,
                "namespace" => &self.namespace,
                "access_key_id" => &c.access_key_id,
                "expiration_s" => runtime::unix_s(c.expiration),
            ],
        );
        let region = self.env.get("AWS_REGION").cloned().unwrap_or_else(|| "us-east-1".into());
        match call {
            Call::GetCallerIdentity => self.get_caller_identity(http, c).await,
            Call::S3Get(r) => {
                let t0 = tokio::time::Instant::now();
                let result = crate::s3::get_object(http, c, &region, &r.bucket, &r.key).await.map(|_| ());
                self.record_s3("GetObject", r, result, t0);
            }
            Call::S3Put(w) => {
                let t0 = tokio::time::Instant::now();
                let body = Bytes::from(self.pod.clone());
                let result = crate::s3::put_object(http, c, &region, &w.bucket, &w.key, body).await;
                self.record_s3("PutObject", w, result, t0);
            }
        }
    }

    /// One `pod.s3` event: `allowed`, `denied` (AccessDenied) or the error code.
    fn record_s3(&self, operation: &str, o: &S3Read, result: Result<(), crate::s3::S3Error>, t0: tokio::time::Instant) {
        let outcome = match result {
            Ok(()) => "allowed".to_string(),
            Err(e) if e.code == "AccessDenied" => "denied".to_string(),
            Err(e) => e.code,
        };
        runtime::record(
            "pod.s3",
            fields![
                "pod" => &self.pod,
                "cluster" => &self.cluster,
                "operation" => operation,
                "bucket" => &o.bucket,
                "key" => &o.key,
                "owner" => &o.owner,
                "outcome" => outcome,
                "ms" => t0.elapsed().as_millis() as u64,
            ],
        );
    }

    async fn get_caller_identity(&self, http: &crate::http::HttpClient, c: &crate::sdk::Credentials) {
        let region = self.env.get("AWS_REGION").cloned().unwrap_or_else(|| "us-east-1".into());
        let host = format!("sts.{region}.amazonaws.com");
        let body = Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-15");
        let ct = "application/x-www-form-urlencoded";
        let s = crate::sigv4::sign_post(
            &c.access_key_id,
            &c.secret_access_key,
            &c.session_token,
            &region,
            "sts",
            &host,
            "/",
            ct,
            &body,
            runtime::now(),
        );
        let req = http::Request::post("/")
            .header(::http::header::CONTENT_TYPE, ct)
            .header("x-amz-date", s.amz_date)
            .header("x-amz-security-token", s.security_token)
            .header(::http::header::AUTHORIZATION, s.authorization)
            .body(body);
        let Ok(req) = req else { return };
        let t0 = tokio::time::Instant::now();
        let outcome = match http.send(&format!("https://{host}/"), req, Timeouts::default()).await {
            Ok(r) if r.status() == 200 => "ok".to_string(),
            Ok(r) => {
                let xml = String::from_utf8_lossy(r.body()).into_owned();
                crate::sdk::error_code(&xml).unwrap_or_else(|| format!("http_{}", r.status().as_u16()))
            }
            Err(e) => e.code(),
        };
        runtime::record(
            "pod.api_call",
            fields!["pod" => &self.pod, "api" => "sts:GetCallerIdentity", "outcome" => outcome, "ms" => t0.elapsed().as_millis() as u64],
        );
    }
}
