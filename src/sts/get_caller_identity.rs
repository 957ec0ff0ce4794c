//! `GetCallerIdentity`: who am I, for the holder of STS-issued temporary credentials.
//!
//! Wire (`sdk.md` §1.6, STS model): `Action=GetCallerIdentity&Version=2011-06-15`, SigV4-signed;
//! answer `GetCallerIdentityResult { Arn, UserId, Account }` where, for an assumed-role session,
//! `UserId = <role id>:<session>` and `Arn = arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
//!
//! Authentication is modelled up to the key lookup: the access key id is read from the
//! `Authorization` header's `Credential=<AKID>/<date>/<region>/sts/aws4_request` (or a presigned
//! `X-Amz-Credential`), the session token from `x-amz-security-token` (or `X-Amz-Security-Token`)
//! must match, and the credentials must not be expired. **The SigV4 signature is not verified yet.**
//! Errors and statuses come from the common-errors table: no credentials → `MissingAuthenticationToken`
//! (403); no `Credential=` → `IncompleteSignature` (400); unknown key or wrong session token →
//! `InvalidClientTokenId` (403); expired → `ExpiredToken` (403).

use bytes::Bytes;
use http::{Request, StatusCode};
use indexmap::IndexMap;

use super::wire::{StsError, esc, msg};
use super::{StsEnv, StsService, Trace};

pub(crate) fn handle(
    svc: &StsService,
    req: &Request<Bytes>,
    params: &IndexMap<String, String>,
    env: &dyn StsEnv,
    trace: &mut Trace,
) -> Result<String, StsError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let credential = match (header("authorization"), params.get("X-Amz-Credential")) {
        (Some(auth), _) => credential_from_authorization(auth).ok_or_else(|| {
            StsError::new(
                "IncompleteSignature",
                StatusCode::BAD_REQUEST,
                msg::INCOMPLETE_SIGNATURE,
            )
        })?,
        (None, Some(c)) => c.clone(),
        (None, None) => {
            return Err(StsError::new(
                "MissingAuthenticationToken",
                StatusCode::FORBIDDEN,
                msg::MISSING_AUTHENTICATION_TOKEN,
            ));
        }
    };
    let access_key_id = credential.split('/').next().unwrap_or_default().to_owned();
    trace.set("access_key_id", access_key_id.clone());
    let invalid = || {
        StsError::new(
            "InvalidClientTokenId",
            StatusCode::FORBIDDEN,
            msg::INVALID_CLIENT_TOKEN_ID,
        )
    };
    let session = svc.session(&access_key_id).ok_or_else(invalid)?;
    let presented_token =
        header("x-amz-security-token").or(params.get("X-Amz-Security-Token").map(String::as_str));
    if presented_token != Some(session.session_token.as_str()) {
        return Err(invalid());
    }
    trace.set("role_arn", session.role_arn.clone());
    trace.set("subject", session.subject.clone());
    if env.now() >= session.expiration {
        return Err(StsError::new(
            "ExpiredToken",
            StatusCode::FORBIDDEN,
            msg::EXPIRED_SECURITY_TOKEN,
        ));
    }
    Ok(format!(
        "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
        esc(&session.assumed_role_arn),
        esc(&session.assumed_role_id),
        esc(&svc.config.account_id),
    ))
}

/// The `Credential=` value of a SigV4 `Authorization` header.
pub(super) fn credential_from_authorization(auth: &str) -> Option<String> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    rest.split(',')
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix("Credential="))
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_parsing() {
        let h = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20270115/us-west-2/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(
            credential_from_authorization(h).unwrap(),
            "ASIAEXAMPLE/20270115/us-west-2/sts/aws4_request"
        );
        assert_eq!(credential_from_authorization("Bearer x"), None);
        assert_eq!(
            credential_from_authorization("AWS4-HMAC-SHA256 SignedHeaders=host"),
            None
        );
    }
}
