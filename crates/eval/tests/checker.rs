//! The checker against the cases of CHECKER.md, each one a rule BFCL's own checker was seen
//! to apply.

use fulcrum_eval::{check_entry, Category, Entry, ModelOutput};
use serde_json::{json, Value};

fn doc(name: &str, properties: Value, required: &[&str]) -> Value {
    json!({"name": name, "description": "d", "parameters": {"type": "dict", "properties": properties, "required": required}})
}

fn entry(category: Category, functions: Vec<Value>, truth: Option<Value>) -> Entry {
    Entry {
        id: "t".into(),
        category,
        messages: vec![],
        functions,
        ground_truth: truth.map(|t| t.as_array().cloned().unwrap_or_default()),
    }
}

fn calls(list: &[(&str, Value)]) -> ModelOutput {
    ModelOutput::Calls(
        list.iter()
            .map(|(n, a)| ((*n).to_string(), a.to_string()))
            .collect(),
    )
}

/// One simple entry: doc `f` (or `name`) with `properties`/`required`, ground truth `truth`,
/// and the model's arguments `args`.
fn simple(properties: Value, required: &[&str], truth: Value, args: Value) -> bool {
    let e = entry(
        Category::SimplePython,
        vec![doc("f", properties, required)],
        Some(json!([{"f": truth}])),
    );
    check_entry(&e, &calls(&[("f", args)])).correct
}

#[test]
fn dotted_names_are_expected_with_underscores() {
    let e = entry(
        Category::SimplePython,
        vec![doc("a.b", json!({}), &[])],
        Some(json!([{"a.b": {}}])),
    );
    assert!(check_entry(&e, &calls(&[("a_b", json!({}))])).correct);
    assert!(!check_entry(&e, &calls(&[("a.b", json!({}))])).correct);
    assert!(!check_entry(&e, &calls(&[("A_b", json!({}))])).correct);
}

#[test]
fn types_are_strict_except_int_to_float() {
    let float = json!({"x": {"type": "float"}});
    assert!(simple(
        float.clone(),
        &["x"],
        json!({"x": [2.0]}),
        json!({"x": 2})
    ));
    let int = json!({"x": {"type": "integer"}});
    assert!(simple(
        int.clone(),
        &["x"],
        json!({"x": [5]}),
        json!({"x": 5})
    ));
    assert!(!simple(
        int.clone(),
        &["x"],
        json!({"x": [5]}),
        json!({"x": 5.0})
    ));
    assert!(!simple(
        int.clone(),
        &["x"],
        json!({"x": [5]}),
        json!({"x": "5"})
    ));
    assert!(!simple(
        int.clone(),
        &["x"],
        json!({"x": [1]}),
        json!({"x": true})
    ));
    let boolean = json!({"x": {"type": "boolean"}});
    assert!(!simple(
        boolean,
        &["x"],
        json!({"x": [true]}),
        json!({"x": "true"})
    ));
    let any = json!({"x": {"type": "any"}});
    assert!(!simple(
        any.clone(),
        &["x"],
        json!({"x": ["3"]}),
        json!({"x": 3})
    ));
    assert!(simple(any, &["x"], json!({"x": ["3"]}), json!({"x": "3"})));
    // A dict parameter given as a JSON string fails.
    let dict = json!({"x": {"type": "dict", "properties": {}}});
    assert!(!simple(
        dict,
        &["x"],
        json!({"x": [{"a": [1]}]}),
        json!({"x": "{\"a\": 1}"})
    ));
}

#[test]
fn variables_and_nulls() {
    // Ground truth holds a string for an integer param: either type passes, compared exactly.
    let int = json!({"x": {"type": "integer"}});
    assert!(simple(
        int.clone(),
        &[],
        json!({"x": ["n"]}),
        json!({"x": "n"})
    ));
    assert!(!simple(
        int.clone(),
        &[],
        json!({"x": ["n"]}),
        json!({"x": "N"})
    ));
    assert!(simple(
        int.clone(),
        &[],
        json!({"x": ["", null]}),
        json!({"x": null})
    ));
    assert!(simple(int, &[], json!({"x": ["", null]}), json!({})));
}

#[test]
fn strings_are_normalised_as_bfcl_does() {
    let s = json!({"x": {"type": "string"}});
    assert!(simple(
        s.clone(),
        &["x"],
        json!({"x": ["New York, NY"]}),
        json!({"x": "NEW_YORK/NY."})
    ));
    assert!(!simple(
        s.clone(),
        &["x"],
        json!({"x": ["New York, NY"]}),
        json!({"x": "new york: ny"})
    ));
    assert!(simple(
        s.clone(),
        &["x"],
        json!({"x": ["it's"]}),
        json!({"x": "IT\"S"})
    ));
    // The empty string passes wherever the omit marker is acceptable.
    assert!(simple(
        s.clone(),
        &[],
        json!({"x": ["a", ""]}),
        json!({"x": " - "})
    ));
    assert!(!simple(s, &[], json!({"x": ["a"]}), json!({"x": ""})));
}

#[test]
fn lists_keep_order_length_and_item_types() {
    let arr = json!({"x": {"type": "array", "items": {"type": "integer"}}});
    assert!(simple(
        arr.clone(),
        &["x"],
        json!({"x": [[3, 5]]}),
        json!({"x": [3, 5]})
    ));
    assert!(!simple(
        arr.clone(),
        &["x"],
        json!({"x": [[3, 5]]}),
        json!({"x": [5, 3]})
    ));
    assert!(!simple(
        arr.clone(),
        &["x"],
        json!({"x": [[3, 5]]}),
        json!({"x": [3]})
    ));
    // The omit marker makes an empty list acceptable.
    assert!(simple(
        arr,
        &[],
        json!({"x": [[3, 5], ""]}),
        json!({"x": []})
    ));
    // No int → float inside arrays.
    let floats = json!({"x": {"type": "array", "items": {"type": "float"}}});
    assert!(!simple(
        floats.clone(),
        &["x"],
        json!({"x": [[1.0, 2.0]]}),
        json!({"x": [1, 2]})
    ));
    assert!(simple(
        floats,
        &["x"],
        json!({"x": [[1.0, 2.0]]}),
        json!({"x": [1.0, 2.0]})
    ));
    // Strings inside lists are normalised.
    let strs = json!({"x": {"type": "array", "items": {"type": "string"}}});
    assert!(simple(
        strs,
        &["x"],
        json!({"x": [["San Francisco"]]}),
        json!({"x": ["san-francisco"]})
    ));
}

#[test]
fn dicts_compare_loosely_inside() {
    let dict = json!({"x": {"type": "dict", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}});
    let truth = json!({"x": [{"a": [1], "b": ["Hi There", ""]}]});
    assert!(simple(
        dict.clone(),
        &["x"],
        truth.clone(),
        json!({"x": {"a": 1, "b": "hi_there"}})
    ));
    assert!(simple(
        dict.clone(),
        &["x"],
        truth.clone(),
        json!({"x": {"a": true}})
    ));
    assert!(!simple(
        dict.clone(),
        &["x"],
        truth.clone(),
        json!({"x": {"a": 1, "c": 2}})
    ));
    assert!(!simple(
        dict.clone(),
        &["x"],
        truth,
        json!({"x": {"b": "hi there"}})
    ));
    // Lists of dicts: order and length matter.
    let list = json!({"x": {"type": "array", "items": {"type": "dict"}}});
    let truth =
        json!({"x": [[{"name": ["Chester"], "age": [42]}, {"name": ["Jane"], "age": [43]}]]});
    assert!(simple(
        list.clone(),
        &["x"],
        truth.clone(),
        json!({"x": [{"name": "chester", "age": 42}, {"name": "Jane", "age": 43}]})
    ));
    assert!(!simple(
        list,
        &["x"],
        truth,
        json!({"x": [{"name": "Jane", "age": 43}, {"name": "Chester", "age": 42}]})
    ));
}

#[test]
fn required_optional_and_unexpected_parameters() {
    let props =
        json!({"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}});
    // Required even when the ground truth would allow omitting it.
    assert!(!simple(
        props.clone(),
        &["a"],
        json!({"a": [1, ""]}),
        json!({})
    ));
    // Not required by the schema, but the ground truth lacks "": mandatory.
    assert!(!simple(props.clone(), &[], json!({"a": [1]}), json!({})));
    // A schema param missing from the ground truth must not be sent, even sensibly.
    assert!(!simple(
        props.clone(),
        &[],
        json!({"a": [1]}),
        json!({"a": 1, "c": 3})
    ));
    // A param outside the schema fails.
    assert!(!simple(
        props.clone(),
        &[],
        json!({"a": [1]}),
        json!({"a": 1, "zzz": 3})
    ));
    assert!(simple(
        props,
        &["a"],
        json!({"a": [1], "b": [2, ""]}),
        json!({"a": 1})
    ));
}

#[test]
fn parallel_is_order_free_and_counts_exactly() {
    let play = doc(
        "spotify.play",
        json!({"artist": {"type": "string"}, "duration": {"type": "integer"}}),
        &["artist", "duration"],
    );
    let e = entry(
        Category::Parallel,
        vec![play],
        Some(json!([
            {"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
            {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}
        ])),
    );
    let a = (
        "spotify_play",
        json!({"artist": "Maroon 5", "duration": 15}),
    );
    let b = (
        "spotify_play",
        json!({"artist": "Taylor Swift", "duration": 20}),
    );
    assert!(check_entry(&e, &calls(&[a.clone(), b.clone()])).correct);
    assert!(check_entry(&e, &calls(&[b.clone(), a.clone()])).correct);
    assert!(!check_entry(&e, &calls(std::slice::from_ref(&a))).correct);
    assert!(!check_entry(&e, &calls(&[a.clone(), a.clone()])).correct);
    assert!(!check_entry(&e, &calls(&[a, b.clone(), b])).correct);
}

#[test]
fn multiple_requires_the_expected_function() {
    let e = entry(
        Category::Multiple,
        vec![doc("f", json!({}), &[]), doc("g", json!({}), &[])],
        Some(json!([{"g": {}}])),
    );
    assert!(check_entry(&e, &calls(&[("g", json!({}))])).correct);
    assert!(!check_entry(&e, &calls(&[("f", json!({}))])).correct);
}

#[test]
fn text_replies_fail_ast_and_pass_irrelevance() {
    let e = entry(
        Category::SimplePython,
        vec![doc("f", json!({}), &[])],
        Some(json!([{"f": {}}])),
    );
    assert!(!check_entry(&e, &ModelOutput::Text("no".into())).correct);
    assert!(
        !check_entry(
            &e,
            &ModelOutput::Calls(vec![("f".into(), "not json".into())])
        )
        .correct
    );

    let irrelevant = entry(Category::Irrelevance, vec![doc("f", json!({}), &[])], None);
    assert!(check_entry(&irrelevant, &ModelOutput::Text("I can't help".into())).correct);
    assert!(check_entry(&irrelevant, &ModelOutput::Calls(vec![])).correct);
    assert!(
        check_entry(
            &irrelevant,
            &ModelOutput::Calls(vec![("f".into(), "{broken".into())])
        )
        .correct
    );
    assert!(!check_entry(&irrelevant, &calls(&[("f", json!({}))])).correct);
}

#[test]
fn the_shipped_data_loads_and_matches_line_by_line() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/bfcl");
    let expected = [400, 200, 200, 200, 240];
    for (category, count) in Category::ALL.into_iter().zip(expected) {
        let entries = fulcrum_eval::load_category(&dir, category).expect("loads");
        assert_eq!(entries.len(), count, "{}", category.name());
        // Every ground-truth call names a function of its entry.
        for e in entries.iter().filter(|e| e.ground_truth.is_some()) {
            for call in e.ground_truth.as_deref().unwrap_or_default() {
                let name = call
                    .as_object()
                    .and_then(|o| o.keys().next())
                    .expect("name");
                assert!(e.functions.iter().any(|f| f["name"] == *name), "{}", e.id);
            }
        }
    }
}
