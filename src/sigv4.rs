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
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The headers to add to a request: `(name, value)`.
pub struct Signed {
    pub authorization: String,
    pub amz_date: String,
    pub security_token: String,
}

/// Signs a POST with a form body for `service` in `region` at `now`.
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
    let t = time::OffsetDateTime::from(now);
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let date = &amz_date[..8];
    let payload_hash = hex(&Sha256::digest(body));
    let canonical_headers =
        format!("content-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\nx-amz-security-token:{session_token}\n");
    let signed_headers = "content-type;host;x-amz-date;x-amz-security-token";
    let canonical_request = format!("POST\n{path}\n\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("AWS4{secret_access_key}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
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
}
