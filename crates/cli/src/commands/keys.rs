//! `fulcrum keys create --user U`: a new API key, printed once, and the digest that goes in
//! the policy file (Fulcrum stores only digests).

use anyhow::Result;
use fulcrum_tools::{ApiKey, Registry};

use crate::config::{Config, PolicyFlags};
use crate::governance::policy_path;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a new API key for a user of the policy file
    Create {
        /// The user (a `[[users]]` name of the policy file)
        #[arg(long)]
        user: String,
        #[command(flatten)]
        policy: PolicyFlags,
    },
}

impl KeysCommand {
    /// The configuration flags given to this command.
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        let KeysCommand::Create { policy, .. } = self;
        vec![crate::config::layer(policy)]
    }
}

pub fn run(config: &Config, command: KeysCommand) -> Result<()> {
    let KeysCommand::Create { user, .. } = command;
    let (path, demo) = policy_path(config)?;
    if demo {
        anyhow::bail!(
            "the demo enterprise's policy ({}) is rewritten at every start, so a key added to it would vanish: copy it to a file of your own, pass it with --policy (or `policy` in fulcrum.toml), and create keys for that",
            path.display()
        );
    }
    let registry = Registry::load(&path)?;
    if !registry.config().users.iter().any(|u| u.name == user) {
        anyhow::bail!(
            "no user `{user}` in {}: add a [[users]] entry with a name and role first",
            path.display()
        );
    }
    let key = ApiKey::generate();
    println!(
        "API key for {user} (shown once, store it now):\n\n  {}\n",
        key.key
    );
    println!(
        "Add its digest to the user's `key_sha256` list in {} and restart the server:\n\n  key_sha256 = [\"{}\"]",
        path.display(),
        key.sha256
    );
    Ok(())
}
