use fulcrum_tools::executor::builtin::calculate;
use fulcrum_tools::{Decision, Registry};
use serde_json::json;

use crate::{as_user, Shop};

#[test]
fn the_calculator_does_arithmetic_and_nothing_else() {
    assert_eq!(calculate("7/2"), Ok(3.5));
    assert_eq!(calculate("(1 + 2) * 3 - 4 % 3"), Ok(8.0));
    assert_eq!(calculate("2^10"), Ok(1024.0));
    assert_eq!(calculate("1299 * 0.85"), Ok(1104.15));
    for bad in ["x = 3", "\"text\"", "1/0", "1; 2", "unknown_fn(3)"] {
        assert!(calculate(bad).is_err(), "{bad} must be refused");
    }
}

#[tokio::test]
async fn sql_arguments_are_bound_not_spliced() {
    let shop = Shop::new();
    let context = as_user("erin", "employee");
    // A string in an integer column's place is refused by the schema; the statement itself
    // binds values, so text never becomes SQL either way.
    let Decision::Permit(permit) = shop
        .policy
        .authorize(&context, "query_order", &json!({"order_id": 12346}))
        .expect("decides")
    else {
        panic!("permitted");
    };
    let output = shop.policy.execute(&context, permit).await.expect("runs");
    let value: serde_json::Value = serde_json::from_str(&output.text).expect("json");
    assert_eq!(value["rows"][0]["customer"], "Ana");
    assert_eq!(value["rows"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_read_tool_cannot_write_even_if_configured_to() {
    let dir = tempfile::tempdir().expect("dir");
    crate::create_shop_db(dir.path());
    let policy = crate::SHOP_POLICY.replace(
        "SELECT id, customer, amount, status FROM orders WHERE id = :order_id",
        "DELETE FROM orders WHERE id = :order_id",
    );
    std::fs::write(dir.path().join("policy.toml"), policy).expect("write");
    let policy = crate::open_policy(dir.path(), std::time::Duration::from_secs(60));
    let context = as_user("erin", "employee");
    let Decision::Permit(permit) = policy
        .authorize(&context, "query_order", &json!({"order_id": 12345}))
        .expect("decides")
    else {
        panic!("permitted");
    };
    let err = policy
        .execute(&context, permit)
        .await
        .expect_err("read-only");
    assert!(err.to_string().contains("writes"), "{err}");
    let connection = rusqlite::Connection::open(dir.path().join("shop.db")).expect("db");
    let count: i64 = connection
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 2);
    // The failure is in the log too.
    let rows = policy.audit().records(0, 10).expect("rows");
    assert_eq!(
        rows.last().map(|r| r.event.data["ok"].clone()),
        Some(json!(false))
    );
}

/// The shop with one more write tool, `note_order`, running `statement` within `timeout_ms`.
async fn run_note_order(statement: &str, timeout_ms: u64, order_id: i64) -> (String, i64) {
    let dir = tempfile::tempdir().expect("dir");
    crate::create_shop_db(dir.path());
    let policy = format!(
        "{}\n[[tools]]\nname = \"note_order\"\ndescription = \"Note an order.\"\nroles = [\"employee\"]\n\
         timeout_ms = {timeout_ms}\n\
         parameters = {{ type = \"object\", properties = {{ order_id = {{ type = \"integer\" }} }}, required = [\"order_id\"] }}\n\
         executor = {{ kind = \"sql\", database = \"shop\", mode = \"write\", no_rows = \"no order {{order_id}} to note\", statement = \"\"\"{statement}\"\"\" }}\n",
        crate::SHOP_POLICY
    );
    std::fs::write(dir.path().join("policy.toml"), policy).expect("write");
    let policy = crate::open_policy(dir.path(), std::time::Duration::from_secs(60));
    let context = as_user("erin", "employee");
    let Decision::Permit(permit) = policy
        .authorize(&context, "note_order", &json!({"order_id": order_id}))
        .expect("decides")
    else {
        panic!("permitted");
    };
    let err = policy.execute(&context, permit).await.expect_err("fails");
    let connection = rusqlite::Connection::open(dir.path().join("shop.db")).expect("db");
    let refunds: i64 = connection
        .query_row("SELECT sum(refunds) FROM orders", [], |r| r.get(0))
        .expect("sum");
    (err.to_string(), refunds)
}

#[tokio::test]
async fn a_write_that_changes_no_row_is_an_error_in_the_tools_words() {
    let (error, _) = run_note_order(
        "UPDATE orders SET refunds = refunds + 1 WHERE id = :order_id",
        10_000,
        404,
    )
    .await;
    assert!(error.contains("no order 404 to note"), "{error}");
}

#[tokio::test]
async fn a_write_past_its_timeout_is_interrupted_and_changes_nothing() {
    // Every order's refund count goes up, then a long computation keeps the write open past
    // its 300 ms: the statement is interrupted and the first half rolled back with it.
    let slow = "UPDATE orders SET refunds = refunds + 1 + (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                SELECT x + 1 FROM c WHERE x < 200000000) SELECT count(*) * 0 FROM c) WHERE id >= :order_id";
    let (error, refunds) = run_note_order(slow, 300, 0).await;
    assert!(
        error.contains("timeout") && error.contains("nothing was changed"),
        "{error}"
    );
    assert_eq!(refunds, 0, "the interrupted write committed");
}

/// A local HTTP service to call: `/v1/items/{id}` echoes, `/big` is large, `/admin` is not
/// under the allowlisted prefix.
async fn serve_items() -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/v1/items/{id}",
            get(
                |axum::extract::Path(id): axum::extract::Path<String>,
                 axum::extract::RawQuery(query): axum::extract::RawQuery| async move {
                    axum::Json(json!({"id": id, "query": query}))
                },
            ),
        )
        .route("/v1/big", get(|| async { "x".repeat(100_000) }))
        .route("/admin", get(|| async { "secret" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn http_policy(base: &str) -> String {
    format!(
        r#"
roles = ["employee"]
http_allowlist = ["{base}/v1/"]

[[tools]]
name = "get_item"
description = "Get an item."
roles = ["employee"]
max_output_bytes = 1000
parameters = {{ type = "object", properties = {{ id = {{ type = "string" }}, fields = {{ type = "string" }} }}, required = ["id"] }}
executor = {{ kind = "http", url = "{base}/v1/items/{{id}}" }}

[[tools]]
name = "big"
description = "Something large."
roles = ["employee"]
max_output_bytes = 1000
executor = {{ kind = "http", url = "{base}/v1/big" }}
"#
    )
}

#[tokio::test]
async fn http_tools_stay_under_their_prefix_and_their_cap() {
    let base = serve_items().await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("policy.toml"), http_policy(&base)).expect("write");
    let registry = Registry::load(&dir.path().join("policy.toml")).expect("loads");
    assert!(registry.get("get_item").is_some());
    let policy = crate::open_policy(dir.path(), std::time::Duration::from_secs(60));
    let context = as_user("erin", "employee");
    let run = |arguments: serde_json::Value, tool: &'static str| {
        let policy = &policy;
        let context = &context;
        async move {
            match policy
                .authorize(context, tool, &arguments)
                .expect("decides")
            {
                Decision::Permit(permit) => policy.execute(context, permit).await,
                other => panic!("permitted: {other:?}"),
            }
        }
    };
    let output = run(json!({"id": "42", "fields": "name,price"}), "get_item")
        .await
        .expect("runs");
    let value: serde_json::Value = serde_json::from_str(&output.text).expect("json");
    assert_eq!(value["body"]["id"], "42");
    assert_eq!(value["body"]["query"], "fields=name%2Cprice");

    // Path arguments are one segment: no climbing out with `..` or a new path.
    for id in [".", ".."] {
        let err = run(json!({ "id": id }), "get_item")
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("dot segment"), "{err}");
    }
    for id in ["../../admin", "%2e%2e", "a/../../admin"] {
        match run(json!({ "id": id }), "get_item").await {
            Ok(output) => assert!(
                !output.text.contains("secret"),
                "{id} reached /admin: {}",
                output.text
            ),
            Err(err) => assert!(err.to_string().contains("get_item"), "{err}"),
        }
    }

    let output = run(json!({}), "big").await.expect("runs");
    assert!(output.truncated);
    assert!(output.text.len() < 1_100, "{}", output.text.len());
}

/// The shop with one more read tool, `order_totals`, returning at most one row and summing
/// `totals`.
async fn run_order_totals(totals: &str) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().expect("dir");
    crate::create_shop_db(dir.path());
    let connection = rusqlite::Connection::open(dir.path().join("shop.db")).expect("db");
    connection
        .execute_batch(
            "INSERT INTO orders (id, customer, amount, status) VALUES
                (12347, 'Bo', 0.1, 'paid'), (12348, 'Cy', 0.2, 'paid'), (12349, 'Di', NULL, 'new');",
        )
        .expect("more orders");
    let policy = format!(
        "{}\n[[tools]]\nname = \"order_totals\"\ndescription = \"Orders and their totals.\"\n\
         roles = [\"employee\"]\n\
         executor = {{ kind = \"sql\", database = \"shop\", max_rows = 1, totals = {totals}, \
         statement = \"SELECT id, amount, refunds FROM orders ORDER BY id\" }}\n",
        crate::SHOP_POLICY
    );
    std::fs::write(dir.path().join("policy.toml"), policy).expect("write");
    let policy = crate::open_policy(dir.path(), std::time::Duration::from_secs(60));
    let context = as_user("erin", "employee");
    let Decision::Permit(permit) = policy
        .authorize(&context, "order_totals", &json!({}))
        .expect("decides")
    else {
        panic!("permitted");
    };
    let output = policy
        .execute(&context, permit)
        .await
        .map_err(|err| err.to_string())?;
    Ok(serde_json::from_str(&output.text).expect("json"))
}

#[tokio::test]
async fn totals_sum_every_matched_row_before_the_rows() {
    let value = run_order_totals(r#"["amount", "refunds"]"#)
        .await
        .expect("runs");
    // Every row is summed, also those past `max_rows`; floats at the decimals written (the
    // sum of 199.0 + 35.5 + 0.1 + 0.2 in floats is 234.79999999999998), nulls left out,
    // integers summed as integers.
    assert_eq!(value["totals"], json!({"amount": 234.8, "refunds": 0}));
    assert_eq!(value["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(value["more_rows"], json!(true));
    let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
    assert_eq!(keys.first().map(|k| k.as_str()), Some("totals"));

    let error = run_order_totals(r#"["amount", "discount"]"#)
        .await
        .expect_err("no such column");
    assert!(
        error.contains("`discount`") && error.contains("id, amount, refunds"),
        "{error}"
    );
}
