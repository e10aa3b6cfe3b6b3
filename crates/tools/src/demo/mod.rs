//! The demo enterprise Fulcrum serves when no policy is configured: a seeded SQLite database
//! (products, orders, Hangzhou meeting rooms, two years of monthly sales) and its tools, with
//! public demo keys for five roles.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

use crate::error::ToolsError;

const POLICY_TEMPLATE: &str = include_str!("policy.toml");

/// The demo users' roles and their (public) API keys.
pub const DEMO_KEYS: [(&str, &str); 5] = [
    ("employee", "demo-employee-key"),
    ("cs_supervisor", "demo-supervisor-key"),
    ("finance", "demo-finance-key"),
    ("auditor", "demo-auditor-key"),
    ("admin", "demo-admin-key"),
];

/// Writes the demo database into `dir` unless it is there (its data changes as the demo is
/// used), rewrites the demo policy (to change it, copy it and set `policy`), and returns the
/// policy file's path. Each file appears whole or not at all (written aside, then renamed).
pub fn install(dir: &Path) -> Result<PathBuf, ToolsError> {
    let failed = |what: &str, err: &dyn std::fmt::Display| {
        ToolsError::Database(format!(
            "cannot set up the demo in {}: {what}: {err}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|err| failed("create the folder", &err))?;
    let database = dir.join("demo.db");
    if !database.exists() {
        let partial = dir.join("demo.db.partial");
        let _ = std::fs::remove_file(&partial);
        let connection = Connection::open(&partial).map_err(|err| failed("open", &err))?;
        seed(&connection).map_err(|err| failed("seed", &err))?;
        drop(connection);
        std::fs::rename(&partial, &database).map_err(|err| failed("rename", &err))?;
    }
    let policy = dir.join("policy.toml");
    let text = policy_text();
    if std::fs::read_to_string(&policy).ok().as_deref() != Some(text.as_str()) {
        let partial = dir.join("policy.toml.partial");
        std::fs::write(&partial, &text).map_err(|err| failed("write the policy", &err))?;
        std::fs::rename(&partial, &policy).map_err(|err| failed("rename", &err))?;
    }
    Ok(policy)
}

/// The demo policy with the demo keys' digests filled in.
pub fn policy_text() -> String {
    let mut text = POLICY_TEMPLATE.to_string();
    for (role, key) in DEMO_KEYS {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        text = text.replace(&format!("\"{{{role}}}\""), &format!("\"{digest}\""));
    }
    text
}

const PRODUCTS: [(&str, &str, &str, f64, f64, i64, &str); 8] = [
    (
        "iPhone 15",
        "Apple",
        "phone",
        5999.0,
        4.6,
        120,
        "6.1-inch, A16 Bionic, 48 MP camera, USB-C, up to 20 h video",
    ),
    (
        "Samsung Galaxy S24",
        "Samsung",
        "phone",
        5499.0,
        4.5,
        85,
        "6.2-inch 120 Hz, Snapdragon 8 Gen 3, Galaxy AI, 7 years of updates",
    ),
    (
        "Huawei Mate 60",
        "Huawei",
        "phone",
        5999.0,
        4.7,
        60,
        "6.69-inch, Kirin 9000S, satellite calling",
    ),
    (
        "Xiaomi 14",
        "Xiaomi",
        "phone",
        3999.0,
        4.4,
        200,
        "6.36-inch, Snapdragon 8 Gen 3, Leica optics",
    ),
    (
        "AirPods Pro 2",
        "Apple",
        "audio",
        1899.0,
        4.6,
        300,
        "Active noise cancellation, USB-C case",
    ),
    (
        "MacBook Air 13 M3",
        "Apple",
        "laptop",
        8999.0,
        4.8,
        40,
        "13.6-inch, M3 chip, 18 h battery",
    ),
    (
        "Huawei MatePad 11",
        "Huawei",
        "tablet",
        2499.0,
        4.3,
        150,
        "11-inch 120 Hz, stylus support",
    ),
    (
        "Xiaomi Smart Band 8",
        "Xiaomi",
        "wearable",
        249.0,
        4.2,
        800,
        "Fitness tracker, 16-day battery",
    ),
];

const REGIONS: [&str; 5] = [
    "East China",
    "North China",
    "South China",
    "Southwest",
    "Central China",
];
const CHANNELS: [&str; 3] = ["Online", "Retail", "Enterprise"];

/// A small deterministic generator, so every install has the same numbers.
struct Lcg(u64);

impl Lcg {
    fn next_unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as f64) / ((1u64 << 31) as f64)
    }
}

fn seed(connection: &Connection) -> Result<(), rusqlite::Error> {
    connection.execute_batch(
        "BEGIN;
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, brand TEXT NOT NULL,
            category TEXT NOT NULL, price REAL NOT NULL, rating REAL NOT NULL, stock INTEGER NOT NULL,
            description TEXT NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL,
            product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
            amount REAL NOT NULL, status TEXT NOT NULL, note TEXT, created_at TEXT NOT NULL,
            refunded_at TEXT);
        CREATE TABLE meeting_rooms (id INTEGER PRIMARY KEY, office TEXT NOT NULL, name TEXT NOT NULL,
            floor INTEGER NOT NULL, capacity INTEGER NOT NULL, features TEXT NOT NULL);
        CREATE TABLE bookings (id INTEGER PRIMARY KEY, room_id INTEGER NOT NULL REFERENCES meeting_rooms(id),
            booked_by TEXT NOT NULL, date TEXT NOT NULL, start_time TEXT NOT NULL, end_time TEXT NOT NULL,
            title TEXT NOT NULL);
        CREATE TABLE sales (month TEXT NOT NULL, region TEXT NOT NULL, channel TEXT NOT NULL,
            product TEXT NOT NULL, units INTEGER NOT NULL, revenue REAL NOT NULL,
            PRIMARY KEY (month, region, channel, product));",
    )?;
    for (index, (name, brand, category, price, rating, stock, description)) in
        PRODUCTS.iter().enumerate()
    {
        connection.execute(
            "INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                index as i64 + 1,
                name,
                brand,
                category,
                price,
                rating,
                stock,
                description
            ],
        )?;
    }
    let orders = [
        (12345, "Wang Fang", 1, 1, "paid", "2024-03-02 10:15:00"),
        (12346, "Liu Yang", 2, 1, "shipped", "2024-03-03 14:20:00"),
        (12347, "Chen Jing", 5, 2, "delivered", "2024-03-05 09:05:00"),
        (12348, "Zhang Wei", 6, 1, "paid", "2024-03-07 16:40:00"),
        (12349, "Li Na", 4, 3, "delivered", "2024-03-08 11:30:00"),
    ];
    for (id, customer, product, quantity, status, created) in orders {
        let price = PRODUCTS[product - 1].3;
        connection.execute(
            "INSERT INTO orders (id, customer, product_id, quantity, amount, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                customer,
                product as i64,
                quantity,
                price * quantity as f64,
                status,
                created
            ],
        )?;
    }
    let rooms = [
        (
            "Hangzhou",
            "West Lake",
            3,
            12,
            "projector, video conference, whiteboard",
        ),
        ("Hangzhou", "Qiantang", 3, 6, "whiteboard, TV screen"),
        (
            "Hangzhou",
            "Lingyin",
            5,
            20,
            "projector, sound system, video conference",
        ),
        ("Hangzhou", "Xixi", 5, 4, "TV screen"),
        ("Shanghai", "Bund", 10, 10, "projector, whiteboard"),
        (
            "Shanghai",
            "Pudong",
            12,
            30,
            "projector, sound system, stage",
        ),
    ];
    for (index, (office, name, floor, capacity, features)) in rooms.iter().enumerate() {
        connection.execute(
            "INSERT INTO meeting_rooms VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![index as i64 + 1, office, name, floor, capacity, features],
        )?;
    }
    connection.execute(
        "INSERT INTO bookings (room_id, booked_by, date, start_time, end_time, title)
         VALUES (1, 'chen.supervisor', '2024-03-15', '10:00', '11:30', 'Quarterly review')",
        [],
    )?;
    seed_sales(connection)?;
    connection.execute_batch("COMMIT;")
}

/// Two years (2023-01 to 2024-12) by region, channel and product: yearly growth that differs
/// by product, a November shopping-festival peak, a Spring Festival dip, noise, and a few
/// outliers (a March 2024 promotion of the Mate 60 in East China, a Southwest supply gap).
fn seed_sales(connection: &Connection) -> Result<(), rusqlite::Error> {
    let mut random = Lcg(2024);
    let growth: [f64; 8] = [0.08, 0.15, 0.45, 0.20, 0.10, 0.05, 0.25, -0.10];
    let region_weight = [1.6, 1.2, 1.3, 0.8, 0.9];
    let channel_weight = [1.3, 1.0, 0.5];
    let base_units = [900.0, 600.0, 500.0, 800.0, 1500.0, 200.0, 400.0, 2500.0];
    let mut statement = connection.prepare(
        "INSERT INTO sales (month, region, channel, product, units, revenue)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for year in [2023, 2024] {
        for month in 1..=12u32 {
            let label = format!("{year}-{month:02}");
            let season = match month {
                11 => 1.6,
                12 => 1.25,
                1 | 2 => 0.85,
                6 => 1.15,
                _ => 1.0,
            };
            let years_in = f64::from(year - 2023) + f64::from(month - 1) / 12.0;
            for (r, region) in REGIONS.iter().enumerate() {
                for (c, channel) in CHANNELS.iter().enumerate() {
                    for (p, product) in PRODUCTS.iter().enumerate() {
                        let trend = (1.0 + growth[p]).powf(years_in);
                        let noise = 0.9 + 0.2 * random.next_unit();
                        let mut units = base_units[p] / 15.0
                            * region_weight[r]
                            * channel_weight[c]
                            * season
                            * trend
                            * noise;
                        if label == "2024-03" && p == 2 && r == 0 && c == 0 {
                            units *= 2.4;
                        }
                        if label == "2024-03" && r == 3 && p == 0 {
                            units *= 0.45;
                        }
                        let units = units.round().max(1.0) as i64;
                        let revenue =
                            (units as f64) * product.3 * (0.97 + 0.03 * random.next_unit());
                        statement.execute(params![
                            label,
                            region,
                            channel,
                            product.0,
                            units,
                            (revenue * 100.0).round() / 100.0
                        ])?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_installs_once_and_its_policy_loads() {
        let dir = tempfile::tempdir().expect("dir");
        let policy = install(dir.path()).expect("install");
        let registry = crate::Registry::load(&policy).expect("the demo policy loads");
        for tool in [
            "search_product",
            "query_order",
            "update_order_note",
            "refund_order",
            "query_meeting_room",
            "book_room",
            "query_sales_data",
        ] {
            assert!(registry.get(tool).is_some(), "{tool}");
        }
        let identities = crate::Identities::from_config(registry.config());
        for (role, key) in DEMO_KEYS {
            assert_eq!(
                identities.authenticate(key).map(|p| p.role),
                Some(role.to_string())
            );
        }
        // Installing again keeps the data and restores the demo policy.
        let connection = Connection::open(dir.path().join("demo.db")).expect("db");
        connection
            .execute("UPDATE orders SET note = 'kept' WHERE id = 12345", [])
            .expect("edit data");
        drop(connection);
        std::fs::write(&policy, policy_text() + "\n# edited\n").expect("edit");
        install(dir.path()).expect("again");
        assert_eq!(
            std::fs::read_to_string(&policy).expect("read"),
            policy_text()
        );
        let connection = Connection::open(dir.path().join("demo.db")).expect("db");
        let months: i64 = connection
            .query_row("SELECT count(DISTINCT month) FROM sales", [], |r| r.get(0))
            .expect("count");
        assert_eq!(months, 24);
        let note: String = connection
            .query_row("SELECT note FROM orders WHERE id = 12345", [], |r| r.get(0))
            .expect("note");
        assert_eq!(note, "kept");
    }
}
