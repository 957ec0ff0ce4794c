//! Request parsing and validation: JSON bodies and query strings to typed requests, or
//! `InvalidParameterException` with a message naming the parameter.
//!
//! Rules and their sources:
//! * required members per the model (`namespace`, `serviceAccount`, `roleArn` for Create);
//! * `tags`: at most 50, keys 1–128 and values at most 256 characters, no `aws:` prefix (model
//!   `TagMap` documentation). The model's `min: 1` on the map is not enforced: an empty map means no
//!   tags (a leniency);
//! * `roleArn` is an IAM role ARN in the cluster's account (PassRole, `agent.md` §4); `targetRoleArn`
//!   is an IAM role ARN in any account. Whether EKS also rejects a target role equal to the role is
//!   \[unk\]: it is accepted here;
//! * `policy` needs `disableSessionTags = true` (model documentation), must be a valid IAM policy
//!   document and at most `policy_chars_max` characters;
//! * namespace and service account must be valid Kubernetes names (a DNS-1123 label of at most 63
//!   characters, a DNS-1123 subdomain of at most 253): EKS's own check is \[unk\]; a name Kubernetes
//!   cannot have could never match a pod, so rejecting it is a modelling choice. They need not exist;
//! * an empty `targetRoleArn` or `policy` in an Update clears it (the ACK controller sends `""` to
//!   remove a target role, aws-controllers-k8s/eks-controller #164).
//!
//! Not modelled: EKS also checks that the role exists ("Role provided in the request does not exist",
//! terraform-provider-aws #34717) and that its trust policy is valid for Pod Identity ("Trust policy of
//! the role provided is invalid", terraform-provider-aws #41483); this actor has no view of IAM.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::config::EksApiConfig;
use super::model::{is_association_id, ASSOCIATION_ID_LEN};
use super::wire::{msg, EksError};
use crate::iam::PolicyDocument;

/// A parsed `CreatePodIdentityAssociation` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateRequest {
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    #[serde(skip)]
    pub client_request_token: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub disable_session_tags: bool,
    pub target_role_arn: Option<String>,
    pub policy: Option<String>,
}

/// A parsed `UpdatePodIdentityAssociation` body. For the optional strings, `Some("")` clears.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpdateRequest {
    pub role_arn: Option<String>,
    #[serde(skip)]
    pub client_request_token: Option<String>,
    pub disable_session_tags: Option<bool>,
    pub target_role_arn: Option<String>,
    pub policy: Option<String>,
}

/// A parsed `ListPodIdentityAssociations` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub namespace: Option<String>,
    pub service_account: Option<String>,
    pub max_results: usize,
    /// Creation sequence number to resume after (decoded `nextToken`).
    pub after_seq: Option<u64>,
}

fn object(body: &[u8]) -> Result<Map<String, Value>, EksError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(EksError::invalid_parameter("The request body must be a JSON object.")),
        Err(e) => Err(EksError::invalid_parameter(format!("The request body is not valid JSON: {e}."))),
    }
}

fn opt_string(m: &Map<String, Value>, field: &str) -> Result<Option<String>, EksError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EksError::invalid_parameter(msg::not_a(field, "string"))),
    }
}

fn req_string(m: &Map<String, Value>, field: &str) -> Result<String, EksError> {
    match opt_string(m, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(EksError::invalid_parameter(msg::required(field))),
    }
}

fn opt_bool(m: &Map<String, Value>, field: &str) -> Result<Option<bool>, EksError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(EksError::invalid_parameter(msg::not_a(field, "boolean"))),
    }
}

fn tags(m: &Map<String, Value>, max: usize) -> Result<BTreeMap<String, String>, EksError> {
    let obj = match m.get("tags") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(EksError::invalid_parameter(msg::not_a("tags", "map of strings"))),
    };
    if obj.len() > max {
        return Err(EksError::invalid_parameter(format!("The parameter tags must have at most {max} entries.")));
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let Value::String(v) = v else {
            return Err(EksError::invalid_parameter(msg::not_a("tags", "map of strings")));
        };
        let klen = k.chars().count();
        if klen == 0 || klen > 128 {
            return Err(EksError::invalid_parameter(format!("Tag key {k:?} must be 1-128 characters long.")));
        }
        if v.chars().count() > 256 {
            return Err(EksError::invalid_parameter(format!("The value of tag {k:?} must be at most 256 characters long.")));
        }
        if k.to_ascii_lowercase().starts_with("aws:") || v.to_ascii_lowercase().starts_with("aws:") {
            return Err(EksError::invalid_parameter(format!("Tag {k:?}: the aws: prefix is reserved for AWS use.")));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// Checks a DNS-1123 label (namespace) or subdomain (service account).
fn kubernetes_name(field: &str, value: &str, subdomain: bool) -> Result<(), EksError> {
    let max = if subdomain { 253 } else { 63 };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let ok = value.len() <= max && if subdomain { value.split('.').all(label_ok) } else { label_ok(value) };
    if ok {
        Ok(())
    } else {
        Err(EksError::invalid_parameter(format!(
            "The parameter {field} must be a valid Kubernetes name (lower-case letters, digits and '-'{}, at most {max} characters): {value:?}.",
            if subdomain { " in dot-separated labels" } else { "" }
        )))
    }
}

/// Checks an IAM role ARN; `account` restricts it to one account.
pub fn role_arn(field: &str, arn: &str, partition: &str, account: Option<&str>) -> Result<(), EksError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match parts[..] {
        ["arn", p, "iam", "", acct, resource] => {
            p == partition
                && acct.len() == 12
                && acct.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
        }
        _ => false,
    };
    if !ok {
        return Err(EksError::invalid_parameter(format!("The parameter {field} is not a valid IAM role ARN: {arn}.")));
    }
    if let Some(a) = account
        && parts[4] != a
    {
        return Err(EksError::invalid_parameter(format!(
            "The parameter {field} must be a role in the cluster's account {a}: {arn}."
        )));
    }
    Ok(())
}

/// Checks a `policy`: size, then syntax (with the IAM engine's parser).
pub fn policy(p: &str, chars_max: usize) -> Result<(), EksError> {
    if p.chars().count() > chars_max {
        return Err(EksError::invalid_parameter(format!("The parameter policy must be at most {chars_max} characters long.")));
    }
    PolicyDocument::parse(p)
        .map(|_| ())
        .map_err(|e| EksError::invalid_parameter(format!("The parameter policy is not a valid IAM policy document: {e}.")))
}

/// The rule that ties `policy` to `disableSessionTags`.
pub fn policy_needs_tags_disabled(policy: Option<&str>, disable_session_tags: bool) -> Result<(), EksError> {
    if policy.is_some() && !disable_session_tags {
        return Err(EksError::invalid_parameter("The parameter disableSessionTags must be true when a policy is specified."));
    }
    Ok(())
}

/// Parses and validates a Create body (everything but the cluster-dependent checks).
pub fn create(body: &[u8], cfg: &EksApiConfig) -> Result<CreateRequest, EksError> {
    let m = object(body)?;
    let namespace = req_string(&m, "namespace")?;
    let service_account = req_string(&m, "serviceAccount")?;
    let role = req_string(&m, "roleArn")?;
    let client_request_token = opt_string(&m, "clientRequestToken")?;
    let tags = tags(&m, cfg.tags_max)?;
    let disable_session_tags = opt_bool(&m, "disableSessionTags")?.unwrap_or(false);
    let target_role_arn = opt_string(&m, "targetRoleArn")?.filter(|s| !s.is_empty());
    let pol = opt_string(&m, "policy")?;
    kubernetes_name("namespace", &namespace, false)?;
    kubernetes_name("serviceAccount", &service_account, true)?;
    role_arn("roleArn", &role, &cfg.partition, Some(&cfg.account_id))?;
    if let Some(t) = &target_role_arn {
        role_arn("targetRoleArn", t, &cfg.partition, None)?;
    }
    if let Some(p) = &pol {
        policy(p, cfg.policy_chars_max)?;
    }
    policy_needs_tags_disabled(pol.as_deref(), disable_session_tags)?;
    Ok(CreateRequest {
        namespace,
        service_account,
        role_arn: role,
        client_request_token,
        tags,
        disable_session_tags,
        target_role_arn,
        policy: pol,
    })
}

/// Parses and validates an Update body. Whether the merged result is consistent (policy vs session
/// tags) is checked against the stored association, by the caller.
pub fn update(body: &[u8], cfg: &EksApiConfig) -> Result<UpdateRequest, EksError> {
    let m = object(body)?;
    let req = UpdateRequest {
        role_arn: opt_string(&m, "roleArn")?,
        client_request_token: opt_string(&m, "clientRequestToken")?,
        disable_session_tags: opt_bool(&m, "disableSessionTags")?,
        target_role_arn: opt_string(&m, "targetRoleArn")?,
        policy: opt_string(&m, "policy")?,
    };
    if req.role_arn.is_none() && req.disable_session_tags.is_none() && req.target_role_arn.is_none() && req.policy.is_none() {
        return Err(EksError::invalid_parameter(
            "An update must change at least one of roleArn, targetRoleArn, disableSessionTags or policy.",
        ));
    }
    if let Some(r) = &req.role_arn {
        role_arn("roleArn", r, &cfg.partition, Some(&cfg.account_id))?;
    }
    if let Some(t) = req.target_role_arn.as_deref().filter(|t| !t.is_empty()) {
        role_arn("targetRoleArn", t, &cfg.partition, None)?;
    }
    if let Some(p) = req.policy.as_deref().filter(|p| !p.is_empty()) {
        policy(p, cfg.policy_chars_max)?;
    }
    Ok(req)
}

/// Checks an association id from a path: its length first (the observed message), then its shape.
pub fn association_id(id: &str) -> Result<(), EksError> {
    if id.len() != ASSOCIATION_ID_LEN {
        return Err(EksError::invalid_parameter(msg::association_id_length()));
    }
    if !is_association_id(id) {
        return Err(EksError::not_found(msg::no_association(id)));
    }
    Ok(())
}

const NEXT_TOKEN_PREFIX: &str = "credsim-v1:";

/// The opaque `nextToken` resuming after creation sequence number `seq`.
pub fn next_token(seq: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{NEXT_TOKEN_PREFIX}{seq}"))
}

fn decode_next_token(t: &str) -> Option<u64> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix(NEXT_TOKEN_PREFIX)?.parse().ok()
}

/// Parses List's query string.
pub fn list_query(query: Option<&str>, cfg: &EksApiConfig) -> Result<ListQuery, EksError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| EksError::invalid_parameter("The query string is malformed."))?;
    let get = |k: &str| pairs.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let max_results = match get("maxResults") {
        None => cfg.list_max_results_default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=cfg.list_max_results_max).contains(&n) => n,
            _ => {
                return Err(EksError::invalid_parameter(format!(
                    "The parameter maxResults must be an integer between 1 and {}.",
                    cfg.list_max_results_max
                )));
            }
        },
    };
    let after_seq = match get("nextToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(decode_next_token(&t).ok_or_else(|| EksError::invalid_parameter("The parameter nextToken is invalid."))?),
    };
    Ok(ListQuery {
        namespace: get("namespace").filter(|s| !s.is_empty()),
        service_account: get("serviceAccount").filter(|s| !s.is_empty()),
        max_results,
        after_seq,
    })
}
