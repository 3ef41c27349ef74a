//! Who may do what in the console and the API: four roles, each allowed what the ones below
//! it are.

use serde::{Deserialize, Serialize};

/// A person's or a token's role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads incidents, alerts, evidence and the audit log.
    Viewer,
    /// Also records verdicts and comments, takes incidents on.
    Analyst,
    /// Also approves, rejects and modifies response actions.
    Responder,
    /// Also manages users, tokens, policies and rules.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Analyst, Role::Responder, Role::Admin];

    /// True when this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    pub fn code(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.code().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                format!("unknown role {text:?} (expected viewer, analyst, responder or admin)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_allows_what_the_ones_below_it_do() {
        assert!(Role::Admin.allows(Role::Responder));
        assert!(Role::Responder.allows(Role::Analyst));
        assert!(Role::Analyst.allows(Role::Analyst));
        assert!(!Role::Analyst.allows(Role::Responder));
        assert!(!Role::Viewer.allows(Role::Analyst));
        assert_eq!("Responder".parse::<Role>(), Ok(Role::Responder));
        assert!("root".parse::<Role>().unwrap_err().contains("unknown role"));
    }
}
