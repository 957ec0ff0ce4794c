//! Planted bugs: realistic defects compiled into the actors, off unless a run names them.
//!
//! A chaos laboratory has to prove that its checkers can see the failures it claims to look for. Each
//! variant here is a defect that has happened in real credential code or is an easy mistake to make,
//! planted at the one place in one actor where it would live (search for `Bug::` to find them). A run
//! switches bugs on with `credsim chaos --bug NAME` / `credsim replay --bug NAME`; every other run has
//! none, and a bug that is off changes nothing, not even the trace.
//!
//! The set of bugs of the running simulation is read with [`crate::runtime::bug`].

use std::fmt;
use std::str::FromStr;

/// One planted defect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// The Pod Identity Agent keys its credential cache by service account only, so two pods of one
    /// service account on a node share credentials tagged with the first pod's name (a cross-pod leak).
    AgentCacheByServiceAccount,
    /// The agent serves cached credentials after they expired when it cannot refresh them.
    AgentServesExpired,
    /// STS does not check the token's `aud` against the OIDC provider's client ids.
    StsSkipsAud,
    /// EKS Auth keeps answering for an association after it was deleted.
    EksAuthIgnoresDeletion,
    /// The kubelet stops refreshing projected tokens of pods it re-adopts after a restart.
    KubeletStopsRefresh,
    /// The SDK never looks at the expiry of cached credentials once it has some.
    SdkIgnoresExpiry,
    /// The webhook leaves the token volume mount off every container when `skip-containers` is set.
    WebhookSkipDropsMount,
    /// The JWKS caches (STS, EKS Auth) never refetch when a token names an unknown `kid`.
    JwksNoRefetch,
}

impl Bug {
    /// Every planted bug, in the order `--list-bugs` prints them.
    pub const ALL: [Bug; 8] = [
        Bug::AgentCacheByServiceAccount,
        Bug::AgentServesExpired,
        Bug::StsSkipsAud,
        Bug::EksAuthIgnoresDeletion,
        Bug::KubeletStopsRefresh,
        Bug::SdkIgnoresExpiry,
        Bug::WebhookSkipDropsMount,
        Bug::JwksNoRefetch,
    ];

    /// The bug's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Bug::AgentCacheByServiceAccount => "agent-cache-by-service-account",
            Bug::AgentServesExpired => "agent-serves-expired",
            Bug::StsSkipsAud => "sts-skips-aud",
            Bug::EksAuthIgnoresDeletion => "eks-auth-ignores-deletion",
            Bug::KubeletStopsRefresh => "kubelet-stops-refresh",
            Bug::SdkIgnoresExpiry => "sdk-ignores-expiry",
            Bug::WebhookSkipDropsMount => "webhook-skip-drops-mount",
            Bug::JwksNoRefetch => "jwks-no-refetch",
        }
    }

    /// One line on what the bug does, for `--list-bugs`.
    pub fn description(self) -> &'static str {
        match self {
            Bug::AgentCacheByServiceAccount => "agent caches credentials per service account, not per pod: pods get each other's credentials",
            Bug::AgentServesExpired => "agent serves cached credentials past their expiry when EKS Auth cannot be reached",
            Bug::StsSkipsAud => "STS AssumeRoleWithWebIdentity does not check the token audience",
            Bug::EksAuthIgnoresDeletion => "EKS Auth keeps issuing for a deleted Pod Identity association",
            Bug::KubeletStopsRefresh => "kubelet stops refreshing projected tokens after it restarts",
            Bug::SdkIgnoresExpiry => "SDK keeps using cached credentials after they expire",
            Bug::WebhookSkipDropsMount => "webhook drops the token mount from every container when skip-containers is set",
            Bug::JwksNoRefetch => "STS and EKS Auth JWKS caches do not refetch on an unknown kid",
        }
    }

    /// The invariant this bug is expected to break (see `invariants`).
    pub fn expected_invariant(self) -> &'static str {
        match self {
            Bug::AgentCacheByServiceAccount => "credentials-match-pod",
            Bug::AgentServesExpired => "no-expired-credentials",
            Bug::StsSkipsAud => "issue-only-on-valid-token",
            Bug::EksAuthIgnoresDeletion => "credentials-match-pod",
            Bug::KubeletStopsRefresh => "credentials-after-heal",
            Bug::SdkIgnoresExpiry => "no-expired-credentials",
            Bug::WebhookSkipDropsMount => "webhook-mounts-token",
            Bug::JwksNoRefetch => "credentials-after-heal",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Bug, String> {
        Bug::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
            format!("unknown bug {s:?}; known bugs: {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_parses_back_from_its_name() {
        for b in Bug::ALL {
            assert_eq!(b.name().parse::<Bug>(), Ok(b));
        }
    }

    #[test]
    fn unknown_bug_names_the_known_ones() {
        let e = "agent-leak".parse::<Bug>().unwrap_err();
        assert!(e.contains("agent-cache-by-service-account") && e.contains("jwks-no-refetch"), "{e}");
    }
}
