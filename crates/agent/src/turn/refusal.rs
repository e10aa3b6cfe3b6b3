//! The answer to a request for something the caller's role may not do. It is written here, not
//! by the model: a small model told that its call was refused still tends to write that the
//! refund was made or the note changed. It names the tools and the roles that may use them, in
//! the language the user wrote in.

use fulcrum_tools::Registry;

use crate::language::Language;

/// The refusal for `tools` (the refused calls' names) to `role`, in the language of `request`.
pub(super) fn text(registry: &Registry, role: &str, tools: &[String], request: &str) -> String {
    let chinese = Language::of(request) == Language::Chinese;
    let who_may: Vec<String> = tools
        .iter()
        .map(|name| {
            let roles = registry
                .get(name)
                .map(|tool| tool.config.roles.clone())
                .unwrap_or_default();
            if chinese {
                format!("`{name}`：{}", roles.join("、"))
            } else {
                format!("`{name}`: {}", roles.join(", "))
            }
        })
        .collect();
    let named: Vec<String> = tools.iter().map(|name| format!("`{name}`")).collect();
    if chinese {
        format!(
            "抱歉，我无法执行此操作：您的角色（{role}）无权使用 {}，因此没有做任何更改。\
             可以使用的角色 — {}。如有需要，请联系具有相应角色的同事。",
            named.join("、"),
            who_may.join("；")
        )
    } else {
        format!(
            "Sorry, I cannot do that: your role ({role}) may not use {}, so nothing was \
             changed. Roles that may — {}. Please ask a colleague with one of them.",
            named.join(", "),
            who_may.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
roles = ["employee", "finance"]

[[databases]]
name = "shop"
path = "shop.db"

[[tools]]
name = "refund_order"
description = "Refund an order in full."
roles = ["finance"]
sensitive = true
parameters = { type = "object", properties = { order_id = { type = "integer" } }, required = ["order_id"] }
executor = { kind = "sql", database = "shop", mode = "write", statement = "UPDATE orders SET status = 'refunded' WHERE id = :order_id" }
"#;

    fn registry() -> Registry {
        Registry::from_toml(POLICY, "policy.toml", std::path::Path::new(".")).expect("loads")
    }

    #[test]
    fn the_refusal_names_the_tool_the_role_and_who_may_in_the_users_language() {
        let tools = vec!["refund_order".to_string()];
        let english = text(
            &registry(),
            "employee",
            &tools,
            "Refund order 12345, please.",
        );
        assert!(english.starts_with("Sorry, I cannot do that"), "{english}");
        for part in [
            "employee",
            "`refund_order`",
            "finance",
            "nothing was changed",
        ] {
            assert!(english.contains(part), "{english:?} lacks {part:?}");
        }
        let chinese = text(&registry(), "employee", &tools, "请把订单 12345 全额退款。");
        for part in ["无法", "employee", "`refund_order`", "finance"] {
            assert!(chinese.contains(part), "{chinese:?} lacks {part:?}");
        }
    }
}
