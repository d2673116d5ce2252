//! Every route of keyward's HTTP API, in one place: its method and its path.

use reqwest::Method;

/// One route. Ids are path segments of their own, percent-encoded when the URL is built, so
/// an id can never change the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    CreateKey,
    ImportKeys,
    ListKeys,
    ShowKey(&'a str),
    UpdateKey(&'a str),
    RevokeKey(&'a str),
    RotateKey(&'a str),
    Verify,
    ReportLeaks,
    CreateRootKey,
    ListRootKeys,
    RevokeRootKey(&'a str),
    Audit,
    AuditExport,
    CheckChain,
    CheckChainAgainstAnchor,
    Anchor,
    ShowWorkspace,
    UpdateWorkspace,
    ShowPolicy,
    SetPolicy,
    Advice,
    DismissAdvice(&'a str, &'a str),
    Health,
    Ready,
}

impl<'a> Route<'a> {
    pub(crate) fn method(self) -> Method {
        match self {
            Self::ListKeys
            | Self::ShowKey(_)
            | Self::ListRootKeys
            | Self::Audit
            | Self::AuditExport
            | Self::CheckChain
            | Self::ShowWorkspace
            | Self::ShowPolicy
            | Self::Advice
            | Self::Health
            | Self::Ready => Method::GET,
            Self::CreateKey
            | Self::ImportKeys
            | Self::RevokeKey(_)
            | Self::RotateKey(_)
            | Self::Verify
            | Self::ReportLeaks
            | Self::CreateRootKey
            | Self::RevokeRootKey(_)
            | Self::CheckChainAgainstAnchor
            | Self::DismissAdvice(..)
            | Self::Anchor => Method::POST,
            Self::UpdateKey(_) | Self::UpdateWorkspace => Method::PATCH,
            Self::SetPolicy => Method::PUT,
        }
    }

    /// The path's segments, after the server's base URL.
    pub(crate) fn segments(self) -> Vec<&'a str> {
        match self {
            Self::CreateKey | Self::ListKeys => vec!["v1", "keys"],
            Self::ImportKeys => vec!["v1", "keys", "import"],
            Self::ShowKey(id) | Self::UpdateKey(id) => vec!["v1", "keys", id],
            Self::RevokeKey(id) => vec!["v1", "keys", id, "revoke"],
            Self::RotateKey(id) => vec!["v1", "keys", id, "rotate"],
            Self::Verify => vec!["v1", "verify"],
            Self::ReportLeaks => vec!["v1", "leaks"],
            Self::CreateRootKey | Self::ListRootKeys => vec!["v1", "root-keys"],
            Self::RevokeRootKey(id) => vec!["v1", "root-keys", id, "revoke"],
            Self::Audit => vec!["v1", "audit"],
            Self::AuditExport => vec!["v1", "audit", "export"],
            Self::CheckChain | Self::CheckChainAgainstAnchor => vec!["v1", "audit", "verify"],
            Self::Anchor => vec!["v1", "audit", "anchor"],
            Self::ShowWorkspace | Self::UpdateWorkspace => vec!["v1", "workspace"],
            Self::ShowPolicy | Self::SetPolicy => vec!["v1", "policy"],
            Self::Advice => vec!["v1", "advice"],
            Self::DismissAdvice(id, code) => vec!["v1", "keys", id, "advice", code, "dismiss"],
            Self::Health => vec!["healthz"],
            Self::Ready => vec!["readyz"],
        }
    }
}
