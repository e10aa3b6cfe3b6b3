use fulcrum_tools::{Registry, ToolsError};

use crate::SHOP_POLICY;

fn load(text: &str) -> Result<Registry, ToolsError> {
    Registry::from_toml(text, "policy.toml", std::path::Path::new("."))
}

/// Loading `text` fails with a message containing every one of `expect`.
fn check_refused(text: &str, expect: &[&str]) {
    let message = load(text).expect_err("must be refused").to_string();
    for part in expect {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn the_shop_policy_loads_and_shows_each_role_its_tools() {
    let registry = load(SHOP_POLICY).expect("loads");
    let names = |role: &str| -> Vec<String> {
        registry
            .definitions_for_role(role)
            .into_iter()
            .map(|d| d.name)
            .collect()
    };
    assert_eq!(names("employee"), vec!["query_order", "calculator"]);
    assert_eq!(
        names("finance"),
        vec!["query_order", "refund_order", "calculator"]
    );
    assert!(names("auditor").is_empty());
}

#[test]
fn the_actions_a_role_may_not_take_are_the_writes_it_lacks() {
    let with_writes = format!(
        "{}{}",
        SHOP_POLICY.replace(
            "http_allowlist = []",
            "http_allowlist = [\"https://shipping.example/\"]"
        ),
        r#"
[[tools]]
name = "note_order"
description = "Write a note on an order."
roles = ["finance"]
parameters = { type = "object", properties = { order_id = { type = "integer" }, note = { type = "string" } }, required = ["order_id", "note"] }
executor = { kind = "sql", database = "shop", mode = "write", statement = "UPDATE orders SET note = :note WHERE id = :order_id" }

[[tools]]
name = "order_history"
description = "Past orders of a customer."
roles = ["finance"]
parameters = { type = "object", properties = { customer = { type = "string" } }, required = ["customer"] }
executor = { kind = "sql", database = "shop", statement = "SELECT id FROM orders WHERE customer = :customer" }

[[tools]]
name = "archive_order"
description = "Archive an order in the order service."
roles = ["finance"]
acts = true
parameters = { type = "object", properties = { order_id = { type = "integer" } }, required = ["order_id"] }
executor = { kind = "builtin", function = "calculator" }

[[tools]]
name = "lookup_rate"
description = "Read an exchange rate (a POST the service needs, changing nothing)."
roles = ["finance"]
acts = false
parameters = { type = "object", properties = { pair = { type = "string" } }, required = ["pair"] }
executor = { kind = "http", method = "POST", url = "https://shipping.example/rates" }

[[tools]]
name = "cancel_shipment"
description = "Cancel a shipment."
roles = ["finance"]
parameters = { type = "object", properties = { id = { type = "string" } }, required = ["id"] }
executor = { kind = "http", method = "DELETE", url = "https://shipping.example/shipments/{id}" }
"#
    );
    let registry = load(&with_writes).expect("loads");
    let withheld = |role: &str| -> Vec<String> {
        registry
            .actions_withheld_from(role)
            .into_iter()
            .map(|d| d.name)
            .collect()
    };
    // A sensitive tool, a SQL write and a DELETE are actions, and what the policy says is one;
    // a read the role lacks is not, nor a POST the policy says changes nothing.
    assert_eq!(
        withheld("employee"),
        vec![
            "refund_order",
            "note_order",
            "archive_order",
            "cancel_shipment"
        ]
    );
    assert!(withheld("finance").is_empty());
    let acts = |name: &str| registry.get(name).expect("registered").acts();
    assert!(!acts("order_history") && !acts("query_order") && !acts("calculator"));
}

#[test]
fn wrong_definitions_name_the_file_the_tool_and_the_problem() {
    let unknown_role = SHOP_POLICY.replace(
        r#"roles = ["finance"]
sensitive"#,
        r#"roles = ["accounting"]
sensitive"#,
    );
    check_refused(
        &unknown_role,
        &["policy.toml", "refund_order", "`accounting`"],
    );

    let unbound = SHOP_POLICY.replace(
        "WHERE id = :order_id\" }\n\n[[tools]]\nname = \"refund_order\"",
        "WHERE id = :id\" }\n\n[[tools]]\nname = \"refund_order\"",
    );
    check_refused(&unbound, &["query_order", "`:id`", "not a parameter"]);

    let summed_write = SHOP_POLICY.replace(
        r#"mode = "write", statement"#,
        r#"mode = "write", totals = ["refunds"], statement"#,
    );
    assert_ne!(summed_write, SHOP_POLICY);
    check_refused(&summed_write, &["refund_order", "`totals`", "a write"]);

    let two_fionas = SHOP_POLICY.replace(
        "[[users]]\nname = \"fiona\"\nrole = \"finance\"",
        "[[users]]\nname = \"fiona\"\nrole = \"finance\"\n\n[[users]]\nname = \"fiona\"\nrole = \"employee\"",
    );
    assert_ne!(two_fionas, SHOP_POLICY);
    check_refused(&two_fionas, &["user `fiona` is listed twice"]);

    let twice = format!(
        "{SHOP_POLICY}\n[[tools]]\nname = \"calculator\"\ndescription = \"again\"\nroles = []\nexecutor = {{ kind = \"builtin\", function = \"calculator\" }}\n"
    );
    check_refused(&twice, &["calculator", "twice"]);

    let bad_builtin = SHOP_POLICY.replace("function = \"calculator\"", "function = \"shell\"");
    check_refused(&bad_builtin, &["calculator", "unknown builtin `shell`"]);

    let outside = format!(
        "{}\n[[tools]]\nname = \"fetch\"\ndescription = \"Fetch.\"\nroles = []\nexecutor = {{ kind = \"http\", url = \"https://evil.example/x\" }}\n",
        SHOP_POLICY.replace("http_allowlist = []", "http_allowlist = [\"https://api.example\"]")
    );
    check_refused(&outside, &["fetch", "http_allowlist"]);

    let bad_schema = SHOP_POLICY.replace(
        "properties = { expression = { type = \"string\" } }",
        "properties = { expression = { type = \"strin\" } }",
    );
    check_refused(&bad_schema, &["policy.toml", "calculator"]);

    let mcp_tool = "\n[[tools]]\nname = \"stock\"\ndescription = \"Stock.\"\nroles = []\nexecutor = { kind = \"mcp\", server = \"warehouse\" }\n";
    check_refused(
        &format!("{SHOP_POLICY}{mcp_tool}"),
        &["stock", "MCP server `warehouse`", "not in `mcp_servers`"],
    );
    let no_command = SHOP_POLICY.replacen(
        "[[users]]",
        "[[mcp_servers]]\nname = \"warehouse\"\ntransport = { kind = \"stdio\", command = \" \" }\n\n[[users]]",
        1,
    );
    check_refused(
        &format!("{no_command}{mcp_tool}"),
        &["MCP server `warehouse`", "`command` is empty"],
    );

    let unknown_field = SHOP_POLICY.replace("sensitive = true", "sensitiv = true");
    check_refused(&unknown_field, &["policy.toml", "sensitiv"]);
}

#[test]
fn a_missing_file_is_named() {
    let err =
        Registry::load(std::path::Path::new("/nonexistent/policy.toml")).expect_err("no file");
    assert!(
        err.to_string().contains("/nonexistent/policy.toml"),
        "{err}"
    );
}
