//! What EKS Auth checks in a pod's projected service-account token, as pure functions.
//!
//! Facts (`agent.md` §5, `iam.md` §5 "EKS Auth" checklist): the token is a Kubernetes bound
//! service-account JWT, RS256 with a `kid`; `iss` is the cluster's OIDC issuer URL; `aud` contains
//! `pods.eks.amazonaws.com`; `sub` is `system:serviceaccount:<ns>:<sa>`; the private
//! `kubernetes.io` claim names the namespace, the service account and the pod (`name`, `uid`) it is
//! bound to. Expiry is `ExpiredTokenException`, anything else wrong with the token
//! `InvalidTokenException` (model error docs). The order of the checks and every message except
//! the expiry prefix (`agent.md` §1.5, boto/botocore#3117 \[obs\]) are \[unk\].
//!
//! The signature is verified by the caller between [`check_issuer`] and [`check_claims`] (it needs
//! the issuer's keys from the network).

use serde_json::{Map, Value};

use super::wire::{EksAuthError, ErrorCode};
use crate::jwt::{self, JwtHeader};

/// Who the token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodIdentity {
    pub namespace: String,
    pub service_account: String,
    pub pod_name: String,
    pub pod_uid: String,
}

fn invalid(message: impl Into<String>) -> EksAuthError {
    EksAuthError::new(ErrorCode::InvalidTokenException, message)
}

/// Decodes the JWT without trusting it.
pub fn decode(token: &str) -> Result<(JwtHeader, Map<String, Value>), EksAuthError> {
    jwt::decode_unverified(token).map_err(|_| invalid("The token is not a valid JSON Web Token."))
}

/// `iss` must be exactly the cluster's issuer URL.
pub fn check_issuer(payload: &Map<String, Value>, issuer: &str) -> Result<(), EksAuthError> {
    match payload.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == issuer => Ok(()),
        Some(_) => Err(invalid("The token issuer does not match the cluster's OIDC issuer.")),
        None => Err(invalid("The token has no issuer.")),
    }
}

/// The message of `ExpiredTokenException` (prefix \[obs\]; the number format \[unk\]).
pub fn expired_message(now_s: i64, exp_s: i64) -> String {
    format!(
        "The token included in the request is expired: current date/time {now_s} must be before the expiration date/time {exp_s}"
    )
}

/// The remaining checks on a token whose signature verified: audience, time (against EKS Auth's
/// clock, with `leeway_s`), subject and the pod binding.
pub fn check_claims(
    payload: &Map<String, Value>,
    audience: &str,
    now_s: i64,
    leeway_s: i64,
) -> Result<PodIdentity, EksAuthError> {
    let audiences: Vec<&str> = match payload.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&audience) {
        return Err(invalid(format!("The token audience does not contain {audience}.")));
    }
    let int = |name: &str| payload.get(name).and_then(Value::as_i64);
    let exp = int("exp").ok_or_else(|| invalid("The token has no integer exp claim."))?;
    if now_s >= exp.saturating_add(leeway_s) {
        return Err(EksAuthError::new(ErrorCode::ExpiredTokenException, expired_message(now_s, exp)));
    }
    if int("nbf").is_some_and(|nbf| nbf > now_s.saturating_add(leeway_s)) {
        return Err(invalid("The token is not valid yet."));
    }
    let sub = payload.get("sub").and_then(Value::as_str).unwrap_or_default();
    let (ns, sa) = sub
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty() && !sa.contains(':'))
        .ok_or_else(|| invalid("The token subject is not a Kubernetes service account."))?;
    let k8s = payload.get("kubernetes.io").and_then(Value::as_object);
    let text = |path: &[&str]| -> Option<&str> {
        let mut v = k8s?.get(path[0])?;
        for p in &path[1..] {
            v = v.get(p)?;
        }
        v.as_str()
    };
    if text(&["namespace"]).is_some_and(|n| n != ns) || text(&["serviceaccount", "name"]).is_some_and(|n| n != sa) {
        return Err(invalid("The token subject does not match its kubernetes.io claims."));
    }
    let (Some(pod_name), Some(pod_uid)) = (text(&["pod", "name"]), text(&["pod", "uid"])) else {
        return Err(invalid("The token is not bound to a pod."));
    };
    Ok(PodIdentity {
        namespace: ns.to_owned(),
        service_account: sa.to_owned(),
        pod_name: pod_name.to_owned(),
        pod_uid: pod_uid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({
            "aud": ["pods.eks.amazonaws.com"], "exp": 2000, "iat": 1000, "nbf": 1000,
            "iss": "https://oidc.eks.us-west-2.amazonaws.com/id/ABC",
            "kubernetes.io": {"namespace": "payments", "pod": {"name": "p-1", "uid": "u-1"},
                              "serviceaccount": {"name": "checkout", "uid": "s-1"}},
            "sub": "system:serviceaccount:payments:checkout"
        })
    }

    const AUD: &str = "pods.eks.amazonaws.com";

    #[test]
    fn good_token_names_the_pod() {
        let p = check_claims(&payload(good()), AUD, 1500, 0).unwrap();
        assert_eq!(
            p,
            PodIdentity { namespace: "payments".into(), service_account: "checkout".into(), pod_name: "p-1".into(), pod_uid: "u-1".into() }
        );
        assert!(check_issuer(&payload(good()), "https://oidc.eks.us-west-2.amazonaws.com/id/ABC").is_ok());
        assert_eq!(
            check_issuer(&payload(good()), "https://oidc.eks.us-west-2.amazonaws.com/id/OTHER").unwrap_err().code,
            ErrorCode::InvalidTokenException
        );
    }

    #[test]
    fn each_bad_claim_has_its_error() {
        let code = |v: Value, now: i64| check_claims(&payload(v), AUD, now, 0).unwrap_err().code;
        let mut v = good();
        v["aud"] = json!(["sts.amazonaws.com"]);
        assert_eq!(code(v, 1500), ErrorCode::InvalidTokenException);
        assert_eq!(code(good(), 2000), ErrorCode::ExpiredTokenException);
        assert_eq!(code(good(), 999), ErrorCode::InvalidTokenException);
        let mut v = good();
        v["sub"] = json!("system:node:x");
        assert_eq!(code(v, 1500), ErrorCode::InvalidTokenException);
        let mut v = good();
        v["kubernetes.io"]["namespace"] = json!("other");
        assert_eq!(code(v, 1500), ErrorCode::InvalidTokenException);
        let mut v = good();
        v["kubernetes.io"].as_object_mut().unwrap().remove("pod");
        assert_eq!(code(v, 1500), ErrorCode::InvalidTokenException);
        // A string aud is accepted, and leeway extends exp.
        let mut v = good();
        v["aud"] = json!(AUD);
        assert!(check_claims(&payload(v), AUD, 2005, 10).is_ok());
        assert!(expired_message(2000, 1999).starts_with("The token included in the request is expired: current date/time 2000"));
    }
}
