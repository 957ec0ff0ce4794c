//! RS256 signing keys, JSON Web Key Sets and service-account JWTs.
//!
//! This module stands for the key material of a Kubernetes service-account issuer (the EKS control
//! plane's `--service-account-signing-key-file`) and for the verifying side that AWS STS runs
//! against the issuer's published JWKS. It is shared by three actors:
//!
//! * the API server signs projected service-account tokens with [`SigningKey::sign`];
//! * the OIDC issuer serves [`OidcDiscovery`] at `/.well-known/openid-configuration` and [`Jwks`]
//!   at `/keys`;
//! * STS verifies tokens with [`VerificationMemo::verify`] against a [`Jwk`] it fetched.
//!
//! Facts used (see `shared/reference/`):
//! * `sdk.md` §2: the seven discovery fields EKS serves, `jwks_uri = <issuer>/keys`, the JWK shape
//!   `{kty, kid, use, alg, n, e}`, and the Kubernetes `kid` convention: base64url (no padding) of
//!   SHA-256 over the PKIX (SubjectPublicKeyInfo) DER encoding of the public key.
//! * `sdk.md` §3.1: the claim layout of projected tokens ([`ServiceAccountTokenClaims`]).
//! * `crypto.md`: RSA-2048 keys from `rsa` 0.10 with `ChaCha8Rng::seed_from_u64` are deterministic
//!   (pin `Cargo.lock`); RS256 output is byte-for-byte deterministic; verification setup is
//!   `Validation::new(RS256)` with jsonwebtoken's own time checks off because the simulation checks
//!   time against its own clock; memoising successful verifications by token and key turns ~30 RSA
//!   verifications per pod-day into ~2.
//!
//! Nothing here reads a clock or an OS random source: keys come from a caller-supplied seed and
//! time checks are the caller's job.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use indexmap::IndexSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// RSA modulus size used by EKS and Kubernetes issuers (`crypto.md`, "Recommendation" 1).
pub const RSA_KEY_BITS: usize = 2048;

/// An RS256 signing key: the private half stays here, the public half is published as a [`Jwk`].
///
/// Generating one costs 10–300 ms (`crypto.md` row 4), so make one per issuer, never per pod.
pub struct SigningKey {
    /// Parsed once into aws-lc's native key (`crypto.md` row 1b: ~0.35 ms per RS256 signature, against
    /// ~2.1 ms for jsonwebtoken's rust_crypto `encode` and ~0.9 ms for its aws-lc `encode`, which both
    /// re-parse the private key on every call). Tokens are byte-identical either way (PKCS#1 v1.5 is
    /// deterministic; a test compares them with jsonwebtoken's).
    key_pair: aws_lc_rs::signature::RsaKeyPair,
    /// The public half in the JWKS shape, including [`SigningKey::kid`].
    jwk: Jwk,
    /// PKIX DER of the public key: the input of the `kid` hash, kept for the issuer's tooling.
    public_key_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private key material.
        f.debug_struct("SigningKey")
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates an RSA-2048 key from `seed`. The same seed gives the same key as long as `rsa`,
    /// `crypto-primes` and `rand_chacha` stay at the versions pinned in `Cargo.lock` (`crypto.md`,
    /// "Determinism").
    pub fn generate(seed: u64) -> SigningKey {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let private = rsa::PrivateKey::new(&mut rng, RSA_KEY_BITS)
            .expect("RSA-2048 key generation with an infallible RNG cannot fail");
        let public = private.to_public_key();
        let public_key_der = public
            .to_public_key_der()
            .expect("encoding a valid RSA public key as SPKI DER cannot fail")
            .as_bytes()
            .to_vec();
        let kid = kid_for_public_key_der(&public_key_der);
        let jwk = Jwk {
            kty: "RSA".to_owned(),
            kid,
            key_use: "sig".to_owned(),
            alg: "RS256".to_owned(),
            n: URL_SAFE_NO_PAD.encode(public.n_bytes()),
            e: URL_SAFE_NO_PAD.encode(public.e_bytes()),
        };
        let pkcs1 = private
            .to_pkcs1_der()
            .expect("encoding a two-prime RSA key as PKCS#1 DER cannot fail");
        let key_pair = aws_lc_rs::signature::RsaKeyPair::from_der(pkcs1.as_bytes())
            .expect("aws-lc accepts every two-prime RSA-2048 key the rsa crate generates (crypto.md)");
        SigningKey {
            key_pair,
            jwk,
            public_key_der,
        }
    }

    /// The key id: base64url (no padding) of SHA-256 of the PKIX DER public key (`sdk.md` §2).
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The public key as a JWK, ready to go into the issuer's [`Jwks`].
    pub fn jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// PKIX (SubjectPublicKeyInfo) DER encoding of the public key.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// Signs `claims` as an RS256 JWT whose header carries `alg`, `kid` and `typ: JWT`.
    ///
    /// # Panics
    /// If `claims` cannot be serialised as a JSON object (a programming error, e.g. a map with
    /// non-string keys).
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        // The JWS compact serialisation (RFC 7515 §7.1) with jsonwebtoken's header layout, so the bytes
        // equal `jsonwebtoken::encode`'s: base64url(header) "." base64url(claims) "." base64url(sig).
        #[derive(Serialize)]
        struct RsHeader<'a> {
            typ: &'static str,
            alg: &'static str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&RsHeader { typ: "JWT", alg: "RS256", kid: &self.jwk.kid })
            .expect("a header of three strings serialises");
        let claims = serde_json::to_vec(claims).expect("claims must serialise as a JSON object");
        let mut message = URL_SAFE_NO_PAD.encode(header);
        message.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut message);
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        // aws-lc blinds the RSA operation with its own OS randomness; PKCS#1 v1.5 signatures do not
        // depend on it, so the token bytes stay a pure function of the key and the claims.
        self.key_pair
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), message.as_bytes(), &mut signature)
            .expect("RS256 signing with a valid RSA-2048 key cannot fail");
        message.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut message);
        message
    }
}

/// `kid` for a public key given as PKIX DER (Kubernetes `keyIDFromPublicKey`, `sdk.md` §2).
pub fn kid_for_public_key_der(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// One JSON Web Key as EKS publishes it: `{"kty":"RSA","kid":…,"use":"sig","alg":"RS256","n":…,"e":"AQAB"}`.
///
/// Every field defaults to empty when parsing, so a JWKS from another IdP that carries EC keys or
/// omits `use`/`alg` still parses; [`VerificationMemo::verify`] then rejects keys it cannot use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    #[serde(default)]
    pub kty: String,
    #[serde(default)]
    pub kid: String,
    /// JSON name `use` (a Rust keyword).
    #[serde(rename = "use", default)]
    pub key_use: String,
    #[serde(default)]
    pub alg: String,
    /// Modulus, base64url without padding.
    #[serde(default)]
    pub n: String,
    /// Public exponent, base64url without padding (`AQAB` = 65537).
    #[serde(default)]
    pub e: String,
}

/// A JSON Web Key Set, the body of `GET <issuer>/keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The key with this `kid`, if published.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// The OIDC discovery document EKS serves at `<issuer>/.well-known/openid-configuration`
/// (`sdk.md` §2: exactly these seven fields, identical to upstream kube-apiserver's except for
/// `jwks_uri`). Fields other than `issuer` and `jwks_uri` default when parsing so that other IdPs'
/// documents parse too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcDiscovery {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: String,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    #[serde(default)]
    pub claims_supported: Vec<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl OidcDiscovery {
    /// The document EKS serves for `issuer_url` (e.g. `https://oidc.eks.<region>.amazonaws.com/id/<ID>`).
    pub fn for_issuer(issuer_url: &str) -> OidcDiscovery {
        OidcDiscovery {
            issuer: issuer_url.to_owned(),
            jwks_uri: format!("{}/keys", issuer_url.trim_end_matches('/')),
            // A URN, not a URL: strict OIDC libraries reject it (`sdk.md` §2).
            authorization_endpoint: "urn:kubernetes:programmatic_authorization".to_owned(),
            response_types_supported: vec!["id_token".to_owned()],
            subject_types_supported: vec!["public".to_owned()],
            claims_supported: vec!["sub".to_owned(), "iss".to_owned()],
            id_token_signing_alg_values_supported: vec!["RS256".to_owned()],
        }
    }

    /// Where the discovery document lives for `issuer_url`.
    pub fn url_for_issuer(issuer_url: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer_url.trim_end_matches('/')
        )
    }
}

/// Claims of a projected service-account token (`sdk.md` §3.1, `pkg/serviceaccount/claims.go`).
///
/// Fields are declared in alphabetical order because Kubernetes serialises the merged claim map
/// with sorted keys; serde keeps declaration order, so the JSON bytes match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountTokenClaims {
    /// Audiences, always an array in Kubernetes tokens (`sts.amazonaws.com` for IRSA,
    /// `pods.eks.amazonaws.com` for Pod Identity).
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued-at, seconds since the Unix epoch.
    pub iat: i64,
    /// The issuer URL (`--service-account-issuer`).
    pub iss: String,
    /// Token UUID; present when the ServiceAccountTokenJTI feature is on (GA in 1.32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    /// Not-before, equal to `iat` in Kubernetes tokens.
    pub nbf: i64,
    /// `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
}

impl ServiceAccountTokenClaims {
    /// The `sub` Kubernetes puts in a service-account token.
    pub fn subject_for(namespace: &str, service_account: &str) -> String {
        format!("system:serviceaccount:{namespace}:{service_account}")
    }
}

/// The private `kubernetes.io` claim object (alphabetical field order, as Kubernetes emits it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    /// Present for pod-bound tokens when ServiceAccountTokenPodNodeInfo is on (GA in 1.32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    /// Present for pod-bound tokens (projected volumes are always pod-bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    pub serviceaccount: ObjectRef,
    /// NumericDate; only when the API server extended the token's expiry (`sdk.md` §3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// `{name, uid}` reference to a bound object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// Why a token could not be decoded or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url segments with a JSON header and a JSON object payload.
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not one this verifier accepts (RS256 only).
    #[error("unsupported JWT algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The JWK is not an RSA signing key usable for RS256.
    #[error("unusable JWK: {0}")]
    UnusableKey(&'static str),
    /// The signature does not verify under the given key.
    #[error("invalid JWT signature")]
    BadSignature,
}

/// The parts of a JWT header STS needs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct JwtHeader {
    #[serde(default)]
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
}

/// Decodes a JWT without verifying it: the header and the payload as a JSON object.
///
/// Never panics on any input; the caller decides what to trust.
pub fn decode_unverified(
    token: &str,
) -> Result<(JwtHeader, serde_json::Map<String, serde_json::Value>), JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated segments"));
    };
    if signature_b64.is_empty() {
        return Err(JwtError::Malformed("empty signature segment"));
    }
    let header_json = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let header: JwtHeader = serde_json::from_slice(&header_json)
        .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
    let payload_json = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| JwtError::Malformed("payload is not base64url"))?;
    let payload: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&payload_json)
        .map_err(|_| JwtError::Malformed("payload is not a JSON object"))?;
    Ok((header, payload))
}

/// Verifies the RS256 signature of `token` under `jwk`. No claim is checked: exp/nbf/aud/iss are
/// the caller's business (STS checks time against its simulated clock).
pub fn verify_rs256(token: &str, jwk: &Jwk) -> Result<(), JwtError> {
    if jwk.kty != "RSA" {
        return Err(JwtError::UnusableKey("kty is not RSA"));
    }
    if !jwk.alg.is_empty() && jwk.alg != "RS256" {
        return Err(JwtError::UnusableKey("alg is not RS256"));
    }
    if !jwk.key_use.is_empty() && jwk.key_use != "sig" {
        return Err(JwtError::UnusableKey("use is not sig"));
    }
    let (header, _) = decode_unverified(token)?;
    if header.alg != "RS256" {
        return Err(JwtError::UnsupportedAlgorithm(header.alg));
    }
    let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
        .map_err(|_| JwtError::UnusableKey("n or e is not base64url"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => {
                JwtError::UnusableKey("RSA public key rejected")
            }
            _ => JwtError::Malformed("jsonwebtoken rejected the token"),
        })
}

/// A bounded memo of successful RS256 verifications (`crypto.md`, "Recommendation" 2).
///
/// Keyed on SHA-256 over the exact token and the key (`kid`, `n`, `e`), so a rotated key that
/// reuses a `kid` can never be satisfied by an old entry. Tokens are immutable and the caller
/// applies `exp` itself, so a hit is as good as a fresh verification. Failures are not memoised.
/// When full, the oldest entry is evicted (FIFO), which keeps behaviour independent of hashing.
#[derive(Debug)]
pub struct VerificationMemo {
    entries: IndexSet<[u8; 32]>,
    /// Upper bound on remembered verifications; 0 disables the memo.
    entries_max: usize,
    /// Verifications answered from the memo.
    pub hits: u64,
    /// Verifications that ran RSA.
    pub misses: u64,
}

impl VerificationMemo {
    pub fn new(entries_max: usize) -> VerificationMemo {
        VerificationMemo {
            entries: IndexSet::new(),
            entries_max,
            hits: 0,
            misses: 0,
        }
    }

    /// Number of remembered verifications.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// [`verify_rs256`], answered from the memo when this token was already verified with this key.
    pub fn verify(&mut self, token: &str, jwk: &Jwk) -> Result<(), JwtError> {
        let key = memo_key(token, jwk);
        if self.entries.contains(&key) {
            self.hits += 1;
            return Ok(());
        }
        self.misses += 1;
        verify_rs256(token, jwk)?;
        if self.entries_max > 0 {
            while self.entries.len() >= self.entries_max {
                self.entries.shift_remove_index(0);
            }
            self.entries.insert(key);
        }
        debug_assert!(self.entries.len() <= self.entries_max);
        Ok(())
    }
}

fn memo_key(token: &str, jwk: &Jwk) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [token, &jwk.kid, &jwk.n, &jwk.e] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate(7))
    }

    #[test]
    fn native_signing_gives_jsonwebtokens_bytes() {
        // The same key as `key()`, regenerated from the seed, handed to jsonwebtoken's own encoder.
        let private = rsa::PrivateKey::new(&mut ChaCha8Rng::seed_from_u64(7), RSA_KEY_BITS).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some(key().kid().to_string());
        let theirs = jsonwebtoken::encode(&header, &claims(), &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes())).unwrap();
        assert_eq!(key().sign(&claims()), theirs);
    }

    fn claims() -> ServiceAccountTokenClaims {
        ServiceAccountTokenClaims {
            aud: vec!["sts.amazonaws.com".into()],
            exp: 1_800_086_400,
            iat: 1_800_000_000,
            iss: "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E"
                .into(),
            jti: Some("00000000-0000-4000-8000-000000000000".into()),
            kubernetes: KubernetesClaims {
                namespace: "payments".into(),
                node: Some(ObjectRef {
                    name: "node-1".into(),
                    uid: "u-node".into(),
                }),
                pod: Some(ObjectRef {
                    name: "checkout-0".into(),
                    uid: "u-pod".into(),
                }),
                serviceaccount: ObjectRef {
                    name: "checkout-api".into(),
                    uid: "u-sa".into(),
                },
                warnafter: None,
            },
            nbf: 1_800_000_000,
            sub: ServiceAccountTokenClaims::subject_for("payments", "checkout-api"),
        }
    }

    #[test]
    fn kid_is_sha256_of_spki_der_base64url() {
        let k = key();
        assert_eq!(
            k.kid(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(k.public_key_der()))
        );
        assert_eq!(k.kid().len(), 43);
        assert_eq!(k.jwk().e, "AQAB");
        assert_eq!(k.jwk().kty, "RSA");
    }

    #[test]
    fn signing_is_deterministic_and_verifies() {
        let k = key();
        let t1 = k.sign(&claims());
        let t2 = k.sign(&claims());
        assert_eq!(t1, t2, "RS256 (PKCS#1 v1.5) output is deterministic");
        let (header, payload) = decode_unverified(&t1).unwrap();
        assert_eq!(header.alg, "RS256");
        assert_eq!(header.kid.as_deref(), Some(k.kid()));
        assert_eq!(
            payload["sub"],
            "system:serviceaccount:payments:checkout-api"
        );
        verify_rs256(&t1, &k.jwk()).unwrap();
    }

    #[test]
    fn claims_serialise_in_kubernetes_key_order() {
        let json = serde_json::to_string(&claims()).unwrap();
        let keys: Vec<&str> = [
            "\"aud\"",
            "\"exp\"",
            "\"iat\"",
            "\"iss\"",
            "\"jti\"",
            "\"kubernetes.io\"",
            "\"nbf\"",
            "\"sub\"",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        let round: ServiceAccountTokenClaims = serde_json::from_str(&json).unwrap();
        assert_eq!(round, claims());
    }

    #[test]
    fn tampered_token_is_rejected() {
        let k = key();
        let token = k.sign(&claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["sub"] = "system:serviceaccount:kube-system:admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
        let forged = parts.join(".");
        assert_eq!(verify_rs256(&forged, &k.jwk()), Err(JwtError::BadSignature));
    }

    #[test]
    fn memo_hits_only_for_same_token_and_key_and_is_bounded() {
        let k = key();
        let mut memo = VerificationMemo::new(2);
        let t = k.sign(&claims());
        memo.verify(&t, &k.jwk()).unwrap();
        memo.verify(&t, &k.jwk()).unwrap();
        assert_eq!((memo.hits, memo.misses), (1, 1));
        let mut other = k.jwk();
        other.kid = "other".into();
        memo.verify(&t, &other).unwrap(); // same key material, different kid: new entry
        let mut c = claims();
        c.exp += 1;
        memo.verify(&k.sign(&c), &k.jwk()).unwrap();
        assert_eq!(memo.len(), 2);
        assert_eq!(memo.misses, 3);
    }

    #[test]
    fn garbage_never_panics() {
        let k = key();
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "eyJhbGciOiJub25lIn0.e30.",
            "eyJhbGciOiJub25lIn0.e30.x",
            "%%%.%%%.%%%",
        ] {
            assert!(
                decode_unverified(t).is_err() || verify_rs256(t, &k.jwk()).is_err(),
                "{t}"
            );
        }
        let mut bad = k.jwk();
        bad.n = "!!!".into();
        assert!(verify_rs256(&k.sign(&claims()), &bad).is_err());
    }

    #[test]
    fn discovery_matches_eks_shape() {
        let d = OidcDiscovery::for_issuer("https://oidc.eks.us-west-2.amazonaws.com/id/ABC");
        assert_eq!(
            d.jwks_uri,
            "https://oidc.eks.us-west-2.amazonaws.com/id/ABC/keys"
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 7);
    }
}
