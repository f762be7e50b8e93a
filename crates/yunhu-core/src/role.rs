//! Staff roles.

use serde::{Deserialize, Serialize};

/// What a staff member may do in the call center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes and places calls (座席).
    Agent,
    /// Leads a team and watches its agents (班组长).
    Monitor,
    /// Administers the tenant (管理员).
    Admin,
}

impl Role {
    /// The name stored in the database and used in provisioning files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Monitor => "monitor",
            Role::Admin => "admin",
        }
    }

    /// The title people read (座席, 班组长, 管理员), as the Chinese dialects spell roles.
    pub fn title(self) -> &'static str {
        match self {
            Role::Agent => "座席",
            Role::Monitor => "班组长",
            Role::Admin => "管理员",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "monitor" => Some(Role::Monitor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}
