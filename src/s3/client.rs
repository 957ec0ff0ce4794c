//! The client side: what an SDK's S3 client sends for `GetObject` and `PutObject`, path-style, signed
//! with SigV4 (`crate::sigv4::sign_request`, service `s3`, with `x-amz-content-sha256`).

use bytes::Bytes;

use super::config::host;
use super::wire::{encode_key, parse_error, S3Error};
use crate::http::{HttpClient, Timeouts};
use crate::sdk::Credentials;
use crate::sigv4::{self, SignInput};

/// `GET /{bucket}/{key}`: the object's body.
pub async fn get_object(http: &HttpClient, c: &Credentials, region: &str, bucket: &str, key: &str) -> Result<Bytes, S3Error> {
    send(http, c, region, "GET", bucket, key, Bytes::new()).await
}

/// `PUT /{bucket}/{key}` with `body` (no tags: the new object has none).
pub async fn put_object(http: &HttpClient, c: &Credentials, region: &str, bucket: &str, key: &str, body: Bytes) -> Result<(), S3Error> {
    send(http, c, region, "PUT", bucket, key, body).await.map(|_| ())
}

/// The path-style URI of an object, encoded once (also SigV4's canonical URI for S3).
pub fn object_path(bucket: &str, key: &str) -> String {
    format!("/{}/{}", encode_key(bucket), encode_key(key))
}

async fn send(
    http: &HttpClient,
    c: &Credentials,
    region: &str,
    method: &str,
    bucket: &str,
    key: &str,
    body: Bytes,
) -> Result<Bytes, S3Error> {
    let host = host(region);
    let path = object_path(bucket, key);
    let payload = sigv4::payload_sha256_hex(&body);
    let signed = sigv4::sign_request(
        &c.access_key_id,
        &c.secret_access_key,
        &c.session_token,
        region,
        "s3",
        &SignInput {
            method,
            host: &host,
            canonical_uri: &path,
            canonical_query: "",
            headers: &[("x-amz-content-sha256", &payload)],
            payload_sha256_hex: &payload,
        },
        crate::runtime::now(),
    );
    let mut b = ::http::Request::builder()
        .method(method)
        .uri(path.as_str())
        .header("x-amz-content-sha256", &payload)
        .header("x-amz-date", &signed.amz_date)
        .header(::http::header::AUTHORIZATION, &signed.authorization);
    if !signed.security_token.is_empty() {
        b = b.header("x-amz-security-token", &signed.security_token);
    }
    let req = b.body(body).map_err(|e| S3Error::new("BuildRequest", 0, e.to_string()))?;
    let resp = http
        .send(&format!("https://{host}{path}"), req, Timeouts::default())
        .await
        .map_err(|e| S3Error::new(&e.code(), 0, e.to_string()))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(resp.into_body())
    } else {
        Err(parse_error(status, resp.body()))
    }
}
