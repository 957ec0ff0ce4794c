//! AWS Signature Version 4, as an SDK signs a request with temporary credentials.
//!
//! Pods sign the calls they make with the credentials they got (STS `GetCallerIdentity`, S3 later), so
//! the services see real `Authorization`, `X-Amz-Date` and `X-Amz-Security-Token` headers and can find the
//! session by its access key id. The algorithm is the documented one (canonical request → string to sign
//! → HMAC-SHA256 key derivation over date, region, service, `aws4_request`).

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

/// Signing keys already derived, by (secret key, date, region, service). A key changes once a day per
/// credential, and the SDKs keep it rather than run the four derivation HMACs on every request; so do we.
/// Bounded (cleared when full); it holds secrets, so it is never printed.
type KeyCache = std::collections::BTreeMap<String, Vec<u8>>;
const KEY_CACHE_MAX: usize = 4096;

thread_local! {
    static SIGNING_KEYS: std::cell::RefCell<KeyCache> = const { std::cell::RefCell::new(KeyCache::new()) };
}

/// `kSigning` = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    // One allocation per lookup (this runs on every signed request); NUL cannot occur in any part.
    let key = format!("{secret_access_key}\0{date}\0{region}\0{service}");
    if let Some(k) = SIGNING_KEYS.with(|c| c.borrow().get(&key).cloned()) {
        return k;
    }
    let k_date = hmac(format!("AWS4{secret_access_key}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    SIGNING_KEYS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= KEY_CACHE_MAX {
            c.clear();
        }
        c.insert(key, k_signing.clone());
    });
    k_signing
}

/// The headers to add to a request: `(name, value)`.
pub struct Signed {
    pub authorization: String,
    pub amz_date: String,
    pub security_token: String,
}

/// Signs a POST of `body` (of `content_type`) to `path` for `service` in `region` at `now`: the
/// query-protocol and JSON services' case of [`sign_request`]. The session token is signed (and must be
/// sent as `x-amz-security-token`) only when there is one, as the SDKs do for long-term keys.
#[allow(clippy::too_many_arguments)]
pub fn sign_post(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
    region: &str,
    service: &str,
    host: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    now: SystemTime,
) -> Signed {
    let payload = payload_sha256_hex(body);
    let input = SignInput {
        method: "POST",
        host,
        canonical_uri: path,
        canonical_query: "",
        headers: &[("content-type", content_type)],
        payload_sha256_hex: &payload,
    };
    sign_request(access_key_id, secret_access_key, session_token, region, service, &input, now)
}

/// One request to sign with [`sign_request`]: any method, path, query and extra headers.
pub struct SignInput<'a> {
    /// `GET`, `PUT`, `POST`, …
    pub method: &'a str,
    /// The `Host` header's value.
    pub host: &'a str,
    /// The canonical URI: the path as it goes on the wire, already URI-encoded (S3 does not encode it a
    /// second time; the other services do, which callers of those services must do themselves).
    pub canonical_uri: &'a str,
    /// The canonical query string (names and values encoded, sorted by name); empty when there is none.
    pub canonical_query: &'a str,
    /// Headers to sign besides `host`, `x-amz-date` and `x-amz-security-token`: lower-case names, trimmed
    /// values (e.g. S3's `x-amz-content-sha256`). The caller sends them too.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the payload (S3 also sends it as `x-amz-content-sha256`).
    pub payload_sha256_hex: &'a str,
}

/// Hex SHA-256 of a payload, for [`SignInput::payload_sha256_hex`].
pub fn payload_sha256_hex(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// The `X-Amz-Date` value (`YYYYMMDD'T'HHMMSS'Z'`) for a time.
pub fn amz_date(now: SystemTime) -> String {
    let t = time::OffsetDateTime::from(now);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Signs any request for `service` in `region` at `now` (the general form of [`sign_post`]). An empty
/// `session_token` means long-term credentials: no `x-amz-security-token` is signed or returned.
pub fn sign_request(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
    region: &str,
    service: &str,
    input: &SignInput<'_>,
    now: SystemTime,
) -> Signed {
    let amz_date = amz_date(now);
    let date = &amz_date[..8];
    let mut headers: Vec<(String, String)> = vec![
        ("host".to_string(), input.host.trim().to_string()),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    if !session_token.is_empty() {
        headers.push(("x-amz-security-token".to_string(), session_token.to_string()));
    }
    headers.extend(input.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())));
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        input.method, input.canonical_uri, input.canonical_query, input.payload_sha256_hex
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let k_signing = signing_key(secret_access_key, date, region, service);
    let signature = hex(&hmac(&k_signing, string_to_sign.as_bytes()));
    Signed {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        ),
        amz_date,
        security_token: session_token.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_derivation_matches_the_documented_example() {
        // AWS docs, "Deriving the signing key": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20120215, us-east-1, iam → f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d
        let k_date = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k_region = hmac(&k_date, b"us-east-1");
        let k_service = hmac(&k_region, b"iam");
        let k_signing = hmac(&k_service, b"aws4_request");
        assert_eq!(hex(&k_signing), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn authorization_names_the_access_key_and_scope() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_799_971_200);
        let s = sign_post("ASIAEXAMPLE", "secret", "tok", "us-west-2", "sts", "sts.us-west-2.amazonaws.com", "/", "application/x-www-form-urlencoded", b"Action=GetCallerIdentity&Version=2011-06-15", now);
        assert!(s.authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20270115/us-west-2/sts/aws4_request, "));
        assert_eq!(s.amz_date, "20270115T000000Z");
    }

    #[test]
    fn general_signer_matches_the_s3_get_object_example() {
        // AWS S3 API reference, "Signature Calculations for the Authorization Header", Example: GET Object.
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        let empty = payload_sha256_hex(b"");
        let s = sign_request(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "",
            "us-east-1",
            "s3",
            &SignInput {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                canonical_uri: "/test.txt",
                canonical_query: "",
                headers: &[("range", "bytes=0-9"), ("x-amz-content-sha256", &empty)],
                payload_sha256_hex: &empty,
            },
            now,
        );
        assert_eq!(
            s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn general_signer_agrees_with_sign_post() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_799_971_200);
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        let ct = "application/x-www-form-urlencoded";
        let a = sign_post("ASIAEXAMPLE", "secret", "tok", "us-west-2", "sts", "sts.us-west-2.amazonaws.com", "/", ct, body, now);
        let hash = payload_sha256_hex(body);
        let b = sign_request(
            "ASIAEXAMPLE",
            "secret",
            "tok",
            "us-west-2",
            "sts",
            &SignInput {
                method: "POST",
                host: "sts.us-west-2.amazonaws.com",
                canonical_uri: "/",
                canonical_query: "",
                headers: &[("content-type", ct)],
                payload_sha256_hex: &hash,
            },
            now,
        );
        assert_eq!(a.authorization, b.authorization);
        assert_eq!(a.amz_date, b.amz_date);
    }
}
