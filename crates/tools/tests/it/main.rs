//! Integration tests of the tools layer: registry checks, policy decisions, confirmations,
//! executors and the audit chain, on real SQLite files.

mod actions_postgres;
mod audit;
mod audit_postgres;
mod executors;
mod host;
mod https;
mod mcp;
mod policy;
mod registry;

use std::path::Path;
use std::time::Duration;

use fulcrum_tools::{CallContext, Durability, Policy, Principal, Registry};

/// A policy file for a small shop: orders in `shop.db`, a refund that needs confirmation.
pub const SHOP_POLICY: &str = r#"
roles = ["employee", "finance", "auditor"]
http_allowlist = []

[[users]]
name = "erin"
role = "employee"

[[users]]
name = "fiona"
role = "finance"

[[databases]]
name = "shop"
path = "shop.db"

[[tools]]
name = "query_order"
description = "Look up an order by id."
roles = ["employee", "finance"]
parameters = { type = "object", properties = { order_id = { type = "integer" } }, required = ["order_id"] }
executor = { kind = "sql", database = "shop", statement = "SELECT id, customer, amount, status FROM orders WHERE id = :order_id" }

[[tools]]
name = "refund_order"
description = "Refund an order in full."
roles = ["finance"]
sensitive = true
approver_roles = ["finance"]
summary = "Refund order {order_id}"
parameters = { type = "object", properties = { order_id = { type = "integer" } }, required = ["order_id"] }
executor = { kind = "sql", database = "shop", mode = "write", statement = "UPDATE orders SET status = 'refunded', refunds = refunds + 1 WHERE id = :order_id" }

[[tools]]
name = "calculator"
description = "Evaluate an arithmetic expression."
roles = ["employee", "finance"]
parameters = { type = "object", properties = { expression = { type = "string" } }, required = ["expression"] }
executor = { kind = "builtin", function = "calculator" }
"#;

pub fn create_shop_db(dir: &Path) {
    let connection = rusqlite::Connection::open(dir.join("shop.db")).expect("shop db");
    connection
        .execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL,
                status TEXT, refunds INTEGER NOT NULL DEFAULT 0);
             INSERT INTO orders (id, customer, amount, status) VALUES
                (12345, 'Li Wei', 199.0, 'paid'), (12346, 'Ana', 35.5, 'paid');",
        )
        .expect("seed");
}

pub struct Shop {
    pub dir: tempfile::TempDir,
    pub policy: Policy,
}

impl Default for Shop {
    fn default() -> Self {
        Shop::new()
    }
}

impl Shop {
    pub fn new() -> Shop {
        Shop::with_ttl(Duration::from_secs(600))
    }

    pub fn with_ttl(ttl: Duration) -> Shop {
        let dir = tempfile::tempdir().expect("temp dir");
        create_shop_db(dir.path());
        std::fs::write(dir.path().join("policy.toml"), SHOP_POLICY).expect("write policy");
        let policy = open_policy(dir.path(), ttl);
        Shop { dir, policy }
    }

    pub fn refunds(&self, order_id: i64) -> i64 {
        refunds_in(self.dir.path(), order_id)
    }
}

/// Refunds of an order in the shop database of `dir` (also after the shop's policy is gone).
pub fn refunds_in(dir: &Path, order_id: i64) -> i64 {
    let connection = rusqlite::Connection::open(dir.join("shop.db")).expect("db");
    connection
        .query_row(
            "SELECT refunds FROM orders WHERE id = ?1",
            [order_id],
            |row| row.get(0),
        )
        .expect("order")
}

pub fn open_policy(dir: &Path, ttl: Duration) -> Policy {
    let registry = Registry::load(&dir.join("policy.toml")).expect("policy loads");
    Policy::open(registry, &dir.join("state.db"), Durability::Disk, ttl).expect("policy")
}

pub fn as_user(user: &str, role: &str) -> CallContext {
    CallContext {
        principal: Principal {
            user: user.into(),
            role: role.into(),
        },
        request_id: Some("req-1".into()),
        session_id: Some("sess-1".into()),
    }
}
