//! Who is calling: users and roles from the policy file, API keys checked by digest.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::PolicyConfig;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: String,
}

/// A new API key and the digest to put in the policy file.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Shown once; Fulcrum never stores it.
    pub key: String,
    pub sha256: String,
}

impl ApiKey {
    pub fn generate() -> ApiKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("fk_{}", hex::encode(bytes));
        let sha256 = digest(&key);
        ApiKey { key, sha256 }
    }
}

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The users of the policy file with their key digests.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    entries: Vec<([u8; 32], Principal)>,
}

impl Identities {
    pub fn from_config(config: &PolicyConfig) -> Identities {
        let mut entries = Vec::new();
        for user in &config.users {
            for key in &user.key_sha256 {
                let mut digest = [0u8; 32];
                if hex::decode_to_slice(key.trim(), &mut digest).is_ok() {
                    entries.push((
                        digest,
                        Principal {
                            user: user.name.clone(),
                            role: user.role.clone(),
                        },
                    ));
                } else {
                    tracing::warn!(user = %user.name, "ignoring a key digest that is not 64 hex digits");
                }
            }
        }
        Identities { entries }
    }

    /// The user a key belongs to. Every stored digest is compared, each in constant time, so
    /// the time taken says nothing about which digest came close.
    pub fn authenticate(&self, key: &str) -> Option<Principal> {
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (digest, principal) in &self.entries {
            if bool::from(digest.ct_eq(&presented)) && found.is_none() {
                found = Some(principal.clone());
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every user with a key, with their role (a user with two keys comes twice).
    pub fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.entries.iter().map(|(_, principal)| principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;

    #[test]
    fn a_generated_key_authenticates_its_user_only() {
        let key = ApiKey::generate();
        let other = ApiKey::generate();
        let config = PolicyConfig {
            roles: vec!["finance".into()],
            users: vec![UserConfig {
                name: "fiona".into(),
                role: "finance".into(),
                key_sha256: vec![key.sha256.clone()],
            }],
            ..PolicyConfig::default()
        };
        let identities = Identities::from_config(&config);
        let principal = identities.authenticate(&key.key).expect("known key");
        assert_eq!(principal.user, "fiona");
        assert_eq!(identities.authenticate(&other.key), None);
        assert_eq!(identities.authenticate(""), None);
        assert_ne!(key.key, key.sha256, "the digest is not the key");
    }
}
