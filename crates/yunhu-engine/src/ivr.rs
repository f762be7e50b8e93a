//! IVR menus as data: a tree of nodes, each playing a prompt, maybe collecting keys (with a
//! timeout and retries), and branching on them to another node, a queue, an extension, a voice
//! message or the end of the call. A tenant declares menus in provisioning or the admin API; the
//! inbound flow ([`crate::inbound`]) walks them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a caller goes next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Action {
    /// Another node of the same menu.
    Node(String),
    /// An inbound queue (a skill group's code).
    Queue(String),
    /// An extension, rung directly.
    Extension(String),
    /// Another menu of the tenant (an after-hours route's target, a menu's sub-menu).
    Menu(String),
    /// A voice message, recorded after the tenant's prompt.
    Voicemail,
    /// The end of the call.
    Hangup,
}

impl TryFrom<String> for Action {
    type Error = String;

    /// `node:<name>`, `queue:<code>`, `extension:<number>`, `ivr:<menu>`, `voicemail`, `hangup`.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let (kind, arg) = s.split_once(':').unwrap_or((s.as_str(), ""));
        let arg = arg.trim();
        let named = |f: fn(String) -> Action| {
            if arg.is_empty() { Err(format!("`{s}` names nothing after `{kind}:`")) } else { Ok(f(arg.to_string())) }
        };
        match kind.trim() {
            "node" => named(Action::Node),
            "queue" => named(Action::Queue),
            "extension" => named(Action::Extension),
            "ivr" => named(Action::Menu),
            "voicemail" if arg.is_empty() => Ok(Action::Voicemail),
            "hangup" if arg.is_empty() => Ok(Action::Hangup),
            _ => Err(format!(
                "`{s}` is not a destination: use node:<name>, queue:<code>, extension:<number>, ivr:<menu>, \
                 voicemail or hangup"
            )),
        }
    }
}

impl From<Action> for String {
    fn from(a: Action) -> String {
        match a {
            Action::Node(n) => format!("node:{n}"),
            Action::Queue(q) => format!("queue:{q}"),
            Action::Extension(e) => format!("extension:{e}"),
            Action::Menu(m) => format!("ivr:{m}"),
            Action::Voicemail => "voicemail".into(),
            Action::Hangup => "hangup".into(),
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::try_from(s.to_string())
    }
}

/// One node of a menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The node's name, unique in its menu.
    pub name: String,
    /// The prompt played on entering (names joined by `,` play one after the other).
    pub prompt: String,
    /// Keys collected: 0 plays the prompt and goes on to `next`; `#` ends collection early.
    #[serde(default)]
    pub max_digits: u8,
    /// How long the caller has to press a key after the prompt (s).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u32,
    /// How many times the prompt is played again after a timeout or an unknown key.
    #[serde(default = "default_retries")]
    pub retries: u8,
    /// Keys pressed → where they lead.
    #[serde(default)]
    pub keys: BTreeMap<String, Action>,
    /// Where the caller goes after a play-only node, or when the retries are spent.
    #[serde(default = "default_next")]
    pub next: Action,
}

fn default_timeout_secs() -> u32 {
    5
}

fn default_retries() -> u8 {
    2
}

fn default_next() -> Action {
    Action::Hangup
}

/// A menu: its nodes and the one a caller starts at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// The menu's name (the record's `ivrName`).
    pub name: String,
    /// The node a caller starts at.
    pub start: String,
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// Longest a menu may be: deeper trees are a configuration mistake, and the cap bounds what a
/// call carries.
pub const MAX_NODES: usize = 200;

impl Menu {
    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Checks that the menu is walkable: a start that exists, unique node names, every `node:`
    /// destination declared, keys that are keys, prompts named. The first fault, said plainly.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            return Err(format!("menu `{}` needs 1 to {MAX_NODES} nodes", self.name));
        }
        if self.node(&self.start).is_none() {
            return Err(format!("menu `{}` starts at `{}`, which is not one of its nodes", self.name, self.start));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if self.nodes[..i].iter().any(|o| o.name == n.name) {
                return Err(format!("menu `{}` has two nodes named `{}`", self.name, n.name));
            }
            if n.prompt.trim().is_empty() {
                return Err(format!("node `{}` plays no prompt", n.name));
            }
            if n.max_digits > 20 || n.timeout_secs == 0 || n.timeout_secs > 60 {
                return Err(format!("node `{}`: max_digits is 0-20 and timeout_secs 1-60", n.name));
            }
            for (key, to) in &n.keys {
                let valid = !key.is_empty()
                    && key.len() <= usize::from(n.max_digits.max(1))
                    && key.chars().all(|c| c.is_ascii_digit() || c == '*');
                if !valid {
                    return Err(format!(
                        "node `{}`: key `{key}` is not 1-{} of 0-9 and *",
                        n.name,
                        n.max_digits.max(1)
                    ));
                }
                self.check_target(n, to)?;
            }
            if !n.keys.is_empty() && n.max_digits == 0 {
                return Err(format!("node `{}` has keys but collects none (max_digits 0)", n.name));
            }
            self.check_target(n, &n.next)?;
        }
        Ok(())
    }

    fn check_target(&self, n: &Node, to: &Action) -> Result<(), String> {
        match to {
            Action::Node(t) if self.node(t).is_none() => {
                Err(format!("node `{}` leads to node `{t}`, which the menu does not have", n.name))
            }
            _ => Ok(()),
        }
    }

    /// Menus, queues and extensions the menu leads to (the caller of [`Menu::check`] checks they
    /// exist in the tenant's directory).
    pub fn destinations(&self) -> impl Iterator<Item = &Action> {
        self.nodes.iter().flat_map(|n| n.keys.values().chain(std::iter::once(&n.next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu(nodes: Vec<Node>) -> Menu {
        Menu { name: "main".into(), start: "welcome".into(), nodes }
    }

    fn node(name: &str, keys: &[(&str, &str)], next: &str) -> Node {
        Node {
            name: name.into(),
            prompt: "welcome".into(),
            max_digits: 1,
            timeout_secs: 5,
            retries: 2,
            keys: keys.iter().map(|(k, a)| (k.to_string(), a.parse().unwrap())).collect(),
            next: next.parse().unwrap(),
        }
    }

    #[test]
    fn destinations_read_and_print_as_written() {
        for s in ["node:sales", "queue:8001", "extension:1001", "ivr:closed", "voicemail", "hangup"] {
            let a: Action = s.parse().unwrap();
            assert_eq!(String::from(a), s);
        }
        for bad in ["queue:", "sales", "voicemail:1", "node"] {
            assert!(bad.parse::<Action>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_menu_with_a_dangling_node_or_bad_key_is_refused_plainly() {
        let good = menu(vec![node("welcome", &[("1", "node:sales")], "hangup"), node("sales", &[], "queue:8001")]);
        assert_eq!(good.check(), Ok(()));
        let dangling = menu(vec![node("welcome", &[("1", "node:support")], "hangup")]);
        assert!(dangling.check().unwrap_err().contains("`support`"));
        let bad_key = menu(vec![node("welcome", &[("12", "hangup")], "hangup")]);
        assert!(bad_key.check().unwrap_err().contains("key `12`"));
        let no_start = Menu { start: "nowhere".into(), ..good.clone() };
        assert!(no_start.check().is_err());
    }
}
