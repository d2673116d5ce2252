//! What the header of every page shows: whose server this is (workspace, the prefix its keys
//! start with, the host the browser asked for) and who is signed in, plus the session's form
//! token that every form on the page carries.

use keyward_app::Principal;
use keyward_core::Workspace;

pub struct Layout {
    /// `None` before sign-in (the workspace is not known yet).
    pub workspace: Option<String>,
    pub prefix: Option<String>,
    pub host: String,
    /// The signed-in root key's name and id.
    pub who: Option<String>,
    pub csrf: String,
    /// The navigation entry of this page (`keys`, `audit`, `root-keys`).
    pub nav: &'static str,
}

impl Layout {
    pub fn signed_in(
        workspace: &Workspace,
        principal: &Principal,
        host: String,
        csrf: String,
    ) -> Self {
        Self {
            workspace: Some(workspace.name.clone()),
            prefix: Some(workspace.prefix.clone()),
            host,
            who: Some(format!("{} ({})", principal.name(), principal.id())),
            csrf,
            nav: "",
        }
    }

    pub fn signed_out(host: String) -> Self {
        Self {
            workspace: None,
            prefix: None,
            host,
            who: None,
            csrf: String::new(),
            nav: "",
        }
    }

    pub fn at(mut self, nav: &'static str) -> Self {
        self.nav = nav;
        self
    }
}
